//! The lockbox sealed format, `lockbox-sealed-1`: AES-256-GCM under an HKDF-derived
//! key, with a stored commitment to the data key and the item's binding context.
//!
//! The binding context is the user's encryption context plus three reserved pairs
//! naming the format, the secret and the version. It is the KMS
//! `EncryptionContext` of the data key and, in its canonical encoding, the GCM
//! associated data and part of the commitment; so an item copied under another
//! name or version, or read with another context, fails before anything is
//! decrypted. Every byte is described in `docs/FORMAT.md`.

use aes_gcm::aead::{Aead, AeadInPlace, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Attr, Attributes};
use crate::{EncryptionContext, Error, Result, SecretName, SecretValue, Version, RESERVED_PREFIX};

/// The format id, stored in [`FORMAT`] and bound as [`CONTEXT_FORMAT`].
pub const FORMAT_ID: &str = "lockbox-sealed-1";

/// Attribute `format` (`S`): the format id.
pub const FORMAT: &str = "format";
/// Attribute `key` (`B`): the KMS CiphertextBlob of the 32-byte data key.
pub const KEY: &str = "key";
/// Attribute `salt` (`B`, 32 bytes): the HKDF salt.
pub const SALT: &str = "salt";
/// Attribute `nonce` (`B`, 12 bytes): the GCM nonce.
pub const NONCE: &str = "nonce";
/// Attribute `commitment` (`B`, 32 bytes): commitment to the data key, salt and binding context.
pub const COMMITMENT: &str = "commitment";
/// Attribute `contents` (`B`): GCM ciphertext followed by the 16-byte tag.
pub const CONTENTS: &str = "contents";
/// Attribute `context_keys` (`SS`): the user context's keys; absent when there are none.
pub const CONTEXT_KEYS: &str = "context_keys";

/// Reserved context key binding the format id.
pub const CONTEXT_FORMAT: &str = "lockbox-format";
/// Reserved context key binding the secret name.
pub const CONTEXT_NAME: &str = "lockbox-name";
/// Reserved context key binding the version, in unpadded decimal.
pub const CONTEXT_VERSION: &str = "lockbox-version";

/// HKDF info for the AES-256-GCM key.
pub const INFO_ENCRYPTION_KEY: &[u8] = b"lockbox-sealed-1 encryption key";
/// HKDF info prefix for the commitment (followed by the AAD).
pub const INFO_COMMITMENT: &[u8] = b"lockbox-sealed-1 key commitment";

/// Size of the KMS data key.
pub const DATA_KEY_LEN: usize = 32;
/// Size of the salt.
pub const SALT_LEN: usize = 32;
/// Size of the GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Size of the commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Size of the GCM tag at the end of `contents`.
pub const TAG_LEN: usize = 16;
/// Largest CiphertextBlob accepted (KMS's own limit for `Decrypt`).
pub const MAX_WRAPPED_KEY_LEN: usize = 6144;

/// The binding context: `user` plus the reserved pairs for the format, `name` and
/// `version`. It is the KMS `EncryptionContext`; its canonical encoding is the AAD.
pub fn binding_context(
    name: &SecretName,
    version: Version,
    user: &EncryptionContext,
) -> EncryptionContext {
    let mut ctx = user.clone();
    ctx.insert_reserved(CONTEXT_FORMAT, FORMAT_ID.to_owned());
    ctx.insert_reserved(CONTEXT_NAME, name.as_str().to_owned());
    ctx.insert_reserved(CONTEXT_VERSION, version.to_string());
    ctx
}

/// The sealed-format attributes of an item, decoded and checked.
pub(crate) struct Parsed {
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) context_keys: Vec<String>,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    commitment: [u8; COMMITMENT_LEN],
    contents: Vec<u8>,
}

