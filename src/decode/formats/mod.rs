//! Source formats other than native, each mapped to the canonical [`Action`]
//! (field map: shared/data/FIELD_MAPPING.md). They read a parsed `serde_json::Value`:
//! these sources are rarer and richer than native events, and clarity wins here.

mod cloudtrail;
mod github;
mod k8s;
mod ocsf;
mod value;

#[cfg(test)]
mod tests;

use serde_json::Value;

use super::action::Action;
use super::error::DecodeError;
use super::ts::TsUnit;

/// Wire formats a topic may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The canonical partner action (DESIGN §4).
    Native,
    /// AWS CloudTrail: single records or delivery files (`{"Records": [...]}`).
    CloudTrail,
    /// OCSF API Activity (class 6003), schema 1.x.
    Ocsf,
    /// Kubernetes `audit.k8s.io/v1` Events.
    K8sAudit,
    /// GitHub audit log entries.
    GithubAudit,
    /// Any JSON log, mapped field by field in config (an API gateway's access log).
    Mapped,
}

impl Format {
    /// Every format: config, CLI, fuzzing and docs list them from here.
    pub const ALL: [Format; 6] = [
        Self::Native,
        Self::CloudTrail,
        Self::Ocsf,
        Self::K8sAudit,
        Self::GithubAudit,
        Self::Mapped,
    ];

    /// Its spelling in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::CloudTrail => "cloudtrail",
            Self::Ocsf => "ocsf",
            Self::K8sAudit => "k8s-audit",
            Self::GithubAudit => "github-audit",
            Self::Mapped => "mapped",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether an identity no grant binds is a partner's unless `[scope]` says
    /// otherwise: native, OCSF and mapped (partner API gateway) streams carry partner
    /// actions only; the others mostly the organisation's own identities.
    pub fn partner_by_default(self, action: &Action<'_>) -> bool {
        match self {
            Self::Native | Self::Ocsf | Self::Mapped => true,
            Self::CloudTrail => cloudtrail::is_partner(action),
            Self::K8sAudit => k8s::is_partner(action),
            Self::GithubAudit => github::is_partner(action),
        }
    }

    /// Every spelling, comma-separated (for messages).
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl clap::ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// The records one message holds: a CloudTrail delivery file holds many.
pub(super) fn records(format: Format, message: &Value) -> Vec<&Value> {
    match (format, message.get("Records").and_then(Value::as_array)) {
        (Format::CloudTrail, Some(records)) => records.iter().collect(),
        _ => vec![message],
    }
}

/// Maps one record to a canonical action, reading numeric times in `unit`.
pub(super) fn decode(
    format: Format,
    record: &Value,
    unit: TsUnit,
) -> Result<Action<'_>, DecodeError> {
    match format {
        Format::CloudTrail => cloudtrail::decode(record, unit),
        Format::Ocsf => ocsf::decode(record, unit),
        Format::K8sAudit => k8s::decode(record, unit),
        Format::GithubAudit => github::decode(record, unit),
        // Native messages never reach here (the builder parses them directly), nor
        // mapped ones (their topic's mapping reads them).
        Format::Native | Format::Mapped => Err(DecodeError::new(
            super::DecodeFault::InvalidValue,
            format!("{} is not a built-in JSON format", format.name()),
        )),
    }
}
