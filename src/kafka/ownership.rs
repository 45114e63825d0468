//! Which instance reports what (DESIGN §10). Producers key partner actions by
//! `credential_id`, so Kafka's default partitioner (murmur2) puts all of a
//! credential's actions on one partition. A grant's scheduled findings belong to the
//! instance that owns the partition of its first credential, and an alert group
//! (`Alert::group`) to the one that owns the partition its id hashes to: exactly one
//! instance of the group, whatever the assignment, so nothing is reported twice.

use std::collections::HashSet;

use crate::grants::Grant;

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `partitions`.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    (murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions.max(1)
}

/// This instance's share of the grants: the partitions of the first action topic it
/// is assigned right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    partitions: i32,
    assigned: HashSet<i32>,
}

impl Ownership {
    /// Owns `assigned` of `partitions` partitions.
    pub fn new(partitions: i32, assigned: impl IntoIterator<Item = i32>) -> Self {
        Self {
            partitions,
            assigned: assigned.into_iter().collect(),
        }
    }

    /// Owns every grant (replay, or a topic with one consumer by construction).
    pub fn everything() -> Self {
        Self::new(1, [0])
    }

    /// Whether nothing is assigned (yet): report nothing.
    pub fn is_empty(&self) -> bool {
        self.assigned.is_empty()
    }

    /// Whether this instance reports the alerts of group `group`: their events may
    /// come from any partition, so the group's own id picks one.
    pub fn owns_group(&self, group: &str) -> bool {
        self.assigned
            .contains(&partition_for(group, self.partitions))
    }

    /// Whether this instance reports `grant`'s scheduled findings.
    pub fn owns(&self, grant: &Grant) -> bool {
        grant
            .credentials
            .first()
            .is_some_and(|c| self.assigned.contains(&partition_for(c, self.partitions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // The vectors of Kafka's own UtilsTest.testMurmur2.
        for (key, expected) in [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key.as_bytes()), expected, "{key}");
        }
    }

    #[test]
    fn every_partition_is_owned_by_exactly_one_side() {
        let a = Ownership::new(4, [0, 2]);
        let b = Ownership::new(4, [1, 3]);
        for i in 0..200 {
            let key = format!("cred-{i}");
            let p = partition_for(&key, 4);
            assert!((0..4).contains(&p));
            assert_ne!(a.assigned.contains(&p), b.assigned.contains(&p));
        }
    }
}
