//! The standard-output sink, for a person watching.

use std::io::Write;

use super::SinkError;
use crate::alerts::Alert;

/// Alerts printed one per line for a person watching (`grantwatch demo`).
pub struct StdoutSink;

impl StdoutSink {
    pub(super) fn send(alerts: &[Alert]) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        for a in alerts {
            let line = format!(
                "ALERT {:<8} {:<24} grant={} owner={} credential={} action={} count={}\n      {}\n",
                a.severity,
                a.rule,
                a.grant_id.as_deref().unwrap_or("-"),
                a.owner.as_deref().unwrap_or("-"),
                a.credential_id,
                a.action.as_deref().unwrap_or("-"),
                a.count,
                a.reason,
            );
            // A closed stdout (a pipe to `head`) must not stop the service.
            if out.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
        Ok(())
    }
}
