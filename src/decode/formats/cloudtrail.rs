//! AWS CloudTrail records.

use std::borrow::Cow;

use serde_json::Value;

use super::value::{at, attributes, first, required, text, time};
use crate::decode::action::Action;
use crate::decode::error::{DecodeError, DecodeFault};
use crate::decode::ts::TsUnit;

/// Error codes that mean the caller was refused rather than failed.
fn is_denial(code: &str) -> bool {
    let lower = code.to_ascii_lowercase();
    lower.contains("accessdenied") || lower.contains("unauthorized") || lower.contains("forbidden")
}

/// `invokedBy` naming AWS itself (a service acting for the caller) is not a delegate.
fn is_aws_service(invoked_by: &str) -> bool {
    invoked_by == "AWS Internal" || invoked_by.ends_with(".amazonaws.com")
}

/// A caller from another account than the recipient's (the decoder names it as the
/// partner), never an AWS service principal.
pub(super) fn is_partner(action: &Action<'_>) -> bool {
    action.partner.is_some()
        && !action
            .credential_id
            .as_deref()
            .is_some_and(|c| c.ends_with(".amazonaws.com") || c == "AWS Internal")
}

pub(super) fn decode(r: &Value, unit: TsUnit) -> Result<Action<'_>, DecodeError> {
    // `@timestamp`: CloudTrail exported through Logstash, OpenSearch or Elastic.
    let ts = time(r, &["eventTime", "@timestamp"], unit)?;
    let source = required(r, "eventSource")?;
    let name = required(r, "eventName")?;
    let service = source.split('.').next().unwrap_or(&source);
    let assumed = text(r, "userIdentity.type").as_deref() == Some("AssumedRole");
    let credential = if assumed {
        first(
            r,
            &[
                "userIdentity.sessionContext.sessionIssuer.arn",
                "userIdentity.arn",
            ],
        )
    } else {
        first(
            r,
            &[
                "userIdentity.arn",
                "userIdentity.principalId",
                "userIdentity.invokedBy",
            ],
        )
    }
    .ok_or_else(|| {
        DecodeError::field(
            DecodeFault::MissingField,
            "userIdentity.arn",
            "no principal: userIdentity has no arn, principalId or invokedBy",
        )
    })?;
    let recipient = text(r, "recipientAccountId");
    let caller_account = text(r, "userIdentity.accountId");
    let partner = match (&caller_account, &recipient) {
        (Some(caller), Some(recipient)) if caller != recipient => caller_account.clone(),
        _ => None,
    };
    // The role session name is the last segment of an assumed-role ARN.
    let session = assumed
        .then(|| text(r, "userIdentity.arn"))
        .flatten()
        .and_then(|arn| arn.rsplit('/').next().map(|s| Cow::Owned(s.to_owned())));
    let error_code = text(r, "errorCode");
    Ok(Action {
        ts: Some(ts),
        credential_id: Some(credential),
        action: Some(Cow::Owned(format!("{service}:{name}"))),
        event_id: text(r, "eventID"),
        partner,
        actor: text(r, "userIdentity.sessionContext.sourceIdentity")
            .or(session)
            .or_else(|| text(r, "userIdentity.invokedBy").filter(|by| !is_aws_service(by))),
        key_id: text(r, "userIdentity.accessKeyId"),
        resource: at(r, "resources")
            .and_then(Value::as_array)
            .and_then(|rs| rs.iter().find_map(|x| text(x, "ARN"))),
        environment: recipient,
        outcome: Some(match error_code.as_deref() {
            None => "success",
            Some(code) if is_denial(code) => "denied",
            Some(_) => "failure",
        }),
        source_ip: text(r, "sourceIPAddress"),
        user_agent: text(r, "userAgent"),
        request_id: text(r, "requestID"),
        attributes: attributes(
            r,
            &[
                ("aws_region", "awsRegion"),
                ("event_type", "eventType"),
                ("read_only", "readOnly"),
                ("identity_type", "userIdentity.type"),
                ("invoked_by", "userIdentity.invokedBy"),
                ("error_code", "errorCode"),
                ("error_message", "errorMessage"),
            ],
        ),
        ..Action::default()
    })
}
