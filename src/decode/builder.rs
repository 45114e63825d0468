//! Accumulates decoded actions column by column into one `actions` record batch.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, PrimitiveArray, PrimitiveBuilder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::ArrowPrimitiveType;
use datafusion::arrow::error::ArrowError;

use super::action::Action;
use super::error::{DecodeError, DecodeFault};
use super::formats::{self, Format};
use super::mapped::Mapping;
use super::native;
use super::schema;
use super::scope::PartnerScope;
use super::ts::TsUnit;

/// Where a message came from: the default `event_id` and the `topic`, `partition`,
/// `offset` columns.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Kafka topic.
    pub topic: &'a str,
    /// Kafka partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// How a topic's messages are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFormat {
    /// The wire format.
    pub format: Format,
    /// Environment for actions that carry none (a k8s topic's cluster name).
    pub environment: Option<String>,
    /// The unit of numeric event times (native events are always milliseconds).
    pub ts_unit: TsUnit,
    /// How records map to actions, for [`Format::Mapped`].
    pub mapping: Option<Arc<Mapping>>,
}

impl TopicFormat {
    /// Native events, no default environment.
    pub fn native() -> Self {
        Self::of(Format::Native)
    }

    /// `format` with no default environment and millisecond times.
    pub fn of(format: Format) -> Self {
        Self {
            format,
            environment: None,
            ts_unit: TsUnit::default(),
            mapping: None,
        }
    }

    /// Records mapped by `mapping`.
    pub fn mapped(mapping: Mapping) -> Self {
        Self {
            mapping: Some(Arc::new(mapping)),
            ..Self::of(Format::Mapped)
        }
    }

    /// Maps one record of a parsed message.
    fn decode<'a>(&self, record: &'a serde_json::Value) -> Result<Action<'a>, DecodeError> {
        match (self.format, &self.mapping) {
            (Format::Mapped, Some(mapping)) => mapping.decode(record, self.ts_unit),
            (Format::Mapped, None) => Err(DecodeError::new(
                DecodeFault::InvalidValue,
                "the topic's format is mapped but it has no mapping",
            )),
            (format, _) => formats::decode(format, record, self.ts_unit),
        }
    }
}

/// A record that could not be decoded. `record` holds the record's own JSON when the
/// message held several (a CloudTrail delivery file); otherwise the whole message is
/// the one to dead-letter.
#[derive(Debug)]
pub struct Rejected {
    /// Why.
    pub error: DecodeError,
    /// The record's text, for multi-record messages.
    pub record: Option<Vec<u8>>,
}

/// Column builders for one batch of canonical actions.
pub struct ActionsBuilder {
    max_message_bytes: usize,
    scope: PartnerScope,
    ingest_ts: i64,
    event_id: StringBuilder,
    ts: TimestampMillisecondBuilder,
    credential_id: StringBuilder,
    action: StringBuilder,
    partner: StringBuilder,
    actor: StringBuilder,
    key_id: StringBuilder,
    resource: StringBuilder,
    environment: StringBuilder,
    data_classes: ListBuilder<StringBuilder>,
    amount: Float64Builder,
    currency: StringBuilder,
    outcome: StringBuilder,
    source_ip: StringBuilder,
    user_agent: StringBuilder,
    request_id: StringBuilder,
    attributes: StringBuilder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    in_scope: BooleanBuilder,
    rows: usize,
}

impl ActionsBuilder {
    /// A builder that rejects messages over `max_message_bytes`, with every format's
    /// default partner scope.
    pub fn new(max_message_bytes: usize) -> Self {
        Self::with_scope(max_message_bytes, PartnerScope::default())
    }

