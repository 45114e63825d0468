//! Which changed records a state write takes. A write runs while batches go on, so
//! records keep changing under it; taking whatever is changed when each chunk is
//! encoded chased the loop (a round over 100,000 grants wrote 190,000 records
//! instead of 110,000) and, under steady traffic, need never end. So each change is
//! stamped with the round in progress when it was made, and a round takes only the
//! changes from before it began.

/// A record's oldest change not yet taken by a write: the round it was made in, or
/// none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Pending(Option<Round>);

/// A state write's sequence number, from 1: it takes the changes stamped with it or
/// before. Changes are stamped with the next round to begin.
pub type Round = u32;

/// The first round, which every round's write takes: for changes any write must take.
pub(super) const FIRST_ROUND: Round = 1;

impl Pending {
    /// Notes a change made during `round`, unless an older one is still pending
    /// (the write that takes that one takes this one too).
    pub(super) fn mark(&mut self, round: Round) {
        self.0.get_or_insert(round);
    }

    /// Whether the write of `round` takes it: then it is no longer pending.
    pub(super) fn take(&mut self, round: Round) -> bool {
        let due = self.0.is_some_and(|r| r <= round);
        if due {
            self.0 = None;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_takes_changes_from_before_it_began() {
        let mut p = Pending::default();
        assert!(!p.take(5), "nothing changed");
        p.mark(6);
        assert!(!p.take(5), "changed after round 5 began");
        p.mark(7);
        assert!(p.take(6), "the oldest change counts");
        assert!(!p.take(7), "taken once");
    }
}
