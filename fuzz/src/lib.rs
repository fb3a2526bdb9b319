//! Shared pieces of the fuzz targets: arbitrary table items.

use arbitrary::Arbitrary;
use lockbox::envelope::{Attr, Attributes};

/// The attribute names the formats read, so most generated items look like items.
pub const KNOWN: [&str; 13] = [
    "name",
    "version",
    "format",
    "key",
    "salt",
    "nonce",
    "commitment",
    "contents",
    "context_keys",
    "comment",
    "created_at",
    "hmac",
    "digest",
];

/// An attribute name: one the formats know, or any.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzName {
    /// An index into [`KNOWN`].
    Known(u8),
    /// Any name.
    Other(String),
}

impl FuzzName {
    /// The name.
    pub fn get(&self) -> String {
        match self {
            FuzzName::Known(i) => KNOWN[usize::from(*i) % KNOWN.len()].to_owned(),
            FuzzName::Other(s) => s.clone(),
        }
    }
}

/// An attribute value of any type the SDK models.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzAttr {
    /// `S`.
    S(String),
    /// `S` holding a format id that parses (`lockbox-sealed-1`).
    SealedId,
    /// `S` holding a canonical version sort key.
    SortKey(u64),
    /// `B`.
    B(Vec<u8>),
    /// `N`.
    N(String),
    /// `SS`.
    Ss(Vec<String>),
    /// Another type tag.
    Other(String),
}

impl FuzzAttr {
    /// The SDK's value.
    pub fn get(&self) -> Attr {
        match self {
            FuzzAttr::S(s) => Attr::S(s.clone()),
            FuzzAttr::SealedId => Attr::S("lockbox-sealed-1".to_owned()),
            FuzzAttr::SortKey(n) => Attr::S(format!("{:019}", n % 10_000_000_000_000_000_000)),
            FuzzAttr::B(b) => Attr::B(b.clone()),
            FuzzAttr::N(n) => Attr::N(n.clone()),
            FuzzAttr::Ss(v) => Attr::Ss(v.clone()),
            FuzzAttr::Other(t) => Attr::Other(t.clone()),
        }
    }
}

/// A whole item.
pub fn item(attrs: &[(FuzzName, FuzzAttr)]) -> Attributes {
    attrs.iter().map(|(n, a)| (n.get(), a.get())).collect()
}
