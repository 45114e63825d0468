//! The standard-output sink, for a person watching: every field from the logs is
//! shown [`inert`], so an action cannot drive the watcher's terminal.

use std::io::Write;

use super::SinkError;
use crate::alerts::Alert;
use crate::untrusted::inert;

/// Alerts printed one per line for a person watching (`grantwatch demo`).
pub struct StdoutSink;

impl StdoutSink {
    pub(super) fn send(alerts: &[Alert]) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        for a in alerts {
            // A closed stdout (a pipe to `head`) must not stop the service.
            if out.write_all(line(a).as_bytes()).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// How an alert is printed.
fn line(a: &Alert) -> String {
    format!(
        "ALERT {:<8} {:<24} grant={} owner={} credential={} action={} count={}\n      {}\n",
        a.severity,
        a.rule,
        a.grant_id.as_deref().unwrap_or("-"),
        a.owner.as_deref().unwrap_or("-"),
        inert(&a.credential_id),
        inert(a.action.as_deref().unwrap_or("-")),
        a.count,
        inert(&a.reason),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_line_cannot_drive_the_terminal() {
        let hostile = "\u{1b}[2J\u{1b}[31mALL CLEAR\u{1b}[0m";
        let alert = Alert {
            action: Some(format!("POST /v1/{hostile}")),
            reason: format!("POST /v1/{hostile} is not in purpose"),
            credential_id: format!("cli\r{hostile}"),
            ..Alert::example()
        };
        let printed = line(&alert);
        assert!(
            !printed.contains('\u{1b}') && !printed.contains('\r'),
            "{printed:?}"
        );
        assert!(printed.contains("\\u{1b}[2J"), "{printed}");
    }
}
