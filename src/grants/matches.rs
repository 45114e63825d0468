//! The `action_scopes` table of a batch: each action once for every scope whose
//! pattern matches it, of every grant bound to its credential. Most built-in rules
//! ask "which scopes allow this action?", and it is answered once per batch, here:
//! rules join on `(grant_id, scope_index)` instead of each joining the batch to
//! every scope and running `action_matches` on every pair, which would be most of
//! the rules' time.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use super::pattern::ActionParts;
use super::slice::GrantIndex;
use super::tables::GrantTables;
use crate::columns::{Columns, filter_rows, string_column, take_rows};
use crate::decode::schema;

static ACTION_SCOPES: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = schema::actions()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("grant_id", DataType::Utf8, false));
    fields.push(Field::new("scope_index", DataType::Int32, false));
    Arc::new(Schema::new(fields))
});

/// Schema of `action_scopes`: the columns of `actions`, then `grant_id` and
/// `scope_index` (the key of `grant_scopes`).
pub fn action_scopes_schema() -> SchemaRef {
    Arc::clone(&ACTION_SCOPES)
}

/// Which scopes of the grants bound to each action's credential match the action:
/// pairs of a row of the batch and a row of `grant_scopes`, in batch order.
#[derive(Debug, Clone, Default)]
pub struct ScopeMatches {
    events: Vec<u32>,
    scopes: Vec<u32>,
}

impl ScopeMatches {
    /// The `grant_scopes` row of each pair.
    pub fn scope_rows(&self) -> &[u32] {
        &self.scopes
    }

    /// The `action_scopes` rows of `actions`, the batch these matches are of, with
    /// `tables` those the matching index was built from, and of the columns of
    /// `actions` those `read` asks for.
    pub fn action_scopes(
        self,
        tables: &GrantTables,
        actions: &RecordBatch,
        read: &Columns,
    ) -> Result<RecordBatch, ArrowError> {
        let mut columns = event_columns(actions, &self.events, read)?;
        let scopes = UInt32Array::from(self.scopes);
        for name in ["grant_id", "scope_index"] {
            let column = tables
                .grant_scopes
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("grant_scopes has no `{name}`")))?;
            columns.push(take(column, &scopes, None)?);
        }
        RecordBatch::try_new(action_scopes_schema(), columns)
    }
}

impl GrantIndex {
    /// The scopes matching each action of `actions` (a batch of the `actions`
    /// schema). A scope matches as `action_matches(scope.action, action)` would;
    /// emergency windows and the other constraints are the rules' to judge.
    pub fn scope_matches(&self, actions: &RecordBatch) -> Result<ScopeMatches, ArrowError> {
        let credentials = string_column(actions, "credential_id")?;
        let names = string_column(actions, "action")?;
        let mut matches = ScopeMatches::default();
        for (i, (credential, action)) in credentials.iter().zip(names.iter()).enumerate() {
            let (Some(credential), Some(action)) = (credential, action) else {
                continue;
            };
            let action = ActionParts::of(action);
            for &g in self.grants_of(credential) {
                for r in self.scope_rows(g) {
                    let matched = self
                        .scope_pattern
                        .get(r as usize)
                        .and_then(|&p| self.patterns.get(p as usize)?.as_ref())
                        .is_some_and(|p| p.matches_parts(&action));
                    if matched {
                        matches.events.push(u32::try_from(i).unwrap_or(u32::MAX));
                        matches.scopes.push(r);
                    }
                }
            }
        }
        Ok(matches)
    }
}

/// The columns of `actions` at rows `events` (ascending). Nearly every action matches
/// one scope, so the rows are all of them, or all but the few out of purpose: kept
/// whole, or filtered (copying runs), both far cheaper than a take row by row.
fn event_columns(
    actions: &RecordBatch,
    events: &[u32],
    read: &Columns,
) -> Result<Vec<ArrayRef>, ArrowError> {
    let once_each = events.windows(2).all(|w| w[0] < w[1]);
    if once_each && events.len() == actions.num_rows() {
        return Ok(actions.columns().to_vec());
    }
    if once_each {
        return Ok(filter_rows(actions, events, read)?.columns().to_vec());
    }
    let events = UInt32Array::from(events.to_vec());
    Ok(take_rows(actions, &events, read)?.columns().to_vec())
}

#[cfg(test)]
mod tests {

    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int32Type;

    use super::*;
    use crate::decode::native_batch;
    use crate::grants::slice::{indexed, strings};

    const GRANTS: &str = r#"
- id: a
  partner: p
  owner: o@x
  purpose: x
  credentials: [c1, c2]
  scopes: [{action: "GET /a/*"}, {action: "GET /a/**"}, {action: "POST /b"}]
- id: b
  partner: p
  owner: o@x
  purpose: x
  credentials: [c2]
  scopes: [{action: "get /a/*"}]
"#;

    fn actions(events: &[(&str, &str)]) -> RecordBatch {
        native_batch(events.iter().enumerate().map(|(i, (credential, action))| {
            format!(
                r#"{{"ts":"2026-11-30T09:00:00Z","event_id":"e{i}","credential_id":"{credential}","action":"{action}"}}"#
            )
        }))
    }

    #[test]
    fn every_matching_scope_of_every_bound_grant_is_a_row() {
        let (tables, index) = indexed(GRANTS);
        let action_scopes = |batch: &RecordBatch| {
            index
                .scope_matches(batch)
                .and_then(|m| m.action_scopes(&tables, batch, &Columns::all()))
                .expect("rows")
        };
        let rows = action_scopes(&actions(&[
            ("c1", "GET /a/1"),
            ("c2", "GET /a/1"),
            ("c1", "POST /c"),
            ("nobody", "GET /a/1"),
            ("c1", "GET /a/1/2"),
        ]));
        assert_eq!(rows.schema(), action_scopes_schema());
        let scope_index: Vec<i32> = rows
            .column_by_name("scope_index")
            .expect("scope_index")
            .as_primitive::<Int32Type>()
            .values()
            .to_vec();
        // e0: both path scopes of a; e1: those of a and the case-insensitive method of
        // b; e2 and e3 match nothing; e4 only `**`.
        assert_eq!(
            strings(&rows, "event_id"),
            ["e0", "e0", "e1", "e1", "e1", "e4"]
        );
        assert_eq!(strings(&rows, "grant_id"), ["a", "a", "a", "a", "b", "a"]);
        assert_eq!(scope_index, [0, 1, 0, 1, 0, 1]);
        assert_eq!(strings(&rows, "action")[5], "GET /a/1/2");

        // One scope per action or none (the common case) keeps or filters the rows.
        let once = [("c1", "POST /b"), ("c1", "POST /c"), ("c1", "GET /a/1/2")];
        let rows = action_scopes(&actions(&once));
        assert_eq!(strings(&rows, "event_id"), ["e0", "e2"]);
        assert_eq!(strings(&rows, "action"), ["POST /b", "GET /a/1/2"]);
        let rows = action_scopes(&actions(&[once[0], once[2]]));
        assert_eq!(strings(&rows, "event_id"), ["e0", "e1"]);
        assert_eq!(strings(&rows, "grant_id"), ["a", "a"]);
    }
}
