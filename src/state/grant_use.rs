//! One grant's use summed over its credentials' activity records.

use super::record::ActivityRecord;

/// What is known of one grant's use, over all its credentials, borrowing the
/// records it sums: a scheduled round takes it for every grant, and copies of the
/// scope texts (in a set per grant) were 41 MB of its peak with 100,000 grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantUse<'a> {
    /// Latest event time (epoch ms), if ever used.
    pub last_seen_ms: Option<i64>,
    /// Earliest event time (epoch ms), if known.
    pub first_seen_ms: Option<i64>,
    /// Actions taken.
    pub actions_total: u64,
    /// Of those, flagged by a rule above info.
    pub out_of_purpose_total: u64,
    /// Action patterns of the scopes used, sorted and distinct.
    pub scopes_used: Vec<&'a str>,
}

/// Use per grant of `records`, over each grant's credentials, in their order.
/// The records of a grant must be adjacent, as the store yields them (one list per
/// grant): then no map is needed, and a drain spends no time building one or
/// comparing its keys.
pub(super) fn grant_uses<'a>(
    records: impl IntoIterator<Item = &'a ActivityRecord>,
) -> Vec<(&'a str, GrantUse<'a>)> {
    let mut uses: Vec<(&str, GrantUse)> = Vec::new();
    for a in records {
        match uses.last_mut() {
            Some((id, u)) if *id == a.grant_id => u.add(a),
            _ => {
                let mut u = GrantUse::default();
                u.add(a);
                uses.push((a.grant_id.as_str(), u));
            }
        }
    }
    uses
}

impl<'a> GrantUse<'a> {
    /// Adds one credential's record of the grant.
    fn add(&mut self, a: &'a ActivityRecord) {
        self.last_seen_ms = self.last_seen_ms.max(Some(a.last_seen_ms));
        self.first_seen_ms = match (self.first_seen_ms, a.first_seen_ms) {
            (Some(u), Some(a)) => Some(u.min(a)),
            (u, a) => u.or(a),
        };
        self.actions_total += a.actions_total;
        self.out_of_purpose_total += a.out_of_purpose_total;
        // Records keep their lists sorted, and sorting sorted input is one pass.
        self.scopes_used.extend(a.scopes_used.iter().map(|s| &**s));
        self.scopes_used.sort_unstable();
        self.scopes_used.dedup();
    }
}
