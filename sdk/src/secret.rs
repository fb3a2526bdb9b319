//! [`SecretValue`]: secret bytes that are wiped on drop and never printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretSlice};

use crate::envelope::{ItemFormat, Metadata};
use crate::{Error, Result, SecretName, Version};

/// The value of a secret: bytes (binary and non-UTF-8 values round-trip exactly).
///
/// Zeroized on drop. No `Clone` (copies would outlive the wipe) and no `Display`;
/// `Debug` prints `SecretValue([REDACTED])`. Read it with
/// [`ExposeSecret::expose_secret`] or [`SecretValue::expose_str`].
pub struct SecretValue(SecretSlice<u8>);

impl SecretValue {
    /// Take ownership of `bytes`. The vector is moved, not copied.
    pub fn new(mut bytes: Vec<u8>) -> Self {
        if bytes.capacity() != bytes.len() {
            // `into_boxed_slice` would reallocate and free the old buffer unwiped:
            // copy to an exact-size buffer ourselves and wipe the original.
            let exact = bytes.as_slice().to_vec();
            zeroize::Zeroize::zeroize(&mut bytes);
            return Self(SecretSlice::from(exact));
        }
        Self(SecretSlice::from(bytes))
    }

    /// Copy `bytes` into a new secret. Prefer [`SecretValue::new`], which moves.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The value as UTF-8 text, if it is.
    pub fn expose_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.0.expose_secret())
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.expose_secret().len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy under a separate wipe-on-drop owner. Explicit, so copies are visible
    /// in review (a `Clone` impl would make them invisible).
    pub fn duplicate(&self) -> Self {
        Self::from_slice(self.0.expose_secret())
    }

    /// The value as a [`secrecy::SecretString`] (one copy, into another wiping
    /// owner; this one is wiped when dropped), for drivers and config types that
    /// take one. Fails, without saying anything of the value, if it is not UTF-8.
    pub fn into_secret_string(self) -> Result<secrecy::SecretString> {
        let text = self.expose_str().map_err(|_| not_utf8())?;
        Ok(secrecy::SecretString::from(text))
    }

    /// The value parsed as a `T` (a port, a duration, a URL...). The error names
    /// the type, never the value.
    pub fn parse<T: std::str::FromStr>(&self) -> Result<T> {
        self.expose_str()
            .map_err(|_| not_utf8())?
            .parse()
            .map_err(|_| Error::InvalidValue {
                reason: format!(
                    "the value does not parse as a {}",
                    std::any::type_name::<T>()
                ),
            })
    }

    /// The value as JSON, deserialized into a `T`. The error says where the
    /// document fails to match, never what it holds.
    pub fn expose_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(self.expose_secret()).map_err(|e| Error::InvalidValue {
            reason: format!(
                "the value is not the JSON expected ({} at line {}, column {})",
                match e.classify() {
                    serde_json::error::Category::Io => "unreadable",
                    serde_json::error::Category::Syntax => "not JSON",
                    serde_json::error::Category::Data => "another shape",
                    serde_json::error::Category::Eof => "cut short",
                },
                e.line(),
                e.column()
            ),
        })
    }
}

fn not_utf8() -> Error {
    Error::InvalidValue {
        reason: "the value is binary (not UTF-8) text".into(),
    }
}

impl From<SecretValue> for SecretSlice<u8> {
    /// Moves the bytes: no copy.
    fn from(value: SecretValue) -> Self {
        value.0
    }
}

