//! The lockbox sealed format: AES-256-GCM under an HKDF-derived key, with a stored
//! commitment to the data key and the item's binding context.
//!
//! The binding context is the user's encryption context plus reserved pairs naming
//! the format, the secret, the version and (`lockbox-sealed-2`) the store the item
//! belongs to. It is the KMS `EncryptionContext` of the data key and, in its
//! canonical encoding, the GCM associated data and part of the commitment; so an
//! item copied under another name or version, into another store, or read with
//! another context, fails before anything is decrypted. Every byte is described in
//! `docs/FORMAT.md`.
//!
//! Two revisions exist. `lockbox-sealed-2` is written today. `lockbox-sealed-1`,
//! the first, binds no store: an item sealed for one table opened in any other
//! table on the same KMS key, so readers accept it only when told to (a migration
//! window) and it is never written except for test vectors.

use aes_gcm::aead::{Aead, AeadInPlace, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Attr, Attributes};
use crate::{EncryptionContext, Error, Result, SecretName, SecretValue, Version};

/// The format id written today, stored in [`FORMAT`] and bound as [`CONTEXT_FORMAT`].
pub const FORMAT_ID: &str = "lockbox-sealed-2";
/// The first sealed format's id: binds no store; read only when a reader accepts it.
pub const FORMAT_ID_V1: &str = "lockbox-sealed-1";

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
/// Attribute `store` (`S`, `lockbox-sealed-2`): the store identity the item was
/// sealed for. Bound, so changing it fails the commitment; a reader also checks it
/// against the identity its table records.
pub const STORE: &str = "store";

/// Reserved context key binding the format id.
pub const CONTEXT_FORMAT: &str = "lockbox-format";
/// Reserved context key binding the secret name.
pub const CONTEXT_NAME: &str = "lockbox-name";
/// Reserved context key binding the version, in unpadded decimal.
pub const CONTEXT_VERSION: &str = "lockbox-version";
/// Reserved context key binding the store identity (`lockbox-sealed-2`).
pub const CONTEXT_STORE: &str = "lockbox-store";

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
/// Longest store identity, in bytes (a DynamoDB tag value holds 256 characters).
pub const MAX_STORE_LEN: usize = 256;

/// A revision of the sealed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revision {
    /// `lockbox-sealed-1`: binds the format, name and version.
    V1,
    /// `lockbox-sealed-2`: binds the format, name, version and store.
    V2,
}

impl Revision {
    /// The format id.
    pub fn format_id(self) -> &'static str {
        match self {
            Revision::V1 => FORMAT_ID_V1,
            Revision::V2 => FORMAT_ID,
        }
    }

    /// The revision a format id names, if it is a sealed one.
    pub fn from_format_id(id: &str) -> Option<Self> {
        match id {
            FORMAT_ID_V1 => Some(Revision::V1),
            FORMAT_ID => Some(Revision::V2),
            _ => None,
        }
    }

    /// HKDF info for the AES-256-GCM key.
    pub fn info_encryption_key(self) -> &'static [u8] {
        match self {
            Revision::V1 => b"lockbox-sealed-1 encryption key",
            Revision::V2 => b"lockbox-sealed-2 encryption key",
        }
    }

    /// HKDF info prefix for the commitment (followed by the AAD).
    pub fn info_commitment(self) -> &'static [u8] {
        match self {
            Revision::V1 => b"lockbox-sealed-1 key commitment",
            Revision::V2 => b"lockbox-sealed-2 key commitment",
        }
    }
}

/// Where a sealed item belongs: what its binding context names besides the user's
/// pairs. `store` is bound by [`Revision::V2`] and must be `None` for [`Revision::V1`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The format revision.
    pub revision: Revision,
    /// The secret's name.
    pub name: &'a SecretName,
    /// The version.
    pub version: Version,
    /// The store identity (`lockbox-sealed-2`).
    pub store: Option<&'a str>,
}

/// Refuse a user context holding reserved keys: only reachable by passing a
/// binding context (the KMS context) back in.
fn check_user_context(user: &EncryptionContext) -> Result<()> {
    match user.keys().find(|k| crate::context::is_reserved(k)) {
        Some(key) => Err(Error::InvalidContext {
            reason: format!(
                "context key {key:?} is reserved; pass the user context, not the KMS context"
            ),
        }),
        None => Ok(()),
    }
}

