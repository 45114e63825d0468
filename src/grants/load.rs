//! Reading grant files: YAML → specs → validated [`Grant`]s, every error located.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::error::{GrantError, GrantErrorKind, GrantErrors};
use super::location::{GrantLocation, ItemLocator};
use super::model::Grant;
use super::pattern::PatternCache;
use super::spec::GrantSpec;
use super::texts::TextCache;

/// A validated set of grants, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct GrantSet {
    grants: Vec<Grant>,
    /// Fx-hashed: looked up for every grant of every batch (grant ids are the
    /// operator's, not untrusted input).
    by_id: FxHashMap<String, usize>,
}

impl GrantSet {
    /// Builds a set; ids must be unique (checked by the loaders). Errors and lint
    /// findings are located before a set is made, so the set keeps no file text.
    fn new(mut grants: Vec<Grant>) -> Self {
        for grant in &mut grants {
            grant.location.forget_text();
        }
        grants.shrink_to_fit();
        let by_id = grants
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), i))
            .collect();
        Self { grants, by_id }
    }

    /// All grants, in file order.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The grant with this id.
    pub fn get(&self, id: &str) -> Option<&Grant> {
        self.by_id.get(id).map(|&i| &self.grants[i])
    }

    /// Number of grants.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether there are no grants.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

/// Everything read from some grant files: the grants that validated and the
/// problems found, each located. `grants check` lints both; `run` needs no problems.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Valid grants, first of each id only.
    pub grants: Vec<Grant>,
    /// Every problem found.
    pub errors: Vec<GrantError>,
}

/// Loads grants from files and directories (`*.yaml`, `*.yml`, sorted by name);
/// any problem refuses the whole set.
pub fn load_paths(
    paths: &[PathBuf],
    default_idle_after: Duration,
) -> Result<GrantSet, GrantErrors> {
    load_all(paths, default_idle_after).into_set()
}

/// Loads what it can from files and directories and reports every problem.
pub fn load_all(paths: &[PathBuf], default_idle_after: Duration) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    for path in paths {
        match collect_files(path) {
            Ok(found) => files.extend(found),
            Err(message) => loaded.errors.push(unreadable(path, message)),
        }
    }
    let mut shared = Shared::new(default_idle_after);
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => loaded.extend(parse_text(&text, file, &mut shared)),
            Err(e) => loaded
                .errors
                .push(unreadable(file, format!("cannot read: {e}"))),
        }
    }
    loaded.drop_duplicates();
    loaded
}

impl Loaded {
    fn extend(&mut self, other: Loaded) {
        self.grants.extend(other.grants);
        self.errors.extend(other.errors);
    }

    /// Keeps the first grant of each id; every later one is an error at its own line.
    fn drop_duplicates(&mut self) {
        let mut first: HashMap<String, GrantLocation> = HashMap::new();
        let mut errors = Vec::new();
        self.grants.retain(|grant| match first.get(&grant.id) {
            Some(original) => {
                errors.push(GrantError {
                    kind: GrantErrorKind::Duplicate,
                    file: grant.location.file.to_path_buf(),
                    line: grant.location.line_of("id"),
                    grant_id: Some(grant.id.clone()),
                    field: Some("id".into()),
                    message: format!(
                        "duplicate grant id (first defined at {}{}): ids must be unique across all grant files",
                        original.file.display(),
                        original.line.map(|l| format!(":{l}")).unwrap_or_default()
                    ),
                });
                false
            }
            None => {
                first.insert(grant.id.clone(), grant.location.clone());
                true
            }
        });
        self.errors.extend(errors);
    }

    /// The grant set, if nothing was wrong.
    pub fn into_set(self) -> Result<GrantSet, GrantErrors> {
        if self.errors.is_empty() {
            Ok(GrantSet::new(self.grants))
        } else {
            Err(GrantErrors(self.errors))
        }
    }
}

