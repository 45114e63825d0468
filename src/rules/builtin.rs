//! The built-in rule pack, compiled into the binary so an installed `grantwatch`
//! works without the source tree. A test checks this list against `queries/rules/`.

/// (file name, SQL text) of every built-in rule.
pub(super) const BUILTIN_RULES: &[(&str, &str)] = &[
    (
        "out_of_purpose_action.sql",
        include_str!("../../queries/rules/out_of_purpose_action.sql"),
    ),
    (
        "unknown_credential.sql",
        include_str!("../../queries/rules/unknown_credential.sql"),
    ),
    (
        "wrong_environment.sql",
        include_str!("../../queries/rules/wrong_environment.sql"),
    ),
    (
        "data_class_not_allowed.sql",
        include_str!("../../queries/rules/data_class_not_allowed.sql"),
    ),
    (
        "amount_over_limit.sql",
        include_str!("../../queries/rules/amount_over_limit.sql"),
    ),
    (
        "currency_not_allowed.sql",
        include_str!("../../queries/rules/currency_not_allowed.sql"),
    ),
    (
        "expired_grant_used.sql",
        include_str!("../../queries/rules/expired_grant_used.sql"),
    ),
    (
        "grant_not_yet_valid.sql",
        include_str!("../../queries/rules/grant_not_yet_valid.sql"),
    ),
    (
        "revoked_grant_used.sql",
        include_str!("../../queries/rules/revoked_grant_used.sql"),
    ),
    (
        "suspended_grant_used.sql",
        include_str!("../../queries/rules/suspended_grant_used.sql"),
    ),
    (
        "unapproved_delegate.sql",
        include_str!("../../queries/rules/unapproved_delegate.sql"),
    ),
    (
        "emergency_access_used.sql",
        include_str!("../../queries/rules/emergency_access_used.sql"),
    ),
    (
        "emergency_overrun.sql",
        include_str!("../../queries/rules/emergency_overrun.sql"),
    ),
];
