//! The canonical partner-action schema (DESIGN §4), defined once.
//!
//! Every decoder writes these columns; every rule reads them as the `actions` table.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::TimestampMillisecondType;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Timestamps are UTC milliseconds: the `ts` contract allows epoch ms, and rules
/// compare them with the grants tables' timestamps of the same type.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Finishes a builder of timestamps as [`timestamp_type`] (UTC).
pub fn finish_utc(builder: &mut TimestampMillisecondBuilder) -> ArrayRef {
    Arc::new(builder.finish().with_timezone("UTC"))
}

/// A list of strings, as used for `data_classes` and the grant list columns.
pub fn string_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

static ACTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        utf8("event_id", false),
        Field::new("ts", timestamp_type(), false),
        utf8("credential_id", false),
        utf8("action", false),
        utf8("partner", true),
        utf8("actor", true),
        utf8("key_id", true),
        utf8("resource", true),
        utf8("environment", true),
        Field::new("data_classes", string_list_type(), true),
        Field::new("amount", DataType::Float64, true),
        utf8("currency", true),
        utf8("outcome", false),
        utf8("source_ip", true),
        utf8("user_agent", true),
        utf8("request_id", true),
        utf8("attributes", true),
        utf8("topic", false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("ingest_ts", timestamp_type(), false),
        // Nullable: archives written before it carry none, and rules read NULL as in.
        Field::new("in_scope", DataType::Boolean, true),
    ]))
});

/// The `actions` table schema: canonical columns plus `topic`, `partition`,
/// `offset`, `ingest_ts` and `in_scope` (partner scope, [`super::PartnerScope`]).
pub fn actions() -> SchemaRef {
    Arc::clone(&ACTIONS)
}

/// The event times of a batch of `actions`, found by name: an empty column for a
/// batch without one (an empty query result).
pub fn event_times(batch: &RecordBatch) -> TimestampMillisecondArray {
    batch
        .column_by_name("ts")
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .cloned()
        .unwrap_or_else(|| TimestampMillisecondArray::from(Vec::<i64>::new()))
}
