//! Pinned test vectors for the sealed formats, `lockbox-sealed-2` (written today)
//! and `lockbox-sealed-1` (read during a migration window), in `docs/FORMAT.md`.
//!
//! This file is the source of truth: `docs/FORMAT.md` copies its values. Every
//! vector uses the data key `00 01 .. 1f` and a counting RNG (byte `s`, `s+1`,
//! ..., wrapping), from which `seal` draws the 32-byte salt and then the 12-byte
//! nonce. The expected values were also computed independently with Python's
//! `cryptography` package (HKDF, AESGCM); the script is in `docs/FORMAT.md`.
//!
//! `fail_*` tests are negative vectors: each alters one thing of a
//! `lockbox-sealed-2` item and must be refused.

use lockbox::backend::DataKey;
use lockbox::envelope::{
    self, Attr, Attributes, Envelope, ItemFormat, Metadata, Sealing, WriteFormat,
};
use lockbox::format::sealed::{self, Revision};
use lockbox::{EncryptionContext, Error, ExposeSecret, SecretName, Version};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// A deterministic "RNG" yielding `start, start+1, ...` (wrapping). For vectors only.
struct CountingRng(u8);

impl RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// Not cryptographically secure: the trait bound is satisfied for test vectors only.
impl CryptoRng for CountingRng {}

/// The data key of every vector: bytes 00..1f.
fn data_key() -> Vec<u8> {
    (0u8..32).collect()
}

struct Vector {
    /// The store identity (`lockbox-sealed-2`); `None` for a `lockbox-sealed-1` vector.
    store: Option<&'static str>,
    name: &'static str,
    version: u64,
    context: &'static [(&'static str, &'static str)],
    /// Hex; spaces allowed.
    plaintext: &'static str,
    rng_start: u8,
    wrapped_key: &'static [u8],
    comment: Option<&'static str>,
    created_at: Option<u64>,
    // Expected (hex).
    aad: &'static str,
    salt: &'static str,
    nonce: &'static str,
    commitment: &'static str,
    contents: &'static str,
}

/// `lockbox-sealed-1`: the first revision, which binds no store.
const VECTORS_V1: [Vector; 3] = [
    // 1: an empty value, no user context.
    Vector {
        store: None,
        name: "empty",
        version: 1,
        context: &[],
        plaintext: "",
        rng_start: 0x40,
        wrapped_key: b"test-blob-1",
        comment: None,
        created_at: None,
        aad: "00000003\
              0000000e 6c6f636b626f782d666f726d6174 00000010 6c6f636b626f782d7365616c65642d31\
              0000000c 6c6f636b626f782d6e616d65 00000005 656d707479\
              0000000f 6c6f636b626f782d76657273696f6e 00000001 31",
        salt: "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
        nonce: "606162636465666768696a6b",
        commitment: "8311c99e47e6e8d43b2c778ed6262b276fe00c00b29cf1b769cb70953d9813a2",
        contents: "9ca9521402fd35751ac5bf8d2a3aaad3",
    },
    // 2: a UTF-8 value with one context pair, a comment and a creation time.
    Vector {
        store: None,
        name: "prod/db/password",
        version: 42,
        context: &[("env", "prod")],
        plaintext: "68756e7465723220 70c3a47373 77c3b672 6420e29c93", // "hunter2 pässwörd ✓"
        rng_start: 0x70,
        wrapped_key: b"test-blob-2",
        comment: Some("primary database"),
        created_at: Some(1_700_000_000),
        aad: "00000004\
              00000003 656e76 00000004 70726f64\
              0000000e 6c6f636b626f782d666f726d6174 00000010 6c6f636b626f782d7365616c65642d31\
              0000000c 6c6f636b626f782d6e616d65 00000010 70726f642f64622f70617373776f7264\
              0000000f 6c6f636b626f782d76657273696f6e 00000002 3432",
        salt: "707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f",
        nonce: "909192939495969798999a9b",
        commitment: "c33a40da242fafc6bd7c75b8ebee5b608fa7fd6f55c55fd7d3556165e0e9ebec",
        contents: "b01cdd54281156dbfc0cb11db7ef1a7cabd1b48b07ddaa47c40a29b0d1f08ebafc1aaccb9c6c",
    },
    // 3: a binary (non-UTF-8) value, three context pairs around the reserved ones,
    // and the largest version.
    Vector {
        store: None,
        name: "app.tls-key",
        version: 9_999_999_999_999_999_999,
        context: &[("app", "billing"), ("env", "prod"), ("region", "eu-west-1")],
        plaintext: "00ff800ac328fe0d0a1b",
        rng_start: 0xa0,
        wrapped_key: b"test-blob-3",
        comment: None,
        created_at: None,
        aad: "00000006\
              00000003 617070 00000007 62696c6c696e67\
              00000003 656e76 00000004 70726f64\
              0000000e 6c6f636b626f782d666f726d6174 00000010 6c6f636b626f782d7365616c65642d31\
              0000000c 6c6f636b626f782d6e616d65 0000000b 6170702e746c732d6b6579\
              0000000f 6c6f636b626f782d76657273696f6e 00000013 39393939393939393939393939393939393939\
              00000006 726567696f6e 00000009 65752d776573742d31",
        salt: "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
        nonce: "c0c1c2c3c4c5c6c7c8c9cacb",
        commitment: "45da70469ebb4e5b4df51d4cfa040ccb976fe9bd7006c84d95180c4897d70147",
        contents: "188843826b291518c819adc06f79ada4d69aed97f67db638ccf0",
    },
];

