//! Text from logs, shown to people. Partner traffic chooses its actions, user
//! agents and ids, so wherever they are shown they must stay text: on a terminal,
//! control characters (escape sequences, carriage returns, bidirectional overrides)
//! are shown escaped, so a log cannot clear the screen or repaint a line; in a
//! spreadsheet, a cell that would start a formula is defused.

/// `text` made safe to print on a terminal: control characters shown escaped.
pub fn inert(text: &str) -> String {
    if !text.chars().any(hostile) {
        return text.to_owned();
    }
    text.chars()
        .flat_map(|c| {
            let shown: Vec<char> = if hostile(c) {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}

fn hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` as a spreadsheet cell's value: one that starts with `=`, `+`, `-`, `@`, a
/// tab or a carriage return is a formula to Excel and LibreOffice, and gets a
/// leading `'`.
pub fn defused(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// One CSV cell: [`defused`], then quoted when it holds a separator, quote or line
/// break.
pub fn csv_cell(text: &str) -> String {
    let defused = defused(text);
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_shown_escaped() {
        assert_eq!(inert("ok\u{1b}[31mred\r\n"), "ok\\u{1b}[31mred\\u{d}\\u{a}");
        assert_eq!(inert("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(inert("plain: naïve"), "plain: naïve");
    }

    #[test]
    fn formulas_are_defused_and_separators_quoted() {
        assert_eq!(
            csv_cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("GET /v1/x"), "GET /v1/x");
    }
}
