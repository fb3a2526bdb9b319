//! The encryption context's canonical encoding (the AAD and commitment input of
//! sealed items): it decodes back to the same pairs (so it round-trips), and two
//! different contexts never share an encoding (injective). For contexts without
//! `=` in a key, credstash-style `key=value` arguments round-trip through
//! `from_pairs`, and `from_pairs` never panics on any arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockbox::EncryptionContext;

/// A strict decoder of the documented encoding (`docs/FORMAT.md` §3.2).
fn decode(mut bytes: &[u8]) -> Vec<(String, String)> {
    fn u32be(bytes: &mut &[u8]) -> usize {
        let (n, rest) = bytes.split_at(4);
        *bytes = rest;
        u32::from_be_bytes(n.try_into().unwrap()) as usize
    }
    fn text(bytes: &mut &[u8]) -> String {
        let n = u32be(bytes);
        let (s, rest) = bytes.split_at(n);
        *bytes = rest;
        String::from_utf8(s.to_vec()).expect("UTF-8")
    }
    let count = u32be(&mut bytes);
    let pairs: Vec<_> = (0..count)
        .map(|_| (text(&mut bytes), text(&mut bytes)))
        .collect();
    assert!(bytes.is_empty(), "trailing bytes after the last pair");
    pairs
}

fn build(pairs: &[(String, String)]) -> EncryptionContext {
    let mut c = EncryptionContext::new();
    for (k, v) in pairs {
        let _ = c.insert(k.as_str(), v.as_str());
    }
    c
}

fuzz_target!(
    |input: (Vec<(String, String)>, Vec<(String, String)>, Vec<String>)| {
        let (a, b, args) = input;
        let (a, b) = (build(&a), build(&b));
        let (ea, eb) = (a.canonical_bytes(), b.canonical_bytes());

        let pairs: Vec<(String, String)> = a.iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(
            decode(&ea),
            pairs,
            "the encoding does not decode to the pairs"
        );
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "pairs not in key order"
        );
        assert_eq!(
            a == b,
            ea == eb,
            "two contexts, one encoding (or one context, two)"
        );

        if a.keys().all(|k| !k.contains('=')) {
            let args: Vec<String> = a.iter().map(|(k, v)| format!("{k}={v}")).collect();
            assert_eq!(EncryptionContext::from_pairs(&args).unwrap(), a);
        }
        if let Ok(c) = EncryptionContext::from_pairs(&args) {
            assert_eq!(c.len(), args.len());
            assert_eq!(decode(&c.canonical_bytes()).len(), c.len());
        }
    }
);
