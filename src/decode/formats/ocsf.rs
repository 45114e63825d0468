//! OCSF API Activity (class 6003), schema 1.x. Other classes are refused by name.

use std::borrow::Cow;

use serde_json::Value;

use super::value::{at, attributes, first, required, text, time};
use crate::decode::action::Action;
use crate::decode::error::{DecodeError, DecodeFault};
use crate::decode::ts::TsUnit;

const API_ACTIVITY: i64 = 6003;

pub(super) fn decode(e: &Value, unit: TsUnit) -> Result<Action<'_>, DecodeError> {
    match at(e, "class_uid").and_then(Value::as_i64) {
        Some(API_ACTIVITY) => {}
        Some(other) => {
            return Err(DecodeError::field(
                DecodeFault::InvalidValue,
                "class_uid",
                format!(
                    "OCSF class {other} is not API Activity (6003); only API Activity is a partner action"
                ),
            ));
        }
        None => {
            return Err(DecodeError::field(
                DecodeFault::MissingField,
                "class_uid",
                "required field is missing",
            ));
        }
    }
    let operation = required(e, "api.operation")?;
    let action = match text(e, "api.service.name") {
        Some(service) => Cow::Owned(format!("{service}:{operation}")),
        None => operation,
    };
    // status_id: 1 success, 2 failure; a failure whose detail says denied is a denial.
    let detail = first(e, &["status_detail", "status_code"])
        .unwrap_or_default()
        .to_ascii_lowercase();
    let outcome = match at(e, "status_id").and_then(Value::as_i64) {
        Some(2) if detail.contains("denied") || detail.contains("unauthorized") => "denied",
        Some(2) => "failure",
        _ => "success",
    };
    Ok(Action {
        ts: Some(time(e, &["time", "time_dt"], unit)?),
        credential_id: Some(required(e, "actor.user.uid")?),
        action: Some(action),
        event_id: text(e, "metadata.uid"),
        actor: first(e, &["actor.invoked_by", "actor.user.name"]),
        key_id: text(e, "actor.user.credential_uid"),
        resource: at(e, "resources")
            .and_then(Value::as_array)
            .and_then(|rs| rs.iter().find_map(|r| first(r, &["uid", "name"]))),
        environment: text(e, "cloud.account.uid"),
        outcome: Some(outcome),
        source_ip: text(e, "src_endpoint.ip"),
        user_agent: text(e, "http_request.user_agent"),
        request_id: text(e, "api.request.uid"),
        attributes: attributes(
            e,
            &[
                ("cloud_region", "cloud.region"),
                ("activity_id", "activity_id"),
                ("user_type", "actor.user.type"),
                ("status_detail", "status_detail"),
                ("schema_version", "metadata.version"),
            ],
        ),
        ..Action::default()
    })
}
