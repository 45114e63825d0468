//! Every real sample in shared/data decodes or is rejected with a reason naming its
//! field; field-level checks on a sample of each format.

use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};

use crate::decode::{ActionsBuilder, DecodeFault, Format, Rejected, Source, TopicFormat};

fn shared_data() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.is_dir(),
        "the shared sample data is expected at {}",
        dir.display()
    );
    dir
}

fn topic(format: Format) -> TopicFormat {
    TopicFormat::of(format)
}

/// Decodes each message; returns the batch and every rejection.
fn decode_all(format: &TopicFormat, messages: &[Vec<u8>]) -> (RecordBatch, Vec<Rejected>) {
    let mut builder = ActionsBuilder::new(8 << 20);
    let mut rejected = Vec::new();
    for (offset, message) in messages.iter().enumerate() {
        let source = Source {
            topic: "t",
            partition: 0,
            offset: offset as i64,
        };
        rejected.extend(builder.push(format, message, source));
    }
    (builder.finish().expect("batch"), rejected)
}

fn lines(file: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(shared_data().join(file)).expect(file);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

fn column(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let c = batch.column_by_name(name).expect(name).as_string::<i32>();
    (!c.is_null(row)).then(|| c.value(row).to_owned())
}

fn assert_named(rejected: &[Rejected]) {
    for r in rejected {
        assert!(
            r.error.field.is_some() || r.error.fault == DecodeFault::NotAnObject,
            "rejection without a field: {}",
            r.error
        );
    }
}

#[test]
fn every_invictus_cloudtrail_delivery_file_decodes() {
    let dir = shared_data().join("cloudtrail-invictus/raw");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("raw")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let messages: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("file"))
        .collect();
    let (batch, rejected) = decode_all(&topic(Format::CloudTrail), &messages);
    assert_named(&rejected);
    assert_eq!(
        batch.num_rows() + rejected.len(),
        2900,
        "every record accounted for"
    );
    assert!(
        batch.num_rows() >= 2850,
        "{} decoded, rejected: {:?}",
        batch.num_rows(),
        rejected
            .iter()
            .take(3)
            .map(|r| r.error.to_string())
            .collect::<Vec<_>>()
    );
    // Rejected records go alone, never the whole file.
    assert!(rejected.iter().all(|r| r.record.is_some()));

    let row = (0..batch.num_rows())
        .find(|&i| column(&batch, "key_id", i).as_deref() == Some("AKIATFQR7NSC8Q4X20BJ"))
        .expect("bert-jan's long-term key");
    assert_eq!(
        column(&batch, "credential_id", row).as_deref(),
        Some("arn:aws:iam::123837392027:user/bert-jan")
    );
    assert_eq!(
        column(&batch, "environment", row).as_deref(),
        Some("123837392027")
    );
    let action = column(&batch, "action", row).expect("action");
    assert!(
        action.contains(':') && !action.contains(".amazonaws.com"),
        "{action}"
    );
    let denied = (0..batch.num_rows())
        .filter(|&i| column(&batch, "outcome", i).as_deref() == Some("denied"))
        .count();
    assert!(denied > 0, "AccessDenied errors map to denied");
}

#[test]
fn panther_cloudtrail_eks_and_github_fixtures_decode_or_name_the_missing_field() {
    for (file, format) in [
        ("panther-fixtures/AWS.CloudTrail.jsonl", Format::CloudTrail),
        ("panther-fixtures/Amazon.EKS.Audit.jsonl", Format::K8sAudit),
        ("panther-fixtures/GitHub.Audit.jsonl", Format::GithubAudit),
    ] {
        let (mut decoded, mut missing, mut invalid) = (0, 0, 0);
        for line in lines(file) {
            let (batch, rejected) = decode_all(&topic(format), std::slice::from_ref(&line));
            decoded += batch.num_rows();
            assert_named(&rejected);
            for r in &rejected {
                invalid += usize::from(r.error.fault == DecodeFault::InvalidValue);
                // Many fixtures are rule-test stubs without a time or verb: that field
                // must really be absent for the rejection to say so.
                if r.error.fault == DecodeFault::MissingField {
                    missing += 1;
                    let record: serde_json::Value = serde_json::from_slice(&line).expect("json");
                    let field = r.error.field.as_deref().expect("field");
                    assert!(
                        super::value::text(&record, field).is_none(),
                        "{file}: {field} has a value but is reported missing"
                    );
                }
            }
            assert_eq!(
                batch.num_rows() + rejected.len(),
                1,
                "{file}: one outcome per record"
            );
        }
        let total = lines(file).len();
        assert!(decoded > 0, "{file}: nothing decoded");
        // The rest carry impossible values (`"eventTime": "redacted"`), named too.
        assert_eq!(
            decoded + missing + invalid,
            total,
            "{file}: {decoded} decoded, {missing} missing, {invalid} invalid"
        );
    }
}