    /// A builder that marks `in_scope` by `scope`.
    pub fn with_scope(max_message_bytes: usize, scope: PartnerScope) -> Self {
        Self {
            max_message_bytes,
            scope,
            ingest_ts: 0,
            event_id: StringBuilder::new(),
            ts: TimestampMillisecondBuilder::new(),
            credential_id: StringBuilder::new(),
            action: StringBuilder::new(),
            partner: StringBuilder::new(),
            actor: StringBuilder::new(),
            key_id: StringBuilder::new(),
            resource: StringBuilder::new(),
            environment: StringBuilder::new(),
            data_classes: ListBuilder::new(StringBuilder::new()),
            amount: Float64Builder::new(),
            currency: StringBuilder::new(),
            outcome: StringBuilder::new(),
            source_ip: StringBuilder::new(),
            user_agent: StringBuilder::new(),
            request_id: StringBuilder::new(),
            attributes: StringBuilder::new(),
            topic: StringBuilder::new(),
            partition: Int32Builder::new(),
            offset: Int64Builder::new(),
            in_scope: BooleanBuilder::new(),
            rows: 0,
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row has been appended since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Decodes one native message and appends it; on error nothing is appended.
    pub fn push_native(&mut self, payload: &[u8], source: Source<'_>) -> Result<(), DecodeError> {
        let text = self.check(payload)?;
        let action = native::parse(text)?;
        self.append(&action, Format::Native, source);
        Ok(())
    }

    /// Decodes one message of `topic`'s format, appending every record that decodes
    /// and answering the ones that do not.
    pub fn push(
        &mut self,
        topic: &TopicFormat,
        payload: &[u8],
        source: Source<'_>,
    ) -> Vec<Rejected> {
        let whole = |error| {
            vec![Rejected {
                error,
                record: None,
            }]
        };
        if topic.format == Format::Native && topic.environment.is_none() {
            return self
                .push_native(payload, source)
                .err()
                .map(whole)
                .unwrap_or_default();
        }
        let text = match self.check(payload) {
            Ok(text) => text,
            Err(error) => return whole(error),
        };
        if topic.format == Format::Native {
            return match native::parse(text) {
                Ok(mut action) => {
                    self.append_with_default(&mut action, topic, source, None);
                    Vec::new()
                }
                Err(error) => whole(error),
            };
        }
        let message: serde_json::Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => return whole(native::classify(&error)),
        };
        if !message.is_object() {
            return whole(DecodeError::new(
                DecodeFault::NotAnObject,
                "expected a JSON object",
            ));
        }
        let records = formats::records(topic.format, &message);
        let several = records.len() > 1 || message.get("Records").is_some();
        let mut rejected = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            match topic.decode(record) {
                Ok(mut action) => {
                    self.append_with_default(&mut action, topic, source, several.then_some(i))
                }
                Err(error) => rejected.push(Rejected {
                    error,
                    record: several.then(|| record.to_string().into_bytes()),
                }),
            }
        }
        rejected
    }

    fn append_with_default(
        &mut self,
        action: &mut Action<'_>,
        topic: &TopicFormat,
        source: Source<'_>,
        record: Option<usize>,
    ) {
        if action.environment.is_none() {
            action.environment = topic.environment.clone().map(Cow::Owned);
        }
        if let (None, Some(i)) = (&action.event_id, record) {
            action.event_id = Some(Cow::Owned(format!(
                "{}/{}/{}/{i}",
                source.topic, source.partition, source.offset
            )));
        }
        self.append(action, topic.format, source);
    }

