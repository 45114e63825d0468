//! Mappings written by hand, and every preset on its gateway's sample
//! (`tests/gateways/`, with their sources and licences).

use serde_json::{Value, json};

use super::*;

fn mapping(text: &str) -> Mapping {
    Mapping::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<String> {
    Mapping::from_toml(text).unwrap_err().0
}

fn samples(preset: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/gateways/{preset}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|line| serde_json::from_str(line).expect("a sample is JSON"))
        .collect()
}

const REST: &str = r#"
ts = ["/time", "/@timestamp"]
credential_id = "/consumer/id"
method = "/request/method"
path = "/request/uri"
route = "/route"
outcome = { from = "/status", map = { "2*" = "success", "403" = "denied", "*" = "failure" } }
environment = { const = "prod" }
amount = "/body/amount"
data_classes = "/classes"
[attributes]
latency = "/latency"
"#;

#[test]
fn the_issue_example_reads_a_record() {
    let m = mapping(REST);
    let record = json!({
        "@timestamp": "2026-12-07T09:00:00Z",
        "consumer": {"id": "cli_acme"},
        "request": {"method": "DELETE", "uri": "/v1/accounts/acc_23?force=1"},
        "status": 403,
        "body": {"amount": "12.50"},
        "classes": ["pii", "card"],
        "latency": 12
    });
    let action = m.decode(&record, TsUnit::Millis).unwrap();
    assert_eq!(action.ts, Some(1_796_634_000_000));
    assert_eq!(action.credential_id.as_deref(), Some("cli_acme"));
    assert_eq!(action.action.as_deref(), Some("DELETE /v1/accounts/acc_23"));
    assert_eq!(action.outcome, Some("denied"));
    assert_eq!(action.environment.as_deref(), Some("prod"));
    assert_eq!(action.amount, Some(12.5));
    assert_eq!(action.data_classes.clone().unwrap(), vec!["pii", "card"]);
    assert_eq!(
        action.attributes_json().as_deref(),
        Some(r#"{"latency":12}"#)
    );
}

#[test]
fn a_route_is_preferred_over_the_path() {
    let m = mapping(REST);
    let with = |route: Value| {
        let record = json!({"time": 1, "consumer": {"id": "c"}, "route": route,
            "request": {"method": "GET", "uri": "/v1/accounts/acc_23"}});
        m.decode(&record, TsUnit::Millis)
            .unwrap()
            .action
            .unwrap()
            .into_owned()
    };
    assert_eq!(with(json!("/v1/accounts/{id}")), "GET /v1/accounts/{id}");
    assert_eq!(
        with(json!("GET /v1/accounts/{id}")),
        "GET /v1/accounts/{id}"
    );
    assert_eq!(with(json!("$default")), "GET /v1/accounts/acc_23");
    assert_eq!(with(json!(null)), "GET /v1/accounts/acc_23");
}

#[test]
fn missing_and_wrong_values_name_the_pointer() {
    let m = mapping(REST);
    let reject = |record: Value| m.decode(&record, TsUnit::Millis).unwrap_err();
    let e = reject(json!({"time": 1, "request": {"method": "GET", "uri": "/"}}));
    assert_eq!(
        (e.fault, e.field.as_deref()),
        (DecodeFault::MissingField, Some("/consumer/id"))
    );
    let e = reject(json!({"consumer": {"id": "c"}, "request": {"method": "GET", "uri": "/"}}));
    assert_eq!(e.field.as_deref(), Some("/time | /@timestamp"));
    let e = reject(json!({"time": 1, "consumer": {"id": "c"}, "request": {"uri": "/"}}));
    assert!(e.to_string().contains("/request/method"), "{e}");
    let e = reject(
        json!({"time": "soon", "consumer": {"id": "c"}, "request": {"method": "GET", "uri": "/"}}),
    );
    assert_eq!(e.fault, DecodeFault::InvalidValue);
    let raw = mapping("ts = \"/t\"\ncredential_id = \"/c\"\naction = \"/a\"\noutcome = \"/s\"");
    let e = raw
        .decode(
            &json!({"t": 1, "c": "x", "a": "GET /", "s": 101}),
            TsUnit::Millis,
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("/s"));
    assert!(e.detail.contains("`101`"), "{e}");
    let e = reject(
        json!({"time": 1, "consumer": {"id": "c"}, "body": {"amount": "lots"},
        "request": {"method": "GET", "uri": "/"}}),
    );
    assert_eq!(e.field.as_deref(), Some("/body/amount"));
}

#[test]
fn the_unit_of_numeric_times_is_the_mappings_or_the_topics() {
    let record = json!({"t": 1_700_000_000, "c": "x", "a": "GET /"});
    let plain = mapping("ts = \"/t\"\ncredential_id = \"/c\"\naction = \"/a\"");
    assert!(
        plain.decode(&record, TsUnit::Millis).is_ok(),
        "1970 is in range"
    );
    assert_eq!(
        plain.decode(&record, TsUnit::Seconds).unwrap().ts,
        Some(1_700_000_000_000)
    );
    let seconds = mapping("ts = \"/t\"\nts_unit = \"s\"\ncredential_id = \"/c\"\naction = \"/a\"");
    assert_eq!(
        seconds.decode(&record, TsUnit::Millis).unwrap().ts,
        Some(1_700_000_000_000)
    );
}

#[test]
fn mistakes_are_found_at_start_each_naming_its_key() {
    let all = errors(
        r#"
credential = "/c"
ts = "t"
outcome = { const = "ok" }
ts_unit = "minutes"
[attributes]
x = 1
"#,
    );
    let joined = all.join("\n");
    for expected in [
        "`credential` is not a field",
        "`ts`: `t` is neither a JSON pointer",
        "`outcome`: `ok` is not success",
        "`ts_unit`: `minutes`",
        "`attributes.x`",
        "`credential_id` is required",
        "`action` is required",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
    assert!(errors("preset = \"apigee\"")[0].contains("envoy, kong"));
    assert!(!errors("ts = [").is_empty());
}

#[test]
fn a_mapping_starts_from_a_preset_and_changes_what_differs() {
    let m = mapping(
        "preset = \"kong\"\ncredential_id = \"/consumer/id\"\n[attributes]\nextra = \"/upstream_uri\"",
    );
    let record = &samples("kong")[0];
    let action = m.decode(record, TsUnit::Millis).unwrap();
    assert_eq!(
        action.credential_id.as_deref(),
        Some("ae974d6c-0f8a-4dc5-b701-fa0aa38592bd")
    );
    let attributes = action.attributes_json().unwrap().into_owned();
    assert!(
        attributes.contains(r#""extra":"/anything""#),
        "{attributes}"
    );
    assert!(
        attributes.contains(r#""route_id":"78f79740"#),
        "{attributes}"
    );
}

#[test]
fn every_preset_compiles() {
    for (name, ..) in PRESETS {
        Mapping::preset(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn kong_reads_its_documented_record() {
    let kong = Mapping::preset("kong").unwrap();
    let record = &samples("kong")[0];
    let action = kong.decode(record, TsUnit::Millis).unwrap();
    assert_eq!(action.ts, Some(1_614_232_668_342));
    assert_eq!(action.credential_id.as_deref(), Some("foo"));
    assert_eq!(
        action.key_id.as_deref(),
        Some("c62c1455-9b1d-4f2d-8797-509ba83b8ae8")
    );
    assert_eq!(action.action.as_deref(), Some("GET /log"));
    assert_eq!(action.outcome, Some("success"));
    assert_eq!(action.source_ip.as_deref(), Some("192.168.144.1"));
    assert_eq!(action.user_agent.as_deref(), Some("HTTPie/2.4.0"));
    let attributes = action.attributes_json().unwrap().into_owned();
    assert!(
        attributes.contains(r#""workspace":"default""#),
        "{attributes}"
    );
    assert!(attributes.contains(r#""status":200"#), "{attributes}");
}

#[test]
fn envoy_needs_a_client_identity_added_to_its_default_format() {
    let envoy = Mapping::preset("envoy").unwrap();
    let mut record = samples("envoy").remove(0);
    // Envoy Gateway's default format logs no client identity: dead-lettered, naming
    // where the preset looked.
    let e = envoy.decode(&record, TsUnit::Millis).unwrap_err();
    assert_eq!(e.fault, DecodeFault::MissingField);
    assert!(
        e.field.as_deref().unwrap().starts_with("/client_id | "),
        "{e}"
    );
    // With the header the preset's comment suggests added to the format, it reads.
    record["client_id"] = json!("partner-acme");
    let action = envoy.decode(&record, TsUnit::Millis).unwrap();
    assert_eq!(action.ts, Some(1_741_400_732_588));
    assert_eq!(action.credential_id.as_deref(), Some("partner-acme"));
    assert_eq!(action.action.as_deref(), Some("GET /get"));
    assert_eq!(action.outcome, Some("failure"), "Envoy's 500");
    assert_eq!(action.source_ip.as_deref(), Some("192.168.65.4"));
    assert_eq!(
        action.request_id.as_deref(),
        Some("54c4c2f9-d209-4aa0-8870-342bc6622d1a")
    );
    let attributes = action.attributes_json().unwrap().into_owned();
    assert!(attributes.contains("httproute/default/backend/rule/0/match/0/www_example_com"));
    assert!(attributes.contains("direct_response"), "{attributes}");
}

#[test]
fn aws_api_gateway_reads_rest_and_http_api_records() {
    let aws = Mapping::preset("aws-apigateway").unwrap();
    let records = samples("aws-apigateway");
    let rest = aws.decode(&records[0], TsUnit::Millis).unwrap();
    assert_eq!(rest.ts, Some(1_796_634_902_000));
    assert_eq!(rest.credential_id.as_deref(), Some("3n9fd1partneracme"));
    assert_eq!(rest.key_id.as_deref(), Some("k7x2p9q4r1"));
    assert_eq!(
        rest.action.as_deref(),
        Some("GET /accounts/{accountId}/balances")
    );
    assert_eq!(
        rest.event_id.as_deref(),
        Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
    );
    let http = aws.decode(&records[1], TsUnit::Millis).unwrap();
    assert_eq!(http.action.as_deref(), Some("DELETE /accounts/{accountId}"));
    assert_eq!(http.outcome, Some("denied"));
}

#[test]
fn nginx_reads_what_nginx_wrote_in_the_documented_format() {
    let nginx = Mapping::preset("nginx").unwrap();
    let records = samples("nginx");
    let refund = nginx.decode(&records[1], TsUnit::Millis).unwrap();
    assert_eq!(refund.credential_id.as_deref(), Some("partner-acme"));
    assert_eq!(
        refund.action.as_deref(),
        Some("POST /v1/payments/p_8812/refunds")
    );
    assert_eq!(refund.ts, Some(1_796_691_553_000));
    assert_eq!(refund.outcome, Some("success"));
    let basic = nginx.decode(&records[2], TsUnit::Millis).unwrap();
    assert_eq!(
        basic.credential_id.as_deref(),
        Some("billing-batch"),
        "basic auth when no client id (NGINX logs an empty header as \"\")"
    );
    assert_eq!(basic.outcome, Some("denied"));
}