#[test]
fn k8s_fields_and_the_topic_environment() {
    let event = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a-1","stage":"ResponseComplete",
        "requestURI":"/api/v1/namespaces/pay/pods/p1/log","verb":"get",
        "user":{"username":"system:serviceaccount:partner-acme:exporter"},"sourceIPs":["10.0.0.7"],
        "userAgent":"kubectl/v1.29","objectRef":{"resource":"pods","subresource":"log","namespace":"pay","name":"p1"},
        "responseStatus":{"code":403},"requestReceivedTimestamp":"2026-11-30T09:00:00.123456Z"}"#;
    let format = TopicFormat {
        environment: Some("prod-eu-1".into()),
        ..TopicFormat::of(Format::K8sAudit)
    };
    let (batch, rejected) = decode_all(&format, &[event.to_vec()]);
    assert!(rejected.is_empty());
    assert_eq!(
        column(&batch, "credential_id", 0).as_deref(),
        Some("system:serviceaccount:partner-acme:exporter")
    );
    assert_eq!(column(&batch, "action", 0).as_deref(), Some("get pods/log"));
    assert_eq!(column(&batch, "resource", 0).as_deref(), Some("pay/p1"));
    assert_eq!(
        column(&batch, "environment", 0).as_deref(),
        Some("prod-eu-1")
    );
    assert_eq!(column(&batch, "outcome", 0).as_deref(), Some("denied"));
    assert_eq!(column(&batch, "event_id", 0).as_deref(), Some("a-1"));
}

#[test]
fn ocsf_api_activity_and_other_classes() {
    let event = br#"{"class_uid":6003,"activity_id":2,"time":1796029200000,"status_id":2,"status_detail":"AccessDenied",
        "metadata":{"uid":"m-1","version":"1.3.0"},"api":{"operation":"GetObject","service":{"name":"s3"},"request":{"uid":"r-9"}},
        "actor":{"user":{"uid":"arn:aws:iam::210987654321:role/veritas-kyc","credential_uid":"ASIA123","type":"AssumedRole"}},
        "cloud":{"account":{"uid":"123456789012"},"region":"eu-west-1"},"src_endpoint":{"ip":"203.0.113.9"},
        "http_request":{"user_agent":"aws-sdk-go"},"resources":[{"uid":"arn:aws:s3:::kyc/1.pdf"}]}"#;
    let other = br#"{"class_uid":3002,"time":1,"actor":{"user":{"uid":"u"}}}"#;
    let (batch, rejected) = decode_all(&topic(Format::Ocsf), &[event.to_vec(), other.to_vec()]);
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(column(&batch, "action", 0).as_deref(), Some("s3:GetObject"));
    assert_eq!(column(&batch, "key_id", 0).as_deref(), Some("ASIA123"));
    assert_eq!(
        column(&batch, "environment", 0).as_deref(),
        Some("123456789012")
    );
    assert_eq!(column(&batch, "outcome", 0).as_deref(), Some("denied"));
    assert_eq!(column(&batch, "request_id", 0).as_deref(), Some("r-9"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].error.field.as_deref(), Some("class_uid"));
    assert!(
        rejected[0].error.to_string().contains("3002"),
        "{}",
        rejected[0].error
    );
}

#[test]
fn github_programmatic_access_is_the_credential() {
    let token = br#"{"action":"repo.download_zip","actor":"deploy-bot","created_at":1796029200000,"org":"bank",
        "programmatic_access_type":"Fine-grained personal access token","token_id":12345,"repo":"bank/payments","_document_id":"d1"}"#;
    let app = br#"{"action":"git.clone","actor":"ci[bot]","@timestamp":1796029200000,"integration":"acme-ci","org":"bank"}"#;
    let human = br#"{"action":"protected_branch.destroy","actor":"cat","created_at":"2023-01-31 18:58:27.638","org":"my-org"}"#;
    let nobody = br#"{"action":"x","created_at":1}"#;
    let (batch, rejected) = decode_all(
        &topic(Format::GithubAudit),
        &[
            token.to_vec(),
            app.to_vec(),
            human.to_vec(),
            nobody.to_vec(),
        ],
    );
    assert_eq!(
        column(&batch, "credential_id", 0).as_deref(),
        Some("token:12345")
    );
    assert_eq!(column(&batch, "environment", 0).as_deref(), Some("bank"));
    assert_eq!(
        column(&batch, "credential_id", 1).as_deref(),
        Some("github_app:acme-ci")
    );
    assert_eq!(column(&batch, "credential_id", 2).as_deref(), Some("cat"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].error.field.as_deref(), Some("actor"));
}

