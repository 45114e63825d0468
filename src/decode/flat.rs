//! The common native message read in one pass: a flat object of the contract's fields
//! whose strings hold no escapes. Decoding is the largest share of a drain's CPU
//! after the rules: for the benchmark's 450-byte events this scanner costs ~5,300
//! instructions each, serde_json's visitor ~8,700 (BENCHMARKS.md).
//!
//! Whenever in doubt it answers `None`: an escape, a control character, a number
//! serde would read differently, `attributes`, an unknown field, a missing required
//! field or anything malformed sends the message to the full parser
//! (`native::parse_full`), which decides and explains. So every message it accepts gets the
//! `Action` the full parser would give (a property test holds it to that).

use std::borrow::Cow;

use super::action::{Action, in_range, outcome};

/// Reads `text` into `action` (a default one), or answers `None` for the full parser
/// to decide. Filled in place: an `Action` is 400 bytes, and returning it through
/// `Option` and `Result` copied it at each step.
pub(super) fn parse<'a>(text: &'a str, action: &mut Action<'a>) -> Option<()> {
    let mut s = Scanner { text, at: 0 };
    s.consume(b'{')?;
    loop {
        let key = s.string()?;
        s.consume(b':')?;
        match key {
            "ts" => action.ts = s.nullable(Scanner::ts)?,
            "credential_id" => action.credential_id = s.text()?,
            "action" => action.action = s.text()?,
            "event_id" => action.event_id = s.text()?,
            "partner" => action.partner = s.text()?,
            "actor" => action.actor = s.text()?,
            "key_id" => action.key_id = s.text()?,
            "resource" => action.resource = s.text()?,
            "environment" => action.environment = s.text()?,
            "data_classes" => action.data_classes = s.nullable(Scanner::strings)?,
            "amount" => action.amount = s.nullable(Scanner::amount)?,
            "currency" => action.currency = s.text()?,
            "outcome" => action.outcome = s.nullable(Scanner::outcome)?,
            "source_ip" => action.source_ip = s.text()?,
            "user_agent" => action.user_agent = s.text()?,
            "request_id" => action.request_id = s.text()?,
            // `attributes` and unknown fields keep raw JSON: the full parser's.
            _ => return None,
        }
        match s.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    s.skip_whitespace();
    let complete = s.at == text.len()
        && action.ts.is_some()
        && action.credential_id.is_some()
        && action.action.is_some();
    complete.then_some(())
}

/// A position in the message. Every method skips the whitespace before its token.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// The next byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        let byte = *self.text.as_bytes().get(self.at)?;
        if byte > b' ' {
            return Some(byte);
        }
        self.skip_whitespace();
        self.text.as_bytes().get(self.at).copied()
    }

    /// The next byte, consumed.
    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn consume(&mut self, byte: u8) -> Option<()> {
        // Compact JSON has the byte right here (no whitespace to look past).
        if self.text.as_bytes().get(self.at) == Some(&byte) {
            self.at += 1;
            return Some(());
        }
        (self.next()? == byte).then_some(())
    }

    /// `null` (`Some(None)`), or what `value` reads.
    fn nullable<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            let rest = self.text.get(self.at..)?;
            if !rest.starts_with("null") {
                return None;
            }
            self.at += 4;
            return Some(None);
        }
        value(self).map(Some)
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.consume(b'"')?;
        let start = self.at;
        let end = start + string_length(self.text.as_bytes().get(start..)?)?;
        self.at = end + 1;
        self.text.get(start..end)
    }

    fn text(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.nullable(|s| s.string().map(Cow::Borrowed))
    }

    /// `[ "…", … ]`.
    fn strings(&mut self) -> Option<Vec<Cow<'a, str>>> {
        self.consume(b'[')?;
        let mut items = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(items);
        }
        loop {
            items.push(Cow::Borrowed(self.string()?));
            match self.next()? {
                b',' => {}
                b']' => return Some(items),
                _ => return None,
            }
        }
    }

    /// The text of a JSON number, by the grammar of RFC 8259 §6.
    fn number(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let bytes = self.text.as_bytes();
        let start = self.at;
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > from
        };
        let mut at = self.at;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => {
                digits(&mut at);
            }
            _ => return None,
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if !digits(&mut at) {
                return None;
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            if !digits(&mut at) {
                return None;
            }
        }
        self.at = at;
        self.text.get(start..at)
    }

    /// Epoch milliseconds as an integer in range; an RFC 3339 string (or a float, or
    /// a time out of range) is the full parser's to read or refuse. So is `-0`,
    /// which serde_json reads as a float.
    fn ts(&mut self) -> Option<i64> {
        let number = self.number()?;
        if number == "-0" {
            return None;
        }
        in_range(number.parse().ok()?).ok()
    }

    /// Read by serde_json itself: its float parsing may differ from `str::parse` in
    /// the last digit, and the archive must not depend on which parser ran.
    fn amount(&mut self) -> Option<f64> {
        serde_json::from_str(self.number()?).ok()
    }

    fn outcome(&mut self) -> Option<&'static str> {
        outcome(self.string()?)
    }
}