impl ExposeSecret<[u8]> for SecretValue {
    fn expose_secret(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl From<Vec<u8>> for SecretValue {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<String> for SecretValue {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<&str> for SecretValue {
    fn from(s: &str) -> Self {
        Self::from_slice(s.as_bytes())
    }
}

impl PartialEq for SecretValue {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        let (a, b) = (self.expose_secret(), other.expose_secret());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

impl Eq for SecretValue {}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

/// A decrypted secret.
#[derive(Debug)]
#[non_exhaustive]
pub struct Secret {
    /// Its name.
    pub name: SecretName,
    /// Its version.
    pub version: Version,
    /// The value.
    pub value: SecretValue,
    /// The format it was stored in.
    pub format: ItemFormat,
    /// Comment and creation time, as stored (not authenticated).
    pub metadata: Metadata,
    /// Served from the cache past its TTL because the backend was unavailable
    /// ([`CacheConfig::serve_stale_for`](crate::CacheConfig::serve_stale_for)).
    pub stale: bool,
    /// The region whose table the item was read from (`None` when the store
    /// names no region, such as the in-memory one). With several regions, the
    /// first available one ([`LockboxBuilder::regions`](crate::LockboxBuilder::regions)).
    pub region: Option<String>,
    /// The region whose KMS unwrapped its data key (`None` when the key
    /// service names no region). Usually [`Secret::region`]; another with
    /// `kms_region`, or when the table and KMS of a region failed apart.
    pub kms_region: Option<String>,
}

impl Secret {
    /// The same secret holding `value` instead (a copy of its metadata).
    pub(crate) fn with_value(&self, value: SecretValue) -> Secret {
        Secret {
            name: self.name.clone(),
            version: self.version,
            value,
            format: self.format,
            metadata: self.metadata.clone(),
            stale: self.stale,
            region: self.region.clone(),
            kms_region: self.kms_region.clone(),
        }
    }

    /// The field of its value (a JSON document) that `pointer` names: a
    /// string's text, or the compact JSON of any other non-null value
    /// ([`crate::json`]). A missing member, a value that is not JSON, a binary
    /// value or `null` is [`Error::Field`] (class not found), naming the secret
    /// and the pointer, never the value.
    pub fn field(&self, pointer: &crate::JsonPointer) -> Result<SecretValue> {
        crate::json::select(&self.value, pointer).map_err(|reason| Error::Field {
            name: self.name.clone(),
            pointer: pointer.clone(),
            reason,
        })
    }

    /// Every member of its value's JSON object (or of the object at `pointer`)
    /// as a variable name starting with `prefix` and a value, sorted by name
    /// ([`crate::json::fields`]): for a fan-out into environment variables. A
    /// collision, a `null` member or a name that is not a variable fails it
    /// whole, as [`Secret::field`] fails.
    pub fn fields(
        &self,
        pointer: Option<&crate::JsonPointer>,
        prefix: &str,
    ) -> Result<Vec<(String, SecretValue)>> {
        crate::json::fields(&self.value, pointer, prefix).map_err(|reason| Error::Field {
            name: self.name.clone(),
            pointer: pointer
                .cloned()
                .unwrap_or_else(|| crate::JsonPointer::new("").expect("the root pointer")),
            reason,
        })
    }
}

/// A secret to fetch: a name and, optionally, a pinned version (un-pinned
/// otherwise: `current` when it has labels). [`Reference`](crate::Reference)
/// adds labels and JSON fields.
///
/// Written `NAME` or `NAME@VERSION` ([`Display`](std::fmt::Display) and
/// [`FromStr`](std::str::FromStr) agree, except that the latest version of a name
/// that itself ends in `@` and digits reads back as a pinned version).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    /// The name.
    pub name: SecretName,
    /// The version; `None` for the latest.
    pub version: Option<Version>,
}

impl SecretRef {
    /// The latest version of `name`.
    pub fn latest(name: SecretName) -> Self {
        Self {
            name,
            version: None,
        }
    }

    /// Version `version` of `name`.
    pub fn pinned(name: SecretName, version: Version) -> Self {
        Self {
            name,
            version: Some(version),
        }
    }
}

impl std::str::FromStr for SecretRef {
    type Err = Error;
    /// `NAME` or `NAME@VERSION` (the last `@` followed only by digits).
    fn from_str(s: &str) -> Result<Self> {
        if let Some((name, v)) = s.rsplit_once('@') {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Self::pinned(SecretName::new(name)?, v.parse()?));
            }
        }
        Ok(Self::latest(SecretName::new(s)?))
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_print_as_they_parse() {
        for text in ["prod/db", "prod/db@7", "a@b", "x@"] {
            let r: SecretRef = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        let r: SecretRef = "prod/db@0000000000000000007".parse().unwrap();
        assert_eq!(r.to_string(), "prod/db@7");
    }

    #[test]
    fn values_come_out_typed_without_showing_themselves() {
        let port = SecretValue::from("5432");
        assert_eq!(port.parse::<u16>().unwrap(), 5432);
        let err = SecretValue::from("hunter2").parse::<u16>().unwrap_err();
        assert!(err.to_string().contains("u16") && !err.to_string().contains("hunter2"));
        #[derive(Debug, serde::Deserialize)]
        struct Db {
            user: String,
        }
        let db: Db = SecretValue::from(r#"{"user":"app","password":"p"}"#)
            .expose_json()
            .unwrap();
        assert_eq!(db.user, "app");
        let err = SecretValue::from("{\"user\": hunter2}")
            .expose_json::<Db>()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let s = SecretValue::from("text").into_secret_string().unwrap();
        assert_eq!(s.expose_secret(), "text");
        assert!(SecretValue::new(vec![0xff]).into_secret_string().is_err());
        let slice: SecretSlice<u8> = SecretValue::from("raw").into();
        assert_eq!(slice.expose_secret(), b"raw");
    }

    #[test]
    fn debug_is_redacted() {
        let v = SecretValue::from("hunter2-canary");
        assert_eq!(format!("{v:?}"), "SecretValue([REDACTED])");
        assert_eq!(format!("{v:#?}"), "SecretValue([REDACTED])");
    }

    #[test]
    fn holds_any_bytes() {
        let bytes = vec![0, 159, 146, 150, 255, b'\n'];
        let v = SecretValue::new(bytes.clone());
        assert_eq!(v.expose_secret(), &bytes[..]);
        assert!(v.expose_str().is_err());
        assert_eq!(SecretValue::from("é").expose_str().unwrap(), "é");
        assert_eq!(v, v.duplicate());
        assert_ne!(v, SecretValue::from("x"));
    }
}
