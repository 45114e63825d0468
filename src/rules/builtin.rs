//! The built-in rule pack and its fixtures, compiled into the binary so an installed
//! `grantwatch` works without the source tree. A test checks this list against
//! `queries/rules/`. Adding a rule: its `NAME.sql` and `NAME.test.yaml` there, and
//! its name here.

macro_rules! rules {
    ($($name:literal),* $(,)?) => {
        /// (file name, SQL text) of every built-in rule.
        pub(super) const BUILTIN_RULES: &[(&str, &str)] = &[
            $((concat!($name, ".sql"), include_str!(concat!("../../queries/rules/", $name, ".sql")))),*
        ];
        /// (rule name, fixture YAML) of every built-in rule's `NAME.test.yaml`.
        pub const BUILTIN_FIXTURES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../queries/rules/", $name, ".test.yaml")))),*
        ];
    };
}

rules!(
    "out_of_purpose_action",
    "unknown_credential",
    "wrong_environment",
    "data_class_not_allowed",
    "amount_over_limit",
    "currency_not_allowed",
    "expired_grant_used",
    "grant_not_yet_valid",
    "revoked_grant_used",
    "suspended_grant_used",
    "unapproved_delegate",
    "emergency_access_used",
    "emergency_overrun",
    "idle_grant",
    "expiring_grant_in_use",
    "grant_without_owner",
    "emergency_window_open",
    "human_use_of_credential",
    "first_seen_action",
    "credential_environment_mismatch",
    "rate_limit_exceeded",
    "daily_amount_exceeded",
);
