//! The canned reports, compiled into the binary. A test checks this list against
//! `queries/reports/`.

macro_rules! reports {
    ($($name:literal),* $(,)?) => {
        /// (file name, SQL text) of every canned report.
        pub(super) const BUILTIN_REPORTS: &[(&str, &str)] = &[
            $((concat!($name, ".sql"), include_str!(concat!("../../queries/reports/", $name, ".sql")))),*
        ];
    };
}

reports!(
    "idle_grants",
    "unused_scopes",
    "least_privilege",
    "drift_by_partner",
    "out_of_purpose_top",
    "delegate_activity",
    "emergency_usage",
    "expiring_soon",
    "credential_reuse",
    "grant_changes",
    "alerts_summary",
);

#[cfg(test)]
mod tests {
    use super::BUILTIN_REPORTS;

    #[test]
    fn builtin_list_matches_the_reports_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/queries/reports");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let mut builtin: Vec<String> = BUILTIN_REPORTS.iter().map(|(n, _)| n.to_string()).collect();
        builtin.sort();
        assert_eq!(builtin, on_disk);
    }
}
