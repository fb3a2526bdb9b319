//! Version labels: names for versions of a secret. Three have a meaning of
//! their own: `current` (what an un-pinned read returns), `pending` (staged by a
//! rotation, never returned by an un-pinned read) and `previous` (where
//! `current` was before it last moved); any other label is the user's.
//! [`Labels`] is what a secret records; moving one is
//! [`Lockbox::set_label`](crate::Lockbox::set_label).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::{Error, Result, SecretName, Version};

/// The longest label, in bytes.
pub const MAX_LABEL_LEN: usize = 64;

/// The most labels one secret may carry.
pub const MAX_LABELS: usize = 32;

/// A label: a letter, then letters, digits, `-` and `_` (at most
/// [`MAX_LABEL_LEN`] bytes), compared as written (case-sensitive).
///
/// `latest` is not a label (an un-pinned reference is written without `@`),
/// and the three labels with a meaning are lower case: `Current` or `PENDING`
/// are refused rather than taken for another label.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(Cow<'static, str>);

impl Label {
    /// `current`: the version an un-pinned read returns.
    pub const CURRENT: Label = Label(Cow::Borrowed("current"));
    /// `pending`: a version staged by a rotation; un-pinned reads never return it.
    pub const PENDING: Label = Label(Cow::Borrowed("pending"));
    /// `previous`: where `current` was before it last moved.
    pub const PREVIOUS: Label = Label(Cow::Borrowed("previous"));

    /// The label `text`, validated.
    pub fn new(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        let bad = |reason: String| Error::InvalidValue {
            reason: format!(
                "{:?} is not a label: {reason}",
                crate::escape_untrusted(&text)
            ),
        };
        if !is_label_like(&text) {
            return Err(bad(format!(
                "a label is a letter followed by letters, digits, `-` or `_`, at most \
                 {MAX_LABEL_LEN} bytes"
            )));
        }
        if text.eq_ignore_ascii_case("latest") {
            return Err(bad(
                "`latest` is what a reference without a label reads; leave the label out".into(),
            ));
        }
        for reserved in [Self::CURRENT, Self::PENDING, Self::PREVIOUS] {
            if text.eq_ignore_ascii_case(reserved.as_str()) && text != reserved.as_str() {
                return Err(bad(format!(
                    "labels are case-sensitive, and `{reserved}` is written in lower case"
                )));
            }
        }
        Ok(match text.as_str() {
            "current" => Self::CURRENT,
            "pending" => Self::PENDING,
            "previous" => Self::PREVIOUS,
            _ => Self(Cow::Owned(text)),
        })
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `current`, `pending` or `previous`, which lockbox moves
    /// by its own rules.
    pub fn is_reserved(&self) -> bool {
        *self == Self::CURRENT || *self == Self::PENDING || *self == Self::PREVIOUS
    }
}

/// Whether `text` has a label's shape (what a reference reads after `@` as a
/// label rather than as part of the name).
pub(crate) fn is_label_like(text: &str) -> bool {
    let mut bytes = text.bytes();
    text.len() <= MAX_LABEL_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", &*self.0)
    }
}

impl std::str::FromStr for Label {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

/// The labels of one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Labels {
    /// The secret.
    pub name: SecretName,
    /// The label document's revision: 0 when the secret has none (no labels),
    /// one more after every change. Moves are conditional on it.
    pub revision: u64,
    /// Each label and the version it names.
    pub labels: BTreeMap<Label, Version>,
    /// The staged rotation recorded, if any (in progress, or the last one).
    pub rotation: Option<RotationRecord>,
    /// When the labels last changed (Unix seconds; not authenticated).
    pub updated_at: Option<u64>,
    /// Whether `current` and `previous` are derived from the versions rather
    /// than recorded: in a table shared with credstash, `current` is always the
    /// highest version (what credstash reads) and `previous` the one below it.
    pub derived: bool,
}

impl Labels {
    /// No labels for `name`.
    pub(crate) fn none(name: SecretName) -> Self {
        Self {
            name,
            revision: 0,
            labels: BTreeMap::new(),
            rotation: None,
            updated_at: None,
            derived: false,
        }
    }

    /// The version `label` names.
    pub fn get(&self, label: &Label) -> Option<Version> {
        self.labels.get(label).copied()
    }

    /// The version labelled `current`.
    pub fn current(&self) -> Option<Version> {
        self.get(&Label::CURRENT)
    }

    /// The version labelled `pending`.
    pub fn pending(&self) -> Option<Version> {
        self.get(&Label::PENDING)
    }

    /// The version labelled `previous`.
    pub fn previous(&self) -> Option<Version> {
        self.get(&Label::PREVIOUS)
    }

    /// The labels naming `version`, in label order.
    pub fn of(&self, version: Version) -> Vec<Label> {
        self.labels
            .iter()
            .filter(|(_, v)| **v == version)
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// Whether the secret has no labels.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Where a label must be for a move to go ahead; otherwise the move fails with
/// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) and changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LabelCondition {
    /// Wherever the move finds it when it starts: if it moves before the move is
    /// written (another operator's move), this one fails. Of two concurrent
    /// movers of one label, exactly one wins.
    #[default]
    AsFound,
    /// Only if the secret does not carry the label.
    Absent,
    /// Only if the label names this version.
    At(Version),
}

/// What a label move did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LabelMove {
    /// The labels afterwards.
    pub labels: Labels,
    /// Each label that changed: `(label, from, to)` (`None`: absent).
    pub moved: Vec<(Label, Option<Version>, Option<Version>)>,
}

impl LabelMove {
    /// Whether anything changed (`false`: the labels already were as asked, and
    /// nothing was written).
    pub fn changed(&self) -> bool {
        !self.moved.is_empty()
    }
}

/// The staged rotation a secret records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationRecord {
    /// The token it was started with (the caller's, or one lockbox drew).
    pub token: String,
    /// Where it is.
    pub state: RotationState,
}

/// Where a staged rotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RotationState {
    /// Started: the new value is stored and labelled `pending`.
    Pending,
    /// Finished: `pending` became `current`.
    Finished,
    /// Aborted: `pending` was removed.
    Aborted,
}

impl RotationState {
    /// `pending`, `finished` or `aborted`.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationState::Pending => "pending",
            RotationState::Finished => "finished",
            RotationState::Aborted => "aborted",
        }
    }

    pub(crate) fn from_text(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(RotationState::Pending),
            "finished" => Some(RotationState::Finished),
            "aborted" => Some(RotationState::Aborted),
            _ => None,
        }
    }
}

impl fmt::Display for RotationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_have_one_shape_and_reserved_ones_one_spelling() {
        for ok in [
            "current",
            "pending",
            "previous",
            "stable",
            "blue-green",
            "v2_a",
            "A",
        ] {
            assert_eq!(Label::new(ok).unwrap().as_str(), ok);
        }
        assert_eq!(Label::new("current").unwrap(), Label::CURRENT);
        assert!(Label::CURRENT.is_reserved() && !Label::new("stable").unwrap().is_reserved());
        let long = "a".repeat(MAX_LABEL_LEN + 1);
        for bad in [
            "",
            "7",
            "-a",
            "a b",
            "a.b",
            "é",
            "latest",
            "LATEST",
            "Current",
            long.as_str(),
        ] {
            let err = Label::new(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{bad}");
        }
        assert!(Label::new("Current")
            .unwrap_err()
            .to_string()
            .contains("lower case"));
    }
}
