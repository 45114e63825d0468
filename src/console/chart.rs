//! Charts drawn on the server as SVG: no script, and only presentation attributes
//! (the Content-Security-Policy allows no inline style).

use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;

/// The severities, most severe first, with their colours.
pub(super) const SEVERITIES: [(&str, &str); 5] = [
    ("critical", "#7a0916"),
    ("high", "#d92d20"),
    ("medium", "#f79009"),
    ("low", "#98a2b3"),
    ("info", "#d0d5dd"),
];

/// Bars per label (a day), each stacked by severity: `bars[i].1[s]` is the count of
/// severity `SEVERITIES[s]`.
pub(super) fn stacked_bars(title: &str, bars: &[(String, [f64; 5])]) -> Markup {
    let most = bars
        .iter()
        .map(|(_, counts)| counts.iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1.0);
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let plot = HEIGHT - BOTTOM;
    html! {
        svg.chart role="img" aria-label=(title) width=(WIDTH) height=(HEIGHT)
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            text x="2" y="12" font-size="10" fill="#52606d" { (most) }
            line x1=(LEFT) y1=(plot) x2=(WIDTH) y2=(plot) stroke="#9aa5b1" {}
            @for (i, (label, counts)) in bars.iter().enumerate() {
                @let x = LEFT + i as f64 * slot;
                @let mut top = plot;
                @for (s, (severity, colour)) in SEVERITIES.iter().enumerate() {
                    @let h = counts[s] / most * (plot - 14.0);
                    @if h > 0.0 {
                        @let y = { top -= h; top };
                        rect x=(x + 1.0) y=(y) width=((slot - 2.0).max(1.0)) height=(h) fill=(colour) {
                            title { (label) ": " (counts[s]) " " (severity) }
                        }
                    }
                }
                @if bars.len() <= 15 || i % 5 == 0 {
                    text x=(x + 1.0) y=(HEIGHT - 5.0) font-size="9" fill="#52606d" { (short_day(label)) }
                }
            }
        }
        p.legend {
            @for (severity, colour) in SEVERITIES {
                span { svg width="10" height="10" { rect width="10" height="10" fill=(colour) {} } " " (severity) }
            }
        }
    }
}

/// A line through `points` (label, value), values from 0 to the largest.
pub(super) fn line(title: &str, points: &[(String, f64)], unit: &str) -> Markup {
    let most = points.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let most = if most > 0.0 { most } else { 1.0 };
    let plot = HEIGHT - BOTTOM;
    let step = (WIDTH - LEFT - 10.0) / (points.len().max(2) - 1) as f64;
    let at = |i: usize, v: f64| (LEFT + i as f64 * step, plot - v / most * (plot - 14.0));
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let (x, y) = at(i, *v);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    html! {
        svg.chart role="img" aria-label=(title) width=(WIDTH) height=(HEIGHT)
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            text x="2" y="12" font-size="10" fill="#52606d" { (format_value(most)) (unit) }
            line x1=(LEFT) y1=(plot) x2=(WIDTH) y2=(plot) stroke="#9aa5b1" {}
            polyline points=(path.join(" ")) fill="none" stroke="#0b5cad" stroke-width="2" {}
            @for (i, (label, v)) in points.iter().enumerate() {
                @let (x, y) = at(i, *v);
                circle cx=(x) cy=(y) r="3" fill="#0b5cad" { title { (label) ": " (format_value(*v)) (unit) } }
            }
            @if let (Some((first, _)), Some((last, _))) = (points.first(), points.last()) {
                text x=(LEFT) y=(HEIGHT - 5.0) font-size="9" fill="#52606d" { (first) }
                text x=(WIDTH - 110.0) y=(HEIGHT - 5.0) font-size="9" fill="#52606d" { (last) }
            }
        }
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// `2026-11-30` as `11-30`.
fn short_day(label: &str) -> &str {
    label.get(5..10).unwrap_or(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels_and_scale_to_the_largest() {
        let bars = vec![
            ("2026-11-30".to_owned(), [0.0, 2.0, 1.0, 0.0, 0.0]),
            ("<script>".to_owned(), [0.0, 0.0, 0.0, 0.0, 4.0]),
        ];
        let svg = stacked_bars("alerts", &bars).into_string();
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(svg.matches("<rect").count() >= 3);
        let line = line("count", &[("a".into(), 1.0), ("b".into(), 3.0)], "").into_string();
        assert!(line.contains("polyline"));
    }
}