/// Check the presence, type and length of every sealed-format attribute.
pub(crate) fn parse(name: &SecretName, item: &Attributes) -> Result<Parsed> {
    let bad = |reason: String| Error::integrity(name, reason);
    let binary = |attr: &str| -> Result<&[u8]> {
        match item.get(attr) {
            Some(Attr::B(b)) => Ok(b),
            None => Err(bad(format!("attribute `{attr}` is missing"))),
            Some(other) => Err(bad(format!(
                "attribute `{attr}` is {}, expected binary (B)",
                other.type_tag()
            ))),
        }
    };
    let fixed = |attr: &str, len: usize| -> Result<&[u8]> {
        let b = binary(attr)?;
        if b.len() != len {
            return Err(bad(format!(
                "attribute `{attr}` is {} bytes, expected {len}",
                b.len()
            )));
        }
        Ok(b)
    };
    let wrapped_key = binary(KEY)?;
    if wrapped_key.is_empty() || wrapped_key.len() > MAX_WRAPPED_KEY_LEN {
        return Err(bad(format!(
            "attribute `{KEY}` is {} bytes, expected 1 to {MAX_WRAPPED_KEY_LEN}",
            wrapped_key.len()
        )));
    }
    let salt = fixed(SALT, SALT_LEN)?.try_into().expect("length checked");
    let nonce = fixed(NONCE, NONCE_LEN)?.try_into().expect("length checked");
    let commitment = fixed(COMMITMENT, COMMITMENT_LEN)?
        .try_into()
        .expect("length checked");
    let contents = binary(CONTENTS)?;
    if contents.len() < TAG_LEN {
        return Err(bad(format!(
            "attribute `{CONTENTS}` is {} bytes, shorter than the {TAG_LEN}-byte tag",
            contents.len()
        )));
    }
    let context_keys = match item.get(CONTEXT_KEYS) {
        None => Vec::new(),
        Some(Attr::Ss(keys)) => {
            let mut keys = keys.clone();
            keys.sort();
            let len = keys.len();
            keys.dedup();
            // DynamoDB stores no empty or duplicated sets, and lockbox writes no
            // empty or reserved keys: anything else was not written by lockbox.
            if keys.is_empty()
                || keys.len() != len
                || keys
                    .iter()
                    .any(|k| k.is_empty() || k.to_ascii_lowercase().starts_with(RESERVED_PREFIX))
            {
                return Err(bad(format!(
                    "attribute `{CONTEXT_KEYS}` is not a valid set of context keys"
                )));
            }
            keys
        }
        Some(other) => {
            return Err(bad(format!(
                "attribute `{CONTEXT_KEYS}` is {}, expected a string set (SS)",
                other.type_tag()
            )))
        }
    };
    Ok(Parsed {
        wrapped_key: wrapped_key.to_vec(),
        context_keys,
        salt,
        nonce,
        commitment,
        contents: contents.to_vec(),
    })
}

/// Refuse a user context whose keys are not the stored ones, naming the stored keys.
pub(crate) fn check_context_keys(
    name: &SecretName,
    parsed: &Parsed,
    user: &EncryptionContext,
) -> Result<()> {
    if user
        .keys()
        .eq(parsed.context_keys.iter().map(String::as_str))
    {
        Ok(())
    } else {
        Err(Error::ContextMismatch {
            name: name.clone(),
            stored_keys: Some(parsed.context_keys.clone()),
        })
    }
}

/// The keys derived from a data key and salt.
struct Derived {
    /// The AES-256-GCM key.
    key: Zeroizing<[u8; 32]>,
    /// The commitment to the data key, salt and AAD.
    commitment: [u8; COMMITMENT_LEN],
}

/// HKDF-SHA256: extract with `salt`, then expand the GCM key and the commitment.
fn derive(data_key: &[u8], salt: &[u8], aad: &[u8]) -> Derived {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), data_key);
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf.expand(INFO_ENCRYPTION_KEY, key.as_mut_slice())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let mut commitment = [0u8; COMMITMENT_LEN];
    hkdf.expand_multi_info(&[INFO_COMMITMENT, aad], &mut commitment)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Derived { key, commitment }
}