/// `lockbox-sealed-2`: the same inputs, each sealed for a store, and vector 4,
/// whose non-ASCII context keys sort differently in UTF-8 (the canonical order)
/// and in UTF-16 (Java's and JavaScript's string order).
const VECTORS: [Vector; 4] = [
    Vector {
        store: Some("000000000000/credential-store"),
        name: "empty",
        version: 1,
        context: &[],
        plaintext: "",
        rng_start: 0x40,
        wrapped_key: b"test-blob-1",
        comment: None,
        created_at: None,
        aad: "00000004\
              0000000e 6c6f636b626f782d666f726d6174 00000010 6c6f636b626f782d7365616c65642d32\
              0000000c 6c6f636b626f782d6e616d65 00000005 656d707479\
              0000000d 6c6f636b626f782d73746f7265\
              0000001d 3030303030303030303030302f63726564656e7469616c2d73746f7265\
              0000000f 6c6f636b626f782d76657273696f6e 00000001 31",
        salt: "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
        nonce: "606162636465666768696a6b",
        commitment: "75add17fc15c2a3a8e314bc1615fc42ae328d77c5eed43ceaf4514738f6dc626",
        contents: "fc5292b240feb907c5593c84b41f37a8",
    },
    Vector {
        store: Some("111122223333/prod-secrets"),
        name: "prod/db/password",
        version: 42,
        context: &[("env", "prod")],
        plaintext: "68756e7465723220 70c3a47373 77c3b672 6420e29c93", // "hunter2 pässwörd ✓"
        rng_start: 0x70,
        wrapped_key: b"test-blob-2",
        comment: Some("primary database"),
        created_at: Some(1_700_000_000),
        aad: "00000005\
              00000003 656e76 00000004 70726f64\
              0000000e 6c6f636b626f782d666f726d6174 00000010 6c6f636b626f782d7365616c65642d32\
              0000000c 6c6f636b626f782d6e616d65 00000010 70726f642f64622f70617373776f7264\
              0000000d 6c6f636b626f782d73746f7265\
              00000019 3131313132323232333333332f70726f642d73656372657473\
              0000000f 6c6f636b626f782d76657273696f6e 00000002 3432",
        salt: "707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f",
        nonce: "909192939495969798999a9b",
        commitment: "52520744185efbc090417c31a59e4129599fd915f2c81c44db42b3291cc5941f",
        contents: "5e7766f37508bddc2690642cc8f770b8dfcd1b0a1634ee143775e8767c96676e303e22c307fc",
    },
    Vector {
        store: Some("111122223333/credential-store"),
        name: "app.tls-key",
        version: 9_999_999_999_999_999_999,
        context: &[("app", "billing"), ("env", "prod"), ("region", "eu-west-1")],
        plaintext: "00ff800ac328fe0d0a1b",
        rng_start: 0xa0,
        wrapped_key: b"test-blob-3",
        comment: None,
        created_at: None,
        aad: "00000007\
              00000003 617070 00000007 62696c6c696e67\
              00000003 656e76 00000004 70726f64\
              0000000e 6c6f636b626f782d666f726d6174 00000010 6c6f636b626f782d7365616c65642d32\
              0000000c 6c6f636b626f782d6e616d65 0000000b 6170702e746c732d6b6579\
              0000000d 6c6f636b626f782d73746f7265\
              0000001d 3131313132323232333333332f63726564656e7469616c2d73746f7265\
              0000000f 6c6f636b626f782d76657273696f6e 00000013 39393939393939393939393939393939393939\
              00000006 726567696f6e 00000009 65752d776573742d31",
        salt: "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
        nonce: "c0c1c2c3c4c5c6c7c8c9cacb",
        commitment: "ad3cb8732795c10c2fda67acf86df0f1094af3b096c70cd4f797a34bfc02b57a",
        contents: "61c00665a6a53ae79acb2c0dc1e63b160e4843b2b61247ff5551",
    },
    // 4: a non-ASCII (NFC) name; context keys é (U+00E9), ｡ (U+FF61) and 😀
    // (U+1F600), which UTF-8 orders é, ｡, 😀 and UTF-16 é, 😀, ｡; an empty
    // value and a value holding `=`.
    Vector {
        store: Some("111122223333/credential-store"),
        name: "prod/p\u{e4}sswort",
        version: 7,
        context: &[("\u{e9}", ""), ("\u{ff61}", "a=b"), ("\u{1f600}", "c")],
        plaintext: "c3bc3d6f6b", // "ü=ok"
        rng_start: 0xd0,
        wrapped_key: b"test-blob-4",
        comment: None,
        created_at: None,
        aad: "00000007\
              0000000e 6c6f636b626f782d666f726d6174 00000010 6c6f636b626f782d7365616c65642d32\
              0000000c 6c6f636b626f782d6e616d65 0000000e 70726f642f70c3a47373776f7274\
              0000000d 6c6f636b626f782d73746f7265\
              0000001d 3131313132323232333333332f63726564656e7469616c2d73746f7265\
              0000000f 6c6f636b626f782d76657273696f6e 00000001 37\
              00000002 c3a9 00000000\
              00000003 efbda1 00000003 613d62\
              00000004 f09f9880 00000001 63",
        salt: "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef",
        nonce: "f0f1f2f3f4f5f6f7f8f9fafb",
        commitment: "87f0176d377a47f75c585e5fae232cb0ea7bc2934809a6129327f25257f07fb2",
        contents: "c0615db61e72ba23d847a20257d1f758e027e15bb5",
    },
];

