//! State records encoded for the state topic: keys and JSON payloads in chunks of
//! one buffer each. A write encodes a chunk of the store's changes under its lock,
//! sends it, and encodes the next once it is acknowledged (`StateWriter::write`);
//! copying the changed records out instead meant, with 100,000 grants, ~45,000
//! activity records and thousands of alerts every 5 s, each a dozen small
//! allocations, and a drain's peak RSS 60-80 MiB above one without state writes
//! (BENCHMARKS.md). Encoded, a chunk of 5,000 records is two allocations the size
//! of what the topic receives.

use std::ops::Range;

use serde::Serialize;
use serde_json::value::RawValue;

use super::record::{ActivityRecord, AlertRecord, FindingRecord, StateRecord};
use crate::alerts::Alert;

/// An [`AlertRecord`] borrowed from the ledger: the same JSON.
#[derive(Serialize)]
pub(super) struct KeptAlert<'a> {
    pub(super) alert: &'a RawValue,
    pub(super) sent_count: u64,
    pub(super) sent_at_ms: i64,
}

/// A record as [`StateRecord`] serializes it, borrowed from where it is kept.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum RecordRef<'a> {
    Activity(&'a ActivityRecord),
    Finding(&'a FindingRecord),
    Alert(&'a AlertRecord),
    /// An alert as the ledger keeps it (JSON already).
    #[serde(rename = "alert")]
    KeptAlert(KeptAlert<'a>),
    Relay(&'a Alert),
}

impl<'a> From<&'a StateRecord> for RecordRef<'a> {
    fn from(record: &'a StateRecord) -> Self {
        match record {
            StateRecord::Activity(a) => Self::Activity(a),
            StateRecord::Finding(f) => Self::Finding(f),
            StateRecord::Alert(a) => Self::Alert(a),
            StateRecord::Relay(a) => Self::Relay(a),
        }
    }
}

/// Records per chunk: written before waiting for their acknowledgements.
pub const CHUNK_RECORDS: usize = 5_000;

/// Keys and payloads (`None`: a tombstone), in the order they are to be written, in
/// chunks of 5,000 records: one growing buffer for a whole round copied itself
/// at each doubling and ended up to twice the round's size.
#[derive(Debug, Default)]
pub struct EncodedRecords {
    chunks: Vec<Chunk>,
    len: usize,
}

/// Up to [`CHUNK_RECORDS`] records in one buffer.
#[derive(Debug, Default)]
pub struct Chunk {
    bytes: Vec<u8>,
    /// Per record: its key's bytes and its payload's, in `bytes`.
    records: Vec<(Range<usize>, Option<Range<usize>>)>,
}

impl Chunk {
    /// Each record's key and payload, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.records.iter().map(|(key, payload)| {
            (
                &self.bytes[key.clone()],
                payload.clone().map(|p| &self.bytes[p]),
            )
        })
    }
}

impl EncodedRecords {
    /// Appends `key` with `record` (`None`: a tombstone). Our records always
    /// serialize; were one not to, it is logged and left out rather than retried
    /// with the whole round forever.
    pub(super) fn push(&mut self, key: &str, record: Option<RecordRef<'_>>) {
        if self
            .chunks
            .last()
            .is_none_or(|c| c.records.len() >= CHUNK_RECORDS)
        {
            // Chunks of one round are alike: start where the last one ended.
            let bytes = self.chunks.last().map_or(0, |c| c.bytes.len());
            self.chunks.push(Chunk {
                bytes: Vec::with_capacity(bytes),
                records: Vec::with_capacity(CHUNK_RECORDS),
            });
        }
        let Some(chunk) = self.chunks.last_mut() else {
            return;
        };
        let start = chunk.bytes.len();
        chunk.bytes.extend_from_slice(key.as_bytes());
        let key_range = start..chunk.bytes.len();
        let Some(record) = record else {
            chunk.records.push((key_range, None));
            self.len += 1;
            return;
        };
        match serde_json::to_writer(&mut chunk.bytes, &record) {
            Ok(()) => {
                let payload = key_range.end..chunk.bytes.len();
                chunk.records.push((key_range, Some(payload)));
                self.len += 1;
            }
            Err(error) => {
                tracing::error!(%error, key, "Could not encode a state record; not written.");
                chunk.bytes.truncate(start);
            }
        }
    }

    /// Appends a record made elsewhere (a scheduled round's findings).
    pub fn push_record(&mut self, key: &str, record: Option<&StateRecord>) {
        self.push(key, record.map(RecordRef::from));
    }

    /// Records in the round.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the round has no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The round's chunks, in order.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// Each record's key and payload, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.chunks.iter().flat_map(Chunk::iter)
    }

    /// The records decoded again, for tests.
    #[cfg(test)]
    pub fn decoded(&self) -> Vec<(String, Option<StateRecord>)> {
        self.iter()
            .map(|(key, payload)| {
                let key = String::from_utf8(key.to_vec()).expect("utf-8 key");
                let record = payload.map(|p| serde_json::from_slice(p).expect("a record"));
                (key, record)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_records_encode_as_state_records_do() {
        let records = [
            StateRecord::Activity(ActivityRecord {
                scopes_used: vec!["GET /x".into()],
                ..ActivityRecord::new("g", "c")
            }),
            StateRecord::Finding(FindingRecord {
                rule: "idle_grant".into(),
                grant_id: "g".into(),
                condition: "c".into(),
            }),
            StateRecord::Alert(Box::new(AlertRecord {
                alert: Alert::example(),
                sent_count: 1,
                sent_at_ms: 2,
            })),
            StateRecord::Relay(Box::new(Alert::example())),
        ];
        let mut encoded = EncodedRecords::default();
        for record in &records {
            encoded.push_record(&record.key(), Some(record));
        }
        encoded.push_record("gone", None);
        for ((_, payload), record) in encoded.iter().zip(&records) {
            let expected = serde_json::to_vec(record).expect("json");
            assert_eq!(payload, Some(expected.as_slice()));
        }
        let mut expected: Vec<_> = records.iter().map(|r| (r.key(), Some(r.clone()))).collect();
        expected.push(("gone".into(), None));
        assert_eq!(encoded.decoded(), expected);
        assert_eq!(encoded.len(), 5);
        for i in 0..2 * CHUNK_RECORDS {
            encoded.push_record(&i.to_string(), None);
        }
        let sizes: Vec<usize> = encoded.chunks().iter().map(|c| c.iter().count()).collect();
        assert_eq!(sizes, [CHUNK_RECORDS, CHUNK_RECORDS, 5]);
    }
}