/// A digest of every grant file's name and content (and of any error reading them),
/// so a reloader can tell whether anything changed without parsing.
pub fn fingerprint(paths: &[PathBuf]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for path in paths {
        match collect_files(path) {
            Ok(files) => {
                for file in files {
                    hash.update(file.as_os_str().as_encoded_bytes());
                    hash.update(b"\0");
                    // Streamed, so a poll never holds a file's size (59 MB for
                    // 100,000 grants) once more.
                    let copied = std::fs::File::open(&file)
                        .and_then(|mut f| std::io::copy(&mut f, &mut hash));
                    if let Err(e) = copied {
                        hash.update(e.to_string().as_bytes());
                    }
                    hash.update(b"\0");
                }
            }
            Err(message) => hash.update(message.as_bytes()),
        }
    }
    hash.finalize().into()
}

/// The grant files' names, sizes and modification times: cheap to take, and an edit,
/// copy or symlink swap changes it, so a reloader hashes the files only when it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStamp(Vec<(PathBuf, Option<(u64, std::time::SystemTime)>)>);

/// Takes the [`FileStamp`] of every grant file under `paths`.
pub fn stamp(paths: &[PathBuf]) -> FileStamp {
    let mut stamp = Vec::new();
    for path in paths {
        match collect_files(path) {
            Ok(files) => stamp.extend(files.into_iter().map(|file| {
                let meta = std::fs::metadata(&file).ok();
                let seen = meta.and_then(|m| Some((m.len(), m.modified().ok()?)));
                (file, seen)
            })),
            Err(_) => stamp.push((path.clone(), None)),
        }
    }
    FileStamp(stamp)
}

fn collect_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| format!("cannot list directory: {e}"))? {
        let entry = entry.map_err(|e| format!("cannot list directory: {e}"))?;
        let p = entry.path();
        if p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses one grants document (a YAML list of grants); `file` names it in errors.
pub fn parse_str(
    text: &str,
    file: &Path,
    default_idle_after: Duration,
) -> Result<GrantSet, GrantErrors> {
    let mut loaded = parse_text(text, file, &mut Shared::new(default_idle_after));
    loaded.drop_duplicates();
    loaded.into_set()
}

/// What the grants of one load share.
struct Shared {
    /// Applies to grants that set no `idle_after`.
    default_idle_after: Duration,
    /// Every pattern compiled so far.
    patterns: PatternCache,
    /// Every text and list of texts kept so far.
    texts: TextCache,
}

impl Shared {
    fn new(default_idle_after: Duration) -> Self {
        Self {
            default_idle_after,
            patterns: PatternCache::default(),
            texts: TextCache::default(),
        }
    }
}

fn parse_text(text: &str, file: &Path, shared: &mut Shared) -> Loaded {
    let locator = ItemLocator::new(file, text);
    if let Some(loaded) = parse_items(&locator, text, shared) {
        return loaded;
    }
    let mut loaded = Loaded::default();
    // Parse the list shallowly first, so one malformed grant does not hide the others.
    let docs: Vec<serde_yaml_ng::Value> = match serde_yaml_ng::from_str::<Option<Vec<_>>>(text) {
        Ok(docs) => docs.unwrap_or_default(),
        Err(e) => {
            loaded.errors.push(GrantError {
                kind: GrantErrorKind::Syntax,
                file: file.to_owned(),
                line: e.location().map(|l| l.line()),
                grant_id: None,
                field: None,
                message: strip_location(&e.to_string()),
            });
            return loaded;
        }
    };
    for (i, doc) in docs.into_iter().enumerate() {
        add_item(&mut loaded, doc, locator.locate(i), shared);
    }
    loaded
}

/// The list's items parsed and converted one at a time, since the whole file as YAML
/// values would hold about 15 times its size (675 MB for 100,000 grants). `None` when
/// the items do not stand alone (text before the first, an alias to another item's
/// anchor, a syntax error): the whole-file parse then decides, and reports errors.
///
/// A long list is parsed in two halves on two threads: YAML parsing is most of a
/// start-up's CPU, on one core while the other waits on Kafka. The second half keeps
/// caches of its own, so its distinct texts and patterns are held twice at most.
fn parse_items(locator: &ItemLocator, text: &str, shared: &mut Shared) -> Option<Loaded> {
    if !locator.only_items() {
        return None;
    }
    let spans: Vec<Range<usize>> = locator.spans().collect();
    if spans.len() < PARALLEL_ITEMS {
        return parse_spans(locator, text, &spans, 0, shared);
    }
    let (first, second) = spans.split_at(spans.len() / 2);
    let mut own = Shared::new(shared.default_idle_after);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| parse_spans(locator, text, second, first.len(), &mut own));
        let mut loaded = parse_spans(locator, text, first, 0, shared);
        // A panic there is a bug; the whole-file parse then decides, as for any
        // list whose items do not stand alone.
        let rest = other.join().ok().flatten();
        loaded.as_mut()?.extend(rest?);
        loaded
    })
}