/// Every vector of both revisions.
fn all_vectors() -> impl Iterator<Item = &'static Vector> {
    VECTORS_V1.iter().chain(VECTORS.iter())
}

/// Hex with spaces allowed (for readability in the table above).
fn unhex(s: &str) -> Vec<u8> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(compact).expect("valid hex in a vector")
}

impl Vector {
    fn name(&self) -> SecretName {
        SecretName::new(self.name).unwrap()
    }
    fn version(&self) -> Version {
        Version::new(self.version).unwrap()
    }
    fn context(&self) -> EncryptionContext {
        let mut ctx = EncryptionContext::new();
        for (k, v) in self.context {
            ctx.insert(*k, *v).unwrap();
        }
        ctx
    }
    fn plaintext(&self) -> Vec<u8> {
        unhex(self.plaintext)
    }
    fn revision(&self) -> Revision {
        match self.store {
            Some(_) => Revision::V2,
            None => Revision::V1,
        }
    }
    fn binding_context(&self) -> EncryptionContext {
        let name = self.name();
        sealed::Binding {
            revision: self.revision(),
            name: &name,
            version: self.version(),
            store: self.store,
        }
        .context(&self.context())
        .unwrap()
    }
    fn metadata(&self) -> Metadata {
        Metadata {
            comment: self.comment.map(str::to_owned),
            created_at: self.created_at,
        }
    }

