//! Why a message could not be decoded. These are the sender's faults: the message is
//! dead-lettered with [`DecodeError`]'s text as its `grantwatch.error` header.

use std::fmt;

/// The kind of fault; its label is the bounded `reason` of
/// `grantwatch_dead_letters_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeFault {
    /// Larger than `kafka.max_message_bytes`.
    TooLarge,
    /// An empty message (a tombstone or a producer bug).
    Empty,
    /// Not valid UTF-8.
    NotUtf8,
    /// Not one JSON value, or trailing bytes after it.
    InvalidJson,
    /// Nested deeper than the parser's limit.
    TooDeep,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// A field has the right type but an impossible value (a bad date, an unknown outcome).
    InvalidValue,
}

impl DecodeFault {
    /// Every fault, so metrics can start each series at zero.
    pub const ALL: [DecodeFault; 9] = [
        Self::TooLarge,
        Self::Empty,
        Self::NotUtf8,
        Self::InvalidJson,
        Self::TooDeep,
        Self::NotAnObject,
        Self::MissingField,
        Self::WrongType,
        Self::InvalidValue,
    ];

    /// Stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Empty => "empty",
            Self::NotUtf8 => "not_utf8",
            Self::InvalidJson => "invalid_json",
            Self::TooDeep => "too_deep",
            Self::NotAnObject => "not_an_object",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::InvalidValue => "invalid_value",
        }
    }
}

/// A message that cannot become a partner action, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// What kind of fault.
    pub fault: DecodeFault,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    /// Human detail, e.g. the parser's message.
    pub detail: String,
}

impl DecodeError {
    pub(crate) fn new(fault: DecodeFault, detail: impl Into<String>) -> Self {
        Self {
            fault,
            field: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn field(fault: DecodeFault, field: &str, detail: impl Into<String>) -> Self {
        Self {
            fault,
            field: Some(field.to_owned()),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "{}: field `{field}`: {}",
                self.fault.label(),
                self.detail
            ),
            None => write!(f, "{}: {}", self.fault.label(), self.detail),
        }
    }
}
