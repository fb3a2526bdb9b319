//! [`EncryptionContext`]: the `key=value` pairs bound to a secret.

use std::collections::BTreeMap;
use std::fmt;

use crate::Error;

/// Context keys starting with this prefix are reserved for the pairs lockbox
/// binds itself (the secret's name, version and format).
pub const RESERVED_PREFIX: &str = "lockbox-";

/// Whether `key` uses the reserved prefix in any letter case, Unicode's included
/// (`LOC\u{212A}BOX-NAME`, with a Kelvin sign, lowercases to `lockbox-name`).
pub(crate) fn is_reserved(key: &str) -> bool {
    key.to_lowercase().starts_with(RESERVED_PREFIX)
}

/// Key-value pairs bound to a secret, sent to KMS as its `EncryptionContext`.
///
/// A sorted map (by the keys' UTF-8 bytes) with one canonical byte encoding, used
/// as GCM associated data. Credstash users know these as the trailing
/// `key=value` arguments of `put`/`get`; like credstash, lockbox needs the same
/// context to read a secret as was given to write it.
///
/// Context pairs are not secret (KMS logs them to CloudTrail), so `Debug` shows them.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a user pair. Keys must be non-empty and must not use the reserved
    /// `lockbox-` prefix.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), Error> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::InvalidContext {
                reason: "a context key is empty".into(),
            });
        }
        if is_reserved(&key) {
            return Err(Error::InvalidContext {
                reason: format!(
                    "context key {key:?} uses the prefix {RESERVED_PREFIX:?}, which lockbox reserves"
                ),
            });
        }
        // Keys that differ only in case make a case-insensitive IAM condition on
        // one of them ambiguous (AWS advises against them).
        let folded = key.to_lowercase();
        if let Some(other) = self
            .0
            .keys()
            .find(|k| **k != key && k.to_lowercase() == folded)
        {
            return Err(Error::InvalidContext {
                reason: format!(
                    "context keys {other:?} and {key:?} differ only in letter case; IAM \
                     conditions cannot tell them apart"
                ),
            });
        }
        self.0.insert(key, value.into());
        Ok(())
    }

    /// Add a pair without the reserved-prefix check (for the pairs lockbox binds).
    pub(crate) fn insert_reserved(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    /// Parse credstash-style `key=value` arguments. Each must split on its first
    /// `=` into a non-empty key and a value.
    pub fn from_pairs<I, S>(pairs: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut ctx = Self::new();
        for pair in pairs {
            let pair = pair.as_ref();
            let Some((k, v)) = pair.split_once('=') else {
                // The text is not repeated: without `=` it may well be a value
                // typed where a pair goes.
                return Err(Error::InvalidContext {
                    reason: "a context pair has no `=`: each is KEY=VALUE".into(),
                });
            };
            if ctx.0.contains_key(k) {
                return Err(Error::InvalidContext {
                    reason: format!("context key {k:?} is given twice"),
                });
            }
            ctx.insert(k, v)?;
        }
        Ok(ctx)
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs as a map, as the AWS SDK takes them.
    pub fn to_map(&self) -> std::collections::HashMap<String, String> {
        self.0.clone().into_iter().collect()
    }

    /// The canonical encoding: a big-endian `u32` pair count, then for each pair
    /// in key order the key and the value, each as a big-endian `u32` byte length
    /// followed by its UTF-8 bytes. Unambiguous: no two contexts share an encoding.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            4 + self
                .0
                .iter()
                .map(|(k, v)| 8 + k.len() + v.len())
                .sum::<usize>(),
        );
        out.extend_from_slice(&len_u32(self.0.len()).to_be_bytes());
        for (k, v) in &self.0 {
            for part in [k, v] {
                out.extend_from_slice(&len_u32(part.len()).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

fn len_u32(n: usize) -> u32 {
    // Contexts come from a DynamoDB item (400 KB) or a command line: never near 4 GiB.
    u32::try_from(n).expect("context length fits in u32")
}

impl fmt::Debug for EncryptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for EncryptionContext {
    /// `k1=v1 k2=v2`, as the command line takes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_reserved_prefix_in_any_letter_case_and_case_twins_are_refused() {
        let mut c = EncryptionContext::new();
        for key in [
            "lockbox-name",
            "LOCKBOX-NAME",
            "Lockbox-x",
            "LOC\u{212A}BOX-NAME",
        ] {
            assert!(c.insert(key, "v").is_err(), "{key:?}");
        }
        c.insert("env", "prod").unwrap();
        let err = c.insert("Env", "dev").unwrap_err();
        assert!(
            err.to_string().contains("differ only in letter case"),
            "{err}"
        );
        c.insert("env", "staging").unwrap();
        assert_eq!(c.get("env"), Some("staging"));
    }
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        let mut c = EncryptionContext::new();
        for (k, v) in pairs {
            c.insert(*k, *v).unwrap();
        }
        c
    }

    #[test]
    fn encoding_is_sorted_and_length_prefixed() {
        let c = ctx(&[("b", "2"), ("a", "1")]);
        assert_eq!(
            c.canonical_bytes(),
            [
                &[0, 0, 0, 2][..],
                &[0, 0, 0, 1],
                b"a",
                &[0, 0, 0, 1],
                b"1",
                &[0, 0, 0, 1],
                b"b",
                &[0, 0, 0, 1],
                b"2"
            ]
            .concat()
        );
        assert_eq!(EncryptionContext::new().canonical_bytes(), [0, 0, 0, 0]);
    }

    #[test]
    fn boundaries_are_unambiguous() {
        let pairs = [
            ctx(&[("ab", "c")]),
            ctx(&[("a", "bc")]),
            ctx(&[("a", "b"), ("c", "")]),
            ctx(&[("a=b", "c")]),
            ctx(&[("a", "b=c")]),
            ctx(&[("a,b", "c")]),
            ctx(&[("a\0", "bc")]),
            ctx(&[("a", "\0bc")]),
        ];
        for (i, x) in pairs.iter().enumerate() {
            for (j, y) in pairs.iter().enumerate() {
                assert_eq!(
                    i == j,
                    x.canonical_bytes() == y.canonical_bytes(),
                    "{x:?} vs {y:?}"
                );
            }
        }
    }

    #[test]
    fn parses_credstash_pairs() {
        let c = EncryptionContext::from_pairs(["env=prod", "app=a=b", "empty="]).unwrap();
        assert_eq!(c.get("env"), Some("prod"));
        assert_eq!(c.get("app"), Some("a=b"));
        assert_eq!(c.get("empty"), Some(""));
        assert_eq!(c.to_string(), "app=a=b empty= env=prod");
        for bad in ["novalue", "=v"] {
            assert!(EncryptionContext::from_pairs([bad]).is_err(), "{bad}");
        }
        assert!(EncryptionContext::from_pairs(["a=1", "a=2"]).is_err());
    }

    #[test]
    fn reserved_prefix_is_refused() {
        assert!(EncryptionContext::from_pairs(["lockbox-name=x"]).is_err());
        assert!(EncryptionContext::from_pairs(["Lockbox-Name=x"]).is_err());
    }
}
