//! [`Version`]: the version number of a secret, and its DynamoDB sort key.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Width of the zero-padded sort key (credstash's `PAD_LEN`).
pub const SORT_KEY_WIDTH: usize = 19;

/// The largest version: the largest number with [`SORT_KEY_WIDTH`] digits.
pub const MAX_VERSION: u64 = 9_999_999_999_999_999_999;

/// A secret's version: a positive integer that fits the 19-digit sort key.
///
/// Versions are stored as the decimal number left-padded with `0` to 19
/// characters (`1` is stored as `0000000000000000001`), so DynamoDB's string order
/// is numeric order. Tables written by credstash before December 2015 hold
/// unpadded versions (`1`, `2`, `10`); [`Version::from_sort_key`] accepts those
/// too, and readers order versions by number, never by string.
///
/// Version `0` cannot be written by lockbox, but credstash's `putall` and its
/// library default write it, so it can be read.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u64);

impl Version {
    /// The first version of a secret.
    pub const FIRST: Version = Version(1);

    /// A version to write: 1 to [`MAX_VERSION`].
    pub fn new(n: u64) -> Result<Self, Error> {
        if n == 0 || n > MAX_VERSION {
            return Err(Error::InvalidVersion {
                version: n.to_string(),
                reason: format!("versions are whole numbers from 1 to {MAX_VERSION}"),
            });
        }
        Ok(Self(n))
    }

    /// Parse a stored sort key: the padded form, an unpadded legacy form, or `0`.
    pub fn from_sort_key(key: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidVersion {
            version: key.escape_debug().to_string(),
            reason: reason.to_owned(),
        };
        if key.is_empty() || key.len() > SORT_KEY_WIDTH {
            return Err(bad("a stored version is 1 to 19 decimal digits"));
        }
        if !key.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("a stored version holds only decimal digits"));
        }
        key.parse::<u64>()
            .map(Self)
            .map_err(|_| bad("not a number"))
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The next version, if there is one.
    pub fn next(self) -> Result<Self, Error> {
        Self::new(self.0.saturating_add(1))
    }

    /// The DynamoDB sort key: the number left-padded with `0` to 19 characters.
    pub fn sort_key(self) -> String {
        format!("{:0width$}", self.0, width = SORT_KEY_WIDTH)
    }

    /// Whether `key` is in the canonical padded form (as opposed to a legacy form).
    pub fn is_canonical_sort_key(key: &str) -> bool {
        key.len() == SORT_KEY_WIDTH && key.bytes().all(|b| b.is_ascii_digit())
    }
}

impl FromStr for Version {
    type Err = Error;
    /// Parse a version typed by a user: a positive number, padded or not.
    fn from_str(s: &str) -> Result<Self, Error> {
        let v = Self::from_sort_key(s.trim())?;
        Self::new(v.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_key_is_padded_to_19() {
        assert_eq!(Version::new(1).unwrap().sort_key(), "0000000000000000001");
        assert_eq!(Version::new(42).unwrap().sort_key(), "0000000000000000042");
        assert_eq!(
            Version::new(MAX_VERSION).unwrap().sort_key(),
            "9999999999999999999"
        );
    }

    #[test]
    fn reads_padded_and_legacy_forms() {
        for (key, n) in [
            ("0000000000000000001", 1),
            ("1", 1),
            ("10", 10),
            ("0000000000000000000", 0),
            ("007", 7),
        ] {
            assert_eq!(Version::from_sort_key(key).unwrap().get(), n, "{key}");
        }
        for key in [
            "",
            "v5",
            "00000000000000000v5",
            "-1",
            "1.0",
            "99999999999999999999",
        ] {
            assert!(Version::from_sort_key(key).is_err(), "{key}");
        }
    }

    #[test]
    fn legacy_versions_order_numerically() {
        let mut keys = vec!["2", "10", "0000000000000000003", "1"];
        keys.sort_by_key(|k| Version::from_sort_key(k).unwrap());
        assert_eq!(keys, ["1", "2", "0000000000000000003", "10"]);
    }

    #[test]
    fn writes_need_a_positive_version() {
        assert!(Version::new(0).is_err());
        assert!(Version::new(MAX_VERSION + 1).is_err());
        assert!("0".parse::<Version>().is_err());
        assert_eq!("12".parse::<Version>().unwrap().get(), 12);
        assert!(Version::new(MAX_VERSION).unwrap().next().is_err());
    }

    #[test]
    fn canonical_form_is_recognised() {
        assert!(Version::is_canonical_sort_key("0000000000000000001"));
        assert!(!Version::is_canonical_sort_key("1"));
        assert!(!Version::is_canonical_sort_key("00000000000000000v5"));
    }
}