    /// The complete item the vector pins, built from the expected values.
    fn expected_item(&self) -> Attributes {
        let mut item = Attributes::new();
        let s = |v: &str| Attr::S(v.to_owned());
        let b = |v: &str| Attr::B(unhex(v));
        item.insert("name".into(), s(self.name));
        item.insert("version".into(), s(&format!("{:019}", self.version)));
        item.insert("format".into(), s(self.revision().format_id()));
        if let Some(store) = self.store {
            item.insert("store".into(), s(store));
        }
        item.insert("key".into(), Attr::B(self.wrapped_key.to_vec()));
        item.insert("salt".into(), b(self.salt));
        item.insert("nonce".into(), b(self.nonce));
        item.insert("commitment".into(), b(self.commitment));
        item.insert("contents".into(), b(self.contents));
        if !self.context.is_empty() {
            let mut keys: Vec<String> = self.context.iter().map(|(k, _)| (*k).to_owned()).collect();
            keys.sort();
            item.insert("context_keys".into(), Attr::Ss(keys));
        }
        if let Some(c) = self.comment {
            item.insert("comment".into(), s(c));
        }
        if let Some(t) = self.created_at {
            item.insert("created_at".into(), Attr::N(t.to_string()));
        }
        item
    }

    fn sealing<'a>(
        &'a self,
        name: &'a SecretName,
        context: &'a EncryptionContext,
        metadata: &'a Metadata,
    ) -> Sealing<'a> {
        Sealing {
            format: match self.revision() {
                Revision::V1 => WriteFormat::SealedV1,
                Revision::V2 => WriteFormat::Sealed,
            },
            name,
            version: self.version(),
            context,
            store: self.store,
            metadata,
        }
    }

    fn seal(&self) -> Attributes {
        let (name, context, metadata) = (self.name(), self.context(), self.metadata());
        let key = DataKey {
            plaintext: Zeroizing::new(data_key()),
            wrapped: self.wrapped_key.to_vec(),
            key_id: None,
        };
        envelope::seal_with_rng(
            &envelope::data_key_request(&self.sealing(&name, &context, &metadata)).unwrap(),
            &self.plaintext(),
            &key,
            &mut CountingRng(self.rng_start),
        )
        .unwrap()
    }
}

/// The read path as a reader runs it, minus KMS: parse, compute the KMS context,
/// then open with `key` (what KMS would have returned).
fn read(item: &Attributes, context: &EncryptionContext, key: &[u8]) -> lockbox::Result<Vec<u8>> {
    let env = Envelope::parse(item)?;
    let kms = env.kms_context(context)?;
    Ok(env.open(&kms, key)?.expose_secret().to_vec())
}

fn expect_integrity(result: lockbox::Result<Vec<u8>>, reason_contains: &str) {
    match result {
        Err(Error::Integrity { reason, .. }) => {
            assert!(
                reason.contains(reason_contains),
                "{reason:?} lacks {reason_contains:?}"
            )
        }
        other => panic!("expected an integrity error ({reason_contains}), got {other:?}"),
    }
}