    /// The checks every format shares: size, emptiness, UTF-8.
    fn check<'p>(&self, payload: &'p [u8]) -> Result<&'p str, DecodeError> {
        if payload.len() > self.max_message_bytes {
            return Err(DecodeError::new(
                DecodeFault::TooLarge,
                format!(
                    "{} bytes exceeds max_message_bytes {}",
                    payload.len(),
                    self.max_message_bytes
                ),
            ));
        }
        if payload.is_empty() {
            return Err(DecodeError::new(DecodeFault::Empty, "empty message"));
        }
        std::str::from_utf8(payload)
            .map_err(|e| DecodeError::new(DecodeFault::NotUtf8, e.to_string()))
    }

    fn append(&mut self, a: &Action<'_>, format: Format, source: Source<'_>) {
        match &a.event_id {
            Some(id) => self.event_id.append_value(id),
            None => self.event_id.append_value(format!(
                "{}/{}/{}",
                source.topic, source.partition, source.offset
            )),
        }
        // parse() guarantees the required fields; an empty default never reaches a row
        // that passed validation.
        self.ts.append_value(a.ts.unwrap_or_default());
        self.credential_id
            .append_value(a.credential_id.as_deref().unwrap_or_default());
        self.action
            .append_value(a.action.as_deref().unwrap_or_default());
        self.partner.append_option(a.partner.as_deref());
        self.actor.append_option(a.actor.as_deref());
        self.key_id.append_option(a.key_id.as_deref());
        self.resource.append_option(a.resource.as_deref());
        self.environment.append_option(a.environment.as_deref());
        match &a.data_classes {
            Some(classes) => {
                for class in classes {
                    self.data_classes.values().append_value(class);
                }
                self.data_classes.append(true);
            }
            None => self.data_classes.append(false),
        }
        self.amount.append_option(a.amount);
        self.currency.append_option(a.currency.as_deref());
        self.outcome.append_value(a.outcome.unwrap_or("success"));
        self.source_ip.append_option(a.source_ip.as_deref());
        self.user_agent.append_option(a.user_agent.as_deref());
        self.request_id.append_option(a.request_id.as_deref());
        self.attributes.append_option(a.attributes_json());
        self.topic.append_value(source.topic);
        self.partition.append_value(source.partition);
        self.offset.append_value(source.offset);
        self.in_scope.append_value(self.scope.judge(format, a));
        self.rows += 1;
    }

    /// Sets the `ingest_ts` stamped on the rows of the batch being built.
    pub fn set_ingest_ts(&mut self, epoch_ms: i64) {
        self.ingest_ts = epoch_ms;
    }

    /// Takes the rows appended so far as one `actions` batch and resets the builder,
    /// sized for a batch like it.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let mut ingest = TimestampMillisecondBuilder::with_capacity(rows);
        ingest.append_value_n(self.ingest_ts, rows);
        let columns: Vec<ArrayRef> = vec![
            strings(&mut self.event_id),
            timestamps(&mut self.ts),
            strings(&mut self.credential_id),
            strings(&mut self.action),
            strings(&mut self.partner),
            strings(&mut self.actor),
            strings(&mut self.key_id),
            strings(&mut self.resource),
            strings(&mut self.environment),
            string_lists(&mut self.data_classes),
            Arc::new(primitives(&mut self.amount)),
            strings(&mut self.currency),
            strings(&mut self.outcome),
            strings(&mut self.source_ip),
            strings(&mut self.user_agent),
            strings(&mut self.request_id),
            strings(&mut self.attributes),
            strings(&mut self.topic),
            Arc::new(primitives(&mut self.partition)),
            Arc::new(primitives(&mut self.offset)),
            super::schema::finish_utc(&mut ingest),
            Arc::new(
                std::mem::replace(&mut self.in_scope, BooleanBuilder::with_capacity(rows)).finish(),
            ),
        ];
        RecordBatch::try_new(schema::actions(), columns)
    }
}

// Each column's builder is replaced by one with room for as many rows and bytes as
// it just held: batches are alike, and a builder finished empty would grow again from
// nothing, reallocating (and copying what it held) at each doubling.

fn strings(builder: &mut StringBuilder) -> ArrayRef {
    let array = builder.finish();
    *builder = StringBuilder::with_capacity(array.len(), array.value_data().len());
    Arc::new(array)
}

fn primitives<T: ArrowPrimitiveType>(builder: &mut PrimitiveBuilder<T>) -> PrimitiveArray<T> {
    let array = builder.finish();
    *builder = PrimitiveBuilder::with_capacity(array.len());
    array
}

fn timestamps(builder: &mut TimestampMillisecondBuilder) -> ArrayRef {
    Arc::new(primitives(builder).with_timezone("UTC"))
}

