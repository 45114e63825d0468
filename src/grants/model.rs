//! Phase two: validated grants. Past this point dates, durations, patterns and
//! statuses are typed and never re-checked.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::limit::RateLimit;
use super::location::GrantLocation;
use super::pattern::{ActionPattern, PatternCache};
use super::spec::{EmergencySpec, GrantSpec, ScopeSpec};
use super::texts::{Text, TextCache, Texts};
use crate::time::{parse_duration, parse_time};

/// A grant's lifecycle state as its owner declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In force.
    Active,
    /// Temporarily withdrawn.
    Suspended,
    /// Withdrawn for good.
    Revoked,
}

impl Status {
    /// The YAML spelling, also the `grants.status` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }
}

/// One allowed action with its constraints (`None` = unconstrained).
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    /// Which actions.
    pub action: ActionPattern,
    /// Data classes the action may touch.
    pub data_classes: Option<Texts>,
    /// Largest amount per action, inclusive.
    pub max_amount: Option<f64>,
    /// Currencies the action may move.
    pub currencies: Option<Texts>,
}

/// Time-boxed break-glass widening.
#[derive(Debug, Clone, PartialEq)]
pub struct Emergency {
    /// Start of the window.
    pub from: Option<DateTime<Utc>>,
    /// End of the window.
    pub until: Option<DateTime<Utc>>,
    /// Why (an incident reference).
    pub reason: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// The extra scopes.
    pub scopes: Vec<Scope>,
}

/// A validated grant. Its texts other than ids are shared with the other grants of
/// its load that state the same ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Unique, stable id.
    pub id: String,
    /// The partner it was granted to.
    pub partner: Text,
    /// The named internal owner.
    pub owner: Option<Text>,
    /// Who approved it.
    pub approved_by: Option<Text>,
    /// When it was approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// The declared business purpose.
    pub purpose: Text,
    /// Exact `credential_id` values it covers.
    pub credentials: Vec<String>,
    /// Start of validity.
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity.
    pub expires_at: Option<DateTime<Utc>>,
    /// How long without use before it is idle.
    pub idle_after: Duration,
    /// Allowed environments (empty: any).
    pub environments: Texts,
    /// Approved subprocessors.
    pub delegates: Texts,
    /// Declared state.
    pub status: Status,
    /// Most actions per window, over all its credentials.
    pub rate_limit: Option<RateLimit>,
    /// Most money moved per UTC day and currency, over all its credentials.
    pub max_daily_amount: Option<f64>,
    /// What `grantwatch decide` answers for its credentials when the rules cannot
    /// run: allow (`Some(true)`), deny (`Some(false)`), or as `--fail` says.
    pub decide_fail_open: Option<bool>,
    /// Allowed actions.
    pub scopes: Vec<Scope>,
    /// Break-glass widening (boxed: most grants have none, and it is the largest field).
    pub emergency: Option<Box<Emergency>>,
    /// Where it is written.
    pub location: GrantLocation,
}

/// A field-level problem found while validating one grant.
pub(super) struct FieldError {
    pub field: String,
    pub message: String,
}

struct Check<'a> {
    errors: Vec<FieldError>,
    patterns: &'a mut PatternCache,
    texts: &'a mut TextCache,
}

