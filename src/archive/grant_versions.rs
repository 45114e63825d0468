//! Grant versions: every grant set put in force (at start and on each reload), one
//! row per grant, so a report can say when a grant was widened and on whose
//! approval, long after the YAML changed.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, ListBuilder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use sha2::{Digest, Sha256};

use crate::decode::schema::{finish_utc, string_list_type, timestamp_type};
use crate::grants::texts::Texts;
use crate::grants::{Grant, GrantSet};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let ts = |name: &str, nullable: bool| Field::new(name, timestamp_type(), nullable);
    let list = |name: &str| Field::new(name, string_list_type(), false);
    Arc::new(Schema::new(vec![
        ts("loaded_at", false),
        utf8("set_hash", false),
        utf8("grant_id", false),
        utf8("grant_hash", false),
        utf8("partner", false),
        utf8("owner", true),
        utf8("approved_by", true),
        ts("approved_at", true),
        utf8("purpose", false),
        utf8("status", false),
        ts("valid_from", true),
        ts("expires_at", true),
        list("credentials"),
        list("environments"),
        list("delegates"),
        list("scopes"),
        list("scope_constraints"),
    ]))
});

/// The `grant_versions` table schema.
pub fn grant_versions_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// One scope with its constraints, as text that changes whenever the scope does.
fn scope_text(scope: &crate::grants::Scope) -> String {
    let list = |v: &Option<Texts>| v.as_ref().map(|v| v.join(",")).unwrap_or("*".into());
    format!(
        "{} data_classes={} max_amount={} currencies={}",
        scope.action,
        list(&scope.data_classes),
        scope.max_amount.map_or("*".to_owned(), |a| a.to_string()),
        list(&scope.currencies),
    )
}

/// What a version row holds, in a fixed order: the grant's hash changes exactly
/// when one of the archived fields does (not when the grant moves in its file).
fn grant_hash(g: &Grant) -> String {
    let mut hash = Sha256::new();
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let fields = [
        g.id.clone(),
        g.partner.to_string(),
        g.owner.as_deref().unwrap_or_default().to_owned(),
        g.approved_by.as_deref().unwrap_or_default().to_owned(),
        time(g.approved_at),
        g.purpose.to_string(),
        g.status.as_str().to_owned(),
        time(g.valid_from),
        time(g.expires_at),
        g.credentials.join("\x1f"),
        g.environments.join("\x1f"),
        g.delegates.join("\x1f"),
        g.scopes
            .iter()
            .map(scope_text)
            .collect::<Vec<_>>()
            .join("\x1f"),
    ];
    for field in fields {
        hash.update(field.as_bytes());
        hash.update(b"\x1e");
    }
    hex::encode(hash.finalize())
}

/// The set's rows as loaded at `loaded_at`; `set_hash` digests every grant's hash.
pub fn grant_versions_batch(
    set: &GrantSet,
    loaded_at: DateTime<Utc>,
) -> Result<RecordBatch, ArrowError> {
    let grants = set.grants();
    let hashes: Vec<String> = grants.iter().map(grant_hash).collect();
    let set_hash = {
        let mut sorted: Vec<&String> = hashes.iter().collect();
        sorted.sort_unstable();
        let mut hash = Sha256::new();
        for h in sorted {
            hash.update(h.as_bytes());
        }
        hex::encode(hash.finalize())
    };
    let n = grants.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let times = || TimestampMillisecondBuilder::with_capacity(n);
    let lists = || ListBuilder::new(StringBuilder::new());
    let (mut loaded, mut approved_at, mut valid_from, mut expires_at) =
        (times(), times(), times(), times());
    let (mut set_col, mut id, mut hash_col, mut partner, mut owner) =
        (strings(), strings(), strings(), strings(), strings());
    let (mut approved_by, mut purpose, mut status) = (strings(), strings(), strings());
    let (mut credentials, mut environments, mut delegates, mut scopes, mut constraints) =
        (lists(), lists(), lists(), lists(), lists());
    let ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
    for (g, hash) in grants.iter().zip(&hashes) {
        loaded.append_value(loaded_at.timestamp_millis());
        set_col.append_value(&set_hash);
        id.append_value(&g.id);
        hash_col.append_value(hash);
        partner.append_value(&g.partner);
        owner.append_option(g.owner.as_deref());
        approved_by.append_option(g.approved_by.as_deref());
        approved_at.append_option(ms(g.approved_at));
        purpose.append_value(&g.purpose);
        status.append_value(g.status.as_str());
        valid_from.append_option(ms(g.valid_from));
        expires_at.append_option(ms(g.expires_at));
        credentials.append_value(g.credentials.iter().map(Some));
        environments.append_value(g.environments.iter().map(Some));
        delegates.append_value(g.delegates.iter().map(Some));
        scopes.append_value(g.scopes.iter().map(|s| Some(s.action.as_str())));
        constraints.append_value(g.scopes.iter().map(|s| Some(scope_text(s))));
    }
    let columns: Vec<ArrayRef> = vec![
        finish_utc(&mut loaded),
        Arc::new(set_col.finish()),
        Arc::new(id.finish()),
        Arc::new(hash_col.finish()),
        Arc::new(partner.finish()),
        Arc::new(owner.finish()),
        Arc::new(approved_by.finish()),
        finish_utc(&mut approved_at),
        Arc::new(purpose.finish()),
        Arc::new(status.finish()),
        finish_utc(&mut valid_from),
        finish_utc(&mut expires_at),
        Arc::new(credentials.finish()),
        Arc::new(environments.finish()),
        Arc::new(delegates.finish()),
        Arc::new(scopes.finish()),
        Arc::new(constraints.finish()),
    ];
    RecordBatch::try_new(grant_versions_schema(), columns)
}
