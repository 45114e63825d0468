//! Why a grant's scopes did or did not allow one action, check by check, in the
//! terms of the built-in rules: for people reading an alert (`grantwatch explain`).
//! The rules' SQL decides what is alerted; this only explains it, and must not be
//! used to judge.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{Grant, Scope, Status};

/// The facts of one action that the checks read.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `METHOD /path`, `service:Operation`, `verb resource`.
    pub action: String,
    /// Event time.
    pub ts: Option<DateTime<Utc>>,
    /// Environment, if the event names one.
    pub environment: Option<String>,
    /// Data classes touched, if named.
    pub data_classes: Option<Vec<String>>,
    /// Money moved.
    pub amount: Option<f64>,
    /// Its currency.
    pub currency: Option<String>,
    /// Who actually acted, if not the partner.
    pub actor: Option<String>,
}

impl Facts {
    /// The checkable facts of an event as JSON (an archived row, a request): a
    /// time in RFC 3339, or as Arrow writes a timestamp without its zone.
    pub fn of_event(event: &Map<String, Value>) -> Self {
        let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            action: text("action").unwrap_or_default(),
            ts: text("ts").and_then(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
                    .or_else(|| {
                        chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                            .ok()
                            .map(|t| t.and_utc())
                    })
            }),
            environment: text("environment"),
            data_classes: event
                .get("data_classes")
                .and_then(Value::as_array)
                .map(|classes| {
                    classes
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                }),
            amount: event.get("amount").and_then(Value::as_f64),
            currency: text("currency"),
            actor: text("actor"),
        }
    }
}

/// One check of a scope against an action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is checked: `action`, `environment`, `data_classes`, `amount`,
    /// `currency`, `delegate`, `validity`, `status`, `emergency_window`.
    pub check: &'static str,
    /// Whether it allows the action.
    pub ok: bool,
    /// Why, in words.
    pub detail: String,
}

/// One scope's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeVerdict {
    /// The grant.
    pub grant_id: String,
    /// The scope's action pattern.
    pub scope: String,
    /// Whether it is an emergency (break-glass) scope.
    pub emergency: bool,
    /// Whether every check passed.
    pub allows: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

/// Every scope of `grant`, normal then emergency, judged against `facts`.
pub fn verdicts(grant: &Grant, facts: &Facts) -> Vec<ScopeVerdict> {
    let mut out: Vec<ScopeVerdict> = grant
        .scopes
        .iter()
        .map(|scope| judge(grant, scope, None, facts))
        .collect();
    if let Some(emergency) = &grant.emergency {
        let window = (emergency.from, emergency.until);
        out.extend(
            emergency
                .scopes
                .iter()
                .map(|scope| judge(grant, scope, Some(window), facts)),
        );
    }
    out
}