impl Check<'_> {
    fn time(&mut self, field: &str, text: Option<&str>) -> Option<DateTime<Utc>> {
        let text = text?;
        parse_time(text)
            .map_err(|message| {
                self.errors.push(FieldError {
                    field: field.to_owned(),
                    message,
                })
            })
            .ok()
    }

    /// An amount limit: a non-negative number.
    fn amount(&mut self, field: &str, amount: Option<f64>) -> Option<f64> {
        if amount.is_some_and(|a| !a.is_finite() || a < 0.0) {
            self.errors.push(FieldError {
                field: field.to_owned(),
                message: "must be a non-negative number".into(),
            });
        }
        amount
    }

    fn scopes(&mut self, prefix: &str, specs: Vec<ScopeSpec>) -> Vec<Scope> {
        let mut scopes = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let field = format!("{prefix}[{i}].action");
            match self.patterns.parse(&spec.action) {
                Ok(action) => scopes.push(Scope {
                    action,
                    data_classes: spec.data_classes.map(|l| self.texts.list(l)),
                    max_amount: self.amount(&format!("{prefix}[{i}].max_amount"), spec.max_amount),
                    currencies: spec.currencies.map(|l| self.texts.list(l)),
                }),
                Err(e) => self.errors.push(FieldError {
                    field,
                    message: e.to_string(),
                }),
            }
        }
        scopes
    }

    fn emergency(&mut self, spec: EmergencySpec) -> Emergency {
        Emergency {
            from: self.time("emergency.from", spec.from.as_deref()),
            until: self.time("emergency.until", spec.until.as_deref()),
            reason: spec.reason,
            approved_by: spec.approved_by,
            scopes: self.scopes("emergency.scopes", spec.scopes),
        }
    }
}

impl Grant {
    /// Validates a parsed grant; `default_idle_after` applies when it sets none.
    /// Patterns and texts come from `patterns` and `texts`, shared with the other
    /// grants of the load.
    pub(super) fn from_spec(
        spec: GrantSpec,
        location: GrantLocation,
        default_idle_after: Duration,
        patterns: &mut PatternCache,
        texts: &mut TextCache,
    ) -> Result<Self, Vec<FieldError>> {
        let mut check = Check {
            errors: Vec::new(),
            patterns,
            texts,
        };
        let status = match spec.status.as_deref() {
            None | Some("active") => Status::Active,
            Some("suspended") => Status::Suspended,
            Some("revoked") => Status::Revoked,
            Some(other) => {
                check.errors.push(FieldError {
                    field: "status".into(),
                    message: format!("`{other}` is not one of active, suspended, revoked"),
                });
                Status::Active
            }
        };
        if spec.credentials.is_empty() {
            check.errors.push(FieldError {
                field: "credentials".into(),
                message: "must list at least one credential".into(),
            });
        }
        let idle_after = match spec.idle_after.as_deref().map(parse_duration) {
            None => default_idle_after,
            Some(Ok(d)) => d,
            Some(Err(message)) => {
                check.errors.push(FieldError {
                    field: "idle_after".into(),
                    message,
                });
                default_idle_after
            }
        };
        let rate_limit = spec.rate_limit.as_deref().and_then(|text| {
            RateLimit::parse(text)
                .map_err(|message| {
                    check.errors.push(FieldError {
                        field: "rate_limit".into(),
                        message,
                    })
                })
                .ok()
        });
        let decide_fail_open = match spec.decide_fail.as_deref() {
            None => None,
            Some("open") => Some(true),
            Some("closed") => Some(false),
            Some(other) => {
                check.errors.push(FieldError {
                    field: "decide_fail".into(),
                    message: format!("`{other}` is not open or closed"),
                });
                None
            }
        };
        let grant = Grant {
            rate_limit,
            decide_fail_open,
            max_daily_amount: check.amount("max_daily_amount", spec.max_daily_amount),
            approved_at: check.time("approved_at", spec.approved_at.as_deref()),
            valid_from: check.time("valid_from", spec.valid_from.as_deref()),
            expires_at: check.time("expires_at", spec.expires_at.as_deref()),
            scopes: check.scopes("scopes", spec.scopes),
            emergency: spec.emergency.map(|e| Box::new(check.emergency(e))),
            id: spec.id,
            partner: check.texts.text(spec.partner),
            owner: spec
                .owner
                .filter(|o| !o.trim().is_empty())
                .map(|o| check.texts.text(o)),
            approved_by: spec.approved_by.map(|a| check.texts.text(a)),
            purpose: check.texts.text(spec.purpose),
            credentials: spec.credentials,
            idle_after,
            environments: check.texts.list(spec.environments),
            delegates: check.texts.list(spec.delegates),
            status,
            location,
        };
        if check.errors.is_empty() {
            Ok(grant)
        } else {
            Err(check.errors)
        }
    }
}
