//! Where the archive lives: a local directory or an object store URL, and the layout
//! of its three tables under it.

use std::path::Path as FsPath;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use object_store::ObjectStore;
use object_store::path::Path;
use url::Url;

use super::error::ArchiveError;

/// The archive's tables, each a directory of `date=YYYY-MM-DD/` partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Decoded partner actions, by event date; at the archive's root (DESIGN §9).
    Actions,
    /// Alerts as delivered (new and updated), by the date of their first event.
    Alerts,
    /// Every grant set put in force, one row per grant, by load date.
    Grants,
}

impl Table {
    /// The table's directory under the archive root ("" for actions).
    fn dir(self) -> &'static str {
        match self {
            Self::Actions => "",
            Self::Alerts => "alerts/",
            Self::Grants => "grants/",
        }
    }

    /// The schema this version writes.
    pub fn schema(self) -> SchemaRef {
        match self {
            Self::Actions => crate::decode::schema::actions(),
            Self::Alerts => super::alerts_schema(),
            Self::Grants => super::grant_versions_schema(),
        }
    }
}

/// Environment variables the cloud stores read credentials and settings from, as
/// their builders' `from_env` would (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
fn cloud_options() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|prefix| k.starts_with(prefix))
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// A parsed archive location with the store that serves it.
#[derive(Debug, Clone)]
pub struct ArchiveLocation {
    url: Url,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl ArchiveLocation {
    /// Parses `s3://bucket/prefix`, `gs://…`, `az://…`, `file:///dir`, or a plain
    /// path (relative to `base`, the config file's directory).
    pub fn parse(text: &str, base: &FsPath) -> Result<Self, ArchiveError> {
        let invalid = |message: String| ArchiveError::Location {
            url: text.to_owned(),
            message,
        };
        let mut url = if text.contains("://") {
            Url::parse(text).map_err(|e| invalid(e.to_string()))?
        } else {
            let dir = std::path::absolute(base.join(text)).map_err(|e| invalid(e.to_string()))?;
            Url::from_directory_path(&dir)
                .map_err(|()| invalid("not an absolute directory path".into()))?
        };
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let (store, prefix) = object_store::parse_url_opts(&url, cloud_options())
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            url,
            store: Arc::from(store),
            prefix,
        })
    }

    /// The root URL, ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The store, to register with a DataFusion session for reading.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// Whether anything is archived here yet: false for a directory or prefix that
    /// does not exist.
    pub async fn holds_anything(&self) -> Result<bool, ArchiveError> {
        let listed = self.store.list_with_delimiter(Some(&self.prefix)).await?;
        Ok(!listed.common_prefixes.is_empty() || !listed.objects.is_empty())
    }

    /// The URL of one table partition, ending in `/` (a DataFusion listing path).
    pub fn partition_url(&self, table: Table, date: NaiveDate) -> String {
        format!("{}{}date={date}/", self.url, table.dir())
    }

    /// A table's directory in the store.
    fn table_dir(&self, table: Table) -> Path {
        table
            .dir()
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), Path::join)
    }

    /// One partition's directory in the store.
    pub(super) fn partition_dir(&self, table: Table, date: NaiveDate) -> Path {
        self.table_dir(table).join(format!("date={date}").as_str())
    }

    /// Where a new file of one partition goes.
    pub(super) fn file_path(&self, table: Table, date: NaiveDate, name: &str) -> Path {
        self.partition_dir(table, date).join(name)
    }

    /// The dates a table has partitions for, oldest first. A table never written
    /// has none.
    pub async fn dates(&self, table: Table) -> Result<Vec<NaiveDate>, ArchiveError> {
        let dir = self.table_dir(table);
        let listing = match self.store.list_with_delimiter(Some(&dir)).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut dates: Vec<NaiveDate> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename()?.strip_prefix("date=")?.parse().ok())
            .collect();
        dates.sort_unstable();
        Ok(dates)
    }
}
