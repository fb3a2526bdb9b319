//! Item formats: how a secret is laid out in a table item.
//!
//! An item is a map of attributes ([`Attributes`]), independent of the backend
//! that stores it. Every item describes its own format; [`crate::envelope`]
//! detects it per item.

pub mod credstash;
pub mod labels;
pub mod sealed;

use std::collections::BTreeMap;

/// One attribute value, with the DynamoDB types lockbox reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// A string (`S`).
    S(String),
    /// Binary (`B`).
    B(Vec<u8>),
    /// A number (`N`), in DynamoDB's decimal text form.
    N(String),
    /// A string set (`SS`), kept sorted.
    Ss(Vec<String>),
    /// Any other DynamoDB type, by its type tag (`BOOL`, `L`, `M`, ...): readers
    /// ignore unknown attributes, but an expected attribute of this type is an error.
    Other(String),
}

impl Attr {
    /// The DynamoDB type tag (`S`, `B`, `N`, `SS`, ...).
    pub fn type_tag(&self) -> &str {
        match self {
            Attr::S(_) => "S",
            Attr::B(_) => "B",
            Attr::N(_) => "N",
            Attr::Ss(_) => "SS",
            Attr::Other(tag) => tag,
        }
    }

    /// The string, if this is an `S`.
    pub fn as_s(&self) -> Option<&str> {
        match self {
            Attr::S(s) => Some(s),
            _ => None,
        }
    }
}

/// The attributes of one table item, by name.
pub type Attributes = BTreeMap<String, Attr>;

/// Attribute names shared by every format.
pub mod attr {
    /// Partition key: the secret name (`S`).
    pub const NAME: &str = "name";
    /// Sort key: the zero-padded version (`S`).
    pub const VERSION: &str = "version";
    /// Free-text comment (`S`), optional, not authenticated.
    pub const COMMENT: &str = "comment";
    /// Creation time in Unix seconds (`N`), optional, not authenticated.
    pub const CREATED_AT: &str = "created_at";
}
