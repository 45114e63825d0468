//! Partner scope: which identities grantwatch judges when no grant binds them.
//!
//! An identity a grant binds is always judged, whatever this says: the rules decide
//! that from the grants. For the rest, a raw CloudTrail, Kubernetes or GitHub stream
//! is mostly the organisation's own people, services and cloud components, and an
//! alert for each of them buries the partner findings. So each event is marked
//! `in_scope` when decoded: by the operator's `[scope]` patterns first, else by its
//! format's default ([`Format::partner_by_default`]). Out-of-scope events are still
//! archived and counted, never alerted.

use super::action::Action;
use super::formats::Format;

/// The operator's `[scope]`: identities to leave out, identities to take in, and
/// whether each format's default applies to the rest. Read from config as it is:
/// globs need no validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerScope {
    /// Credential globs never in scope (unless a grant binds them).
    pub exclude: Vec<String>,
    /// Credential globs always in scope.
    pub credentials: Vec<String>,
    /// Partner globs always in scope: the partner an event claims, or for
    /// CloudTrail the caller's account when it is not the recipient's.
    pub partners: Vec<String>,
    /// Whether the format's default decides the rest (else they are out).
    pub format_defaults: bool,
}

impl Default for PartnerScope {
    fn default() -> Self {
        Self {
            exclude: Vec::new(),
            credentials: Vec::new(),
            partners: Vec::new(),
            format_defaults: true,
        }
    }
}

impl PartnerScope {
    /// Whether `action`, read as `format`, is a partner's.
    pub fn judge(&self, format: Format, action: &Action<'_>) -> bool {
        let credential = action.credential_id.as_deref().unwrap_or_default();
        if self.exclude.iter().any(|g| glob(g, credential)) {
            return false;
        }
        let partner = action.partner.as_deref();
        if self.credentials.iter().any(|g| glob(g, credential))
            || partner.is_some_and(|p| self.partners.iter().any(|g| glob(g, p)))
        {
            return true;
        }
        self.format_defaults && format.partner_by_default(action)
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters
/// (none included) and every other character for itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole text.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn globs_match_whole_texts() {
        for (pattern, text, expected) in [
            ("cli_acme", "cli_acme", true),
            ("cli_acme", "cli_acme_2", false),
            ("cli_*", "cli_acme", true),
            ("*", "", true),
            (
                "system:serviceaccount:partner-*:*",
                "system:serviceaccount:partner-acme:sync",
                true,
            ),
            (
                "system:serviceaccount:partner-*:*",
                "system:serviceaccount:kube-system:x",
                false,
            ),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYcZ", false),
            ("*.amazonaws.com", "rds.amazonaws.com", true),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    fn action<'a>(credential: &'a str, partner: Option<&'a str>) -> Action<'a> {
        Action {
            credential_id: Some(Cow::Borrowed(credential)),
            partner: partner.map(Cow::Borrowed),
            ..Action::default()
        }
    }

    #[test]
    fn patterns_come_before_the_format_default() {
        let scope = PartnerScope {
            exclude: vec!["internal-*".into()],
            credentials: vec!["system:serviceaccount:kube-system:partner-sync".into()],
            partners: vec!["1111*".into()],
            format_defaults: true,
        };
        // Native: every event, unless excluded.
        assert!(scope.judge(Format::Native, &action("cli_acme", None)));
        assert!(!scope.judge(Format::Native, &action("internal-batch", None)));
        // Kubernetes: the cluster's own identities are out, unless named.
        let k8s = |c| scope.judge(Format::K8sAudit, &action(c, None));
        assert!(!k8s("system:kube-scheduler"));
        assert!(!k8s(
            "system:serviceaccount:kube-system:replicaset-controller"
        ));
        assert!(k8s("system:serviceaccount:kube-system:partner-sync"));
        assert!(k8s("system:serviceaccount:payments:acme-sync"));
        // CloudTrail: another account's caller; a named partner account.
        let ct = |c, p| scope.judge(Format::CloudTrail, &action(c, p));
        assert!(!ct("arn:aws:iam::999:role/ops", None));
        assert!(!ct("rds.amazonaws.com", None));
        assert!(ct("arn:aws:iam::222:role/x", Some("222")));
        // No defaults: only what the patterns name.
        let strict = PartnerScope {
            format_defaults: false,
            ..scope.clone()
        };
        assert!(!strict.judge(Format::Native, &action("cli_acme", None)));
        assert!(strict.judge(Format::Native, &action("x", Some("111122223333"))));
    }
}
