//! Route templates: an action with its identifier-like path segments written `{id}`,
//! so that one misuse over many ids (`DELETE /v1/accounts/acc_1`, `…/acc_2`, …) is
//! one alert, not one per id.
//!
//! Only the path of an HTTP-style action (`METHOD /path` or `/path`) is templated;
//! CloudTrail, Kubernetes and GitHub actions name operations, not objects, and pass
//! through unchanged.

use std::borrow::Cow;

use regex::Regex;

/// Distinct raw actions an alert keeps as a sample of what its template stands for.
pub const MAX_SAMPLE_ACTIONS: usize = 10;

/// What `{id}` stands for: the built-in identifier shapes, plus the operator's
/// `[alerts] id_patterns`, each matched against a whole path segment.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    extra: Vec<Regex>,
}

impl Routes {
    /// The built-in shapes plus `patterns` (regular expressions). An invalid
    /// pattern is refused, with its position and why.
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let extra = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // Whole segments only: `^(?:p)$` whatever anchors `p` has.
                Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("[{i}] `{p}`: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { extra })
    }

    /// `action` with each identifier-like path segment replaced by `{id}` and any
    /// query string left out; other actions as they are.
    pub fn template<'a>(&self, action: &'a str) -> Cow<'a, str> {
        let path_at = match action.find(' ') {
            Some(space) if action[space + 1..].starts_with('/') => space + 1,
            _ if action.starts_with('/') => 0,
            _ => return Cow::Borrowed(action),
        };
        let (head, path) = action.split_at(path_at);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if !path.split('/').any(|s| self.is_id(s)) && path.len() + path_at == action.len() {
            return Cow::Borrowed(action);
        }
        let mut out = String::with_capacity(action.len());
        out.push_str(head);
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(if self.is_id(segment) { "{id}" } else { segment });
        }
        Cow::Owned(out)
    }

    fn is_id(&self, segment: &str) -> bool {
        is_builtin_id(segment) || self.extra.iter().any(|r| r.is_match(segment))
    }
}

/// Numbers, UUIDs, long hex, e-mail addresses, prefixed ids (`acc_23`, `p-123`,
/// `cus_NffrFeUfNV2Hib`) and long opaque tokens mixing letters and digits.
fn is_builtin_id(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let has_digit = bytes.iter().any(u8::is_ascii_digit);
    let alnum = bytes.iter().all(u8::is_ascii_alphanumeric);
    bytes.iter().all(u8::is_ascii_digit)
        || is_uuid(bytes)
        || (bytes.len() >= 16 && bytes.iter().all(u8::is_ascii_hexdigit))
        || is_email(segment)
        || is_prefixed(segment)
        || (bytes.len() >= 20 && alnum && has_digit && bytes.iter().any(u8::is_ascii_alphabetic))
}

fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_email(segment: &str) -> bool {
    segment
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

/// A short alphabetic prefix, `_` or `-`, and a suffix of letters and digits that
/// starts with a digit (`acc_1`, `c_41`, `ord-9001`) or is six or more long with a
/// digit (`cus_NffrFeUfNV2Hib`). `api-v2` and `v1-beta` stay.
fn is_prefixed(segment: &str) -> bool {
    let Some(at) = segment.find(['_', '-']) else {
        return false;
    };
    let (prefix, suffix) = (&segment[..at], &segment[at + 1..]);
    (1..=12).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_alphabetic())
        && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        && (suffix.starts_with(|c: char| c.is_ascii_digit())
            || (suffix.len() >= 6 && suffix.bytes().any(|b| b.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_become_id_and_names_stay() {
        let routes = Routes::default();
        for (action, template) in [
            ("DELETE /v1/accounts/acc_23", "DELETE /v1/accounts/{id}"),
            ("POST /v1/cards/c_41/block", "POST /v1/cards/{id}/block"),
            ("GET /v1/payouts/12345", "GET /v1/payouts/{id}"),
            (
                "GET /v2/users/jane.doe@bank.example/keys",
                "GET /v2/users/{id}/keys",
            ),
            (
                "GET /files/0b8f6f0e-2f4c-4a5e-9a59-6a1c2b3d4e5f?download=1",
                "GET /files/{id}",
            ),
            ("GET /blobs/deadbeefdeadbeef00", "GET /blobs/{id}"),
            (
                "GET /v1/customers/cus_NffrFeUfNV2Hib",
                "GET /v1/customers/{id}",
            ),
            ("GET /v1-beta/balances", "GET /v1-beta/balances"),
            ("GET /api-v2/accounts/acc_1", "GET /api-v2/accounts/{id}"),
            ("GET /v1/balances", "GET /v1/balances"),
            ("/healthz", "/healthz"),
            ("s3:GetObject", "s3:GetObject"),
            ("get pods/log", "get pods/log"),
            ("repo.create", "repo.create"),
        ] {
            assert_eq!(routes.template(action), template, "{action}");
        }
    }

    #[test]
    fn operator_patterns_match_whole_segments() {
        let routes = Routes::new(&["INV[A-Z]{3}".into()]).expect("routes");
        assert_eq!(
            routes.template("GET /invoices/INVABC/lines/INVABCD"),
            "GET /invoices/{id}/lines/INVABCD"
        );
        let error = Routes::new(&["ok".into(), "(".into()]).expect_err("invalid");
        assert!(error.starts_with("[1] `(`"), "{error}");
    }
}
