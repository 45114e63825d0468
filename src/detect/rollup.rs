//! Scheduled findings rolled up per owner: when one round finds the same condition
//! for many grants of one owner (10,000 grants going idle at once), the owner gets
//! one alert listing them, not one each. The findings in force stay per grant in the
//! state store, so each grant still clears and fires again on its own.

use std::collections::BTreeMap;

use crate::alerts::{Alert, UNOWNED, alert_id};

/// Findings of one rule for this many grants of one owner, or more, become one alert.
pub const ROLL_UP_AT: usize = 3;

/// Grant ids a rolled-up reason names before it says how many more there are.
const NAMED_IN_REASON: usize = 20;

/// `alerts` (one round's findings, one grant each) with every (rule, owner) group of
/// [`ROLL_UP_AT`] or more replaced by one alert, in the order the groups began.
pub fn roll_up(alerts: Vec<Alert>) -> Vec<Alert> {
    let mut groups: Vec<Vec<Alert>> = Vec::new();
    let mut index: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    for alert in alerts {
        let key = (alert.rule.clone(), alert.owner.clone());
        let at = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(alert);
    }
    groups
        .into_iter()
        .flat_map(|group| {
            if group.len() < ROLL_UP_AT {
                group
            } else {
                vec![one_for(group)]
            }
        })
        .collect()
}

/// One alert for a group of findings of one rule and owner.
fn one_for(group: Vec<Alert>) -> Alert {
    let mut grant_ids: Vec<String> = group.iter().filter_map(|a| a.grant_id.clone()).collect();
    grant_ids.sort();
    grant_ids.dedup();
    let first = &group[0];
    let owner = first.owner.clone();
    let partners: Vec<&Option<String>> = group.iter().map(|a| &a.partner).collect();
    let partner = partners
        .iter()
        .all(|p| *p == partners[0])
        .then(|| first.partner.clone())
        .flatten();
    let mut named = grant_ids
        .iter()
        .take(NAMED_IN_REASON)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if grant_ids.len() > NAMED_IN_REASON {
        named.push_str(&format!(" and {} more", grant_ids.len() - NAMED_IN_REASON));
    }
    let reason = format!(
        "{} grants of {}: {named}. The first: {}",
        grant_ids.len(),
        owner.as_deref().unwrap_or(UNOWNED),
        first.reason
    );
    let key = [
        format!("owner:{}", owner.as_deref().unwrap_or(UNOWNED)),
        grant_ids.join(","),
    ];
    let severity = group
        .iter()
        .map(|a| a.severity.clone())
        .max_by_key(|s| rank(s))
        .unwrap_or_default();
    Alert {
        alert_id: alert_id(&first.rule, &key, ""),
        group: String::new(),
        rule: first.rule.clone(),
        severity,
        summary: first.summary.clone(),
        reason,
        grant_id: None,
        grant_ids,
        partner,
        owner,
        purpose: None,
        credential_id: String::new(),
        action: None,
        sample_actions: Vec::new(),
        first_seen: group
            .iter()
            .map(|a| a.first_seen.clone())
            .min()
            .unwrap_or_default(),
        last_seen: group
            .iter()
            .map(|a| a.last_seen.clone())
            .max()
            .unwrap_or_default(),
        count: group.len() as u64,
        event_ids: Vec::new(),
        frameworks: first.frameworks.clone(),
        detected_at: first.detected_at.clone(),
    }
}

fn rank(severity: &str) -> u8 {
    match severity {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, grant: &str, owner: Option<&str>) -> Alert {
        Alert {
            alert_id: format!("{rule}-{grant}"),
            rule: rule.into(),
            severity: "medium".into(),
            reason: format!("grant {grant} is idle"),
            grant_id: Some(grant.into()),
            owner: owner.map(str::to_owned),
            partner: Some("p".into()),
            ..Alert::default()
        }
    }

    #[test]
    fn many_findings_of_one_owner_become_one_alert() {
        let mut alerts: Vec<Alert> = (0..25)
            .map(|i| finding("idle_grant", &format!("g{i:02}"), Some("jane")))
            .collect();
        alerts.push(finding("idle_grant", "solo", Some("sam")));
        alerts.push(finding("expiring_grant_in_use", "g00", Some("jane")));
        let rolled = roll_up(alerts);
        assert_eq!(rolled.len(), 3);
        let jane = &rolled[0];
        assert_eq!(
            (jane.count, jane.grant_ids.len(), jane.grant_id.as_deref()),
            (25, 25, None)
        );
        assert_eq!(jane.owner.as_deref(), Some("jane"));
        assert_eq!(jane.partner.as_deref(), Some("p"));
        assert!(
            jane.reason
                .starts_with("25 grants of jane: g00, g01, g02, g03, g04, g05, g06, g07, g08"),
            "{}",
            jane.reason
        );
        assert!(
            jane.reason
                .contains("g19 and 5 more. The first: grant g00 is idle")
        );
        // Fewer than ROLL_UP_AT stay as they are.
        assert_eq!(rolled[1].alert_id, "idle_grant-solo");
        assert_eq!(rolled[2].alert_id, "expiring_grant_in_use-g00");
        // The same set rolls up to the same id.
        let again: Vec<Alert> = (0..25)
            .rev()
            .map(|i| finding("idle_grant", &format!("g{i:02}"), Some("jane")))
            .collect();
        assert_eq!(roll_up(again)[0].alert_id, jane.alert_id);
    }
}