/// Encrypt `plaintext` and add `format`, `key`, `salt`, `nonce`, `commitment`,
/// `contents` and (when the user context has pairs) `context_keys` to `item`.
/// Draws the salt (32 bytes), then the nonce (12 bytes) from `rng`.
#[allow(clippy::too_many_arguments)] // the envelope's inputs, each distinct
pub(crate) fn seal_into<R: RngCore + CryptoRng>(
    item: &mut Attributes,
    name: &SecretName,
    version: Version,
    user: &EncryptionContext,
    plaintext: &[u8],
    data_key: &[u8],
    wrapped_key: &[u8],
    rng: &mut R,
) -> Result<()> {
    if let Some(key) = user
        .keys()
        .find(|k| k.to_ascii_lowercase().starts_with(RESERVED_PREFIX))
    {
        // Only reachable by passing a binding context (the KMS context) back in.
        return Err(Error::InvalidContext {
            reason: format!(
                "context key {key:?} is reserved; pass the user context, not the KMS context"
            ),
        });
    }
    if version.get() == 0 {
        return Err(Error::InvalidVersion {
            version: "0".into(),
            reason: "sealed items are written with versions from 1".into(),
        });
    }
    if data_key.len() != DATA_KEY_LEN {
        return Err(kms_error(format!(
            "KMS returned a {}-byte data key; the sealed format needs {DATA_KEY_LEN}",
            data_key.len()
        )));
    }
    if wrapped_key.is_empty() || wrapped_key.len() > MAX_WRAPPED_KEY_LEN {
        return Err(kms_error(format!(
            "KMS returned a {}-byte CiphertextBlob; expected 1 to {MAX_WRAPPED_KEY_LEN}",
            wrapped_key.len()
        )));
    }
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let aad = binding_context(name, version, user).canonical_bytes();
    let derived = derive(data_key, &salt, &aad);
    let contents = Aes256Gcm::new_from_slice(derived.key.as_slice())
        .expect("a 32-byte key")
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::InvalidValue {
            reason: "the value is too large for AES-GCM".into(),
        })?;
    item.insert(FORMAT.into(), Attr::S(FORMAT_ID.into()));
    item.insert(KEY.into(), Attr::B(wrapped_key.to_vec()));
    item.insert(SALT.into(), Attr::B(salt.to_vec()));
    item.insert(NONCE.into(), Attr::B(nonce.to_vec()));
    item.insert(COMMITMENT.into(), Attr::B(derived.commitment.to_vec()));
    item.insert(CONTENTS.into(), Attr::B(contents));
    if !user.is_empty() {
        item.insert(
            CONTEXT_KEYS.into(),
            Attr::Ss(user.keys().map(str::to_owned).collect()),
        );
    }
    Ok(())
}

fn kms_error(message: String) -> Error {
    Error::Backend {
        service: crate::Service::Kms,
        message,
        source: None,
    }
}