fn string_lists(builder: &mut ListBuilder<StringBuilder>) -> ArrayRef {
    let array = builder.finish();
    let values = array.values().as_string::<i32>();
    let values = StringBuilder::with_capacity(values.len(), values.value_data().len());
    *builder = ListBuilder::with_capacity(values, array.len());
    Arc::new(array)
}

/// A batch of native JSON events, the i-th at offset i of partition 0 of `t` (tests).
#[cfg(test)]
pub(crate) fn native_batch<S: AsRef<str>>(events: impl IntoIterator<Item = S>) -> RecordBatch {
    let mut builder = ActionsBuilder::new(1 << 20);
    for (offset, event) in events.into_iter().enumerate() {
        let source = Source {
            topic: "t",
            partition: 0,
            offset: offset as i64,
        };
        builder
            .push_native(event.as_ref().as_bytes(), source)
            .expect("valid event");
    }
    builder.finish().expect("batch")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};

    const SOURCE: Source<'static> = Source {
        topic: "t",
        partition: 0,
        offset: 7,
    };

    fn decode(json: &str) -> Result<RecordBatch, DecodeError> {
        let mut b = ActionsBuilder::new(4096);
        b.push_native(json.as_bytes(), SOURCE)?;
        Ok(b.finish().expect("batch"))
    }

    fn fault(json: &[u8]) -> (DecodeFault, Option<String>) {
        let mut b = ActionsBuilder::new(4096);
        let e = b.push_native(json, SOURCE).expect_err("should fail");
        assert_eq!(b.len(), 0, "a failed message appends nothing");
        (e.fault, e.field)
    }

    #[test]
    fn a_builder_finishes_batch_after_batch_as_a_fresh_one_would() {
        let event = |i: usize| {
            let classes = if i.is_multiple_of(2) {
                r#","data_classes":["pii.basic","x"]"#
            } else {
                ""
            };
            format!(
                r#"{{"ts":{i},"credential_id":"c{i}","action":"GET /x/{i}","amount":{i}.5{classes}}}"#
            )
        };
        let mut reused = ActionsBuilder::new(4096);
        // Sized by the batch before, the next one is larger, then smaller, then empty.
        for (start, end) in [(0, 3), (3, 40), (40, 41), (41, 41)] {
            let mut fresh = ActionsBuilder::new(4096);
            for i in start..end {
                let source = Source {
                    offset: i as i64,
                    ..SOURCE
                };
                reused.push_native(event(i).as_bytes(), source).unwrap();
                fresh.push_native(event(i).as_bytes(), source).unwrap();
            }
            assert_eq!(reused.finish().unwrap(), fresh.finish().unwrap());
        }
    }

    #[test]
    fn decodes_every_canonical_field() {
        let batch = decode(
            r#"{"ts":"2026-11-29T10:00:00.250Z","credential_id":"c1","action":"POST /v1/payouts",
            "event_id":"e1","partner":"p","actor":"a","key_id":"k","resource":"r","environment":"prod",
            "data_classes":["pii.basic","x"],"amount":12.5,"currency":"EUR","outcome":"denied",
            "source_ip":"1.2.3.4","user_agent":"ua","request_id":"rq","attributes":{"n":1}}"#,
        )
        .expect("valid");
        let s = |c: &str| {
            batch
                .column_by_name(c)
                .expect(c)
                .as_string::<i32>()
                .value(0)
                .to_owned()
        };
        assert_eq!(s("event_id"), "e1");
        assert_eq!(s("action"), "POST /v1/payouts");
        assert_eq!(s("outcome"), "denied");
        assert_eq!(s("attributes"), r#"{"n":1}"#);
        let ts = batch.column_by_name("ts").expect("ts");
        assert_eq!(
            ts.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
                .value(0),
            1_795_946_400_250
        );
        let classes = batch
            .column_by_name("data_classes")
            .expect("dc")
            .as_list::<i32>()
            .value(0);
        assert_eq!(
            classes
                .as_string::<i32>()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["pii.basic", "x"]
        );
    }

    #[test]
    fn defaults_event_id_outcome_and_folds_unknown_fields() {
        let batch = decode(r#"{"ts":1796032800000,"credential_id":"c","action":"s3:GetObject","zz":[1,2],"attributes":{"a":true}}"#)
            .expect("valid");
        let s = |c: &str| {
            batch
                .column_by_name(c)
                .expect(c)
                .as_string::<i32>()
                .value(0)
                .to_owned()
        };
        assert_eq!(s("event_id"), "t/0/7");
        assert_eq!(s("outcome"), "success");
        let attrs: serde_json::Value = serde_json::from_str(&s("attributes")).expect("json");
        assert_eq!(attrs, serde_json::json!({"a": true, "zz": [1, 2]}));
        assert!(batch.column_by_name("partner").expect("p").is_null(0));
    }

    /// Unusual but valid (README, "Bad input"): duplicate keys keep the last value,
    /// any time from year 1 to 9999 is judged as it is.
    #[test]
    fn unusual_messages_follow_the_documented_rules() {
        let batch = decode(
            r#"{"ts":"9999-12-31T23:59:59Z","credential_id":"first","credential_id":"last","action":"a"}"#,
        )
        .expect("valid");
        let credential = batch.column_by_name("credential_id").expect("c");
        assert_eq!(credential.as_string::<i32>().value(0), "last");
        decode(r#"{"ts":"0001-01-01T00:00:00Z","credential_id":"c","action":"a"}"#)
            .expect("year 1");
        decode(r#"{"ts":-1,"credential_id":"c","action":"a"}"#).expect("before 1970");
    }

    #[test]
    fn names_the_fault_and_field() {
        use DecodeFault::*;
        let ok = r#""ts":1,"credential_id":"c","action":"a""#;
        assert_eq!(fault(b""), (Empty, None));
        assert_eq!(fault(b"{\"ts\":1,"), (InvalidJson, None));
        assert_eq!(
            fault(format!("{{{ok}}} trailing").as_bytes()).0,
            InvalidJson
        );
        assert_eq!(fault(b"[1,2]"), (NotAnObject, None));
        assert_eq!(fault(b"\xff\xfe"), (NotUtf8, None));
        assert_eq!(
            fault(br#"{"ts":1,"action":"a"}"#),
            (MissingField, Some("credential_id".into()))
        );
        assert_eq!(
            fault(br#"{"ts":1,"credential_id":null,"action":"a"}"#).0,
            MissingField
        );
        assert_eq!(
            fault(format!("{{{ok},\"amount\":\"12\"}}").as_bytes()),
            (WrongType, Some("amount".into()))
        );
        assert_eq!(
            fault(br#"{"ts":"2026-02-30T00:00:00Z","credential_id":"c","action":"a"}"#),
            (InvalidValue, Some("ts".into()))
        );
        assert_eq!(
            fault(format!("{{{ok},\"outcome\":\"maybe\"}}").as_bytes()),
            (InvalidValue, Some("outcome".into()))
        );
        assert_eq!(
            fault(format!("{{{ok},\"attributes\":[1]}}").as_bytes()),
            (WrongType, Some("attributes".into()))
        );
        assert_eq!(
            fault(br#"{"ts":99999999999999999,"credential_id":"c","action":"a"}"#),
            (InvalidValue, Some("ts".into()))
        );
        assert_eq!(
            fault(br#"{"ts":1,"credential_id":"\ud800","action":"a"}"#),
            (InvalidJson, Some("credential_id".into()))
        );
        assert_eq!(
            fault(format!("{{{ok},\"amount\":1e999}}").as_bytes()),
            (InvalidJson, Some("amount".into()))
        );
        let deep = format!(
            "{{{ok},\"x\":{}{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(fault(deep.as_bytes()).0, TooLarge);
        let mut b = ActionsBuilder::new(1 << 20);
        assert_eq!(
            b.push_native(deep.as_bytes(), SOURCE)
                .expect_err("deep")
                .fault,
            TooDeep
        );
    }
}