/// Vector 2 of the current revision, which the negative vectors alter.
fn v2() -> &'static Vector {
    &VECTORS[1]
}

/// Flip bit 0 of byte `index` (negative: from the end) of binary attribute `attr`.
fn flip(item: &Attributes, attr: &str, index: isize) -> Attributes {
    let mut item = item.clone();
    let Some(Attr::B(bytes)) = item.get_mut(attr) else {
        panic!("{attr} is not binary")
    };
    let i = if index < 0 {
        bytes.len() - index.unsigned_abs()
    } else {
        index as usize
    };
    bytes[i] ^= 1;
    item
}

#[test]
fn vectors_seal_to_the_pinned_bytes() {
    for v in all_vectors() {
        assert_eq!(v.seal(), v.expected_item(), "vector {}", v.name);
    }
}

#[test]
fn vectors_open_to_their_plaintext() {
    for v in all_vectors() {
        let item = v.expected_item();
        let env = Envelope::parse(&item).unwrap();
        assert_eq!(env.format(), ItemFormat::Sealed);
        assert_eq!(env.sealed_revision(), Some(v.revision()));
        assert_eq!(env.store(), v.store);
        assert_eq!(env.name(), &v.name());
        assert_eq!(env.version(), v.version());
        assert_eq!(env.wrapped_key(), v.wrapped_key);
        assert_eq!(env.metadata(), &v.metadata());
        let mut keys: Vec<&str> = v.context.iter().map(|(k, _)| *k).collect();
        keys.sort();
        assert_eq!(env.context_keys().unwrap(), keys);
        assert_eq!(
            read(&item, &v.context(), &data_key()).unwrap(),
            v.plaintext(),
            "vector {}",
            v.name
        );
    }
}

#[test]
fn vectors_aad_is_the_canonical_binding_context() {
    for v in all_vectors() {
        let binding = v.binding_context();
        assert_eq!(binding.canonical_bytes(), unhex(v.aad), "vector {}", v.name);
        let (name, context, metadata) = (v.name(), v.context(), v.metadata());
        let request = envelope::data_key_request(&v.sealing(&name, &context, &metadata)).unwrap();
        assert_eq!(request.bytes(), 32);
        assert_eq!(request.context(), &binding);
        let env = Envelope::parse(&v.expected_item()).unwrap();
        assert_eq!(env.kms_context(&v.context()).unwrap(), binding);
    }
}

#[test]
fn vectors_metadata_is_not_authenticated() {
    let mut item = v2().expected_item();
    item.insert("comment".into(), Attr::S("edited".into()));
    item.insert("created_at".into(), Attr::N("1".into()));
    item.insert("unknown".into(), Attr::S("ignored".into()));
    assert_eq!(
        read(&item, &v2().context(), &data_key()).unwrap(),
        v2().plaintext()
    );
    item.remove("comment");
    item.remove("created_at");
    assert_eq!(
        read(&item, &v2().context(), &data_key()).unwrap(),
        v2().plaintext()
    );
}

#[test]
fn fail_flipped_bit_in_contents() {
    let item = flip(&v2().expected_item(), "contents", 0);
    expect_integrity(
        read(&item, &v2().context(), &data_key()),
        "GCM authentication tag",
    );
}

#[test]
fn fail_flipped_bit_in_tag() {
    let item = flip(&v2().expected_item(), "contents", -1);
    expect_integrity(
        read(&item, &v2().context(), &data_key()),
        "GCM authentication tag",
    );
}

#[test]
fn fail_flipped_bit_in_salt() {
    let item = flip(&v2().expected_item(), "salt", 5);
    expect_integrity(read(&item, &v2().context(), &data_key()), "commitment");
}

#[test]
fn fail_flipped_bit_in_nonce() {
    let item = flip(&v2().expected_item(), "nonce", 11);
    expect_integrity(
        read(&item, &v2().context(), &data_key()),
        "GCM authentication tag",
    );
}

