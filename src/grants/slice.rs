//! The rows of the grant tables that concern one batch: the grants bound to its
//! credentials, with all their credential and scope rows. A batch is judged against
//! these instead of the whole set, so its cost follows the batch and not the number
//! of grants (with 10,000 grants, joining the whole tables costs every rule more
//! than the events themselves).

use std::ops::Range;

use datafusion::arrow::array::{Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::error::ArrowError;
use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHashSet};

use super::pattern::ActionPattern;
use super::tables::GrantTables;
use crate::columns::{Columns, find, hash, row, rows_by_key, string_column, take_rows};

/// Which columns of each grant table a slice copies (see [`Columns`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantColumns {
    /// Of `grants`.
    pub grants: Columns,
    /// Of `grant_credentials`.
    pub grant_credentials: Columns,
    /// Of `grant_scopes`.
    pub grant_scopes: Columns,
}

/// Where each grant's rows are in the tables, built once per grant set. Its maps
/// hold row numbers only, keyed by the strings of the tables' own columns (shared,
/// not copied); maps of owned ids and a `Vec` of rows per grant would hold 22 MB
/// with 100,000 grants, for what the tables already hold.
#[derive(Debug)]
pub struct GrantIndex {
    /// `grants.grant_id`: the keys of `by_grant`.
    grant_ids: StringArray,
    /// Rows of `grants`, by grant id.
    by_grant: HashTable<u32>,
    /// `grant_credentials.credential_id`: the keys of `by_credential`.
    credential_ids: StringArray,
    /// Indexes into `credentials`, by credential id.
    by_credential: HashTable<u32>,
    /// Per distinct credential: a row of `grant_credentials` naming it (its key),
    /// and its range of `credential_grants`.
    credentials: Vec<(u32, Range<u32>)>,
    /// Rows of `grants` binding each credential, in table order, by credential.
    credential_grants: Vec<u32>,
    /// Per row of `grants`: its rows of `grant_credentials` (a grant's rows are
    /// contiguous, as [`GrantTables::build`] writes them).
    credential_rows: Vec<Range<u32>>,
    /// Per row of `grants`: its rows of `grant_scopes`.
    pub(super) scope_rows: Vec<Range<u32>>,
    /// Per row of `grant_scopes`: its action pattern in `patterns`.
    pub(super) scope_pattern: Vec<u32>,
    /// Each distinct pattern text, compiled once (`None` if invalid: it matches
    /// nothing, as in `action_matches`). Grants repeat a few patterns; one compiled
    /// pattern per scope row would hold ~60 MB with 100,000 grants.
    pub(super) patterns: Vec<Option<ActionPattern>>,
}

impl Default for GrantIndex {
    fn default() -> Self {
        Self {
            grant_ids: StringArray::from(Vec::<&str>::new()),
            by_grant: HashTable::new(),
            credential_ids: StringArray::from(Vec::<&str>::new()),
            by_credential: HashTable::new(),
            credentials: Vec::new(),
            credential_grants: Vec::new(),
            credential_rows: Vec::new(),
            scope_rows: Vec::new(),
            scope_pattern: Vec::new(),
            patterns: Vec::new(),
        }
    }
}

/// Per row of `grants`, its rows of a table whose `grant_id` column is `owners`: a
/// grant's rows must be contiguous, as [`GrantTables::build`] writes them.
fn ranges(
    grants: &HashTable<u32>,
    grant_ids: &StringArray,
    owners: &StringArray,
) -> Result<Vec<Range<u32>>, ArrowError> {
    let mut ranges = vec![0..0; grant_ids.len()];
    for (i, owner) in owners.iter().enumerate() {
        let Some(g) = owner.and_then(|o| find(grants, grant_ids, o)) else {
            continue;
        };
        let range = &mut ranges[g as usize];
        if range.start == range.end {
            *range = row(i)..row(i + 1);
        } else if range.end == row(i) {
            range.end += 1;
        } else {
            return Err(ArrowError::InvalidArgumentError(format!(
                "the rows of grant `{}` are not contiguous",
                owner.unwrap_or_default()
            )));
        }
    }
    Ok(ranges)
}

