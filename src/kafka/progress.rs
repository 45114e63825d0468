//! How far the consumer has read, from librdkafka's periodic statistics: no broker
//! round trip on the pipeline's path. Scheduled rules wait until the consumer has
//! read, in every assigned partition, up to where the partition ended at the
//! previous statistics report: before that, the backlog may hold uses that make a
//! grant look idle. Under steady traffic the end moves on, so "the end as it was"
//! is the mark, not the end now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::Statistics;

/// One partition at one report.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Where reading stands: the last message handed to the app + 1, else the
    /// group's commit, else the partition's start.
    position: i64,
    /// The partition's end.
    end: i64,
}

#[derive(Debug, Default)]
struct Reports {
    current: HashMap<(String, i32), Seen>,
    previous: HashMap<(String, i32), Seen>,
    partition_counts: HashMap<String, i32>,
}

/// Shared between the consumer's context (writer) and the pipeline (reader).
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Reports>>);

impl Progress {
    /// Records one statistics report.
    pub(super) fn record(&self, statistics: &Statistics) {
        let mut current = HashMap::new();
        let mut counts = HashMap::new();
        for (topic, stats) in &statistics.topics {
            let partitions = stats.partitions.keys().filter(|&&p| p >= 0).count();
            counts.insert(topic.clone(), i32::try_from(partitions).unwrap_or(i32::MAX));
            for (&partition, p) in stats.partitions.iter().filter(|(p, _)| **p >= 0) {
                // librdkafka reports -1001 for "not known".
                let position = [p.app_offset, p.committed_offset, p.lo_offset]
                    .into_iter()
                    .find(|&o| o >= 0);
                if let Some(position) = position.filter(|_| p.hi_offset >= 0) {
                    let seen = Seen {
                        position,
                        end: p.hi_offset,
                    };
                    current.insert((topic.clone(), partition), seen);
                }
            }
        }
        let mut reports = self.lock();
        reports.previous = std::mem::replace(&mut reports.current, current);
        reports.partition_counts = counts;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reports> {
        // A poisoned lock only means a panicking holder; the maps are still whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether every partition in `assigned` has been read up to its end as of the
    /// report before the latest one.
    pub fn caught_up(&self, assigned: &[(String, i32)]) -> bool {
        let reports = self.lock();
        assigned.iter().all(
            |key| match (reports.current.get(key), reports.previous.get(key)) {
                (Some(now), Some(before)) => now.position >= before.end,
                _ => false,
            },
        )
    }

    /// Notes how many partitions `topic` has, read from the brokers' metadata before
    /// the first statistics report.
    pub(super) fn set_partition_count(&self, topic: &str, partitions: i32) {
        self.lock()
            .partition_counts
            .insert(topic.to_owned(), partitions);
    }

    /// How many partitions `topic` has, as of the latest report.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.lock().partition_counts.get(topic).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(position: i64, end: i64) -> Statistics {
        let json = format!(
            r#"{{"name":"c","client_id":"c","type":"consumer","ts":0,"time":0,"age":0,"replyq":0,
            "msg_cnt":0,"msg_size":0,"msg_max":0,"msg_size_max":0,"tx":0,"tx_bytes":0,"rx":0,
            "rx_bytes":0,"txmsgs":0,"txmsg_bytes":0,"rxmsgs":0,"rxmsg_bytes":0,"simple_cnt":0,
            "metadata_cache_cnt":0,"brokers":{{}},"topics":{{"t":{{"topic":"t","age":0,
            "metadata_age":0,"batchsize":{{"min":0,"max":0,"avg":0,"sum":0,"stddev":0,"p50":0,
            "p75":0,"p90":0,"p95":0,"p99":0,"p99_99":0,"outofrange":0,"hdrsize":0,"cnt":0}},
            "batchcnt":{{"min":0,"max":0,"avg":0,"sum":0,"stddev":0,"p50":0,"p75":0,"p90":0,
            "p95":0,"p99":0,"p99_99":0,"outofrange":0,"hdrsize":0,"cnt":0}},"partitions":{{
            "0":{{"partition":0,"broker":1,"leader":1,"desired":true,"unknown":false,
            "msgq_cnt":0,"msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,"fetchq_cnt":0,
            "fetchq_size":0,"fetch_state":"active","query_offset":0,"next_offset":0,
            "app_offset":{position},"stored_offset":0,"committed_offset":-1001,
            "committed_leader_epoch":0,"eof_offset":0,"lo_offset":0,"hi_offset":{end},
            "ls_offset":0,"consumer_lag":0,"consumer_lag_stored":0,"leader_epoch":0,"txmsgs":0,
            "txbytes":0,"rxmsgs":0,"rxbytes":0,"msgs":0,"rx_ver_drops":0,"msgs_inflight":0,
            "next_ack_seq":0,"next_err_seq":0,"acked_msgid":0}}}}}}}},"tx_idemp":0}}"#
        );
        serde_json::from_str(&json).expect("statistics")
    }

    #[test]
    fn caught_up_means_past_the_previous_end() {
        let progress = Progress::default();
        let assigned = [("t".to_owned(), 0)];
        progress.record(&report(100, 5_000));
        assert!(!progress.caught_up(&assigned), "one report is not enough");
        progress.record(&report(3_000, 9_000));
        assert!(!progress.caught_up(&assigned), "still in the backlog");
        progress.record(&report(9_100, 9_900));
        assert!(progress.caught_up(&assigned), "past where it ended before");
        assert_eq!(progress.partition_count("t"), Some(1));
    }
}