impl Binding<'_> {
    /// The binding context: `user` plus the reserved pairs. It is the KMS
    /// `EncryptionContext`; its canonical encoding is the AAD. Fails when `store`
    /// does not suit the revision, or `user` holds a reserved key.
    pub fn context(&self, user: &EncryptionContext) -> Result<EncryptionContext> {
        check_user_context(user)?;
        let mut ctx = user.clone();
        ctx.insert_reserved(CONTEXT_FORMAT, self.revision.format_id().to_owned());
        ctx.insert_reserved(CONTEXT_NAME, self.name.as_str().to_owned());
        ctx.insert_reserved(CONTEXT_VERSION, self.version.to_string());
        match (self.revision, self.store) {
            (Revision::V1, None) => {}
            (Revision::V2, Some(store)) => {
                check_store(store).map_err(|reason| Error::InvalidValue { reason })?;
                ctx.insert_reserved(CONTEXT_STORE, store.to_owned());
            }
            (Revision::V1, Some(_)) => {
                return Err(Error::InvalidValue {
                    reason: format!("{FORMAT_ID_V1} binds no store"),
                })
            }
            (Revision::V2, None) => {
                return Err(Error::InvalidValue {
                    reason: format!("{FORMAT_ID} needs the store identity the item belongs to"),
                })
            }
        }
        Ok(ctx)
    }
}

/// Why `store` cannot be a store identity, if it cannot: 1 to [`MAX_STORE_LEN`]
/// bytes of letters, digits and `_ . : / = + @ -` (what a DynamoDB tag value and an
/// IAM condition carry without escaping).
pub fn check_store(store: &str) -> std::result::Result<(), String> {
    if store.is_empty() || store.len() > MAX_STORE_LEN {
        return Err(format!(
            "a store identity is 1 to {MAX_STORE_LEN} bytes long, not {}",
            store.len()
        ));
    }
    if let Some(c) = store
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.:/=+@-".contains(*c)))
    {
        return Err(format!(
            "a store identity holds letters, digits and _ . : / = + @ - only, not {:?}",
            c
        ));
    }
    Ok(())
}

/// The sealed-format attributes of an item, decoded and checked.
pub(crate) struct Parsed {
    pub(crate) revision: Revision,
    pub(crate) store: Option<String>,
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) context_keys: Vec<String>,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    commitment: [u8; COMMITMENT_LEN],
    contents: Vec<u8>,
}