impl GrantIndex {
    /// Indexes `tables` (as [`GrantTables::build`] makes them).
    pub fn new(tables: &GrantTables) -> Result<Self, ArrowError> {
        let grant_ids = string_column(&tables.grants, "grant_id")?.clone();
        let by_grant = rows_by_key(&grant_ids);
        let credential_ids = string_column(&tables.grant_credentials, "credential_id")?.clone();
        let bound = string_column(&tables.grant_credentials, "grant_id")?;
        let credential_rows = ranges(&by_grant, &grant_ids, bound)?;
        // Each credential's grants, contiguous: count them, then place them.
        let mut by_credential = HashTable::new();
        let mut credentials: Vec<(u32, Range<u32>)> = Vec::new();
        let mut pairs = Vec::with_capacity(credential_ids.len());
        for (i, (credential, grant)) in credential_ids.iter().zip(bound.iter()).enumerate() {
            let (Some(credential), Some(g)) = (
                credential,
                grant.and_then(|g| find(&by_grant, &grant_ids, g)),
            ) else {
                continue;
            };
            let key = |credentials: &[(u32, Range<u32>)], c: u32| {
                credential_ids.value(credentials[c as usize].0 as usize)
            };
            let found =
                by_credential.find(hash(credential), |&c| key(&credentials, c) == credential);
            let c = match found {
                Some(&c) => c,
                None => {
                    let c = row(credentials.len());
                    credentials.push((row(i), 0..0));
                    let keys = &credentials;
                    by_credential.insert_unique(hash(credential), c, |&c| hash(key(keys, c)));
                    c
                }
            };
            credentials[c as usize].1.end += 1;
            pairs.push((c, g));
        }
        let mut next = 0;
        for (_, range) in &mut credentials {
            let count = range.end;
            *range = next..next;
            next += count;
        }
        let mut credential_grants = vec![0; next as usize];
        for (c, g) in pairs {
            let range = &mut credentials[c as usize].1;
            credential_grants[range.end as usize] = g;
            range.end += 1;
        }
        let scoped = string_column(&tables.grant_scopes, "grant_id")?;
        let scope_rows = ranges(&by_grant, &grant_ids, scoped)?;
        let mut index = Self {
            grant_ids,
            by_grant,
            credential_ids,
            by_credential,
            credentials,
            credential_grants,
            credential_rows,
            scope_rows,
            scope_pattern: Vec::new(),
            patterns: Vec::new(),
        };
        let mut distinct: FxHashMap<&str, u32> = FxHashMap::default();
        for text in string_column(&tables.grant_scopes, "action")?.iter() {
            let text = text.unwrap_or_default();
            let next = row(index.patterns.len());
            let i = *distinct.entry(text).or_insert_with(|| {
                index.patterns.push(ActionPattern::parse(text).ok());
                next
            });
            index.scope_pattern.push(i);
        }
        Ok(index)
    }

    /// The rows of `grants` binding `credential`, in table order.
    pub fn grants_of(&self, credential: &str) -> &[u32] {
        let key = |&c: &u32| {
            let row = self.credentials.get(c as usize).map_or(u32::MAX, |k| k.0);
            (row as usize) < self.credential_ids.len()
                && self.credential_ids.value(row as usize) == credential
        };
        self.by_credential
            .find(hash(credential), key)
            .and_then(|&c| self.credentials.get(c as usize))
            .and_then(|(_, range)| {
                self.credential_grants
                    .get(range.start as usize..range.end as usize)
            })
            .unwrap_or_default()
    }

    /// The id of row `grant` of `grants`.
    pub fn grant_id(&self, grant: u32) -> Option<&str> {
        let row = grant as usize;
        (row < self.grant_ids.len() && self.grant_ids.is_valid(row))
            .then(|| self.grant_ids.value(row))
    }

    /// The rows of `grant_scopes` of row `grant` of `grants`.
    pub fn scope_rows(&self, grant: u32) -> Range<u32> {
        self.scope_rows.get(grant as usize).cloned().unwrap_or(0..0)
    }

    /// The action pattern of row `scope_row` of `grant_scopes`, as written (`None` if
    /// it is invalid).
    pub fn scope_pattern(&self, scope_row: u32) -> Option<&str> {
        let pattern = *self.scope_pattern.get(scope_row as usize)?;
        self.patterns
            .get(pattern as usize)?
            .as_ref()
            .map(ActionPattern::as_str)
    }

    /// The action pattern of scope `scope_index` of `grant` (its scopes in
    /// `scope_index` order, as the table lists them), as written.
    pub fn scope_action(&self, grant: &str, scope_index: usize) -> Option<&str> {
        let row = find(&self.by_grant, &self.grant_ids, grant)?;
        self.scope_pattern(self.scope_rows(row).nth(scope_index)?)
    }

    /// The tables restricted to the grants binding a `credential_id` of `actions`,
    /// with the columns `read` asks for.
    pub fn slice(
        &self,
        tables: &GrantTables,
        actions: &RecordBatch,
        read: &GrantColumns,
    ) -> Result<GrantTables, ArrowError> {
        let credentials = string_column(actions, "credential_id")?;
        let distinct: FxHashSet<&str> = credentials.iter().flatten().collect();
        let mut grants: Vec<u32> = distinct
            .into_iter()
            .flat_map(|c| self.grants_of(c))
            .copied()
            .collect();
        grants.sort_unstable();
        grants.dedup();
        let rows_of = |per_grant: &[Range<u32>]| -> UInt32Array {
            grants
                .iter()
                .flat_map(|&g| per_grant.get(g as usize).cloned().unwrap_or(0..0))
                .collect()
        };
        Ok(GrantTables {
            grant_credentials: take_rows(
                &tables.grant_credentials,
                &rows_of(&self.credential_rows),
                &read.grant_credentials,
            )?,
            grant_scopes: take_rows(
                &tables.grant_scopes,
                &rows_of(&self.scope_rows),
                &read.grant_scopes,
            )?,
            grants: take_rows(&tables.grants, &UInt32Array::from(grants), &read.grants)?,
        })
    }
}

