//! Grant hot reload: the grant files are re-read when their content changes (polled,
//! so it works for editors, `git pull` and Kubernetes ConfigMap symlink swaps alike)
//! and on SIGHUP. A valid set is handed to the pipeline, which swaps it in between
//! two batches, so every event is judged by exactly one grant set. An invalid set is
//! logged error by error and counted; the last good set stays in force. So is an
//! empty one: files emptied by accident would otherwise make every partner unknown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::GrantsConfig;
use crate::grants::lint::{Finding, Policy, lint};
use crate::grants::{self, FileStamp, GrantErrors, GrantSet};
use crate::telemetry::Metrics;
use crate::telemetry::events::{GrantsLinted, GrantsReloadEmpty, GrantsReloadFailed};

/// The files are hashed at least every this many polls (a minute at the default 2 s).
const HASH_EVERY: u64 = 30;

/// The grant files of a configuration, and how to judge them.
#[derive(Debug, Clone)]
pub struct GrantFiles {
    paths: Vec<PathBuf>,
    default_idle_after: Duration,
    max_lifetime: Duration,
}

/// One read of the grant files.
pub struct Snapshot {
    /// Digest of what was read.
    pub fingerprint: [u8; 32],
    /// The validated set, or every reason it is not valid.
    pub grants: Result<GrantSet, GrantErrors>,
    /// Lint findings of what did validate.
    pub findings: Vec<Finding>,
}

impl GrantFiles {
    /// The files `[grants]` names.
    pub fn new(config: &GrantsConfig) -> Self {
        Self {
            paths: config.paths.clone(),
            default_idle_after: config.default_idle_after,
            max_lifetime: config.max_lifetime,
        }
    }

    /// Reads, validates and lints the files. The digest is taken first, so a change
    /// racing the read is seen again by the next poll.
    pub fn read(&self) -> Snapshot {
        let fingerprint = grants::fingerprint(&self.paths);
        let loaded = grants::load_all(&self.paths, self.default_idle_after);
        let policy = Policy {
            max_lifetime: self.max_lifetime,
            now: chrono::Utc::now(),
        };
        let findings = lint(&loaded, &policy);
        Snapshot {
            fingerprint,
            grants: loaded.into_set(),
            findings,
        }
    }
}

/// Puts `grants` (read from `files` as `fingerprint`) in force and watches the files
/// on a task of their own: the receiver sees each valid set that follows.
pub fn start(
    files: GrantFiles,
    fingerprint: [u8; 32],
    interval: Duration,
    grants: Arc<GrantSet>,
    metrics: Metrics,
) -> watch::Receiver<Arc<GrantSet>> {
    let (updates, receiver) = watch::channel(grants);
    tokio::spawn(self::watch(files, fingerprint, interval, updates, metrics));
    receiver
}

/// Watches the files until the pipeline drops its receiver: polls every `interval`
/// (never, if zero) and reloads on SIGHUP even when nothing changed.
pub async fn watch(
    files: GrantFiles,
    mut fingerprint: [u8; 32],
    interval: Duration,
    updates: watch::Sender<Arc<GrantSet>>,
    metrics: Metrics,
) {
    let mut hangup = Hangup::new();
    // Unknown at first, so the first poll hashes: the files may have changed since
    // `fingerprint` was taken.
    let mut stamp = FileStamp::default();
    let mut polls: u64 = 0;
    // A changed digest seen once, waiting to be seen again before it is read.
    let mut settling = None;
    let mut tick = (!interval.is_zero()).then(|| {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    });
    loop {
        let forced = tokio::select! {
            () = updates.closed() => return,
            () = hangup.recv() => true,
            _ = async {
                match &mut tick {
                    Some(tick) => tick.tick().await,
                    None => std::future::pending().await,
                }
            } => false,
        };
        if !forced {
            polls += 1;
            // Hashing reads every file (59 MB for 100,000 grants): only when their
            // stamp moved, while a change settles, and every HASH_EVERY polls in case
            // a file system's coarse clock hid a same-size edit. Blocking, so off the
            // runtime's workers, which the pipeline's rules run on.
            let (paths, previous) = (files.paths.clone(), stamp.clone());
            let hash_anyway = settling.is_some() || polls.is_multiple_of(HASH_EVERY);
            let check = move || {
                let now = grants::stamp(&paths);
                let digest = (now != previous || hash_anyway).then(|| grants::fingerprint(&paths));
                (now, digest)
            };
            let Ok((now_stamp, digest)) = tokio::task::spawn_blocking(check).await else {
                continue;
            };
            stamp = now_stamp;
            let Some(now) = digest else {
                continue;
            };
            if now == fingerprint {
                settling = None;
                continue;
            }
            // Read a change once it has held still for an interval: a file caught
            // halfway through a copy can be truncated yet still valid YAML.
            if settling != Some(now) {
                settling = Some(now);
                continue;
            }
        }
        settling = None;
        if forced {
            tracing::info!("SIGHUP: reloading grants.");
        }
        let paths = files.paths.clone();
        let files = files.clone();
        let Ok(snapshot) = tokio::task::spawn_blocking(move || files.read()).await else {
            continue;
        };
        fingerprint = snapshot.fingerprint;
        match snapshot.grants {
            Ok(set) if set.is_empty() => GrantsReloadEmpty { paths: &paths }.emit(&metrics),
            Ok(set) => {
                GrantsLinted {
                    findings: &snapshot.findings,
                }
                .emit(&metrics);
                if updates.send(Arc::new(set)).is_err() {
                    return;
                }
            }
            Err(errors) => GrantsReloadFailed { errors: &errors }.emit(&metrics),
        }
    }
}

/// SIGHUP as a stream; never fires where there are no Unix signals.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn new() -> Self {
        #[cfg(unix)]
        {
            let signal =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await
    }
}
