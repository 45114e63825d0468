//! The action a request asks about, as the native event the stream would carry:
//! from a JSON body (`POST /v1/decide`), or from the request Envoy forwards to an
//! `ext_authz` HTTP service (method, path and configured headers).

use axum::http::{HeaderMap, Method};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Which request headers carry what an `ext_authz` check needs.
#[derive(Debug, Clone)]
pub struct Headers {
    /// The credential: an OAuth client id, an API key's consumer.
    pub credential: String,
    /// The environment, if the gateway sets one.
    pub environment: String,
    /// The amount the request moves, if any.
    pub amount: String,
    /// Its currency.
    pub currency: String,
}

impl Default for Headers {
    fn default() -> Self {
        Self {
            credential: "x-client-id".into(),
            environment: "x-grantwatch-environment".into(),
            amount: "x-grantwatch-amount".into(),
            currency: "x-grantwatch-currency".into(),
        }
    }
}

/// A native event from a JSON body: `ts` defaults to `now`, `event_id` to `id`.
/// Anything else is judged as the stream would judge it (bad fields are refused by
/// the decoder, naming them).
pub fn from_body(body: &[u8], now: DateTime<Utc>, id: &str) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut event) = value else {
        return Err("not a JSON object".into());
    };
    event.entry("ts").or_insert_with(|| rfc3339(now).into());
    event.entry("event_id").or_insert_with(|| id.into());
    Ok(event)
}

/// A native event from the request Envoy forwards: `METHOD /path` (without the
/// query) by the credential in `headers.credential`.
pub fn from_ext_authz(
    method: &Method,
    path: &str,
    request: &HeaderMap,
    headers: &Headers,
    now: DateTime<Utc>,
    id: &str,
) -> Result<Map<String, Value>, String> {
    let get = |name: &str| {
        request
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let credential = get(&headers.credential)
        .ok_or_else(|| format!("no credential in header {}", headers.credential))?;
    let path = path.split('?').next().unwrap_or(path);
    let mut event = Map::new();
    event.insert("ts".into(), rfc3339(now).into());
    event.insert("event_id".into(), id.into());
    event.insert("credential_id".into(), credential.into());
    event.insert("action".into(), format!("{method} {path}").into());
    if let Some(environment) = get(&headers.environment) {
        event.insert("environment".into(), environment.into());
    }
    if let Some(amount) = get(&headers.amount) {
        let amount: f64 = amount
            .parse()
            .map_err(|_| format!("header {}: `{amount}` is not a number", headers.amount))?;
        event.insert("amount".into(), amount.into());
    }
    if let Some(currency) = get(&headers.currency) {
        event.insert("currency".into(), currency.into());
    }
    Ok(event)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envoy_check_becomes_the_action_the_stream_would_carry() {
        let mut request = HeaderMap::new();
        request.insert("x-client-id", "cli_acme".parse().expect("header"));
        request.insert("x-grantwatch-amount", "120.5".parse().expect("header"));
        let now = Utc::now();
        let event = from_ext_authz(
            &Method::POST,
            "/v1/payouts?dry_run=1",
            &request,
            &Headers::default(),
            now,
            "d-1",
        )
        .expect("event");
        assert_eq!(event["action"], "POST /v1/payouts");
        assert_eq!(event["credential_id"], "cli_acme");
        assert_eq!(event["amount"], 120.5);
        let none = from_ext_authz(
            &Method::GET,
            "/x",
            &HeaderMap::new(),
            &Headers::default(),
            now,
            "d-2",
        );
        assert!(none.unwrap_err().contains("x-client-id"));
        let body =
            from_body(br#"{"credential_id":"c","action":"GET /x"}"#, now, "d-3").expect("body");
        assert_eq!(body["event_id"], "d-3");
        assert!(from_body(b"[1]", now, "d-4").is_err());
    }
}
