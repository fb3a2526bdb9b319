//! The name and version parsers. Names: an accepted name displays as itself and
//! parses back equal, and accepted names obey the documented rules. Versions:
//! a user-typed version that parses displays and parses back equal; its sort key
//! is 19 digits, canonical, and parses back equal; sort-key order is numeric
//! order; `from_sort_key` never panics and accepts exactly 1-19 ASCII digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox::{SecretName, Version, MAX_NAME_LEN, MAX_VERSION, SORT_KEY_WIDTH};

fuzz_target!(|input: (String, String, u64, u64)| {
    let (text, key, n, m) = input;

    if let Ok(name) = SecretName::new(text.as_str()) {
        assert_eq!(name.to_string(), text);
        assert_eq!(name.to_string().parse::<SecretName>().unwrap(), name);
        assert!(!text.is_empty() && text.len() <= MAX_NAME_LEN);
        assert!(!text.contains('*') && !text.chars().any(char::is_control));
        assert_eq!(text.trim(), text);
    }

    match text.parse::<Version>() {
        Ok(v) => {
            assert_eq!(v.to_string().parse::<Version>().unwrap(), v);
            assert_eq!(Version::from_sort_key(&v.sort_key()).unwrap(), v);
            assert!(Version::is_canonical_sort_key(&v.sort_key()));
            assert!(v.get() >= 1 && v.get() <= MAX_VERSION);
        }
        Err(_) => {}
    }

    let accepted = Version::from_sort_key(&key);
    let digits =
        !key.is_empty() && key.len() <= SORT_KEY_WIDTH && key.bytes().all(|b| b.is_ascii_digit());
    assert_eq!(accepted.is_ok(), digits, "from_sort_key({key:?})");
    if let Ok(v) = accepted {
        assert_eq!(v.get(), key.parse::<u64>().unwrap());
    }

    match (Version::new(n), Version::new(m)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.sort_key().len(), SORT_KEY_WIDTH);
            assert_eq!(a.sort_key().cmp(&b.sort_key()), a.cmp(&b));
            assert_eq!(a.to_string().parse::<Version>().unwrap(), a);
        }
        (a, _) => assert_eq!(a.is_ok(), (1..=MAX_VERSION).contains(&n)),
    }
});