#[test]
fn fail_flipped_bit_in_commitment() {
    let item = flip(&v2().expected_item(), "commitment", 31);
    expect_integrity(read(&item, &v2().context(), &data_key()), "commitment");
}

#[test]
fn fail_wrong_name() {
    let mut item = v2().expected_item();
    item.insert("name".into(), Attr::S("prod/db/password2".into()));
    let env = Envelope::parse(&item).unwrap();
    // KMS would already refuse: the context it is asked for names the new place.
    assert_ne!(
        env.kms_context(&v2().context()).unwrap(),
        v2().binding_context()
    );
    expect_integrity(read(&item, &v2().context(), &data_key()), "commitment");
}

#[test]
fn fail_wrong_version() {
    for version in [
        "0000000000000000043",
        "0000000000000000041",
        "42",
        "0000000000000000000",
    ] {
        let mut item = v2().expected_item();
        item.insert("version".into(), Attr::S(version.into()));
        let result = read(&item, &v2().context(), &data_key());
        match version {
            // Another sort key for the same number is refused when parsing.
            "42" | "0000000000000000000" => expect_integrity(result, "padded to 19 digits"),
            _ => expect_integrity(result, "commitment"),
        }
    }
}

#[test]
fn fail_wrong_store() {
    // An item sealed for one store, copied into another and relabeled to it.
    let mut item = v2().expected_item();
    item.insert("store".into(), Attr::S("111122223333/staging".into()));
    let env = Envelope::parse(&item).unwrap();
    assert_ne!(
        env.kms_context(&v2().context()).unwrap(),
        v2().binding_context()
    );
    expect_integrity(read(&item, &v2().context(), &data_key()), "commitment");
    for bad in [
        Attr::S(String::new()),
        Attr::S("has space".into()),
        Attr::B(b"111122223333/prod-secrets".to_vec()),
    ] {
        let mut item = v2().expected_item();
        item.insert("store".into(), bad);
        expect_integrity(read(&item, &v2().context(), &data_key()), "`store`");
    }
    let mut item = v2().expected_item();
    item.remove("store");
    expect_integrity(read(&item, &v2().context(), &data_key()), "is missing");
}

#[test]
fn fail_relabeled_revision() {
    // A sealed-2 item relabeled sealed-1 (which binds no store), and a sealed-1
    // item relabeled sealed-2 with a store added: the binding and the HKDF labels
    // both differ, so the commitment fails.
    let mut item = v2().expected_item();
    item.insert("format".into(), Attr::S("lockbox-sealed-1".into()));
    expect_integrity(read(&item, &v2().context(), &data_key()), "commitment");
    let old = &VECTORS_V1[1];
    let mut item = old.expected_item();
    item.insert("format".into(), Attr::S("lockbox-sealed-2".into()));
    item.insert("store".into(), Attr::S("111122223333/prod-secrets".into()));
    expect_integrity(read(&item, &old.context(), &data_key()), "commitment");
}

#[test]
fn fail_wrong_context_value() {
    let ctx = EncryptionContext::from_pairs(["env=dev"]).unwrap();
    expect_integrity(read(&v2().expected_item(), &ctx, &data_key()), "commitment");
}

#[test]
fn fail_wrong_context_keys() {
    for pairs in [&[][..], &["stage=prod"][..], &["env=prod", "app=x"][..]] {
        let ctx = EncryptionContext::from_pairs(pairs).unwrap();
        match read(&v2().expected_item(), &ctx, &data_key()) {
            Err(Error::ContextMismatch { stored_keys, .. }) => {
                assert_eq!(stored_keys, Some(vec!["env".to_owned()]))
            }
            other => panic!("{pairs:?}: {other:?}"),
        }
    }
    // Stored keys altered to match a wrong caller: the AAD still differs.
    let mut item = v2().expected_item();
    item.insert("context_keys".into(), Attr::Ss(vec!["stage".into()]));
    let ctx = EncryptionContext::from_pairs(["stage=prod"]).unwrap();
    expect_integrity(read(&item, &ctx, &data_key()), "commitment");
    // Stored keys removed: the reader must still give the context it was sealed with.
    let mut item = v2().expected_item();
    item.remove("context_keys");
    expect_integrity(
        read(&item, &EncryptionContext::new(), &data_key()),
        "commitment",
    );
}