/// Where the string that `bytes` starts in ends: its closing quote's index, or `None`
/// if an escape or a control character comes first (or no quote at all). Eight bytes
/// at a time, as serde_json's own scan does: byte by byte, this loop would cost more
/// than all of serde_json's parsing.
fn string_length(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `word` that is zero, exact up to the first one.
    let zeros = |word: u64| word.wrapping_sub(ONES) & !word;
    let (mut at, mut rest) = (0, bytes);
    while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
        let word = u64::from_le_bytes(*chunk);
        let found = (zeros(word ^ (ONES * u64::from(b'"')))
            | zeros(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & HIGH;
        if found != 0 {
            let i = at + (found.trailing_zeros() / 8) as usize;
            return (bytes.get(i) == Some(&b'"')).then_some(i);
        }
        (at, rest) = (at + 8, tail);
    }
    // The message's last few bytes.
    let i = at
        + rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    (bytes.get(i) == Some(&b'"')).then_some(i)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const EVENT: &str = r#"{"ts":1796000000000,"event_id":"bench-000000000","credential_id":"cli_01824","action":"POST /v1/payouts","partner":"partner-324","actor":"partner-324","key_id":"key_01824_2026q4","resource":"payout/p_36913810","environment":"prod","data_classes":["pii.basic"],"amount":9803.23,"currency":"EUR","outcome":"success","source_ip":"203.0.113.71","user_agent":"partner-sdk/2.3.1 (linux; x86_64)","request_id":"req-1a3d1fa7bc8960a9"}"#;

    /// Whether `text` takes this path; when it does, the full parser agrees.
    fn fast(text: &str) -> bool {
        let mut flat = Action::default();
        let accepted = parse(text, &mut flat).is_some();
        if accepted {
            assert_eq!(
                super::super::native::parse_full(text).as_ref(),
                Ok(&flat),
                "{text}"
            );
        }
        accepted
    }

    #[test]
    fn a_plain_event_takes_the_fast_path() {
        assert!(fast(EVENT));
        assert!(fast(
            " {\n \"ts\" : 0 , \"credential_id\":\"c\",\"action\":\"a\",\"amount\":1e3,\n\"data_classes\":[ ],\"outcome\":null } \n"
        ));
        assert!(fast(
            r#"{"ts":5,"credential_id":"c","action":"a","ts":6,"amount":-0.5E-2,"data_classes":["x" , "y"],"partner":"wiz ☃"}"#
        ));
    }

    #[test]
    fn anything_unusual_is_left_to_the_full_parser() {
        for text in [
            r#"{"ts":"2026-12-01T00:00:00Z","credential_id":"c","action":"a"}"#,
            r#"{"ts":1.0,"credential_id":"c","action":"a"}"#,
            r#"{"ts":1e3,"credential_id":"c","action":"a"}"#,
            r#"{"ts":01,"credential_id":"c","action":"a"}"#,
            r#"{"ts":-0,"credential_id":"c","action":"a"}"#,
            r#"{"ts":99999999999999999999,"credential_id":"c","action":"a"}"#,
            r#"{"ts":253402300800000,"credential_id":"c","action":"a"}"#,
            r#"{"ts":1,"credential_id":"c\"d","action":"a"}"#,
            r#"{"ts":1,"credential_id":"c\u0041","action":"a"}"#,
            "{\"ts\":1,\"credential_id\":\"c\td\",\"action\":\"a\"}",
            r#"{"ts":1,"credential_id":"c","action":"a","attributes":{"k":1}}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","other":"x"}"#,
            r#"{"ts":1,"credential_id":"c"}"#,
            r#"{"ts":1,"credential_id":5,"action":"a"}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","amount":"5"}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","amount":1.}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","amount":.5}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","amount":+5}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","outcome":"ok"}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","data_classes":["x",]}"#,
            r#"{"ts":1,"credential_id":"c","action":"a","data_classes":"x"}"#,
            r#"{"ts":1,"credential_id":"c","action":"a",}"#,
            r#"{"ts":1,"credential_id":"c","action":"a"} x"#,
            r#"{"ts":1,"credential_id":"c","action":"a""#,
            r#"{"ts":1,"credential_id":nul,"action":"a"}"#,
            r#"{"ts":1,"credential_id":nullx,"action":"a"}"#,
            "{}",
            "[]",
            "",
        ] {
            assert!(!fast(text), "{text}");
        }
    }

    /// A JSON value the contract may or may not accept for a field.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            "[a-z☃ /._-]{0,12}".prop_map(|s| format!("\"{s}\"")),
            r#"[a-z\\"\t]{0,6}"#.prop_map(|s| format!("{s:?}")),
            "-?(0|[1-9][0-9]{0,18})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
            "[-+.0-9eE]{1,8}",
            prop::collection::vec("[a-z.]{0,6}", 0..3)
                .prop_map(|items| format!("{items:?}").replace(", ", " ,")),
            Just("{\"k\":[1,{}]}".to_owned()),
            Just("true".to_owned()),
        ]
    }

    fn key() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "ts",
            "credential_id",
            "action",
            "event_id",
            "data_classes",
            "amount",
            "outcome",
            "attributes",
            "unknown",
        ])
    }

    proptest! {
        #[test]
        fn strings_end_where_a_byte_by_byte_scan_says(
            bytes in prop::collection::vec(prop::sample::select(vec![b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff]), 0..40),
        ) {
            let naive = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .filter(|&i| bytes[i] == b'"');
            prop_assert_eq!(string_length(&bytes), naive);
        }

        #[test]
        fn whenever_it_answers_the_full_parser_agrees(
            fields in prop::collection::vec((key(), value(), "[ \t\n]{0,2}"), 0..10),
            required in any::<bool>(),
        ) {
            let mut pairs: Vec<String> = fields
                .iter()
                .map(|(k, v, space)| format!("{space}\"{k}\"{space}:{space}{v}{space}"))
                .collect();
            if required {
                pairs.insert(0, r#""ts":1,"credential_id":"c","action":"a""#.to_owned());
            }
            let text = format!("{{{}}}", pairs.join(","));
            fast(&text);
            let plain = format!("{{\"ts\":7,\"credential_id\":\"c\",\"action\":\"a\",\"outcome\":\"denied\"{}}}",
                fields.iter().filter(|(k, ..)| !matches!(*k, "attributes" | "unknown" | "outcome"))
                    .map(|(k, v, _)| format!(",\"{k}\":{v}")).collect::<String>());
            fast(&plain);
        }
    }
}
