//! A decision from the alerts the per-event rules raise on one action: `deny` when
//! any of them is of severity medium or higher, unless it judges behaviour rather
//! than the grant (those are advisory: the gate reports them, the stream alerts on
//! them); otherwise `allow`, naming the grant and scope that allowed it.

use serde::Serialize;

use crate::alerts::Alert;
use crate::grants::GrantSet;
use crate::grants::verdict::{Facts, verdicts};

/// Rules that judge behaviour (a first time, a person at the keyboard, a new
/// environment) rather than what the grant allows: reported, never denying.
pub const ADVISORY: [&str; 3] = [
    "first_seen_action",
    "human_use_of_credential",
    "credential_environment_mismatch",
];

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forward the request.
    Allow,
    /// Refuse it.
    Deny,
}

impl Verdict {
    /// The verdict's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// One rule that fired on the action, in the words of the alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The rule (`out_of_purpose_action`, `expired_grant_used`, …).
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// Why, as the alert says it.
    pub reason: String,
    /// Whether it only advises (behaviour, not the grant): it does not deny.
    pub advisory: bool,
}

/// What was decided about one action.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// `allow` or `deny`.
    pub verdict: Verdict,
    /// The grant that allowed it, when allowed.
    pub grant_id: Option<String>,
    /// The scope of that grant that allowed it.
    pub scope: Option<String>,
    /// The grant's owner (the allowing grant's, else the first binding grant's).
    pub owner: Option<String>,
    /// Every rule that fired, denying ones first.
    pub reasons: Vec<Reason>,
}

/// Whether an alert of `severity` from `rule` denies.
pub fn denies(rule: &str, severity: &str) -> bool {
    matches!(severity, "medium" | "high" | "critical") && !ADVISORY.contains(&rule)
}

impl Decision {
    /// The decision on the action `facts` describes by `credential`, from the alerts
    /// the per-event rules raised on it.
    pub fn from_alerts(
        alerts: &[Alert],
        grants: &GrantSet,
        credential: &str,
        facts: &Facts,
    ) -> Self {
        let mut reasons: Vec<Reason> = alerts
            .iter()
            .map(|a| Reason {
                rule: a.rule.clone(),
                severity: a.severity.clone(),
                reason: a.reason.clone(),
                advisory: !denies(&a.rule, &a.severity),
            })
            .collect();
        reasons.sort_by(|a, b| (a.advisory, &a.rule).cmp(&(b.advisory, &b.rule)));
        reasons.dedup_by(|a, b| a.rule == b.rule);
        let verdict = if reasons.iter().any(|r| !r.advisory) {
            Verdict::Deny
        } else {
            Verdict::Allow
        };
        let bound: Vec<_> = grants
            .grants()
            .iter()
            .filter(|g| g.credentials.iter().any(|c| c == credential))
            .collect();
        let allowing = (verdict == Verdict::Allow)
            .then(|| {
                bound.iter().find_map(|g| {
                    verdicts(g, facts)
                        .into_iter()
                        .find(|v| v.allows)
                        .map(|v| (g, v.scope))
                })
            })
            .flatten();
        let owner = allowing
            .as_ref()
            .map(|(g, _)| **g)
            .or_else(|| bound.first().copied())
            .and_then(|g| g.owner.as_deref().map(str::to_owned));
        let (grant_id, scope) = match allowing {
            Some((g, scope)) => (Some(g.id.clone()), Some(scope)),
            None => (None, None),
        };
        Self {
            verdict,
            grant_id,
            scope,
            owner,
            reasons,
        }
    }

    /// The rules that denied, comma-separated (for a header).
    pub fn denying_rules(&self) -> String {
        self.reasons
            .iter()
            .filter(|r| !r.advisory)
            .map(|r| r.rule.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}