#[test]
fn fail_truncated_field() {
    for (attr, len, reason) in [
        ("salt", 31, "is 31 bytes, expected 32"),
        ("nonce", 11, "is 11 bytes, expected 12"),
        ("commitment", 16, "is 16 bytes, expected 32"),
        ("contents", 15, "shorter than the 16-byte tag"),
        ("key", 0, "expected 1 to 6144"),
    ] {
        let mut item = v2().expected_item();
        let Some(Attr::B(bytes)) = item.get_mut(attr) else {
            panic!()
        };
        bytes.truncate(len);
        expect_integrity(read(&item, &v2().context(), &data_key()), reason);
    }
    // Cut inside the ciphertext, keeping a whole "tag": the tag check fails.
    let mut item = v2().expected_item();
    let Some(Attr::B(bytes)) = item.get_mut("contents") else {
        panic!()
    };
    bytes.remove(0);
    expect_integrity(
        read(&item, &v2().context(), &data_key()),
        "GCM authentication tag",
    );
}

/// Over-long fields are refused when parsing. `salt ‖ 00` matters most: HMAC pads a
/// short key with zeros, so HKDF-Extract gives the same PRK for it, and a reader
/// that did not check the salt's length would open a modified item.
#[test]
fn fail_overlong_field() {
    for (attr, extra, reason) in [
        ("salt", 1, "is 33 bytes, expected 32"),
        ("salt", 32, "is 64 bytes, expected 32"),
        ("nonce", 1, "is 13 bytes, expected 12"),
        ("commitment", 1, "is 33 bytes, expected 32"),
    ] {
        let mut item = v2().expected_item();
        let Some(Attr::B(bytes)) = item.get_mut(attr) else {
            panic!()
        };
        bytes.extend(std::iter::repeat_n(0u8, extra));
        expect_integrity(read(&item, &v2().context(), &data_key()), reason);
    }
    // One byte appended to `contents` moves the tag: the GCM check fails.
    let mut item = v2().expected_item();
    let Some(Attr::B(bytes)) = item.get_mut("contents") else {
        panic!()
    };
    bytes.push(0);
    expect_integrity(
        read(&item, &v2().context(), &data_key()),
        "GCM authentication tag",
    );
}

/// A tag cut from the end (the tag length is fixed at 16, never taken from the
/// data) fails the GCM check.
#[test]
fn fail_tag_cut_from_the_end() {
    for cut in [1, 4, 15] {
        let mut item = v2().expected_item();
        let Some(Attr::B(bytes)) = item.get_mut("contents") else {
            panic!()
        };
        bytes.truncate(bytes.len() - cut);
        let left = bytes.len();
        let result = read(&item, &v2().context(), &data_key());
        if left < 16 {
            expect_integrity(result, "shorter than the 16-byte tag");
        } else {
            expect_integrity(result, "GCM authentication tag");
        }
    }
}

#[test]
fn fail_missing_or_mistyped_field() {
    for attr in ["key", "salt", "nonce", "commitment", "contents"] {
        let mut item = v2().expected_item();
        item.remove(attr);
        expect_integrity(read(&item, &v2().context(), &data_key()), "is missing");
        let mut item = v2().expected_item();
        let Some(Attr::B(bytes)) = item.remove(attr) else {
            panic!()
        };
        item.insert(attr.into(), Attr::S(hex::encode(bytes)));
        expect_integrity(
            read(&item, &v2().context(), &data_key()),
            "expected binary (B)",
        );
    }
}

