//! [`Reference`]: which secret, which of its versions, and optionally which field
//! of its JSON value, in one string:
//!
//! ```text
//! [lockbox://]NAME[@VERSION | @LABEL][#JSON-POINTER]
//! ```
//!
//! - `VERSION` is digits (`prod/db@7`); `LABEL` a label (`prod/db@previous`,
//!   see [`Label`]); neither: the version an un-pinned read returns (`current`
//!   when the secret has labels, the highest version otherwise).
//! - `JSON-POINTER` is an RFC 6901 pointer in URI-fragment form
//!   (`prod/db#/password`, `prod/db@7#/users/0/name`, `%XX` escapes decoded).
//! - In `NAME`, `%XX` escapes are decoded (UTF-8). A name that contains `#` or
//!   `%`, or whose last `@` is followed by what reads as a version or a label,
//!   must be written with that character escaped (`%23`, `%25`, `%40`):
//!   `user@example.com` is a name, `deploy@stable` is label `stable` of
//!   `deploy`, and the secret named `deploy@stable` is `deploy%40stable`.
//!   [`Reference`]'s `Display` escapes exactly what needs it, so printing and
//!   parsing agree.

use std::fmt;
use std::str::FromStr;

use crate::json::JsonPointer;
use crate::label::{is_label_like, Label};
use crate::{Error, Result, SecretName, SecretRef, Version};

/// The scheme of a reference written as a URI (`lockbox://prod/db#/password`).
pub const REFERENCE_SCHEME: &str = "lockbox://";

/// Which version of a secret a reference reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Selector {
    /// Un-pinned: the version labelled `current` when the secret has labels, the
    /// highest version otherwise; never a `pending` one.
    #[default]
    Latest,
    /// Exactly this version.
    Version(Version),
    /// The version this label names.
    Label(Label),
}

impl fmt::Display for Selector {
    /// `latest`, the version number, or the label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Latest => f.write_str("latest"),
            Selector::Version(v) => write!(f, "{v}"),
            Selector::Label(l) => write!(f, "{l}"),
        }
    }
}

/// A secret, one of its versions, and optionally a field of its JSON value.
///
/// Parsed from and printed as `NAME[@VERSION|@LABEL][#POINTER]` (module
/// documentation); [`Reference::from_uri`] and [`Reference::to_uri`] add the
/// `lockbox://` scheme. `parse(print(r)) == r` for every reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Reference {
    /// The secret.
    pub name: SecretName,
    /// Which version.
    pub selector: Selector,
    /// A field of the value (a JSON document), or the whole value.
    pub pointer: Option<JsonPointer>,
}

impl Reference {
    /// The un-pinned version of `name`.
    pub fn latest(name: SecretName) -> Self {
        Self {
            name,
            selector: Selector::Latest,
            pointer: None,
        }
    }

    /// Version `version` of `name`.
    pub fn version(name: SecretName, version: Version) -> Self {
        Self {
            name,
            selector: Selector::Version(version),
            pointer: None,
        }
    }

    /// The version of `name` that `label` names.
    pub fn label(name: SecretName, label: Label) -> Self {
        Self {
            name,
            selector: Selector::Label(label),
            pointer: None,
        }
    }

    /// The same secret and version, reading the field `pointer` names.
    pub fn with_pointer(mut self, pointer: JsonPointer) -> Self {
        self.pointer = Some(pointer);
        self
    }

    /// Parse `lockbox://NAME[@VERSION|@LABEL][#POINTER]` (the scheme required).
    pub fn from_uri(uri: &str) -> Result<Self> {
        match uri.strip_prefix(REFERENCE_SCHEME) {
            Some(rest) => rest.parse(),
            None => Err(Error::InvalidValue {
                reason: format!(
                    "{:?} is not a lockbox reference: it does not start with {REFERENCE_SCHEME}",
                    crate::escape_untrusted(uri)
                ),
            }),
        }
    }

    /// The reference as a URI: `lockbox://` and its text.
    pub fn to_uri(&self) -> String {
        format!("{REFERENCE_SCHEME}{self}")
    }

