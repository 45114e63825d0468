//! GitHub audit log entries. Programmatic access (tokens, GitHub Apps, OAuth apps) is
//! the credential; a plain user session falls back to the actor's handle.

use std::borrow::Cow;

use serde_json::Value;

use super::value::{attributes, first, required, text, time};
use crate::decode::action::Action;
use crate::decode::error::{DecodeError, DecodeFault};
use crate::decode::ts::TsUnit;

/// Programmatic access: a token, an OAuth app or a GitHub App. A plain user session
/// is the organisation's own member.
pub(super) fn is_partner(action: &Action<'_>) -> bool {
    action.credential_id.as_deref().is_some_and(|c| {
        ["token:", "oauth_app:", "github_app:"]
            .iter()
            .any(|p| c.starts_with(p))
    })
}

/// Actions that create or change a token or an app: the entry names that token or
/// app, but a person (the actor) did it.
const MANAGES_CREDENTIALS: &[&str] = &[
    "personal_access_token.",
    "oauth_application.",
    "oauth_authorization.",
    "oauth_access.",
    "integration.",
    "integration_installation.",
    "integration_installation_request.",
    "public_key.",
    "deploy_key.",
];

pub(super) fn decode(e: &Value, unit: TsUnit) -> Result<Action<'_>, DecodeError> {
    let manages =
        text(e, "action").is_some_and(|a| MANAGES_CREDENTIALS.iter().any(|p| a.starts_with(p)));
    let actor = first(e, &["actor", "actor_id"]);
    let credential = if let (true, Some(actor)) = (manages, &actor) {
        actor.clone()
    } else if let Some(token) = first(e, &["token_id", "hashed_token"]) {
        Cow::Owned(format!("token:{token}"))
    } else if let Some(app) = first(e, &["oauth_application_id", "oauth_application_name"]) {
        Cow::Owned(format!("oauth_app:{app}"))
    } else if let Some(app) = text(e, "integration") {
        Cow::Owned(format!("github_app:{app}"))
    } else {
        actor.ok_or_else(|| {
            DecodeError::field(
                DecodeFault::MissingField,
                "actor",
                "no token, application or actor identifies the caller",
            )
        })?
    };
    Ok(Action {
        ts: Some(time(
            e,
            &["@timestamp", "created_at", "at_sign_timestamp"],
            unit,
        )?),
        credential_id: Some(credential),
        action: Some(required(e, "action")?),
        event_id: first(e, &["_document_id", "document_id"]),
        actor: text(e, "actor"),
        resource: first(e, &["repo", "repository", "team", "user"]),
        environment: first(e, &["org", "business"]),
        outcome: Some("success"),
        source_ip: text(e, "actor_ip"),
        user_agent: text(e, "user_agent"),
        request_id: text(e, "request_id"),
        attributes: attributes(
            e,
            &[
                ("programmatic_access_type", "programmatic_access_type"),
                ("actor_is_bot", "actor_is_bot"),
                ("operation_type", "operation_type"),
                ("country_code", "actor_location.country_code"),
                ("business", "business"),
            ],
        ),
        ..Action::default()
    })
}