impl GrantTables {
    /// The ids of the grants in `grants`, in table order.
    pub fn grant_ids(&self) -> Vec<&str> {
        string_column(&self.grants, "grant_id")
            .map(|ids| ids.iter().flatten().collect())
            .unwrap_or_default()
    }
}

/// The tables and index of a grants YAML text (tests).
#[cfg(test)]
pub(crate) fn indexed(yaml: &str) -> (GrantTables, GrantIndex) {
    let set = super::parse_str(
        yaml,
        std::path::Path::new("g.yaml"),
        std::time::Duration::from_secs(86_400),
    )
    .expect("grants");
    let tables = GrantTables::build(&set).expect("tables");
    let index = GrantIndex::new(&tables).expect("index");
    (tables, index)
}

/// A string column's values (NULL as ""), for assertions.
#[cfg(test)]
pub(super) fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    string_column(batch, name)
        .expect("column")
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {

    use std::sync::Arc;

    use datafusion::arrow::array::ArrayRef;

    use super::*;

    const GRANTS: &str = r#"
- id: a
  partner: p
  owner: o@x
  purpose: x
  credentials: [c1, c2]
  scopes: [{action: "GET /a"}, {action: "GET /b"}]
- id: b
  partner: p
  owner: o@x
  purpose: x
  credentials: [c3]
  scopes: [{action: "GET /c"}]
- id: c
  partner: p
  owner: o@x
  purpose: x
  credentials: [c2]
  scopes: [{action: "GET /d"}]
"#;

    #[test]
    fn scopes_are_named_by_grant_and_index() {
        let (_, index) = indexed(GRANTS);
        assert_eq!(index.scope_action("a", 0), Some("GET /a"));
        assert_eq!(index.scope_action("a", 1), Some("GET /b"));
        assert_eq!(index.scope_action("c", 0), Some("GET /d"));
        assert_eq!(index.scope_action("a", 2), None);
        assert_eq!(index.scope_action("z", 0), None);
    }

    #[test]
    fn each_grants_rows_are_one_range_and_scattered_rows_are_refused() {
        let (_, index) = indexed(GRANTS);
        assert_eq!(index.grants_of("c2"), [0, 2], "a and c, in table order");
        assert_eq!(index.grants_of("c1"), [0]);
        assert!(index.grants_of("nobody").is_empty());
        assert_eq!(index.scope_rows(0), 0..2);
        assert_eq!(index.scope_rows(2), 3..4);
        let grants = StringArray::from(vec!["a", "b"]);
        let mut rows = HashTable::new();
        for (i, id) in ["a", "b"].into_iter().enumerate() {
            rows.insert_unique(hash(id), row(i), |&r| hash(grants.value(r as usize)));
        }
        let owners = StringArray::from(vec!["a", "b", "b", "unknown"]);
        let ranges = ranges(&rows, &grants, &owners).expect("contiguous");
        assert_eq!(ranges, [0..1, 1..3]);
        let scattered = StringArray::from(vec!["a", "b", "a"]);
        assert!(super::ranges(&rows, &grants, &scattered).is_err());
    }

    #[test]
    fn a_slice_holds_every_row_of_the_grants_binding_the_credentials() {
        let (tables, index) = indexed(GRANTS);
        let slice = |credentials: &[&str]| {
            let column: ArrayRef = Arc::new(StringArray::from(credentials.to_vec()));
            let actions = RecordBatch::try_from_iter([("credential_id", column)]).expect("batch");
            index
                .slice(&tables, &actions, &GrantColumns::default())
                .expect("slice")
        };

        // c2 is bound by a and c: both grants, all their credentials and scopes.
        let s = slice(&["c2", "c2", "unknown"]);
        assert_eq!(s.grant_ids(), ["a", "c"]);
        assert_eq!(
            strings(&s.grant_credentials, "credential_id"),
            ["c1", "c2", "c2"]
        );
        assert_eq!(
            strings(&s.grant_scopes, "action"),
            ["GET /a", "GET /b", "GET /d"]
        );
        assert_eq!(s.grants.schema(), tables.grants.schema());

        let s = slice(&["c3"]);
        assert_eq!(s.grant_ids(), ["b"]);
        assert_eq!(strings(&s.grant_scopes, "grant_id"), ["b"]);

        let s = slice(&["nobody"]);
        assert_eq!(
            (
                s.grants.num_rows(),
                s.grant_credentials.num_rows(),
                s.grant_scopes.num_rows()
            ),
            (0, 0, 0)
        );
    }
}
