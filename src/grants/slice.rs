//! The rows of the grant tables that concern one batch: the grants bound to its
//! credentials, with all their credential and scope rows. A batch is judged against
//! these instead of the whole set, so its cost follows the batch and not the number
//! of grants (with 10,000 grants, every rule joining the whole tables cost more than
//! the events themselves).

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::error::ArrowError;
use rustc_hash::FxHashMap;
use std::collections::HashSet;

use super::pattern::ActionPattern;
use super::tables::GrantTables;

/// Where each grant's rows are in the tables, built once per grant set.
#[derive(Debug, Default)]
pub struct GrantIndex {
    /// grant_id → its row of `grants`.
    by_grant: FxHashMap<String, u32>,
    /// credential_id → rows of `grants` binding it.
    pub(super) by_credential: FxHashMap<String, Vec<u32>>,
    /// Per row of `grants`: its rows of `grant_credentials`.
    credential_rows: Vec<Vec<u32>>,
    /// Per row of `grants`: its rows of `grant_scopes`.
    pub(super) scope_rows: Vec<Vec<u32>>,
    /// Per row of `grant_scopes`: its action pattern in `patterns`.
    pub(super) scope_pattern: Vec<u32>,
    /// Each distinct pattern text, compiled once (`None` if invalid: it matches
    /// nothing, as in `action_matches`). Grants repeat a few patterns: one compiled
    /// pattern per scope row held ~60 MB with 100,000 grants.
    pub(super) patterns: Vec<Option<ActionPattern>>,
}

pub(super) fn string_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a StringArray, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| ArrowError::SchemaError(format!("no string column `{name}`")))
}

fn row(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl GrantIndex {
    /// Indexes `tables` (as [`GrantTables::build`] makes them).
    pub fn new(tables: &GrantTables) -> Result<Self, ArrowError> {
        let ids = string_column(&tables.grants, "grant_id")?;
        let grant_row: FxHashMap<String, u32> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| Some((id?.to_owned(), row(i))))
            .collect();
        let mut index = Self {
            by_grant: FxHashMap::default(),
            by_credential: FxHashMap::default(),
            credential_rows: vec![Vec::new(); ids.len()],
            scope_rows: vec![Vec::new(); ids.len()],
            scope_pattern: Vec::new(),
            patterns: Vec::new(),
        };
        let credentials = string_column(&tables.grant_credentials, "credential_id")?;
        let bound = string_column(&tables.grant_credentials, "grant_id")?;
        for (i, (credential, grant)) in credentials.iter().zip(bound.iter()).enumerate() {
            if let (Some(credential), Some(&g)) = (credential, grant.and_then(|g| grant_row.get(g)))
            {
                index
                    .by_credential
                    .entry(credential.to_owned())
                    .or_default()
                    .push(g);
                index.credential_rows[g as usize].push(row(i));
            }
        }
        let scoped = string_column(&tables.grant_scopes, "grant_id")?;
        for (i, grant) in scoped.iter().enumerate() {
            if let Some(&g) = grant.and_then(|g| grant_row.get(g)) {
                index.scope_rows[g as usize].push(row(i));
            }
        }
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
        index.by_grant = grant_row;
        Ok(index)
    }

    /// The action pattern of scope `scope_index` of `grant` (its scopes in
    /// `scope_index` order, as the table lists them), as written.
    pub fn scope_action(&self, grant: &str, scope_index: usize) -> Option<&str> {
        let row = *self.by_grant.get(grant)?;
        let scope_row = *self.scope_rows.get(row as usize)?.get(scope_index)?;
        let pattern = *self.scope_pattern.get(scope_row as usize)?;
        self.patterns
            .get(pattern as usize)?
            .as_ref()
            .map(ActionPattern::as_str)
    }

    /// The tables restricted to the grants binding a `credential_id` of `actions`.
    pub fn slice(
        &self,
        tables: &GrantTables,
        actions: &RecordBatch,
    ) -> Result<GrantTables, ArrowError> {
        let credentials = string_column(actions, "credential_id")?;
        let distinct: HashSet<&str> = credentials.iter().flatten().collect();
        let mut grants: Vec<u32> = distinct
            .into_iter()
            .filter_map(|c| self.by_credential.get(c))
            .flatten()
            .copied()
            .collect();
        grants.sort_unstable();
        grants.dedup();
        let rows_of = |per_grant: &[Vec<u32>]| -> UInt32Array {
            grants
                .iter()
                .flat_map(|&g| per_grant.get(g as usize).into_iter().flatten().copied())
                .collect()
        };
        Ok(GrantTables {
            grant_credentials: take_record_batch(
                &tables.grant_credentials,
                &rows_of(&self.credential_rows),
            )?,
            grant_scopes: take_record_batch(&tables.grant_scopes, &rows_of(&self.scope_rows))?,
            grants: take_record_batch(&tables.grants, &UInt32Array::from(grants))?,
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
pub(super) fn indexed(yaml: &str) -> (GrantTables, GrantIndex) {
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
    fn a_slice_holds_every_row_of_the_grants_binding_the_credentials() {
        let (tables, index) = indexed(GRANTS);
        let slice = |credentials: &[&str]| {
            let column: ArrayRef = Arc::new(StringArray::from(credentials.to_vec()));
            let actions = RecordBatch::try_from_iter([("credential_id", column)]).expect("batch");
            index.slice(&tables, &actions).expect("slice")
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
