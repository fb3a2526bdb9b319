//! [`SecretName`]: the validated name of a secret.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The longest name accepted, in bytes. DynamoDB allows 2048 bytes in a partition
/// key; half of that leaves room for prefixes and keeps names readable.
pub const MAX_NAME_LEN: usize = 1024;

/// The name of a secret, validated once.
///
/// Rules (chosen to accept every name found in real credstash tables, such as
/// `prod.db.password`, `app/key` or `A_B-c`, while refusing what cannot be used
/// safely from a shell or a table):
/// - 1 to [`MAX_NAME_LEN`] bytes of UTF-8;
/// - no control characters (U+0000–U+001F, U+007F–U+009F);
/// - no `*`, which is the wildcard of `get` and `getall`;
/// - no leading or trailing whitespace.
///
/// Everything else, including `.`, `/`, `-`, `_`, `:`, `@`, `=` and non-ASCII
/// letters, is allowed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Validate `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let problem = if name.is_empty() {
            Some("it is empty".to_owned())
        } else if name.len() > MAX_NAME_LEN {
            Some(format!(
                "it is {} bytes long (at most {MAX_NAME_LEN})",
                name.len()
            ))
        } else if name.chars().any(char::is_control) {
            Some("it contains a control character".to_owned())
        } else if name.contains('*') {
            Some("it contains `*`, the wildcard character".to_owned())
        } else if name.trim() != name {
            Some("it starts or ends with whitespace".to_owned())
        } else {
            None
        };
        match problem {
            Some(reason) => Err(Error::InvalidName {
                name: printable(&name),
                reason,
            }),
            None => Ok(Self(name)),
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name written in the source, checked when it is made: for constants.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid name (a bug in the source, as with
    /// `HeaderName::from_static`).
    pub fn from_static(name: &'static str) -> Self {
        match Self::new(name) {
            Ok(n) => n,
            Err(e) => panic!("SecretName::from_static: {e}"),
        }
    }
}

/// A rendering of a rejected name that is safe to print (no control characters).
fn printable(name: &str) -> String {
    let mut out: String = name.chars().take(80).collect();
    if name.chars().count() > 80 {
        out.push('…');
    }
    out.escape_debug().to_string()
}

impl FromStr for SecretName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for SecretName {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for SecretName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl std::borrow::Borrow<str> for SecretName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SecretName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_found_in_credstash_tables() {
        for name in [
            "prod.db.password",
            "app/key",
            "A_B-c",
            "x",
            "service:token",
            "user@example.com",
            "a=b,c",
            "pässwort",
            "with inner space",
            &"n".repeat(MAX_NAME_LEN),
        ] {
            assert_eq!(SecretName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_unusable_names() {
        for name in [
            String::new(),
            "n".repeat(MAX_NAME_LEN + 1),
            "a\0b".into(),
            "tab\there".into(),
            "line\n".into(),
            "app/*".into(),
            " lead".into(),
            "trail ".into(),
        ] {
            let err = SecretName::new(name.clone()).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
        }
    }

    #[test]
    fn error_names_the_problem() {
        let err = SecretName::new("a*").unwrap_err().to_string();
        assert!(err.contains("wildcard"), "{err}");
    }
}
