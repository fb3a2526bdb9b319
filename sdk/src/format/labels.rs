//! The label document, `lockbox-labels-1`: one item per labelled secret, in the
//! secret's own partition at the sort key of the highest version
//! (`9999999999999999999`, reserved for it), so that the query every un-pinned
//! read makes (descending, limit 1) returns it first. It records the labels and
//! their revision, and carries a copy of the attributes of the version labelled
//! `current`, which stays bound to that version's name, version and store: a
//! reader opens `current` from the one answer. Layout and rationale:
//! `docs/FORMAT.md` §7.

use std::collections::BTreeMap;

use crate::format::{attr, sealed, Attr, Attributes};
use crate::label::{Label, RotationRecord, RotationState, MAX_LABELS};
use crate::{Error, Result, SecretName, Version};

/// The format id of a label document.
pub const FORMAT_ID: &str = "lockbox-labels-1";
/// What every revision of the label document's format id starts with.
pub const FORMAT_PREFIX: &str = "lockbox-labels-";
/// The sort key of a label document: the highest version's, which no version
/// may then take.
pub const SORT_KEY: &str = "9999999999999999999";
/// Revision (`N`): 1 for a new document, one more on every change.
pub const REVISION: &str = "rev";
/// The labels (`S`): `label=version` pairs, sorted by label, joined with `,`;
/// versions in unpadded decimal. Absent when there are none.
pub const LABELS: &str = "labels";
/// The token of the staged rotation recorded (`S`), with [`ROTATION_STATE`].
pub const ROTATION: &str = "rotation";
/// Where that rotation is (`S`): `pending`, `finished` or `aborted`.
pub const ROTATION_STATE: &str = "rotation_state";
/// When the labels last changed (`N`, Unix seconds; not authenticated).
pub const UPDATED_AT: &str = "updated_at";
/// The prefix of the copied attributes of the version labelled `current`
/// (`current.key`, `current.contents`, ...).
pub const COPY_PREFIX: &str = "current.";
/// The first attribute name after every name with [`COPY_PREFIX`] (`.` + 1).
const COPY_END: &str = "current/";
/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// The largest document that carries a copy (its estimated size, with room
/// for the estimate's error); a larger current version is not copied and is
/// read by its own key.
pub const MAX_DOCUMENT_WITH_COPY: usize = 380 * 1024;

/// Whether `item` is a label document (of any revision of the format): it sits
/// at [`SORT_KEY`] and its `format` starts with [`FORMAT_PREFIX`].
pub fn is_document(item: &Attributes) -> bool {
    item.get(attr::VERSION).and_then(Attr::as_s) == Some(SORT_KEY)
        && item
            .get(sealed::FORMAT)
            .and_then(Attr::as_s)
            .is_some_and(|f| f.starts_with(FORMAT_PREFIX))
}

/// A label document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelDocument {
    /// The secret.
    pub name: SecretName,
    /// Its revision (0: not stored yet).
    pub revision: u64,
    /// Each label and the version it names.
    pub labels: BTreeMap<Label, Version>,
    /// The staged rotation recorded.
    pub rotation: Option<RotationRecord>,
    /// When it last changed.
    pub updated_at: Option<u64>,
    /// The attributes of the version labelled `current`, without `name` and
    /// `version` (and without the prefix), when they fit.
    pub copy: Option<Attributes>,
}

impl LabelDocument {
    /// An empty document of `name`, not stored yet.
    pub fn new(name: SecretName) -> Self {
        Self {
            name,
            revision: 0,
            labels: BTreeMap::new(),
            rotation: None,
            updated_at: None,
            copy: None,
        }
    }

