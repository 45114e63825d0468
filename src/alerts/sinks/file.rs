//! The file sink: JSON lines synced to disk, optionally one file per owner.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

use super::SinkError;
use crate::alerts::{Alert, AlertFormat, UNOWNED};

/// Alerts appended to JSON-lines files and synced to disk: one file, or one per
/// owner when the path holds `{owner}`, optionally only for some owners.
pub struct FileSink {
    path: PathBuf,
    owners: Option<HashSet<String>>,
    format: AlertFormat,
    files: HashMap<PathBuf, tokio::fs::File>,
}

impl FileSink {
    /// A sink appending to `path` in `format` (files are created on first use).
    /// `owners`, when not empty, keeps only those owners' alerts (`unowned` for
    /// alerts without one).
    pub fn new(path: PathBuf, owners: &[String], format: AlertFormat) -> Self {
        Self {
            path,
            owners: (!owners.is_empty()).then(|| owners.iter().cloned().collect()),
            format,
            files: HashMap::new(),
        }
    }

    /// The file an owner's alerts go to.
    fn path_for(&self, owner: &str) -> PathBuf {
        let text = self.path.to_string_lossy();
        if !text.contains("{owner}") {
            return self.path.clone();
        }
        // An owner is an e-mail address or a team name: keep it readable, never a path.
        let safe: String = owner
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = safe.trim_start_matches('.');
        PathBuf::from(text.replace("{owner}", if safe.is_empty() { "_" } else { safe }))
    }

    pub(super) async fn send(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        let mut by_file: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
        for alert in alerts {
            let owner = alert.owner.as_deref().unwrap_or(UNOWNED);
            if self.owners.as_ref().is_some_and(|o| !o.contains(owner)) {
                continue;
            }
            let buf = by_file.entry(self.path_for(owner)).or_default();
            buf.extend(self.format.encode(alert)?);
            buf.push(b'\n');
        }
        for (path, buf) in by_file {
            self.append(path, &buf).await?;
        }
        Ok(())
    }

    async fn append(&mut self, path: PathBuf, buf: &[u8]) -> Result<(), SinkError> {
        let fail = |source| SinkError::File {
            path: path.clone(),
            source,
        };
        let file = match self.files.entry(path.clone()) {
            Entry::Occupied(file) => file.into_mut(),
            Entry::Vacant(slot) => {
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(slot.key())
                    .await
                    .map_err(fail)?;
                slot.insert(file)
            }
        };
        let written = async {
            file.write_all(buf).await?;
            file.sync_data().await
        };
        if let Err(source) = written.await {
            // Reopen next time: the handle may be stale (disk replaced, file rotated).
            self.files.remove(&path);
            return Err(fail(source));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(owner: Option<&str>, id: &str) -> Alert {
        Alert {
            alert_id: id.into(),
            owner: owner.map(str::to_owned),
            ..Alert::example()
        }
    }

    fn ids(path: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Alert>(l).expect("alert").alert_id)
            .collect()
    }

    #[tokio::test]
    async fn the_file_sink_splits_and_filters_by_owner() {
        let dir = tempfile::tempdir().expect("tmp");
        let alerts = [
            alert(Some("jane@bank.example"), "1"),
            alert(Some("../../etc/x"), "2"),
            alert(None, "3"),
            alert(Some("jane@bank.example"), "4"),
        ];
        let mut split = FileSink::new(
            dir.path().join("alerts-{owner}.jsonl"),
            &[],
            AlertFormat::Grantwatch,
        );
        split.send(&alerts).await.expect("send");
        assert_eq!(
            ids(&dir.path().join("alerts-jane@bank.example.jsonl")),
            ["1", "4"]
        );
        assert_eq!(ids(&dir.path().join("alerts-_.._etc_x.jsonl")), ["2"]);
        assert_eq!(ids(&dir.path().join("alerts-unowned.jsonl")), ["3"]);

        let only = ["unowned".to_owned(), "jane@bank.example".to_owned()];
        let mut filtered = FileSink::new(
            dir.path().join("mine.jsonl"),
            &only,
            AlertFormat::Grantwatch,
        );
        filtered.send(&alerts).await.expect("send");
        assert_eq!(ids(&dir.path().join("mine.jsonl")), ["1", "3", "4"]);
    }
}