/// Check the presence, type and length of every attribute of a `revision` item.
pub(crate) fn parse(name: &SecretName, revision: Revision, item: &Attributes) -> Result<Parsed> {
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
                    .any(|k| k.is_empty() || crate::context::is_reserved(k))
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
    let store = match (revision, item.get(STORE)) {
        // The first revision knows no `store`: like any unknown attribute, ignored.
        (Revision::V1, _) => None,
        (Revision::V2, Some(Attr::S(store))) => {
            check_store(store)
                .map_err(|reason| bad(format!("attribute `{STORE}` is not valid: {reason}")))?;
            Some(store.clone())
        }
        (Revision::V2, None) => return Err(bad(format!("attribute `{STORE}` is missing"))),
        (Revision::V2, Some(other)) => {
            return Err(bad(format!(
                "attribute `{STORE}` is {}, expected a string (S)",
                other.type_tag()
            )))
        }
    };
    Ok(Parsed {
        revision,
        store,
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
fn derive(revision: Revision, data_key: &[u8], salt: &[u8], aad: &[u8]) -> Derived {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), data_key);
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf.expand(revision.info_encryption_key(), key.as_mut_slice())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let mut commitment = [0u8; COMMITMENT_LEN];
    hkdf.expand_multi_info(&[revision.info_commitment(), aad], &mut commitment)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Derived { key, commitment }
}

/// Encrypt `plaintext` and add `format`, `key`, `salt`, `nonce`, `commitment`,
/// `contents`, (`lockbox-sealed-2`) `store` and (when the user context has pairs)
/// `context_keys` to `item`. Draws the salt (32 bytes), then the nonce (12 bytes)
/// from `rng`.
/// `binding_context` is `binding.context(user)`, as the data key was requested
/// with it: its canonical encoding is the AAD.
#[allow(clippy::too_many_arguments)] // the envelope's inputs, each distinct
pub(crate) fn seal_into<R: RngCore + CryptoRng>(
    item: &mut Attributes,
    binding: &Binding<'_>,
    user: &EncryptionContext,
    binding_context: &EncryptionContext,
    plaintext: &[u8],
    data_key: &[u8],
    wrapped_key: &[u8],
    rng: &mut R,
) -> Result<()> {
    check_user_context(user)?;
    let aad = binding_context.canonical_bytes();
    if binding.version.get() == 0 {
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
    let derived = derive(binding.revision, data_key, &salt, &aad);
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
    item.insert(FORMAT.into(), Attr::S(binding.revision.format_id().into()));
    item.insert(KEY.into(), Attr::B(wrapped_key.to_vec()));
    item.insert(SALT.into(), Attr::B(salt.to_vec()));
    item.insert(NONCE.into(), Attr::B(nonce.to_vec()));
    item.insert(COMMITMENT.into(), Attr::B(derived.commitment.to_vec()));
    item.insert(CONTENTS.into(), Attr::B(contents));
    if let Some(store) = binding.store {
        item.insert(STORE.into(), Attr::S(store.to_owned()));
    }
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

/// The binding a parsed item claims: its name and version as stored, its revision
/// and (`lockbox-sealed-2`) its `store` attribute.
pub(crate) fn binding_of<'a>(
    name: &'a SecretName,
    version: Version,
    parsed: &'a Parsed,
) -> Binding<'a> {
    Binding {
        revision: parsed.revision,
        name,
        version,
        store: parsed.store.as_deref(),
    }
}

/// Recompute and compare the commitment in constant time, and only then decrypt
/// and authenticate with GCM. `aad` is the canonical encoding of the binding
/// context KMS unwrapped the data key under (the caller's context keys were
/// checked against the stored ones when it was derived).
pub(crate) fn open(
    binding: &Binding<'_>,
    parsed: &Parsed,
    aad: &[u8],
    data_key: &[u8],
) -> Result<SecretValue> {
    let name = binding.name;
    if data_key.len() != DATA_KEY_LEN {
        return Err(Error::integrity(
            name,
            format!(
                "KMS returned a {}-byte data key; sealed items need exactly {DATA_KEY_LEN}",
                data_key.len()
            ),
        ));
    }
    let derived = derive(binding.revision, data_key, &parsed.salt, aad);
    if !bool::from(derived.commitment.ct_eq(&parsed.commitment)) {
        return Err(Error::integrity(
            name,
            "the key commitment does not match (wrong data key or context, or the item was altered or moved); nothing was decrypted",
        ));
    }
    let (ciphertext, tag) = parsed.contents.split_at(parsed.contents.len() - TAG_LEN);
    // Decrypt in place in a buffer of exactly the plaintext's size: the value then
    // moves into `SecretValue` without a reallocation leaving an unwiped copy.
    // aes-gcm (0.10.3 and later, which the manifest requires) checks the tag before
    // it decrypts, so a failure leaves ciphertext; the buffer is wiped on that path
    // anyway, so no version of the crate can leave plaintext behind.
    let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    plaintext.extend_from_slice(ciphertext);
    Aes256Gcm::new_from_slice(derived.key.as_slice())
        .expect("a 32-byte key")
        .decrypt_in_place_detached(
            Nonce::from_slice(&parsed.nonce),
            aad,
            &mut plaintext,
            Tag::from_slice(tag),
        )
        .map_err(|_| {
            Error::integrity(
                name,
                "the GCM authentication tag does not match: the item was altered",
            )
        })?;
    Ok(SecretValue::new(std::mem::take(&mut *plaintext)))
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

    const STORE_ID: &str = "000000000000/credential-store";

    fn binding(n: &SecretName, version: Version) -> Binding<'_> {
        Binding {
            revision: Revision::V2,
            name: n,
            version,
            store: Some(STORE_ID),
        }
    }

    fn v1(n: &SecretName, version: Version) -> Binding<'_> {
        Binding {
            revision: Revision::V1,
            name: n,
            version,
            store: None,
        }
    }

    fn sealed(user: &EncryptionContext, plaintext: &[u8]) -> Attributes {
        let mut item = Attributes::new();
        let n = name();
        let b = binding(&n, v(3));
        seal_into(
            &mut item,
            &b,
            user,
            &b.context(user).unwrap(),
            plaintext,
            &[7; 32],
            b"blob",
            &mut OsRng,
        )
        .unwrap();
        item
    }

    /// Open `item` as if it were `n` at `version` (its stored store identity and revision).
    fn open_item(
        item: &Attributes,
        n: &SecretName,
        version: Version,
        user: &EncryptionContext,
        key: &[u8],
    ) -> Result<SecretValue> {
        let parsed = parse(n, Revision::V2, item)?;
        check_context_keys(n, &parsed, user)?;
        let binding = binding_of(n, version, &parsed);
        open(
            &binding,
            &parsed,
            &binding.context(user)?.canonical_bytes(),
            key,
        )
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
        let aad = v1(&name, v(42)).context(&user).unwrap().canonical_bytes();
        let derived = derive(Revision::V1, &data_key, &salt, &aad);
        assert_eq!(
            hex::encode(derived.key.as_slice()),
            "02d23e68bdb4d1cf3b4ac497419d4b7bebc046794c0027af8e0f5ad1c7bcd09b"
        );
        assert_eq!(
            hex::encode(derived.commitment),
            "c33a40da242fafc6bd7c75b8ebee5b608fa7fd6f55c55fd7d3556165e0e9ebec"
        );
        // The same inputs in lockbox-sealed-2, sealed for store 111122223333/prod-secrets.
        let store = "111122223333/prod-secrets";
        let binding = Binding {
            store: Some(store),
            ..binding(&name, v(42))
        };
        let aad = binding.context(&user).unwrap().canonical_bytes();
        let derived = derive(Revision::V2, &data_key, &salt, &aad);
        assert_eq!(
            hex::encode(derived.key.as_slice()),
            "a3f5a004cd55800ac1febb827e10e3f2862161d7cf2f556627d7a84c6f379da0"
        );
        assert_eq!(
            hex::encode(derived.commitment),
            "52520744185efbc090417c31a59e4129599fd915f2c81c44db42b3291cc5941f"
        );
    }

    #[test]
    fn binding_context_adds_reserved_pairs() {
        let b = v1(&name(), v(42))
            .context(&ctx(&[("env", "prod"), ("zone", "a")]))
            .unwrap();
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
        let b = binding(&name(), v(42))
            .context(&ctx(&[("env", "prod"), ("zone", "a")]))
            .unwrap();
        let pairs: Vec<_> = b.iter().collect();
        assert_eq!(
            pairs,
            [
                ("env", "prod"),
                ("lockbox-format", "lockbox-sealed-2"),
                ("lockbox-name", "app/key"),
                ("lockbox-store", STORE_ID),
                ("lockbox-version", "42"),
                ("zone", "a")
            ]
        );
    }

    #[test]
    fn a_binding_needs_a_store_exactly_when_its_revision_binds_one() {
        let user = EncryptionContext::new();
        let n = name();
        for b in [
            Binding {
                store: None,
                ..binding(&n, v(1))
            },
            Binding {
                store: Some(STORE_ID),
                ..v1(&n, v(1))
            },
            Binding {
                store: Some(""),
                ..binding(&n, v(1))
            },
            Binding {
                store: Some("acct/table\n"),
                ..binding(&n, v(1))
            },
        ] {
            assert!(b.context(&user).is_err(), "{b:?}");
        }
        assert!(check_store("123456789012/credential-store").is_ok());
        assert!(check_store(&"s".repeat(MAX_STORE_LEN + 1)).is_err());
        assert!(check_store("a b").is_err());
    }

    #[test]
    fn an_item_in_another_store_fails_the_commitment() {
        let user = EncryptionContext::new();
        let mut item = sealed(&user, b"v");
        item.insert(STORE.into(), Attr::S("111111111111/staging".into()));
        let err = open_item(&item, &name(), v(3), &user, &[7; 32]).unwrap_err();
        assert!(err.to_string().contains("commitment"), "{err}");
        item.remove(STORE);
        let err = open_item(&item, &name(), v(3), &user, &[7; 32]).unwrap_err();
        assert!(err.to_string().contains("`store` is missing"), "{err}");
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

    /// What `open` relies on from aes-gcm (0.10.3 and later): a wrong tag leaves
    /// the buffer as it was, ciphertext, with nothing decrypted in it.
    #[test]
    fn a_wrong_tag_leaves_the_buffer_undecrypted() {
        let cipher = Aes256Gcm::new_from_slice(&[9; 32]).unwrap();
        let nonce = Nonce::from_slice(&[1; NONCE_LEN]);
        let mut buffer = b"plaintext never to be seen".to_vec();
        let tag = cipher
            .encrypt_in_place_detached(nonce, b"aad", &mut buffer)
            .unwrap();
        let ciphertext = buffer.clone();
        let mut bad = tag;
        bad[0] ^= 1;
        assert!(cipher
            .decrypt_in_place_detached(nonce, b"aad", &mut buffer, &bad)
            .is_err());
        assert_eq!(buffer, ciphertext);
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
            let n = name();
            let b = binding(&n, version);
            assert!(seal_into(
                &mut item,
                &b,
                &user,
                &b.context(&user).unwrap(),
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
        let kms_context = binding(&name(), v(3))
            .context(&ctx(&[("env", "prod")]))
            .unwrap();
        let mut item = Attributes::new();
        assert!(matches!(
            binding(&name(), v(3)).context(&kms_context),
            Err(Error::InvalidContext { .. })
        ));
        let err = seal_into(
            &mut item,
            &binding(&name(), v(3)),
            &kms_context,
            &kms_context,
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
            assert!(matches!(
                parse(&name(), Revision::V2, &i),
                Err(Error::Integrity { .. })
            ));
        }
        // DynamoDB returns sets in any order.
        let mut i = sealed(&ctx(&[("a", "1"), ("b", "2")]), b"v");
        i.insert(CONTEXT_KEYS.into(), Attr::Ss(vec!["b".into(), "a".into()]));
        assert_eq!(
            parse(&name(), Revision::V2, &i).unwrap().context_keys,
            ["a", "b"]
        );
    }
}