    /// Read a stored label document (or its summary projection, which lacks the
    /// copy). Anything malformed is [`Error::Integrity`] naming the attribute; a
    /// newer revision of the format is [`Error::UnsupportedFormat`].
    pub fn parse(item: &Attributes) -> Result<Self> {
        let name = match item.get(attr::NAME) {
            Some(Attr::S(s)) => SecretName::new(s.as_str())?,
            _ => return Err(Error::integrity("?", "a label document without a name")),
        };
        let bad = |reason: String| Error::integrity(&name, format!("its label document: {reason}"));
        match item.get(sealed::FORMAT).and_then(Attr::as_s) {
            Some(FORMAT_ID) => {}
            Some(other) => {
                return Err(Error::UnsupportedFormat {
                    name: name.to_string(),
                    reason: format!(
                        "its label document is in format {:?}, which this lockbox does not \
                         read (it reads {FORMAT_ID}; a newer lockbox wrote it)",
                        crate::escape_untrusted(other)
                    ),
                })
            }
            None => return Err(bad("it has no format id".into())),
        }
        if item.get(attr::VERSION).and_then(Attr::as_s) != Some(SORT_KEY) {
            return Err(bad(format!("it is not at sort key {SORT_KEY}")));
        }
        let revision = match item.get(REVISION) {
            Some(Attr::N(n)) => n
                .parse::<u64>()
                .ok()
                .filter(|r| *r >= 1)
                .ok_or_else(|| bad(format!("`{REVISION}` is not a revision from 1")))?,
            _ => return Err(bad(format!("`{REVISION}` is missing or not a number"))),
        };
        let labels = match item.get(LABELS) {
            None => BTreeMap::new(),
            Some(Attr::S(text)) => parse_labels(text).map_err(bad)?,
            Some(other) => {
                return Err(bad(format!(
                    "`{LABELS}` is {}, expected a string (S)",
                    other.type_tag()
                )))
            }
        };
        let rotation = match (item.get(ROTATION), item.get(ROTATION_STATE)) {
            (None, None) => None,
            (Some(Attr::S(token)), Some(Attr::S(state))) => Some(RotationRecord {
                token: token.clone(),
                state: RotationState::from_text(state)
                    .ok_or_else(|| bad(format!("`{ROTATION_STATE}` is not a rotation state")))?,
            }),
            _ => {
                return Err(bad(format!(
                    "`{ROTATION}` and `{ROTATION_STATE}` must be strings, both or neither"
                )))
            }
        };
        let updated_at = match item.get(UPDATED_AT) {
            Some(Attr::N(n)) => n.parse().ok(),
            _ => None,
        };
        let copy: Attributes = item
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(COPY_PREFIX)?.to_owned(), v.clone())))
            .collect();
        Ok(Self {
            name,
            revision,
            labels,
            rotation,
            updated_at,
            copy: (!copy.is_empty()).then_some(copy),
        })
    }

    /// [`LabelDocument::parse`], taking the item: the copy is moved out of it,
    /// not cloned (a read's path).
    pub fn from_item(mut item: Attributes) -> Result<Self> {
        // The copied attributes sort together: from `current.` up to `current/`.
        let mut copy = item.split_off(COPY_PREFIX);
        let after = copy.split_off(COPY_END);
        item.extend(after);
        let mut doc = Self::parse(&item)?;
        let copy: Attributes = copy
            .into_iter()
            .map(|(k, v)| (k[COPY_PREFIX.len()..].to_owned(), v))
            .collect();
        doc.copy = (!copy.is_empty()).then_some(copy);
        Ok(doc)
    }

    /// [`LabelDocument::current_item`], taking the document (no copy made).
    pub fn into_current_item(self) -> Option<Attributes> {
        let version = self.current()?;
        let mut item = self.copy?;
        item.insert(attr::NAME.into(), Attr::S(self.name.to_string()));
        item.insert(attr::VERSION.into(), Attr::S(version.sort_key()));
        Some(item)
    }

    /// The document as an item.
    pub fn to_item(&self) -> Attributes {
        let mut item = Attributes::new();
        item.insert(attr::NAME.into(), Attr::S(self.name.to_string()));
        item.insert(attr::VERSION.into(), Attr::S(SORT_KEY.into()));
        item.insert(sealed::FORMAT.into(), Attr::S(FORMAT_ID.into()));
        item.insert(REVISION.into(), Attr::N(self.revision.to_string()));
        if !self.labels.is_empty() {
            item.insert(LABELS.into(), Attr::S(labels_text(&self.labels)));
        }
        if let Some(r) = &self.rotation {
            item.insert(ROTATION.into(), Attr::S(r.token.clone()));
            item.insert(ROTATION_STATE.into(), Attr::S(r.state.as_str().into()));
        }
        if let Some(at) = self.updated_at {
            item.insert(UPDATED_AT.into(), Attr::N(at.to_string()));
        }
        if let Some(copy) = &self.copy {
            for (k, v) in copy {
                item.insert(format!("{COPY_PREFIX}{k}"), v.clone());
            }
        }
        item
    }

    /// The version labelled `current`.
    pub fn current(&self) -> Option<Version> {
        self.labels.get(&Label::CURRENT).copied()
    }

    /// The version labelled `pending`.
    pub fn pending(&self) -> Option<Version> {
        self.labels.get(&Label::PENDING).copied()
    }

    /// The item of the version labelled `current`, rebuilt from the copy (its
    /// name and version from the document: the copy's binding to them is what
    /// opening it checks).
    pub fn current_item(&self) -> Option<Attributes> {
        let version = self.current()?;
        let mut item = self.copy.clone()?;
        item.insert(attr::NAME.into(), Attr::S(self.name.to_string()));
        item.insert(attr::VERSION.into(), Attr::S(version.sort_key()));
        Some(item)
    }

    /// Copy `item` (the version labelled `current`) into the document, unless
    /// the document would then be too large for DynamoDB: `false` then, and
    /// readers read the version by its key.
    pub fn set_copy(&mut self, item: &Attributes) -> bool {
        let copy: Attributes = item
            .iter()
            .filter(|(k, _)| k.as_str() != attr::NAME && k.as_str() != attr::VERSION)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.copy = Some(copy);
        if item_size(&self.to_item()) > MAX_DOCUMENT_WITH_COPY {
            self.copy = None;
            return false;
        }
        true
    }
}