/// Lists with fewer items are parsed on one thread: a thread costs more than it saves.
const PARALLEL_ITEMS: usize = 1_000;

/// The items at `spans` of `text`, the first of them item number `first`.
fn parse_spans(
    locator: &ItemLocator,
    text: &str,
    spans: &[Range<usize>],
    first: usize,
    shared: &mut Shared,
) -> Option<Loaded> {
    let mut loaded = Loaded::default();
    for (i, span) in spans.iter().enumerate() {
        let item: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text[span.clone()]).ok()?;
        let [doc] = <[_; 1]>::try_from(item).ok()?;
        add_item(&mut loaded, doc, locator.locate(first + i), shared);
    }
    Some(loaded)
}

/// Turns one list item into a grant, or into the errors that say why it is not one.
fn add_item(
    loaded: &mut Loaded,
    doc: serde_yaml_ng::Value,
    location: GrantLocation,
    shared: &mut Shared,
) {
    let id = doc.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    let schema_error = |field: Option<String>, message: String| GrantError {
        kind: GrantErrorKind::Schema,
        file: location.file.to_path_buf(),
        line: match &field {
            Some(field) => location.line_of(field),
            None => location.line,
        },
        grant_id: id.clone(),
        field,
        message,
    };
    match serde_yaml_ng::from_value::<GrantSpec>(doc) {
        Ok(spec) => match Grant::from_spec(
            spec,
            location.clone(),
            shared.default_idle_after,
            &mut shared.patterns,
            &mut shared.texts,
        ) {
            Ok(grant) => loaded.grants.push(grant),
            Err(found) => loaded.errors.extend(
                found
                    .into_iter()
                    .map(|fe| schema_error(Some(fe.field), fe.message)),
            ),
        },
        Err(e) => {
            let message = e.to_string();
            loaded
                .errors
                .push(schema_error(serde_field(&message), message));
        }
    }
}

fn unreadable(path: &Path, message: String) -> GrantError {
    GrantError {
        kind: GrantErrorKind::Unreadable,
        file: path.to_owned(),
        line: None,
        grant_id: None,
        field: None,
        message,
    }
}

/// serde_yaml appends " at line L column C"; the line is reported separately.
fn strip_location(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
}

