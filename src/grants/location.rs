//! Where each grant and each of its keys sits in its file, so that load errors and
//! lint findings point at a line an owner can jump to.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// A grant's file and first line; the line of any key path in it (`owner`,
/// `emergency.until`, `scopes[1].action`) is found on demand in the grant's own text.
/// The file's text, shared by its grants, costs its size once; a map of every key's
/// line would cost 2.5 KB per grant (250 MB for 100,000).
/// The file's path is shared by its grants too.
#[derive(Clone)]
pub struct GrantLocation {
    /// The file.
    pub file: Arc<Path>,
    /// 1-based line of the grant's `- ` item, when known.
    pub line: Option<usize>,
    /// The whole file (until forgotten) and the grant's span of it.
    text: Option<Arc<str>>,
    span: Range<usize>,
}

impl Default for GrantLocation {
    fn default() -> Self {
        Self {
            file: Arc::from(Path::new("")),
            line: None,
            text: None,
            span: 0..0,
        }
    }
}

impl GrantLocation {
    /// The grant's own text.
    fn item(&self) -> &str {
        self.text
            .as_deref()
            .and_then(|text| text.get(self.span.clone()))
            .unwrap_or_default()
    }

    /// Lets go of the file's text once nothing will ask for a key's line (a loaded
    /// set in force): 59 MB for 100,000 grants. `line_of` then answers the grant's line.
    pub(crate) fn forget_text(&mut self) {
        self.text = None;
        self.span = 0..0;
    }

    /// The line of `field`, else of the nearest enclosing key, else of the grant.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        let keys = key_lines(self.item(), self.line?);
        let mut path = field;
        loop {
            if let Some(&line) = keys.get(path) {
                return Some(line);
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return self.line,
            }
        }
    }
}

/// Same file, line and text: the rest of the file does not matter.
impl PartialEq for GrantLocation {
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file && self.line == other.line && self.item() == other.item()
    }
}

impl Eq for GrantLocation {}

impl fmt::Debug for GrantLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantLocation")
            .field("file", &self.file)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// Locates the items of a top-level YAML list (grants, suppressions) by index.
pub(crate) struct ItemLocator {
    file: Arc<Path>,
    text: Arc<str>,
    /// Each item's 1-based first line and byte offset, so that locating one item
    /// reads only its own text (scanning from the top made 100,000 grants quadratic).
    starts: Vec<(usize, usize)>,
}

impl ItemLocator {
    /// Finds where each item of `text` starts.
    pub(crate) fn new(file: &Path, text: &str) -> Self {
        Self {
            file: Arc::from(file),
            text: Arc::from(text),
            starts: item_starts(text),
        }
    }

    /// The byte range of each item's text, in order.
    pub(crate) fn spans(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.starts.len()).filter_map(|i| self.span(i))
    }

    fn span(&self, i: usize) -> Option<Range<usize>> {
        let &(_, from) = self.starts.get(i)?;
        let to = self
            .starts
            .get(i + 1)
            .map_or(self.text.len(), |&(_, to)| to);
        Some(from..to)
    }

    /// Whether nothing but blank lines and comments precede the first item.
    pub(crate) fn only_items(&self) -> bool {
        let first = self
            .starts
            .first()
            .map_or(self.text.len(), |&(_, from)| from);
        self.text[..first].lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with('#')
        })
    }

    /// The location of item `i` (0-based) and of its keys.
    pub(crate) fn locate(&self, i: usize) -> GrantLocation {
        let span = self.span(i);
        GrantLocation {
            file: Arc::clone(&self.file),
            line: self.starts.get(i).map(|&(line, _)| line),
            text: Some(Arc::clone(&self.text)),
            span: span.unwrap_or_default(),
        }
    }
}

/// The 1-based line and byte offset at which each top-level list item (`- `) starts.
fn item_starts(text: &str) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        if content.starts_with("- ") || content == "-" {
            starts.push((i + 1, offset));
        }
        offset += line.len();
    }
    starts
}

/// One open mapping key or sequence item while walking block YAML.
struct Frame {
    indent: usize,
    path: String,
    item: bool,
}

/// The lines of every key path in `item`, whose first line is line `start` of its
/// file (block-style YAML; flow collections fall back to their key's line through
/// [`GrantLocation::line_of`]).
fn key_lines(item: &str, start: usize) -> BTreeMap<String, usize> {
    let mut keys = BTreeMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut items: HashMap<String, usize> = HashMap::new();
    for (i, raw) in item.lines().enumerate().map(|(i, l)| (i + start - 1, l)) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut rest = trimmed;
        if rest == "-" || rest.starts_with("- ") {
            // A sequence item belongs to the nearest key at or left of its dash.
            stack.retain(|f| f.indent < indent || (f.indent == indent && !f.item));
            let parent = stack.last().map(|f| f.path.clone()).unwrap_or_default();
            let n = items.entry(parent.clone()).or_default();
            let path = if parent.is_empty() {
                String::new()
            } else {
                format!("{parent}[{n}]")
            };
            *n += 1;
            if !path.is_empty() {
                keys.entry(path.clone()).or_insert(i + 1);
            }
            stack.push(Frame {
                indent,
                path,
                item: true,
            });
            let after = rest[1..].trim_start();
            indent += rest.len() - after.len();
            rest = after;
        }
        let Some((key, value)) = rest.split_once(':') else {
            continue;
        };
        if key.is_empty() || key.contains(' ') || !(value.is_empty() || value.starts_with(' ')) {
            continue;
        }
        stack.retain(|f| f.indent < indent);
        let path = match stack.last() {
            Some(parent) if !parent.path.is_empty() => format!("{}.{key}", parent.path),
            _ => key.to_owned(),
        };
        keys.entry(path.clone()).or_insert(i + 1);
        stack.push(Frame {
            indent,
            path,
            item: false,
        });
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# comment
- id: a
  owner: o
  scopes:
    - action: \"GET /x\"
      max_amount: 5
    - action: \"POST /y\"
  emergency:
    until: 2026-01-01
    scopes:
    - action: \"*\"
- id: b
  partner: p
";

    #[test]
    fn key_paths_have_their_lines() {
        let locator = ItemLocator::new(Path::new("g.yaml"), TEXT);
        let loc = locator.locate(0);
        assert_eq!(&*loc.file, Path::new("g.yaml"));
        assert_eq!(loc.line_of("id"), Some(2));
        assert_eq!(loc.line_of("owner"), Some(3));
        assert_eq!(loc.line_of("scopes[0].max_amount"), Some(6));
        assert_eq!(loc.line_of("scopes[1].action"), Some(7));
        assert_eq!(loc.line_of("emergency.until"), Some(9));
        assert_eq!(loc.line_of("emergency.scopes[0].action"), Some(11));
        // Unknown paths fall back to the enclosing key, then the grant.
        assert_eq!(loc.line_of("emergency.from"), Some(8));
        assert_eq!(loc.line_of("partner"), Some(2));
        let b = locator.locate(1);
        assert_eq!((b.line, b.line_of("partner")), (Some(12), Some(13)));
        assert_eq!(locator.locate(2).line, None);
    }
}