/// The labels as stored: `label=version` pairs in label order, joined with `,`.
pub fn labels_text(labels: &BTreeMap<Label, Version>) -> String {
    labels
        .iter()
        .map(|(l, v)| format!("{l}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse the stored labels; every label valid, once, naming a version below
/// [`SORT_KEY`].
pub fn parse_labels(text: &str) -> std::result::Result<BTreeMap<Label, Version>, String> {
    let mut out = BTreeMap::new();
    if text.is_empty() {
        return Ok(out);
    }
    for pair in text.split(',') {
        let (label, version) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{LABELS}` holds a pair without `=`"))?;
        let label = Label::new(label).map_err(|_| format!("`{LABELS}` holds an invalid label"))?;
        let version = version
            .parse::<u64>()
            .ok()
            .filter(|v| version.bytes().all(|b| b.is_ascii_digit()) && *v < crate::MAX_VERSION)
            .and_then(|v| Version::new(v).ok())
            .ok_or_else(|| format!("`{LABELS}` names label {label} with an invalid version"))?;
        if out.insert(label.clone(), version).is_some() {
            return Err(format!("`{LABELS}` names label {label} twice"));
        }
    }
    if out.len() > MAX_LABELS {
        return Err(format!("`{LABELS}` holds more than {MAX_LABELS} labels"));
    }
    Ok(out)
}

/// An item's size as DynamoDB counts it (attribute names plus values), close
/// enough to decide what fits: numbers are counted as their text.
pub fn item_size(item: &Attributes) -> usize {
    item.iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    Attr::S(s) | Attr::N(s) => s.len(),
                    Attr::B(b) => b.len(),
                    Attr::Ss(ss) => ss.iter().map(String::len).sum(),
                    Attr::Other(_) => 0,
                }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SecretName {
        SecretName::new("prod/db").unwrap()
    }

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    #[test]
    fn documents_round_trip_and_rebuild_the_current_item() {
        let mut doc = LabelDocument::new(name());
        doc.revision = 3;
        doc.labels.insert(Label::CURRENT, v(7));
        doc.labels.insert(Label::PREVIOUS, v(6));
        doc.labels.insert(Label::new("stable").unwrap(), v(2));
        doc.rotation = Some(RotationRecord {
            token: "t-1".into(),
            state: RotationState::Finished,
        });
        doc.updated_at = Some(1_700_000_000);
        let version_item: Attributes = [
            (attr::NAME, Attr::S("prod/db".into())),
            (attr::VERSION, Attr::S(v(7).sort_key())),
            ("format", Attr::S("lockbox-sealed-2".into())),
            ("contents", Attr::B(vec![1, 2, 3])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert!(doc.set_copy(&version_item));
        let item = doc.to_item();
        assert!(is_document(&item));
        assert!(!is_document(&version_item));
        assert_eq!(
            item.get(LABELS),
            Some(&Attr::S("current=7,previous=6,stable=2".into()))
        );
        assert_eq!(item.get("current.contents"), Some(&Attr::B(vec![1, 2, 3])));
        let back = LabelDocument::parse(&item).unwrap();
        assert_eq!(back, doc);
        assert_eq!(back.current_item().unwrap(), version_item);
        let mut taken = item.clone();
        taken.insert("current-other".into(), Attr::S("not a copy".into()));
        taken.insert("currentz".into(), Attr::S("nor this".into()));
        let moved = LabelDocument::from_item(taken).unwrap();
        assert_eq!(moved.copy, doc.copy);
        assert_eq!(moved.into_current_item().unwrap(), version_item);
    }

    #[test]
    fn malformed_documents_are_refused_naming_what_is_wrong() {
        let mut doc = LabelDocument::new(name());
        doc.revision = 1;
        doc.labels.insert(Label::CURRENT, v(1));
        let good = doc.to_item();
        let with = |k: &str, val: Option<Attr>| {
            let mut item = good.clone();
            match val {
                Some(val) => item.insert(k.to_owned(), val),
                None => item.remove(k),
            };
            LabelDocument::parse(&item).unwrap_err()
        };
        for (k, val, want) in [
            (REVISION, None, "rev"),
            (REVISION, Some(Attr::N("0".into())), "rev"),
            (REVISION, Some(Attr::S("1".into())), "rev"),
            (LABELS, Some(Attr::S("current".into())), "without `=`"),
            (LABELS, Some(Attr::S("Current=1".into())), "invalid label"),
            (LABELS, Some(Attr::S("current=1,current=2".into())), "twice"),
            (LABELS, Some(Attr::S("current=0".into())), "invalid version"),
            (
                LABELS,
                Some(Attr::S("current=+1".into())),
                "invalid version",
            ),
            (
                LABELS,
                Some(Attr::S(format!("current={}", crate::MAX_VERSION))),
                "invalid version",
            ),
            (LABELS, Some(Attr::B(vec![])), "expected a string"),
            (ROTATION, Some(Attr::S("t".into())), "both or neither"),
            ("version", Some(Attr::S(v(5).sort_key())), "sort key"),
        ] {
            let err = with(k, val);
            assert_eq!(err.kind(), crate::ErrorKind::Integrity, "{k}");
            assert!(err.to_string().contains(want), "{k}: {err}");
        }
        let newer = with("format", Some(Attr::S("lockbox-labels-2".into())));
        assert!(matches!(newer, Error::UnsupportedFormat { .. }), "{newer}");
    }

    #[test]
    fn a_copy_that_would_not_fit_is_left_out() {
        let mut doc = LabelDocument::new(name());
        doc.revision = 1;
        doc.labels.insert(Label::CURRENT, v(1));
        let mut big = Attributes::new();
        big.insert("contents".into(), Attr::B(vec![0; MAX_DOCUMENT_WITH_COPY]));
        assert!(!doc.set_copy(&big));
        assert!(doc.copy.is_none() && doc.current_item().is_none());
        assert!(item_size(&doc.to_item()) < 200);
    }
}