type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn judge(grant: &Grant, scope: &Scope, emergency: Option<Window>, facts: &Facts) -> ScopeVerdict {
    let mut checks = vec![Check {
        check: "action",
        ok: scope.action.matches(&facts.action),
        detail: format!("`{}` against `{}`", facts.action, scope.action.as_str()),
    }];
    if let Some((from, until)) = emergency {
        let open = match facts.ts {
            Some(ts) => from.is_some_and(|f| ts >= f) && until.is_none_or(|u| ts <= u),
            None => false,
        };
        checks.push(Check {
            check: "emergency_window",
            ok: open,
            detail: format!("window {} to {}", show(from), show(until)),
        });
    }
    let env_ok = facts.environment.as_ref().is_none_or(|env| {
        grant.environments.is_empty() || grant.environments.iter().any(|e| e == env)
    });
    checks.push(Check {
        check: "environment",
        ok: env_ok,
        detail: match &facts.environment {
            None => "the event names none".into(),
            Some(env) if grant.environments.is_empty() => format!("`{env}`: any allowed"),
            Some(env) => format!("`{env}` in [{}]", grant.environments.join(", ")),
        },
    });
    if let Some(allowed) = &scope.data_classes {
        let touched = facts.data_classes.clone().unwrap_or_default();
        let outside: Vec<&String> = touched.iter().filter(|c| !allowed.contains(c)).collect();
        checks.push(Check {
            check: "data_classes",
            ok: outside.is_empty(),
            detail: if outside.is_empty() {
                format!("[{}] within [{}]", touched.join(", "), allowed.join(", "))
            } else {
                format!(
                    "{} not in [{}]",
                    outside
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    allowed.join(", ")
                )
            },
        });
    }
    if let Some(max) = scope.max_amount {
        checks.push(Check {
            check: "amount",
            ok: facts.amount.is_none_or(|a| a <= max),
            detail: match facts.amount {
                Some(a) => format!("{a} against at most {max}"),
                None => "the event moves none".into(),
            },
        });
    }
    if let Some(currencies) = &scope.currencies {
        checks.push(Check {
            check: "currency",
            ok: facts
                .currency
                .as_ref()
                .is_none_or(|c| currencies.contains(c)),
            detail: match &facts.currency {
                Some(c) => format!("`{c}` in [{}]", currencies.join(", ")),
                None => "the event names none".into(),
            },
        });
    }
    if let Some(actor) = &facts.actor {
        let ok = *actor == *grant.partner || grant.delegates.contains(actor);
        checks.push(Check {
            check: "delegate",
            ok,
            detail: format!(
                "actor `{actor}`: the partner `{}`{}",
                grant.partner,
                if grant.delegates.is_empty() {
                    String::new()
                } else {
                    format!(" or delegates [{}]", grant.delegates.join(", "))
                }
            ),
        });
    }
    let valid = facts.ts.is_none_or(|ts| {
        grant.valid_from.is_none_or(|f| ts >= f) && grant.expires_at.is_none_or(|e| ts < e)
    });
    checks.push(Check {
        check: "validity",
        ok: valid,
        detail: format!(
            "{} within {} to {}",
            show(facts.ts),
            show(grant.valid_from),
            show(grant.expires_at)
        ),
    });
    checks.push(Check {
        check: "status",
        ok: grant.status == Status::Active,
        detail: format!("`{}`", grant.status.as_str()),
    });
    ScopeVerdict {
        grant_id: grant.id.clone(),
        scope: scope.action.as_str().to_owned(),
        emergency: emergency.is_some(),
        allows: checks.iter().all(|c| c.ok),
        checks,
    }
}

fn show(time: Option<DateTime<Utc>>) -> String {
    time.map_or_else(|| "-".into(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::grants::parse_str;

    const GRANT: &str = r#"
- id: acme-payouts
  partner: acme-payroll
  owner: jane.doe@bank.example
  purpose: Initiate payroll payouts
  credentials: [cli_acme]
  valid_from: 2026-09-01T00:00:00Z
  expires_at: 2027-03-01T00:00:00Z
  environments: [prod]
  delegates: [acme-subproc]
  scopes:
    - action: "POST /v1/payouts"
      data_classes: [pii.basic]
      max_amount: 50000
      currencies: [EUR]
  emergency:
    from: 2026-11-29T18:00:00Z
    until: 2026-11-30T18:00:00Z
    reason: INC-4411
    approved_by: ciso-oncall
    scopes:
      - action: "POST /v1/payouts/*/retry"
"#;

    fn facts(action: &str) -> Facts {
        Facts {
            action: action.into(),
            ts: "2026-11-30T09:00:00Z".parse().ok(),
            environment: Some("prod".into()),
            currency: Some("EUR".into()),
            amount: Some(10.0),
            ..Facts::default()
        }
    }

    #[test]
    fn each_check_says_why() {
        let set = parse_str(GRANT, Path::new("g.yaml"), Duration::from_secs(86_400)).unwrap();
        let grant = &set.grants()[0];
        let ok = verdicts(grant, &facts("POST /v1/payouts"));
        assert!(ok[0].allows, "{ok:?}");
        assert!(!ok[1].allows);

        let mut over = facts("POST /v1/payouts");
        over.amount = Some(60_000.0);
        over.currency = Some("USD".into());
        over.environment = Some("staging".into());
        over.actor = Some("mallory".into());
        let failed: Vec<&str> = verdicts(grant, &over)[0]
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.check)
            .collect();
        assert_eq!(failed, ["environment", "amount", "currency", "delegate"]);

        let retry = verdicts(grant, &facts("POST /v1/payouts/p_1/retry"));
        assert!(retry[1].emergency && retry[1].allows, "{retry:?}");
        let mut late = facts("POST /v1/payouts/p_1/retry");
        late.ts = "2026-12-01T09:00:00Z".parse().ok();
        let closed = &verdicts(grant, &late)[1];
        assert_eq!(
            closed.checks.iter().find(|c| !c.ok).map(|c| c.check),
            Some("emergency_window")
        );
    }
}