#[test]
fn cloudtrail_assumed_role_cross_account_and_a_bad_record_alone() {
    let file = br#"{"Records":[
        {"eventID":"e1","eventTime":"2026-11-30T09:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject",
         "recipientAccountId":"123456789012","errorCode":"AccessDenied",
         "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::210987654321:assumed-role/veritas-kyc/session-42",
           "accountId":"210987654321","accessKeyId":"ASIAX",
           "sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::210987654321:role/veritas-kyc"}}},
         "resources":[{"ARN":"arn:aws:s3:::kyc/1.pdf"}]},
        {"eventID":"e2","eventTime":"not a time","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"arn":"a"}}
    ]}"#;
    let (batch, rejected) = decode_all(&topic(Format::CloudTrail), &[file.to_vec()]);
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(
        column(&batch, "credential_id", 0).as_deref(),
        Some("arn:aws:iam::210987654321:role/veritas-kyc")
    );
    assert_eq!(
        column(&batch, "partner", 0).as_deref(),
        Some("210987654321"),
        "cross-account caller"
    );
    assert_eq!(column(&batch, "actor", 0).as_deref(), Some("session-42"));
    assert_eq!(column(&batch, "outcome", 0).as_deref(), Some("denied"));
    assert_eq!(
        column(&batch, "resource", 0).as_deref(),
        Some("arn:aws:s3:::kyc/1.pdf")
    );
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].error.field.as_deref(), Some("eventTime"));
    let alone: serde_json::Value =
        serde_json::from_slice(rejected[0].record.as_deref().expect("record")).expect("json");
    assert_eq!(
        alone["eventID"], "e2",
        "only the bad record is dead-lettered"
    );
}

/// README's format table lists exactly the formats there are.
#[test]
fn the_readme_lists_every_format() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme.find("| format | reads |").expect("the format table");
    let listed: Vec<&str> = readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    assert_eq!(listed, Format::ALL.map(Format::name));
}

/// Times outside years 1 to 9999 are refused in every format, naming the field: an
/// OCSF `time` in microseconds (a real vendor example) read as milliseconds is year
/// 53,655. CloudTrail exported through Logstash or Elastic carries `@timestamp`.
#[test]
fn times_keep_to_the_contract_and_exports_keep_their_time() {
    let micros = br#"{"class_uid":6003,"activity_id":1,"time":1630353600000000,
        "api":{"operation":"GetObject","service":{"name":"s3"}},"actor":{"user":{"uid":"u"}}}"#;
    let (batch, rejected) = decode_all(&topic(Format::Ocsf), &[micros.to_vec()]);
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(rejected[0].error.fault, DecodeFault::InvalidValue);
    assert_eq!(rejected[0].error.field.as_deref(), Some("time"));
    assert!(
        rejected[0]
            .error
            .to_string()
            .contains("outside years 1 to 9999"),
        "{}",
        rejected[0].error
    );

    // The topic's ts_unit reads the same source right, and seconds are not 1970.
    let in_micros = TopicFormat {
        ts_unit: crate::decode::TsUnit::Micros,
        ..topic(Format::Ocsf)
    };
    let (batch, rejected) = decode_all(&in_micros, &[micros.to_vec()]);
    assert!(rejected.is_empty(), "{:?}", rejected[0].error);
    let ts = batch.column_by_name("ts").unwrap();
    let ts = ts.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1_630_353_600_000);
    let seconds = br#"{"class_uid":6003,"time":1630353600,
        "api":{"operation":"GetObject"},"actor":{"user":{"uid":"u"}}}"#;
    let in_seconds = TopicFormat {
        ts_unit: crate::decode::TsUnit::Seconds,
        ..topic(Format::Ocsf)
    };
    let (batch, _) = decode_all(&in_seconds, &[seconds.to_vec()]);
    let ts = batch.column_by_name("ts").unwrap();
    let ts = ts.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1_630_353_600_000);

    let exported = br#"{"@timestamp":"2023-07-10T13:00:00.000Z","eventSource":"s3.amazonaws.com",
        "eventName":"GetObject","eventID":"x","recipientAccountId":"1",
        "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::2:user/u","accountId":"2"}}"#;
    let (batch, rejected) = decode_all(&topic(Format::CloudTrail), &[exported.to_vec()]);
    assert!(rejected.is_empty(), "{:?}", rejected[0].error);
    assert_eq!(column(&batch, "action", 0).as_deref(), Some("s3:GetObject"));
}

/// An entry that creates or changes a token or an app names it, but its actor did it.
#[test]
fn github_credential_management_is_credited_to_the_actor() {
    let created =
        br#"{"action":"personal_access_token.create","actor":"jane","created_at":1796029200000,
        "hashed_token":"abc=","org":"bank"}"#;
    let installed =
        br#"{"action":"integration_installation.create","actor":"sam","created_at":1796029200000,
        "integration":"acme-ci","org":"bank"}"#;
    let used = br#"{"action":"git.clone","actor":"jane","created_at":1796029200000,"hashed_token":"abc=","org":"bank"}"#;
    let (batch, rejected) = decode_all(
        &topic(Format::GithubAudit),
        &[created.to_vec(), installed.to_vec(), used.to_vec()],
    );
    assert!(rejected.is_empty());
    let credentials: Vec<Option<String>> =
        (0..3).map(|r| column(&batch, "credential_id", r)).collect();
    assert_eq!(
        credentials,
        [
            Some("jane".into()),
            Some("sam".into()),
            Some("token:abc=".into())
        ]
    );
}