#[test]
fn fail_unknown_format_id() {
    for id in [
        "lockbox-sealed-3",
        "LOCKBOX-SEALED-2",
        "",
        "lockbox-sealed-2 ",
    ] {
        let mut item = v2().expected_item();
        item.insert("format".into(), Attr::S(id.into()));
        match Envelope::parse(&item) {
            Err(Error::UnsupportedFormat { name, reason }) => {
                assert_eq!(name, "prod/db/password");
                assert!(reason.contains(&format!("{id:?}")), "{reason}");
            }
            other => panic!("{id:?}: {other:?}"),
        }
    }
}

#[test]
fn fail_no_format_id() {
    let mut item = v2().expected_item();
    item.remove("format");
    assert!(matches!(
        Envelope::parse(&item),
        Err(Error::UnsupportedFormat { .. })
    ));
}

#[test]
fn fail_wrong_data_key() {
    // Refused by the commitment, before any decryption is attempted.
    let mut key = data_key();
    key[0] ^= 1;
    expect_integrity(
        read(&v2().expected_item(), &v2().context(), &key),
        "nothing was decrypted",
    );
    for len in [16, 31, 33, 64] {
        expect_integrity(
            read(&v2().expected_item(), &v2().context(), &vec![0; len]),
            "data key",
        );
    }
}

#[test]
fn fail_swapped_contents_between_items() {
    // The body of one item under another item's name, version and salt.
    let mut item = VECTORS[2].expected_item();
    item.insert("contents".into(), v2().expected_item()["contents"].clone());
    expect_integrity(
        read(&item, &VECTORS[2].context(), &data_key()),
        "GCM authentication tag",
    );
}

/// `docs/FORMAT.md` copies these vectors; this keeps the copy true. Every pinned
/// value must appear in it, and every long hex string in it must be (part of) a
/// value pinned here or by the unit tests named below.
#[test]
fn format_md_agrees_with_these_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md");
    let doc = std::fs::read_to_string(path).expect("docs/FORMAT.md");
    let compact = |s: &str| -> String { s.chars().filter(|c| !c.is_whitespace()).collect() };
    let mut known: Vec<String> = Vec::new();
    for v in all_vectors() {
        for value in [
            v.aad,
            v.salt,
            v.nonce,
            v.commitment,
            v.contents,
            v.plaintext,
        ] {
            known.push(compact(value));
        }
        known.push(hex::encode(v.wrapped_key));
    }
    for value in &known {
        if !value.is_empty() {
            assert!(doc.contains(value.as_str()), "docs/FORMAT.md lacks {value}");
        }
    }
    // Pinned elsewhere: the PRK and GCM keys of vector 2 (format::sealed unit test
    // `derivation_matches_the_worked_example_in_format_md`) and the credstash
    // HMACs and counter block (format::credstash unit tests).
    known.extend(
        [
            "c854f4132686456f5fd7985cfd5bac0a9c0d75fa4e8081bfda59bf6938148f3b",
            "02d23e68bdb4d1cf3b4ac497419d4b7bebc046794c0027af8e0f5ad1c7bcd09b",
            "a3f5a004cd55800ac1febb827e10e3f2862161d7cf2f556627d7a84c6f379da0",
            "204b74697e95dee822aac2cf277c090740202a50a81da08046f6bb7d18a98ea5",
            "87d53c1b7241ef3913ed678575eb3d26ddb6b0cc502ed8a0d09134de4ba394731f2e20bbfb934b69747019f7e6a2eb0fa8011cfa4cfe5e1cc6a86bc948d861ae",
            "00000000000000000000000000000001",
        ]
        .map(str::to_owned),
    );
    let mut run = String::new();
    for c in doc.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            run.push(c);
            continue;
        }
        if run.len() >= 24 {
            assert!(
                known.iter().any(|k| k.contains(run.as_str())),
                "docs/FORMAT.md has hex no test pins: {run}"
            );
        }
        run.clear();
    }
}
