//! Texts that a load's grants share. Grant sets repeat a few partners, owners,
//! approvers and purposes, and a small vocabulary of environments, data classes and
//! currencies, over many grants: a load keeps one copy of each distinct value
//! (~35 MiB of a drain's peak RSS over 100,000 grants, BENCHMARKS.md).

use std::collections::HashSet;
use std::sync::Arc;

/// A text shared by the grants that state it.
pub type Text = Arc<str>;

/// A list of texts shared by the grants that state the same list.
pub type Texts = Arc<[String]>;

/// One copy of each distinct text and list, for one load of the grant files.
#[derive(Debug, Default)]
pub(crate) struct TextCache {
    texts: HashSet<Text>,
    lists: HashSet<Texts>,
}

impl TextCache {
    /// The shared copy of `text`.
    pub(crate) fn text(&mut self, text: String) -> Text {
        if let Some(shared) = self.texts.get(text.as_str()) {
            return Arc::clone(shared);
        }
        let shared = Text::from(text);
        self.texts.insert(Arc::clone(&shared));
        shared
    }

    /// The shared copy of `list`.
    pub(crate) fn list(&mut self, list: Vec<String>) -> Texts {
        if let Some(shared) = self.lists.get(list.as_slice()) {
            return Arc::clone(shared);
        }
        let shared = Texts::from(list);
        self.lists.insert(Arc::clone(&shared));
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy() {
        let mut cache = TextCache::default();
        let a = cache.text("partner-1".into());
        let b = cache.text("partner-1".into());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &cache.text("partner-2".into())));
        let l = cache.list(vec!["EUR".into(), "GBP".into()]);
        assert!(Arc::ptr_eq(
            &l,
            &cache.list(vec!["EUR".into(), "GBP".into()])
        ));
        assert!(!Arc::ptr_eq(&l, &cache.list(vec!["EUR".into()])));
    }
}
