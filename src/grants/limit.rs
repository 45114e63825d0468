//! Windowed limits a grant may set on its use as a whole, beyond what each action may
//! do: `rate_limit: 600/h` (actions per window) and `max_daily_amount` (money moved
//! per UTC day and currency). Windows are fixed and aligned to the epoch, so that
//! live, replay and every instance cut them the same way.

use std::fmt;
use std::time::Duration;

/// The longest window a rate may be expressed over: the state keeps per-window counts,
/// and a week already says "budget", not "rate".
const MAX_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// At most `count` actions per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Actions allowed per window.
    pub count: u64,
    /// The window length.
    pub window: Duration,
}

impl RateLimit {
    /// Parses `600/h`, `10/s`, `5000/d` or `100/15m`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("`{text}` is not a rate like 600/h or 100/15m: {why}");
        let (count, per) = text.split_once('/').ok_or_else(|| invalid("missing `/`"))?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| invalid("the count is not a whole number"))?;
        let per = per.trim();
        // `h` means one hour; humantime wants the number.
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
            per.to_owned()
        } else {
            format!("1{per}")
        };
        let window = humantime::parse_duration(&per).map_err(|e| invalid(&e.to_string()))?;
        if count == 0 {
            return Err(invalid(
                "a limit of 0 forbids every action; suspend the grant instead",
            ));
        }
        if window < Duration::from_secs(1) || window > MAX_WINDOW {
            return Err(invalid("the window must be between 1s and 7d"));
        }
        Ok(Self { count, window })
    }

    /// The window length in milliseconds.
    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.window.as_secs() {
            1 => "s".to_owned(),
            60 => "m".to_owned(),
            3_600 => "h".to_owned(),
            86_400 => "d".to_owned(),
            _ => humantime::format_duration(self.window).to_string(),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// Start of the fixed window of `window_ms` holding `ts_ms`.
pub fn window_start(ts_ms: i64, window_ms: i64) -> i64 {
    ts_ms - ts_ms.rem_euclid(window_ms.max(1))
}

/// One UTC day in milliseconds: the `max_daily_amount` window.
pub const DAY_MS: i64 = 86_400_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_or_without_a_number_of_units() {
        let hourly = RateLimit::parse("600/h").expect("600/h");
        assert_eq!((hourly.count, hourly.window_ms()), (600, 3_600_000));
        assert_eq!(hourly.to_string(), "600/h");
        let quarter = RateLimit::parse("100 / 15m").expect("15m");
        assert_eq!(quarter.window, Duration::from_secs(900));
        assert_eq!(quarter.to_string(), "100/15m");
        for bad in ["600", "x/h", "0/h", "5/fortnight", "5/30d", "5/100ms"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        assert_eq!(window_start(3_600_000 + 5, 3_600_000), 3_600_000);
        assert_eq!(window_start(-1, DAY_MS), -DAY_MS);
    }
}