/// Check the context keys, recompute and compare the commitment in constant time,
/// and only then decrypt and authenticate with GCM.
pub(crate) fn open(
    name: &SecretName,
    version: Version,
    parsed: &Parsed,
    user: &EncryptionContext,
    data_key: &[u8],
) -> Result<SecretValue> {
    check_context_keys(name, parsed, user)?;
    if data_key.len() != DATA_KEY_LEN {
        return Err(Error::integrity(
            name,
            format!(
                "KMS returned a {}-byte data key; sealed items need exactly {DATA_KEY_LEN}",
                data_key.len()
            ),
        ));
    }
    let aad = binding_context(name, version, user).canonical_bytes();
    let derived = derive(data_key, &parsed.salt, &aad);
    if !bool::from(derived.commitment.ct_eq(&parsed.commitment)) {
        return Err(Error::integrity(
            name,
            "the key commitment does not match (wrong data key or context, or the item was altered or moved); nothing was decrypted",
        ));
    }
    let (ciphertext, tag) = parsed.contents.split_at(parsed.contents.len() - TAG_LEN);
    // Decrypt in place in a buffer of exactly the plaintext's size: the value then
    // moves into `SecretValue` without a reallocation leaving an unwiped copy.
    // aes-gcm checks the tag before it decrypts, so a failure leaves ciphertext.
    let mut plaintext = Vec::with_capacity(ciphertext.len());
    plaintext.extend_from_slice(ciphertext);
    Aes256Gcm::new_from_slice(derived.key.as_slice())
        .expect("a 32-byte key")
        .decrypt_in_place_detached(
            Nonce::from_slice(&parsed.nonce),
            &aad,
            &mut plaintext,
            Tag::from_slice(tag),
        )
        .map_err(|_| {
            Error::integrity(
                name,
                "the GCM authentication tag does not match: the item was altered",
            )
        })?;
    Ok(SecretValue::new(plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExposeSecret;
    use rand::rngs::OsRng;

    fn name() -> SecretName {
        SecretName::new("app/key").unwrap()
    }

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        let mut c = EncryptionContext::new();
        for (k, val) in pairs {
            c.insert(*k, *val).unwrap();
        }
        c
    }

    fn sealed(user: &EncryptionContext, plaintext: &[u8]) -> Attributes {
        let mut item = Attributes::new();
        seal_into(
            &mut item,
            &name(),
            v(3),
            user,
            plaintext,
            &[7; 32],
            b"blob",
            &mut OsRng,
        )
        .unwrap();
        item
    }

    fn open_item(
        item: &Attributes,
        n: &SecretName,
        version: Version,
        user: &EncryptionContext,
        key: &[u8],
    ) -> Result<SecretValue> {
        open(n, version, &parse(n, item)?, user, key)
    }

    #[test]
    fn derivation_matches_the_worked_example_in_format_md() {
        // Vector 2 of tests/vectors.rs: data key 00..1f, salt 70..8f.
        let data_key: Vec<u8> = (0u8..32).collect();
        let salt: Vec<u8> = (0x70u8..0x90).collect();
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&salt), &data_key);
        assert_eq!(
            hex::encode(prk),
            "c854f4132686456f5fd7985cfd5bac0a9c0d75fa4e8081bfda59bf6938148f3b"
        );
        let user = ctx(&[("env", "prod")]);
        let name = SecretName::new("prod/db/password").unwrap();
        let aad = binding_context(&name, v(42), &user).canonical_bytes();
        let derived = derive(&data_key, &salt, &aad);
        assert_eq!(
            hex::encode(derived.key.as_slice()),
            "02d23e68bdb4d1cf3b4ac497419d4b7bebc046794c0027af8e0f5ad1c7bcd09b"
        );
        assert_eq!(
            hex::encode(derived.commitment),
            "c33a40da242fafc6bd7c75b8ebee5b608fa7fd6f55c55fd7d3556165e0e9ebec"
        );
    }

    #[test]
    fn binding_context_adds_reserved_pairs() {
        let b = binding_context(&name(), v(42), &ctx(&[("env", "prod"), ("zone", "a")]));
        let pairs: Vec<_> = b.iter().collect();
        assert_eq!(
            pairs,
            [
                ("env", "prod"),
                ("lockbox-format", "lockbox-sealed-1"),
                ("lockbox-name", "app/key"),
                ("lockbox-version", "42"),
                ("zone", "a")
            ]
        );
    }

    #[test]
    fn round_trip() {
        let user = ctx(&[("env", "prod")]);
        let item = sealed(&user, b"\x00\xffbinary");
        assert_eq!(item[CONTEXT_KEYS], Attr::Ss(vec!["env".into()]));
        let value = open_item(&item, &name(), v(3), &user, &[7; 32]).unwrap();
        assert_eq!(value.expose_secret(), b"\x00\xffbinary");
        let empty = sealed(&EncryptionContext::new(), b"");
        assert!(!empty.contains_key(CONTEXT_KEYS));
        assert!(
            open_item(&empty, &name(), v(3), &EncryptionContext::new(), &[7; 32])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn context_key_mismatch_names_the_stored_keys() {
        let item = sealed(&ctx(&[("env", "prod"), ("app", "x")]), b"v");
        for wrong in [
            ctx(&[]),
            ctx(&[("env", "prod")]),
            ctx(&[("env", "prod"), ("app", "x"), ("b", "")]),
        ] {
            match open_item(&item, &name(), v(3), &wrong, &[7; 32]) {
                Err(Error::ContextMismatch {
                    stored_keys: Some(keys),
                    ..
                }) => assert_eq!(keys, ["app", "env"]),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn wrong_binding_fails_the_commitment_before_decryption() {
        let user = ctx(&[("env", "prod")]);
        let item = sealed(&user, b"v");
        let other = SecretName::new("app/other").unwrap();
        for (n, version, user, key) in [
            (&other, v(3), user.clone(), [7; 32]),
            (&name(), v(4), user.clone(), [7; 32]),
            (&name(), v(3), ctx(&[("env", "dev")]), [7; 32]),
            (&name(), v(3), user.clone(), [8; 32]),
        ] {
            let err = open_item(&item, n, version, &user, &key).unwrap_err();
            assert!(err.to_string().contains("commitment"), "{err}");
        }
    }

    #[test]
    fn tag_is_checked_after_the_commitment() {
        let user = ctx(&[]);
        let mut item = sealed(&user, b"value");
        let Some(Attr::B(contents)) = item.get_mut(CONTENTS) else {
            panic!()
        };
        *contents.last_mut().unwrap() ^= 0x80;
        let err = open_item(&item, &name(), v(3), &user, &[7; 32]).unwrap_err();
        assert!(err.to_string().contains("GCM authentication tag"), "{err}");
    }

    #[test]
    fn seal_refuses_bad_inputs() {
        let user = EncryptionContext::new();
        for (key, blob, version) in [
            (&[7u8; 31][..], &b"blob"[..], 1),
            (&[7u8; 64][..], &b"blob"[..], 1),
            (&[7u8; 32][..], &b""[..], 1),
            (&[7u8; 32][..], &[0u8; MAX_WRAPPED_KEY_LEN + 1][..], 1),
            (&[7u8; 32][..], &b"blob"[..], 0),
        ] {
            let version = Version::from_sort_key(&version.to_string()).unwrap();
            let mut item = Attributes::new();
            assert!(seal_into(
                &mut item,
                &name(),
                version,
                &user,
                b"v",
                key,
                blob,
                &mut OsRng
            )
            .is_err());
            assert!(item.is_empty());
        }
    }

    #[test]
    fn seal_refuses_a_binding_context_as_user_context() {
        let binding = binding_context(&name(), v(3), &ctx(&[("env", "prod")]));
        let mut item = Attributes::new();
        let err = seal_into(
            &mut item,
            &name(),
            v(3),
            &binding,
            b"v",
            &[7; 32],
            b"blob",
            &mut OsRng,
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidContext { .. }), "{err}");
    }

    #[test]
    fn parse_refuses_malformed_context_keys() {
        let item = sealed(&ctx(&[("env", "prod")]), b"v");
        for bad in [
            Attr::Ss(vec![]),
            Attr::Ss(vec!["env".into(), "env".into()]),
            Attr::Ss(vec![String::new()]),
            Attr::Ss(vec!["lockbox-name".into()]),
            Attr::S("env".into()),
        ] {
            let mut i = item.clone();
            i.insert(CONTEXT_KEYS.into(), bad);
            assert!(matches!(parse(&name(), &i), Err(Error::Integrity { .. })));
        }
        // DynamoDB returns sets in any order.
        let mut i = sealed(&ctx(&[("a", "1"), ("b", "2")]), b"v");
        i.insert(CONTEXT_KEYS.into(), Attr::Ss(vec!["b".into(), "a".into()]));
        assert_eq!(parse(&name(), &i).unwrap().context_keys, ["a", "b"]);
    }
}