/// The field a serde message names: "missing field `owner`", "unknown field `x`, ...",
/// or a path prefix like "scopes[0].action: invalid type".
pub(crate) fn serde_field(message: &str) -> Option<String> {
    if let Some(rest) = message.split_once("field `").map(|(_, r)| r) {
        return rest.split('`').next().map(str::to_owned);
    }
    message
        .split_once(": ")
        .map(|(path, _)| path.to_owned())
        .filter(|p| !p.contains(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn parse(text: &str) -> Result<GrantSet, GrantErrors> {
        parse_str(text, Path::new("g.yaml"), DAY)
    }

    #[test]
    fn the_stamp_and_digest_move_with_the_files_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let paths = [dir.path().to_owned()];
        std::fs::write(dir.path().join("a.yaml"), "- id: a\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a grant file").unwrap();
        let (stamp_before, digest_before) = (stamp(&paths), fingerprint(&paths));
        assert_eq!(stamp(&paths), stamp_before);
        assert_eq!(fingerprint(&paths), digest_before);
        std::fs::write(dir.path().join("b.yml"), "- id: b\n").unwrap();
        assert_ne!(stamp(&paths), stamp_before);
        assert_ne!(fingerprint(&paths), digest_before);
        let stamp_two = stamp(&paths);
        std::fs::write(dir.path().join("a.yaml"), "- id: a2\n").unwrap();
        assert_ne!(stamp(&paths), stamp_two);
        std::fs::remove_dir_all(dir.path()).unwrap();
        assert_eq!(stamp(&paths).0, vec![(dir.path().to_owned(), None)]);
    }

    const GOOD: &str = "\
- id: acme-payroll-payouts
  partner: acme-payroll
  owner: jane.doe@bank.example
  approved_by: third-party-risk-board
  approved_at: 2026-09-01
  purpose: Initiate payroll payouts for SME customers
  credentials: [cli_acme_payouts_prod]
  valid_from: 2026-09-01T00:00:00Z
  expires_at: 2027-03-01T00:00:00Z
  idle_after: 14d
  environments: [prod]
  delegates: [acme-subproc-ltd]
  status: active
  scopes:
    - action: \"POST /v1/payouts\"
      data_classes: [pii.basic, financial.account]
      max_amount: 50000
      currencies: [EUR, GBP]
    - action: \"GET /v1/payouts/*\"
  emergency:
    from: 2026-11-29T18:00:00Z
    until: 2026-11-30T18:00:00Z
    reason: INC-4411 payout backlog
    approved_by: ciso-oncall
    scopes:
      - action: \"POST /v1/payouts/*/retry\"
";

    #[test]
    fn parses_the_design_example() {
        let set = parse(GOOD).expect("valid");
        let g = set.get("acme-payroll-payouts").expect("grant");
        assert_eq!(g.idle_after, 14 * DAY);
        assert_eq!(g.scopes.len(), 2);
        assert_eq!(g.scopes[0].max_amount, Some(50000.0));
        assert_eq!(
            g.emergency.as_ref().expect("em").scopes[0].action.as_str(),
            "POST /v1/payouts/*/retry"
        );
        assert_eq!(
            g.approved_at.expect("at").to_rfc3339(),
            "2026-09-01T00:00:00+00:00"
        );
    }

    #[test]
    fn bad_date_names_file_line_grant_and_field() {
        let text = GOOD.replace(
            "expires_at: 2027-03-01T00:00:00Z",
            "expires_at: next tuesday",
        );
        let errors = parse(&text).expect_err("invalid").0;
        assert_eq!(errors.len(), 1);
        let e = &errors[0];
        assert_eq!(
            (e.line, e.grant_id.as_deref(), e.field.as_deref()),
            (Some(9), Some("acme-payroll-payouts"), Some("expires_at"))
        );
        assert!(
            e.to_string()
                .starts_with("g.yaml:9: grant `acme-payroll-payouts`: field `expires_at`: "),
            "{e}"
        );
    }

    #[test]
    fn a_long_list_parsed_in_halves_is_the_list_parsed_whole() {
        let grant = |i: usize| GOOD.replace("acme-payroll-payouts", &format!("g{i}"));
        let count = PARALLEL_ITEMS + 200;
        let text: String = (0..count).map(grant).collect();
        let set = parse(&text).expect("valid");
        assert_eq!(set.len(), count);
        for i in [0, count / 2 - 1, count / 2, count - 1] {
            assert!(set.get(&format!("g{i}")).is_some(), "g{i}");
        }
        // Errors in the second half are located in the whole file.
        let (typo, repeat) = (count - 100, count - 50);
        let text: String = (0..count)
            .map(|i| match i {
                _ if i == typo => grant(i).replace("  status: active\n", "  statuss: active\n"),
                _ if i == repeat => grant(5),
                _ => grant(i),
            })
            .collect();
        let errors = parse(&text).expect_err("invalid").0;
        let located: Vec<_> = errors
            .iter()
            .map(|e| (e.kind, e.line, e.grant_id.clone()))
            .collect();
        assert_eq!(
            located,
            [
                (
                    GrantErrorKind::Schema,
                    Some(typo * 26 + 13),
                    Some(format!("g{typo}"))
                ),
                (
                    GrantErrorKind::Duplicate,
                    Some(repeat * 26 + 1),
                    Some("g5".into())
                ),
            ]
        );
    }

    #[test]
    fn unknown_key_and_missing_field_are_located() {
        let text = format!(
            "{GOOD}{}",
            GOOD.replace("acme-payroll-payouts", "second")
                .replace("  status: active\n", "  statuss: active\n")
        );
        let errors = parse(&text).expect_err("invalid").0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some("statuss"));
        assert_eq!(errors[0].line, Some(26 + 13));
        let errors = parse(&GOOD.replace("  partner: acme-payroll\n", ""))
            .expect_err("missing")
            .0;
        assert_eq!(errors[0].field.as_deref(), Some("partner"));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let text = GOOD
            .replace("14d", "fortnight")
            .replace("status: active", "status: paused")
            .replace("\"GET /v1/payouts/*\"", "\" \"");
        let errors = parse(&text).expect_err("invalid").0;
        let fields: Vec<_> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
        assert_eq!(fields, ["status", "idle_after", "scopes[1].action"]);
    }

    #[test]
    fn windowed_limits_parse_and_bad_ones_are_located() {
        let limited = GOOD.replace(
            "  status: active\n",
            "  status: active\n  rate_limit: 600/h\n  max_daily_amount: 250000\n",
        );
        let set = parse(&limited).expect("valid");
        let g = set.get("acme-payroll-payouts").expect("grant");
        assert_eq!(
            g.rate_limit.map(|r| r.to_string()).as_deref(),
            Some("600/h")
        );
        assert_eq!(g.max_daily_amount, Some(250_000.0));
        let bad = limited
            .replace("600/h", "600 per hour")
            .replace("250000", "-1");
        let errors = parse(&bad).expect_err("invalid").0;
        let located: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_deref(), e.line))
            .collect();
        assert_eq!(
            located,
            [
                (Some("rate_limit"), Some(14)),
                (Some("max_daily_amount"), Some(15))
            ]
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let errors = parse(&format!("{GOOD}{GOOD}")).expect_err("dup").0;
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("duplicate grant id"))
        );
    }

    #[test]
    fn malformed_yaml_has_a_line() {
        let errors = parse("- id: x\n  partner: [unclosed\n").expect_err("bad").0;
        assert!(errors[0].line.is_some(), "{errors:?}");
    }

    #[test]
    fn items_that_share_an_anchor_still_load() {
        // Items are parsed one by one unless they lean on each other, as here.
        let shared = GOOD.replacen("  partner: acme-payroll", "  partner: &p acme-payroll", 1);
        let second = GOOD
            .replace("acme-payroll-payouts", "second")
            .replace("partner: acme-payroll", "partner: *p")
            .replace("cli_acme_payouts_prod", "cli_second");
        let set = parse(&format!("# grants\n{shared}{second}")).expect("grants");
        assert_eq!(set.get("second").map(|g| &*g.partner), Some("acme-payroll"));
        // Line numbers are the file's, not the item's.
        assert_eq!(
            set.get("second").and_then(|g| g.location.line),
            Some(2 + GOOD.lines().count())
        );
    }
}
