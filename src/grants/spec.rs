//! Phase one: the YAML shape, as serde reads it. Unknown keys are refused; nothing is
//! interpreted yet (dates and durations stay text until `model` validates them).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantSpec {
    pub id: String,
    pub partner: String,
    pub owner: Option<String>,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub purpose: String,
    pub credentials: Vec<String>,
    pub valid_from: Option<String>,
    pub expires_at: Option<String>,
    pub idle_after: Option<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub delegates: Vec<String>,
    pub status: Option<String>,
    pub rate_limit: Option<String>,
    pub max_daily_amount: Option<f64>,
    pub decide_fail: Option<String>,
    pub scopes: Vec<ScopeSpec>,
    pub emergency: Option<EmergencySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScopeSpec {
    pub action: String,
    pub data_classes: Option<Vec<String>>,
    pub max_amount: Option<f64>,
    pub currencies: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EmergencySpec {
    pub from: Option<String>,
    pub until: Option<String>,
    pub reason: Option<String>,
    pub approved_by: Option<String>,
    #[serde(default)]
    pub scopes: Vec<ScopeSpec>,
}
