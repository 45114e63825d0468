//! Kubernetes `audit.k8s.io/v1` Events. The cluster is not in the event: it is the
//! topic's configured `environment`.

use std::borrow::Cow;

use serde_json::Value;

use super::value::{at, attributes, required, text, time};
use crate::decode::action::Action;
use crate::decode::error::{DecodeError, DecodeFault};
use crate::decode::ts::TsUnit;

/// A service account outside the cluster's own `kube-*` namespaces. Nodes, control
/// plane components (`system:*`) and people are the cluster's own.
pub(super) fn is_partner(action: &Action<'_>) -> bool {
    action
        .credential_id
        .as_deref()
        .and_then(|c| c.strip_prefix("system:serviceaccount:"))
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(namespace, _)| !namespace.starts_with("kube-"))
}

pub(super) fn decode(e: &Value, unit: TsUnit) -> Result<Action<'_>, DecodeError> {
    if text(e, "kind").as_deref() != Some("Event") {
        return Err(DecodeError::field(
            DecodeFault::InvalidValue,
            "kind",
            "not an audit.k8s.io Event",
        ));
    }
    let verb = required(e, "verb")?;
    let target = match (
        text(e, "objectRef.resource"),
        text(e, "objectRef.subresource"),
    ) {
        (Some(resource), Some(sub)) => format!("{resource}/{sub}"),
        (Some(resource), None) => resource.into_owned(),
        // Non-resource requests (/healthz, /metrics) are named by their URI.
        (None, _) => required(e, "requestURI")?.into_owned(),
    };
    let resource = match (text(e, "objectRef.namespace"), text(e, "objectRef.name")) {
        (Some(ns), Some(name)) => Some(Cow::Owned(format!("{ns}/{name}"))),
        (None, Some(name)) => Some(name),
        _ => None,
    };
    let code = at(e, "responseStatus.code").and_then(Value::as_i64);
    // The annotation key holds dots, so it is read directly rather than by path.
    let decision = e
        .get("annotations")
        .and_then(|a| a.get("authorization.k8s.io/decision"))
        .and_then(Value::as_str);
    let outcome = match (code, decision) {
        (Some(401 | 403), _) | (_, Some("forbid")) => "denied",
        (Some(c), _) if c >= 400 => "failure",
        _ => "success",
    };
    Ok(Action {
        ts: Some(time(
            e,
            &["requestReceivedTimestamp", "stageTimestamp"],
            unit,
        )?),
        credential_id: Some(required(e, "user.username")?),
        action: Some(Cow::Owned(format!("{verb} {target}"))),
        event_id: text(e, "auditID"),
        actor: text(e, "impersonatedUser.username"),
        resource,
        outcome: Some(outcome),
        source_ip: at(e, "sourceIPs")
            .and_then(Value::as_array)
            .and_then(|ips| ips.first())
            .and_then(Value::as_str)
            .map(Cow::Borrowed),
        user_agent: text(e, "userAgent"),
        attributes: attributes(
            e,
            &[
                ("namespace", "objectRef.namespace"),
                ("name", "objectRef.name"),
                ("api_group", "objectRef.apiGroup"),
                ("request_uri", "requestURI"),
                ("stage", "stage"),
                ("response_code", "responseStatus.code"),
            ],
        ),
        ..Action::default()
    })
}