    /// The secret and version, without the pointer: what is fetched.
    pub fn secret(&self) -> (SecretName, Selector) {
        (self.name.clone(), self.selector.clone())
    }

    /// `text` read as a plain secret name, when that is not what the reference
    /// grammar reads it as (`a@b` is label `b` of `a` as a reference, but could
    /// be the name of an existing secret in a credstash table; likewise names
    /// holding `#` or `%`). For a caller that warns, or falls back to the
    /// literal name while references written before the grammar are migrated.
    pub fn literal_name(text: &str) -> Option<SecretName> {
        let literal = SecretName::new(text).ok()?;
        match text.parse::<Reference>() {
            Ok(r) if r.name == literal && r.selector == Selector::Latest && r.pointer.is_none() => {
                None
            }
            _ => Some(literal),
        }
    }
}

impl From<SecretRef> for Reference {
    fn from(r: SecretRef) -> Self {
        match r.version {
            Some(v) => Self::version(r.name, v),
            None => Self::latest(r.name),
        }
    }
}

impl FromStr for Reference {
    type Err = Error;

    /// `NAME[@VERSION|@LABEL][#POINTER]`, without the scheme.
    fn from_str(s: &str) -> Result<Self> {
        let (head, pointer) = match s.split_once('#') {
            Some((head, fragment)) => {
                let pointer = JsonPointer::from_fragment(fragment)?;
                if pointer.is_root() {
                    return Err(Error::InvalidValue {
                        reason: format!(
                            "{:?}: an empty pointer after `#` names the whole value; leave \
                             the `#` out",
                            crate::escape_untrusted(s)
                        ),
                    });
                }
                (head, Some(pointer))
            }
            None => (s, None),
        };
        let (name, selector) = match head.rsplit_once('@') {
            Some((name, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                (name, Selector::Version(v.parse()?))
            }
            Some((name, l)) if is_label_like(l) => (name, Selector::Label(Label::new(l)?)),
            _ => (head, Selector::Latest),
        };
        let decoded = crate::text::percent_decode(name).map_err(|reason| Error::InvalidName {
            name: crate::escape_untrusted(name).into_owned(),
            reason: format!("in a reference, {reason}"),
        })?;
        Ok(Self {
            name: SecretName::new(decoded)?,
            selector,
            pointer,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_str();
        // Only the last `@` of a name can be read as a selector, and only when
        // no selector follows it.
        let last_at = match self.selector {
            Selector::Latest => name.rfind('@').filter(|&i| {
                let rest = &name[i + 1..];
                (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
                    || is_label_like(rest)
            }),
            _ => None,
        };
        for (i, c) in name.char_indices() {
            match c {
                '%' => f.write_str("%25")?,
                '#' => f.write_str("%23")?,
                '@' if Some(i) == last_at => f.write_str("%40")?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        match &self.selector {
            Selector::Latest => {}
            Selector::Version(v) => write!(f, "@{v}")?,
            Selector::Label(l) => write!(f, "@{l}")?,
        }
        if let Some(p) = &self.pointer {
            write!(f, "#{}", p.to_fragment())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Reference {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn name(s: &str) -> SecretName {
        SecretName::new(s).unwrap()
    }

    #[test]
    fn the_grammar_reads_versions_labels_and_pointers() {
        assert_eq!(r("prod/db"), Reference::latest(name("prod/db")));
        assert_eq!(
            r("prod/db@7"),
            Reference::version(name("prod/db"), Version::new(7).unwrap())
        );
        assert_eq!(
            r("prod/db@previous"),
            Reference::label(name("prod/db"), Label::PREVIOUS)
        );
        let with = r("prod/db@pending#/users/0/pass~1word");
        assert_eq!(with.selector, Selector::Label(Label::PENDING));
        assert_eq!(
            with.pointer.as_ref().unwrap().tokens(),
            ["users", "0", "pass/word"]
        );
        // Names with `@` that do not read as a selector stay names.
        assert_eq!(r("user@example.com").name.as_str(), "user@example.com");
        assert_eq!(r("x@").name.as_str(), "x@");
        assert_eq!(r("a@b.c@3").name.as_str(), "a@b.c");
        // Escapes.
        assert_eq!(r("deploy%40stable").name.as_str(), "deploy@stable");
        assert_eq!(r("a%23b%25c#/x").name.as_str(), "a#b%c");
        assert_eq!(
            Reference::from_uri("lockbox://prod/db@current#/host").unwrap(),
            r("prod/db@current#/host")
        );
    }

    #[test]
    fn bad_references_are_usage_errors() {
        for bad in [
            "db@0",
            "db@latest",
            "db@Current",
            "db#",
            "db#x",
            "db#/%zz",
            "a%2",
            "a%ff",
            "",
            "a*b",
        ] {
            let err = bad.parse::<Reference>().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Usage, "{bad}: {err}");
        }
        assert!(Reference::from_uri("prod/db").is_err());
    }

    #[test]
    fn references_print_as_they_parse() {
        let names = [
            "prod/db",
            "a@b",
            "a@7",
            "user@example.com",
            "x@",
            "100%",
            "a#b",
            "%40",
            "pässwort@stable",
            "a@b@c",
            "lockbox://x",
        ];
        let selectors = [
            Selector::Latest,
            Selector::Version(Version::new(12).unwrap()),
            Selector::Label(Label::new("stable").unwrap()),
        ];
        let pointers = [None, Some("/a b/c~1d/é#%"), Some("/")];
        for n in names {
            for s in &selectors {
                for p in pointers {
                    let reference = Reference {
                        name: name(n),
                        selector: s.clone(),
                        pointer: p.map(|p| JsonPointer::new(p).unwrap()),
                    };
                    let text = reference.to_string();
                    assert_eq!(r(&text), reference, "{text}");
                    assert_eq!(Reference::from_uri(&reference.to_uri()).unwrap(), reference);
                }
            }
        }
        assert_eq!(r("a%40b").to_string(), "a%40b");
        assert_eq!(
            Reference::latest(name("user@example.com")).to_string(),
            "user@example.com"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_reference_prints_as_it_parses(
            n in "[a-z@#%/. é0-9]{0,6}[a-z@#%é0-9]",
            sel in 0u8..3,
            v in 1u64..1000,
            l in "[a-z][a-z0-9_-]{0,5}",
            p in proptest::option::of("(/[a-z ~#%é@]{0,4}){1,3}"),
        ) {
            let Ok(name) = SecretName::new(n) else { return Ok(()) };
            let selector = match sel {
                0 => Selector::Latest,
                1 => Selector::Version(Version::new(v).unwrap()),
                _ => match Label::new(l) {
                    Ok(l) => Selector::Label(l),
                    Err(_) => return Ok(()),
                },
            };
            let pointer = p
                .map(|p| p.replace("~", "~0"))
                .map(|p| JsonPointer::new(p).unwrap());
            let reference = Reference { name, selector, pointer };
            let text = reference.to_string();
            proptest::prop_assert_eq!(text.parse::<Reference>().unwrap(), reference, "{}", text);
        }
    }

    #[test]
    fn literal_names_are_offered_where_the_grammar_reads_otherwise() {
        assert_eq!(Reference::literal_name("a@b"), Some(name("a@b")));
        assert_eq!(Reference::literal_name("a#b"), Some(name("a#b")));
        assert_eq!(Reference::literal_name("100%"), Some(name("100%")));
        assert_eq!(Reference::literal_name("prod/db"), None);
        assert_eq!(Reference::literal_name("user@example.com"), None);
        assert_eq!(Reference::literal_name("a*"), None);
    }

    #[test]
    fn secret_refs_convert() {
        let pinned = SecretRef::pinned(name("a"), Version::new(3).unwrap());
        assert_eq!(
            Reference::from(pinned).selector,
            Selector::Version(Version::new(3).unwrap())
        );
        assert_eq!(
            Reference::from(SecretRef::latest(name("a"))).selector,
            Selector::Latest
        );
    }
}
