//! SQL functions rules use: `action_matches(pattern, action)`, `array_subset(a, b)`,
//! `window_start(ts, window_ms)`, and `now()` read from the engine's clock.

use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::binary;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampMillisecondType};
use datafusion::common::ScalarValue;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use crate::decode::schema::{string_list_type, timestamp_type};
use crate::grants::limit;
use crate::grants::pattern::ActionPattern;

/// The time `now()` answers (epoch ms): the wall clock live, the newest event time in
/// `replay`. DataFusion's own `now()` is folded to a constant when a plan is
/// optimized, and plans here are optimized once at start.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    /// Sets the time later evaluations see.
    pub fn set(&self, epoch_ms: i64) {
        self.0.store(epoch_ms, Ordering::Relaxed);
    }
}

/// Registers every rule function on `ctx`, `now()` reading `clock`. Reports use the
/// same functions as rules, so a pattern means the same in both.
pub fn register(ctx: &datafusion::prelude::SessionContext, clock: &Clock) {
    ctx.register_udf(action_matches());
    ctx.register_udf(array_subset());
    ctx.register_udf(window_start());
    ctx.register_udf(now(clock));
}

/// `now() -> timestamp`: the clock's time, volatile so that it is never folded.
pub(super) fn now(clock: &Clock) -> ScalarUDF {
    let clock = Arc::clone(&clock.0);
    create_udf(
        "now",
        vec![],
        timestamp_type(),
        Volatility::Volatile,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
                Some(clock.load(Ordering::Relaxed)),
                Some("UTC".into()),
            )))
        }),
    )
}

/// `action_matches(pattern, action) -> boolean`: DESIGN §5 pattern semantics; an
/// invalid pattern matches nothing.
pub(super) fn action_matches() -> ScalarUDF {
    create_udf(
        "action_matches",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (Some(patterns), Some(actions)) = (
                arrays[0].as_string_opt::<i32>(),
                arrays[1].as_string_opt::<i32>(),
            ) else {
                return exec_err!("action_matches expects two strings");
            };
            Ok(ColumnarValue::Array(Arc::new(match_all(patterns, actions))))
        }),
    )
}

fn match_all(patterns: &StringArray, actions: &StringArray) -> BooleanArray {
    // Patterns repeat across rows (one per scope), so compile each once per call.
    // Looked up for every (event, scope) pair: Fx hashing, as SipHash showed in profiles.
    let mut compiled: FxHashMap<&str, Option<ActionPattern>> = FxHashMap::default();
    patterns
        .iter()
        .zip(actions.iter())
        .map(|(pattern, action)| {
            let (pattern, action) = (pattern?, action?);
            let compiled = compiled
                .entry(pattern)
                .or_insert_with(|| ActionPattern::parse(pattern).ok());
            Some(compiled.as_ref().is_some_and(|p| p.matches(action)))
        })
        .collect()
}

/// `window_start(ts, window_ms) -> timestamp`: start of the fixed, epoch-aligned
/// window holding `ts`; the same cut the grant activity state counts by.
pub(super) fn window_start() -> ScalarUDF {
    create_udf(
        "window_start",
        vec![timestamp_type(), DataType::Int64],
        timestamp_type(),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (Some(ts), Some(window)) = (
                arrays[0].as_primitive_opt::<TimestampMillisecondType>(),
                arrays[1].as_primitive_opt::<Int64Type>(),
            ) else {
                return exec_err!("window_start expects a timestamp and a window in ms");
            };
            let starts: TimestampMillisecondArray = binary(ts, window, limit::window_start)?;
            Ok(ColumnarValue::Array(Arc::new(starts.with_timezone("UTC"))))
        }),
    )
}

/// `array_subset(a, b) -> boolean`: every element of `a` is in `b`. A null `a` (no
/// elements) is a subset of anything; a null `b` gives null (no constraint stated).
pub(super) fn array_subset() -> ScalarUDF {
    create_udf(
        "array_subset",
        vec![string_list_type(), string_list_type()],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (Some(a), Some(b)) = (
                arrays[0].as_list_opt::<i32>(),
                arrays[1].as_list_opt::<i32>(),
            ) else {
                return exec_err!("array_subset expects two lists of strings");
            };
            Ok(ColumnarValue::Array(subset_all(a, b)?))
        }),
    )
}

/// A list element (`None` for a null one).
fn element(values: &StringArray, j: usize) -> Option<&str> {
    values.is_valid(j).then(|| values.value(j))
}

fn subset_all(a: &ListArray, b: &ListArray) -> Result<ArrayRef> {
    // Compared in place: the rule calls this for every (event, scope) pair, so
    // it must not copy each list's strings out.
    let (Some(have), Some(allowed)) = (
        a.values().as_string_opt::<i32>(),
        b.values().as_string_opt::<i32>(),
    ) else {
        return exec_err!("array_subset expects lists of strings");
    };
    let range = |offsets: &[i32], i: usize| -> std::ops::Range<usize> {
        let bound = |k: usize| usize::try_from(offsets[k]).unwrap_or_default();
        bound(i)..bound(i + 1)
    };
    let out: BooleanArray = (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                Some(true)
            } else if b.is_null(i) {
                None
            } else {
                let allowed_range = range(b.value_offsets(), i);
                Some(range(a.value_offsets(), i).all(|j| {
                    let v = element(have, j);
                    allowed_range.clone().any(|k| element(allowed, k) == v)
                }))
            }
        })
        .collect();
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ListBuilder, StringBuilder};

    fn list(rows: &[Option<&[&str]>]) -> ListArray {
        let mut b = ListBuilder::new(StringBuilder::new());
        for row in rows {
            match row {
                Some(values) => {
                    values.iter().for_each(|v| b.values().append_value(v));
                    b.append(true)
                }
                None => b.append(false),
            }
        }
        b.finish()
    }

    #[test]
    fn subset_semantics() {
        let a = list(&[
            Some(&["x"]),
            Some(&["x", "y"]),
            None,
            Some(&[]),
            Some(&["x"]),
        ]);
        let b = list(&[
            Some(&["x", "z"]),
            Some(&["x"]),
            Some(&["x"]),
            Some(&[]),
            None,
        ]);
        let got = subset_all(&a, &b).expect("ok");
        let got: Vec<Option<bool>> = got.as_boolean().iter().collect();
        assert_eq!(got, [Some(true), Some(false), Some(true), Some(true), None]);
    }

    #[test]
    fn matches_column_wise() {
        let p = StringArray::from(vec![Some("GET /a/*"), Some("GET /a/*"), None, Some("s3:*")]);
        let a = StringArray::from(vec![
            Some("GET /a/1"),
            Some("GET /b/1"),
            Some("x"),
            Some("s3:GetObject"),
        ]);
        let got: Vec<Option<bool>> = match_all(&p, &a).iter().collect();
        assert_eq!(got, [Some(true), Some(false), None, Some(true)]);
    }
}
