//! Envelope encryption of one secret into one table item, and back: pure and
//! synchronous, bytes in and bytes out, no I/O.
//!
//! Writing: ask KMS for the data key [`data_key_request`] describes, then [`seal`].
//! Reading: [`Envelope::parse`] the item (this detects the format and refuses a
//! malformed or unknown one before any KMS call), take [`Envelope::kms_context`]
//! and [`Envelope::wrapped_key`] to KMS `Decrypt`, then [`Envelope::open`] with the
//! data key it returns. The formats are described byte by byte in `docs/FORMAT.md`.

use std::fmt;

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::format::{attr, credstash, sealed};
use crate::{EncryptionContext, Error, Result, SecretName, SecretValue, Version};

pub use crate::format::credstash::Digest;
pub use crate::format::{Attr, Attributes};

/// Which format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteFormat {
    /// The lockbox sealed format (`lockbox-sealed-2`), bound to its store.
    Sealed,
    /// The first sealed format (`lockbox-sealed-1`), which binds no store. Readers
    /// refuse it unless told to accept it; kept for test vectors and migration tools.
    SealedV1,
    /// The credstash 1.17 format, with this HMAC digest.
    Credstash(Digest),
}

/// The format an item was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemFormat {
    /// The lockbox sealed format (either revision: see [`Envelope::sealed_revision`]).
    Sealed,
    /// The credstash 1.17 format.
    Credstash,
}

impl ItemFormat {
    /// Detect an item's format from its attributes, without decoding the rest.
    ///
    /// An item with a `format` attribute is in the format it names (an unknown id is
    /// [`Error::UnsupportedFormat`]); an item without one but with an `hmac` is a
    /// credstash item; anything else is [`Error::UnsupportedFormat`].
    pub fn detect(item: &Attributes) -> Result<ItemFormat> {
        let name = match item.get(attr::NAME) {
            Some(Attr::S(s)) => s.as_str(),
            _ => "?",
        };
        Ok(detect(name, item)?.0)
    }

    /// A short name: `sealed` or `credstash`.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemFormat::Sealed => "sealed",
            ItemFormat::Credstash => "credstash",
        }
    }
}

impl fmt::Display for ItemFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn detect(name: &str, item: &Attributes) -> Result<(ItemFormat, Option<sealed::Revision>)> {
    let unsupported = |reason: String| Error::UnsupportedFormat {
        name: name.to_owned(),
        reason,
    };
    match item.get(sealed::FORMAT) {
        Some(Attr::S(id)) => match sealed::Revision::from_format_id(id) {
            Some(revision) => Ok((ItemFormat::Sealed, Some(revision))),
            None => {
                let mut shown: String = id.chars().take(64).collect();
                if id.chars().count() > 64 {
                    shown.push('…');
                }
                Err(unsupported(format!(
                    "unknown format id {shown:?}; this lockbox reads {}, {} and credstash items (a newer lockbox may read it)",
                    sealed::FORMAT_ID,
                    sealed::FORMAT_ID_V1
                )))
            }
        },
        Some(other) => Err(unsupported(format!(
            "attribute `{}` is {}, expected a format id string (S)",
            sealed::FORMAT,
            other.type_tag()
        ))),
        None if item.contains_key(credstash::HMAC) => Ok((ItemFormat::Credstash, None)),
        None => Err(unsupported(format!(
            "the item has neither a `{}` id nor a credstash `{}`; it is not a lockbox or credstash secret",
            sealed::FORMAT,
            credstash::HMAC
        ))),
    }
}

/// What to seal and where it belongs: the input of [`data_key_request`], whose
/// answer [`seal`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealing<'a> {
    /// The format to write.
    pub format: WriteFormat,
    /// The secret's name.
    pub name: &'a SecretName,
    /// The version.
    pub version: Version,
    /// The user's encryption context.
    pub context: &'a EncryptionContext,
    /// The store identity the table records (bound by [`WriteFormat::Sealed`],
    /// ignored by the other formats).
    pub store: Option<&'a str>,
    /// Unauthenticated metadata stored beside the secret.
    pub metadata: &'a Metadata,
}

impl Sealing<'_> {
    /// The sealed binding, for the sealed formats.
    fn binding(&self) -> Option<sealed::Binding<'_>> {
        let (revision, store) = match self.format {
            WriteFormat::Sealed => (sealed::Revision::V2, self.store),
            WriteFormat::SealedV1 => (sealed::Revision::V1, None),
            WriteFormat::Credstash(_) => return None,
        };
        Some(sealed::Binding {
            revision,
            name: self.name,
            version: self.version,
            store,
        })
    }
}

/// What to ask KMS for before sealing, and what [`seal`] then seals: the binding
/// context is derived once, here, and is both the KMS `EncryptionContext` and
/// (sealed formats) the AAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyRequest<'a> {
    bytes: usize,
    context: EncryptionContext,
    sealing: Sealing<'a>,
}

impl DataKeyRequest<'_> {
    /// The data-key size for `GenerateDataKey`'s `NumberOfBytes` (32 sealed, 64 credstash).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The full KMS `EncryptionContext` (sealed: the user context plus the reserved
    /// binding pairs; credstash: the user context as is).
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }
}

/// The data key and context to request from KMS before sealing. Fails as
/// [`seal`] would for a binding that cannot be sealed (a reserved user context
/// key, a missing or malformed store identity), before any KMS call.
pub fn data_key_request<'a>(sealing: &Sealing<'a>) -> Result<DataKeyRequest<'a>> {
    Ok(match sealing.binding() {
        Some(binding) => DataKeyRequest {
            bytes: sealed::DATA_KEY_LEN,
            context: binding.context(sealing.context)?,
            sealing: *sealing,
        },
        None => DataKeyRequest {
            bytes: credstash::DATA_KEY_LEN,
            context: sealing.context.clone(),
            sealing: *sealing,
        },
    })
}

/// A fresh data key: the plaintext (wiped on drop), its wrapped form, and the key
/// that wrapped it as the key service reports it (KMS: the key's ARN).
pub struct DataKey {
    /// The plaintext key bytes.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key wrapped by the key service (KMS `CiphertextBlob`).
    pub wrapped: Vec<u8>,
    /// The master key that wrapped it (KMS `KeyId` in the answer: a key ARN).
    pub key_id: Option<String>,
}

impl DataKey {
    /// A data key from its plaintext and wrapped form, with no key named (for
    /// tests and tools that produce items without a key service).
    pub fn new(plaintext: Vec<u8>, wrapped: Vec<u8>) -> Self {
        Self {
            plaintext: Zeroizing::new(plaintext),
            wrapped,
            key_id: None,
        }
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"[REDACTED]")
            .field("wrapped_len", &self.wrapped.len())
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Unauthenticated metadata stored beside the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Free-text comment (`comment`, `S`); written only when non-empty.
    pub comment: Option<String>,
    /// Creation time in Unix seconds (`created_at`, `N`); written for sealed items only.
    pub created_at: Option<u64>,
}

/// Seal `plaintext` with the data key KMS produced for `request` into a complete
/// table item, with a fresh salt and nonce from the operating system's RNG. See
/// [`seal_with_rng`].
pub fn seal(request: &DataKeyRequest<'_>, plaintext: &[u8], key: &DataKey) -> Result<Attributes> {
    seal_with_rng(request, plaintext, key, &mut rand::rngs::OsRng)
}

/// Seal `plaintext` into a complete table item, including `name` and `version`,
/// drawing randomness from `rng` (the sealed format draws the salt, then the nonce).
///
/// For test vectors, whose salts and nonces must be reproducible; applications use
/// [`seal`]. Reusing a (data key, salt) pair for two values voids confidentiality
/// and integrity: a seeded RNG with a data key used twice does exactly that.
/// Reusing a data key with fresh salts is safe.
///
/// Errors: a data key of the wrong length for the format, or an empty wrapped key
/// ([`Error::Backend`] from KMS); version 0 in the sealed format
/// ([`Error::InvalidVersion`]); a missing or malformed store identity, or
/// non-UTF-8 `plaintext` in the credstash format ([`Error::InvalidValue`]:
/// credstash cannot read it).
#[doc(hidden)]
pub fn seal_with_rng<R: RngCore + CryptoRng>(
    request: &DataKeyRequest<'_>,
    plaintext: &[u8],
    key: &DataKey,
    rng: &mut R,
) -> Result<Attributes> {
    let sealing = &request.sealing;
    let mut item = Attributes::new();
    item.insert(attr::NAME.into(), Attr::S(sealing.name.as_str().into()));
    item.insert(attr::VERSION.into(), Attr::S(sealing.version.sort_key()));
    match (sealing.format, sealing.binding()) {
        (_, Some(binding)) => {
            sealed::seal_into(
                &mut item,
                &binding,
                sealing.context,
                &request.context,
                plaintext,
                &key.plaintext,
                &key.wrapped,
                rng,
            )?;
            if let Some(t) = sealing.metadata.created_at {
                item.insert(attr::CREATED_AT.into(), Attr::N(t.to_string()));
            }
        }
        (WriteFormat::Credstash(digest), None) => {
            // credstash writes no created_at; its context is not stored.
            credstash::seal_into(&mut item, plaintext, &key.plaintext, &key.wrapped, digest)?;
        }
        (_, None) => unreachable!("every sealed format has a binding"),
    }
    if let Some(comment) = sealing
        .metadata
        .comment
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        item.insert(attr::COMMENT.into(), Attr::S(comment.into()));
    }
    Ok(item)
}

/// The KMS `EncryptionContext` of one parsed item, as [`Envelope::kms_context`]
/// derives it: what KMS `Decrypt` is given and, for a sealed item, the binding
/// whose canonical encoding is the AAD. Only `kms_context` makes one, so
/// [`Envelope::open`] authenticates against exactly what KMS was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsContext(EncryptionContext);

impl KmsContext {
    /// The context, as the KMS client takes it.
    pub fn as_context(&self) -> &EncryptionContext {
        &self.0
    }
}

impl std::ops::Deref for KmsContext {
    type Target = EncryptionContext;
    fn deref(&self) -> &EncryptionContext {
        &self.0
    }
}

impl PartialEq<EncryptionContext> for KmsContext {
    fn eq(&self, other: &EncryptionContext) -> bool {
        self.0 == *other
    }
}

/// The format-specific part of a parsed item.
enum Body {
    Sealed(sealed::Parsed),
    Credstash(credstash::Parsed),
}

/// A parsed item, ready to unwrap and open.
///
/// Parsing validates every attribute's presence, DynamoDB type and length, and
/// detects the format; an unknown format id or an item in neither format fails
/// there, before any KMS call. Attributes no format uses are ignored.
pub struct Envelope {
    name: SecretName,
    version: Version,
    metadata: Metadata,
    body: Body,
}

impl Envelope {
    /// Parse and validate `item`.
    pub fn parse(item: &Attributes) -> Result<Envelope> {
        let name = match item.get(attr::NAME) {
            Some(Attr::S(s)) => SecretName::new(s.as_str())?,
            None => {
                return Err(Error::integrity(
                    "?",
                    format!("attribute `{}` is missing", attr::NAME),
                ))
            }
            Some(other) => {
                return Err(Error::integrity(
                    "?",
                    format!(
                        "attribute `{}` is {}, expected a string (S)",
                        attr::NAME,
                        other.type_tag()
                    ),
                ))
            }
        };
        let (format, revision) = detect(name.as_str(), item)?;
        let version = match item.get(attr::VERSION) {
            Some(Attr::S(s)) => {
                let version = Version::from_sort_key(s)?;
                // Lockbox writes one sort key per version: refuse a sealed item
                // relabeled to an unpadded or zero form of it.
                if format == ItemFormat::Sealed
                    && (!Version::is_canonical_sort_key(s) || version.get() == 0)
                {
                    return Err(Error::integrity(
                        &name,
                        format!(
                            "attribute `{}` of a sealed item must be a version from 1, padded to 19 digits",
                            attr::VERSION
                        ),
                    ));
                }
                version
            }
            None => {
                return Err(Error::integrity(
                    &name,
                    format!("attribute `{}` is missing", attr::VERSION),
                ))
            }
            Some(other) => {
                return Err(Error::integrity(
                    &name,
                    format!(
                        "attribute `{}` is {}, expected a string (S)",
                        attr::VERSION,
                        other.type_tag()
                    ),
                ))
            }
        };
        let body = match format {
            ItemFormat::Sealed => Body::Sealed(sealed::parse(
                &name,
                revision.expect("a sealed item has a revision"),
                item,
            )?),
            ItemFormat::Credstash => Body::Credstash(credstash::parse(&name, item)?),
        };
        // Metadata is not authenticated and not needed to read the secret, so a
        // value of an unexpected type (another tool's `created_at`) is ignored.
        let metadata = Metadata {
            comment: item
                .get(attr::COMMENT)
                .and_then(Attr::as_s)
                .map(str::to_owned),
            created_at: match item.get(attr::CREATED_AT) {
                Some(Attr::N(n)) => n.parse().ok(),
                _ => None,
            },
        };
        Ok(Envelope {
            name,
            version,
            metadata,
            body,
        })
    }

    /// The secret's name, from the item's `name` attribute (where it lives).
    pub fn name(&self) -> &SecretName {
        &self.name
    }

    /// The version, from the `version` sort key.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The format the item is in.
    pub fn format(&self) -> ItemFormat {
        match self.body {
            Body::Sealed(_) => ItemFormat::Sealed,
            Body::Credstash(_) => ItemFormat::Credstash,
        }
    }

    /// The sealed format's revision (`None` for credstash items).
    pub fn sealed_revision(&self) -> Option<sealed::Revision> {
        match &self.body {
            Body::Sealed(s) => Some(s.revision),
            Body::Credstash(_) => None,
        }
    }

    /// The store identity a `lockbox-sealed-2` item says it was sealed for (the
    /// `store` attribute). Bound into the item, so it opens only if that is true;
    /// a reader compares it with the store its table records.
    pub fn store(&self) -> Option<&str> {
        match &self.body {
            Body::Sealed(s) => s.store.as_deref(),
            Body::Credstash(_) => None,
        }
    }

    /// The format id: `lockbox-sealed-2`, `lockbox-sealed-1` or `credstash`.
    pub fn format_id(&self) -> &'static str {
        match &self.body {
            Body::Sealed(s) => s.revision.format_id(),
            Body::Credstash(_) => "credstash",
        }
    }

    /// The HMAC digest of a credstash item (`None` for sealed items).
    pub fn digest(&self) -> Option<Digest> {
        match &self.body {
            Body::Sealed(_) => None,
            Body::Credstash(c) => Some(c.digest),
        }
    }

    /// The unauthenticated metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The wrapped data key: the KMS CiphertextBlob to `Decrypt`.
    pub fn wrapped_key(&self) -> &[u8] {
        match &self.body {
            Body::Sealed(s) => &s.wrapped_key,
            Body::Credstash(c) => &c.wrapped_key,
        }
    }

    /// The stored user-context keys, sorted (sealed format only; `None` for
    /// credstash items, which store none).
    pub fn context_keys(&self) -> Option<&[String]> {
        match &self.body {
            Body::Sealed(s) => Some(&s.context_keys),
            Body::Credstash(_) => None,
        }
    }

    /// The `EncryptionContext` to pass to KMS `Decrypt` for this item, given the
    /// caller's user context.
    ///
    /// For sealed items this is the binding context, and a caller whose context
    /// keys differ from the stored ones gets [`Error::ContextMismatch`] naming the
    /// stored keys, before any KMS call. For credstash items it is `context` as is.
    pub fn kms_context(&self, context: &EncryptionContext) -> Result<KmsContext> {
        match &self.body {
            Body::Sealed(s) => {
                sealed::check_context_keys(&self.name, s, context)?;
                sealed::binding_of(&self.name, self.version, s)
                    .context(context)
                    .map(KmsContext)
            }
            Body::Credstash(_) => Ok(KmsContext(context.clone())),
        }
    }

    /// Authenticate and decrypt with the data key KMS returned for `kms` (what
    /// [`Envelope::kms_context`] gave for the caller's context).
    ///
    /// Sealed: derive the keys, check the commitment in constant time *before*
    /// decrypting, then AES-GCM with the binding context as associated data.
    /// Credstash: check the HMAC in constant time, then AES-CTR. Any failure is
    /// [`Error::Integrity`] with a non-secret reason; nothing unauthenticated is
    /// ever returned.
    pub fn open(&self, kms: &KmsContext, data_key: &[u8]) -> Result<SecretValue> {
        match &self.body {
            Body::Sealed(s) => sealed::open(
                &sealed::binding_of(&self.name, self.version, s),
                s,
                &kms.0.canonical_bytes(),
                data_key,
            ),
            Body::Credstash(c) => credstash::open(&self.name, c, data_key),
        }
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Envelope");
        d.field("name", &self.name)
            .field("version", &self.version)
            .field("format", &self.format());
        match &self.body {
            Body::Sealed(s) => d
                .field("revision", &s.revision)
                .field("store", &s.store)
                .field("context_keys", &s.context_keys),
            Body::Credstash(c) => d.field("digest", &c.digest),
        };
        d.field("metadata", &self.metadata)
            .field("wrapped_key_len", &self.wrapped_key().len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExposeSecret;

    fn name() -> SecretName {
        SecretName::new("app/key").unwrap()
    }

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    const STORE_ID: &str = "000000000000/credential-store";

    fn seal_item(sealing: Sealing<'_>, plaintext: &[u8], key: &DataKey) -> Result<Attributes> {
        seal(&data_key_request(&sealing)?, plaintext, key)
    }

    fn data_key(plaintext: &[u8], wrapped: &[u8]) -> DataKey {
        DataKey {
            plaintext: Zeroizing::new(plaintext.to_vec()),
            wrapped: wrapped.to_vec(),
            key_id: None,
        }
    }

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        let mut c = EncryptionContext::new();
        for (k, val) in pairs {
            c.insert(*k, *val).unwrap();
        }
        c
    }

    #[test]
    fn data_key_requests() {
        let user = ctx(&[("env", "prod")]);
        let n = name();
        let metadata = Metadata::default();
        let sealing = |format| Sealing {
            format,
            name: &n,
            version: v(7),
            context: &user,
            store: Some(STORE_ID),
            metadata: &metadata,
        };
        let sealed = data_key_request(&sealing(WriteFormat::Sealed)).unwrap();
        assert_eq!(sealed.bytes(), 32);
        assert_eq!(
            sealed.context().to_string(),
            "env=prod lockbox-format=lockbox-sealed-2 lockbox-name=app/key \
             lockbox-store=000000000000/credential-store lockbox-version=7"
        );
        let v1 = data_key_request(&sealing(WriteFormat::SealedV1)).unwrap();
        assert_eq!(
            v1.context().to_string(),
            "env=prod lockbox-format=lockbox-sealed-1 lockbox-name=app/key lockbox-version=7"
        );
        let no_store = Sealing {
            store: None,
            ..sealing(WriteFormat::Sealed)
        };
        assert!(matches!(
            data_key_request(&no_store),
            Err(Error::InvalidValue { .. })
        ));
        let legacy = data_key_request(&sealing(WriteFormat::Credstash(Digest::Sha256))).unwrap();
        assert_eq!((legacy.bytes(), legacy.context()), (64, &user));
    }

    #[test]
    fn sealed_item_has_exactly_the_documented_attributes() {
        let metadata = Metadata {
            comment: Some("db".into()),
            created_at: Some(1_700_000_000),
        };
        let item = seal_item(
            Sealing {
                format: WriteFormat::Sealed,
                name: &name(),
                version: v(7),
                context: &ctx(&[("env", "prod")]),
                store: Some(STORE_ID),
                metadata: &metadata,
            },
            b"v",
            &data_key(&[1; 32], b"blob"),
        )
        .unwrap();
        let attrs: Vec<(&str, &str)> = item
            .iter()
            .map(|(k, a)| (k.as_str(), a.type_tag()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("comment", "S"),
                ("commitment", "B"),
                ("contents", "B"),
                ("context_keys", "SS"),
                ("created_at", "N"),
                ("format", "S"),
                ("key", "B"),
                ("name", "S"),
                ("nonce", "B"),
                ("salt", "B"),
                ("store", "S"),
                ("version", "S")
            ]
        );
        assert_eq!(item["version"], Attr::S("0000000000000000007".into()));
        assert_eq!(item["created_at"], Attr::N("1700000000".into()));
        let env = Envelope::parse(&item).unwrap();
        assert_eq!(env.metadata(), &metadata);
        assert_eq!(env.format(), ItemFormat::Sealed);
        assert_eq!(env.wrapped_key(), b"blob");
        assert_eq!(env.context_keys(), Some(&["env".to_owned()][..]));
    }

    #[test]
    fn credstash_item_has_exactly_what_credstash_writes() {
        let metadata = Metadata {
            comment: Some(String::new()),
            created_at: Some(1),
        };
        let key: Vec<u8> = (0..64).collect();
        let item = seal_item(
            Sealing {
                format: WriteFormat::Credstash(Digest::Sha512),
                name: &name(),
                version: v(1),
                context: &ctx(&[("env", "prod")]),
                store: Some(STORE_ID),
                metadata: &metadata,
            },
            b"x",
            &data_key(&key, b"blob"),
        )
        .unwrap();
        let attrs: Vec<(&str, &str)> = item
            .iter()
            .map(|(k, a)| (k.as_str(), a.type_tag()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("contents", "S"),
                ("digest", "S"),
                ("hmac", "S"),
                ("key", "S"),
                ("name", "S"),
                ("version", "S")
            ]
        );
        assert_eq!(item["digest"], Attr::S("SHA512".into()));
        let env = Envelope::parse(&item).unwrap();
        assert_eq!(env.format(), ItemFormat::Credstash);
        assert_eq!(env.context_keys(), None);
        assert_eq!(env.digest(), Some(Digest::Sha512));
        assert_eq!(
            env.kms_context(&ctx(&[("env", "prod")])).unwrap(),
            ctx(&[("env", "prod")])
        );
        assert_eq!(
            env.open(&env.kms_context(&ctx(&[])).unwrap(), &key)
                .unwrap()
                .expose_secret(),
            b"x"
        );
    }

    #[test]
    fn credstash_items_read_legacy_versions_and_ignore_unknown_attributes() {
        let key: Vec<u8> = (0..64).collect();
        let mut item = seal_item(
            Sealing {
                format: WriteFormat::Credstash(Digest::Sha256),
                name: &name(),
                version: v(1),
                context: &ctx(&[]),
                store: Some(STORE_ID),
                metadata: &Metadata::default(),
            },
            b"x",
            &data_key(&key, b"blob"),
        )
        .unwrap();
        for (sort_key, n) in [("1", 1), ("10", 10), ("0000000000000000000", 0)] {
            item.insert("version".into(), Attr::S(sort_key.into()));
            item.insert("created_at".into(), Attr::S("yesterday".into()));
            item.insert("extra".into(), Attr::Other("BOOL".into()));
            let env = Envelope::parse(&item).unwrap();
            assert_eq!(env.version().get(), n);
            assert_eq!(env.metadata(), &Metadata::default());
            assert_eq!(
                env.open(&env.kms_context(&ctx(&[])).unwrap(), &key)
                    .unwrap()
                    .expose_secret(),
                b"x"
            );
        }
    }

    #[test]
    fn sealed_items_need_the_padded_version() {
        let item = seal_item(
            Sealing {
                format: WriteFormat::Sealed,
                name: &name(),
                version: v(1),
                context: &ctx(&[]),
                store: Some(STORE_ID),
                metadata: &Metadata::default(),
            },
            b"x",
            &data_key(&[1; 32], b"blob"),
        )
        .unwrap();
        for bad in ["1", "0000000000000000000", "v1"] {
            let mut i = item.clone();
            i.insert("version".into(), Attr::S(bad.into()));
            assert!(Envelope::parse(&i).is_err(), "{bad}");
        }
    }

    #[test]
    fn detection() {
        let mut item = Attributes::new();
        item.insert("name".into(), Attr::S("a".into()));
        item.insert("version".into(), Attr::S("0000000000000000001".into()));
        let err = Envelope::parse(&item).unwrap_err();
        assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
        item.insert("format".into(), Attr::S("lockbox-sealed-3".into()));
        item.insert("hmac".into(), Attr::S("00".into()));
        let err = Envelope::parse(&item).unwrap_err();
        assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
        assert!(err.to_string().contains("\"lockbox-sealed-3\""), "{err}");
        assert!(ItemFormat::detect(&item).is_err());
        item.insert("format".into(), Attr::B(b"lockbox-sealed-1".to_vec()));
        assert!(matches!(
            ItemFormat::detect(&item),
            Err(Error::UnsupportedFormat { .. })
        ));
        item.remove("format");
        assert_eq!(ItemFormat::detect(&item).unwrap(), ItemFormat::Credstash);
        item.insert("format".into(), Attr::S("lockbox-sealed-1".into()));
        assert_eq!(ItemFormat::detect(&item).unwrap(), ItemFormat::Sealed);
        item.insert("format".into(), Attr::S("lockbox-sealed-2".into()));
        assert_eq!(ItemFormat::detect(&item).unwrap(), ItemFormat::Sealed);
        assert_eq!(ItemFormat::Sealed.to_string(), "sealed");
    }

    #[test]
    fn missing_name_or_version_is_refused() {
        let item = seal_item(
            Sealing {
                format: WriteFormat::Sealed,
                name: &name(),
                version: v(1),
                context: &ctx(&[]),
                store: Some(STORE_ID),
                metadata: &Metadata::default(),
            },
            b"x",
            &data_key(&[1; 32], b"blob"),
        )
        .unwrap();
        for (attr, value) in [
            ("name", None),
            ("name", Some(Attr::B(b"a".to_vec()))),
            ("version", None),
            ("version", Some(Attr::N("1".into()))),
        ] {
            let mut i = item.clone();
            match value {
                Some(a) => i.insert(attr.into(), a),
                None => i.remove(attr),
            };
            assert!(
                matches!(Envelope::parse(&i), Err(Error::Integrity { .. })),
                "{attr}"
            );
        }
    }

    #[test]
    fn debug_shows_no_key_or_ciphertext_bytes() {
        let item = seal_item(
            Sealing {
                format: WriteFormat::Sealed,
                name: &name(),
                version: v(2),
                context: &ctx(&[("env", "prod")]),
                store: Some(STORE_ID),
                metadata: &Metadata::default(),
            },
            b"canary-value",
            &data_key(&[1; 32], b"blob"),
        )
        .unwrap();
        let env = Envelope::parse(&item).unwrap();
        assert_eq!(
            format!("{env:?}"),
            "Envelope { name: \"app/key\", version: Version(2), format: Sealed, revision: V2, \
             store: Some(\"000000000000/credential-store\"), context_keys: [\"env\"], \
             metadata: Metadata { comment: None, created_at: None }, wrapped_key_len: 4, .. }"
        );
    }

    #[test]
    fn credstash_refuses_non_utf8_values() {
        let key: Vec<u8> = (0..64).collect();
        let err = seal_item(
            Sealing {
                format: WriteFormat::Credstash(Digest::Sha256),
                name: &name(),
                version: v(1),
                context: &ctx(&[]),
                store: Some(STORE_ID),
                metadata: &Metadata::default(),
            },
            &[0xc3],
            &data_key(&key, b"blob"),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    }

    mod props {
        use super::*;
        use aes_gcm::aead::{Aead, Payload};
        use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
        use proptest::prelude::*;
        use proptest::sample::Index;
        use rand::rngs::OsRng;
        use rand::RngCore;

        /// A stand-in for KMS: wraps data keys with AES-GCM under a master key, with
        /// the encryption context's canonical bytes as associated data, as KMS
        /// authenticates the context of a CiphertextBlob.
        struct ToyKms(Aes256Gcm);

        impl ToyKms {
            fn new() -> Self {
                Self(Aes256Gcm::new_from_slice(&[0x5a; 32]).unwrap())
            }

            fn generate(&self, request: &DataKeyRequest<'_>) -> (Vec<u8>, Vec<u8>) {
                let mut key = vec![0; request.bytes()];
                OsRng.fill_bytes(&mut key);
                let mut nonce = [0; 12];
                OsRng.fill_bytes(&mut nonce);
                let aad = request.context().canonical_bytes();
                let wrapped = self
                    .0
                    .encrypt(
                        Nonce::from_slice(&nonce),
                        Payload {
                            msg: &key,
                            aad: &aad,
                        },
                    )
                    .unwrap();
                (key, [&nonce[..], &wrapped].concat())
            }

            fn decrypt(&self, blob: &[u8], context: &EncryptionContext) -> Option<Vec<u8>> {
                let (nonce, wrapped) = blob.split_at_checked(12)?;
                let aad = context.canonical_bytes();
                self.0
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: wrapped,
                            aad: &aad,
                        },
                    )
                    .ok()
            }
        }

        /// The whole read path: parse, KMS Decrypt with the item's context, open.
        fn read(kms: &ToyKms, item: &Attributes, context: &EncryptionContext) -> Result<Vec<u8>> {
            let env = Envelope::parse(item)?;
            let kms_context = env.kms_context(context)?;
            let key = kms
                .decrypt(env.wrapped_key(), &kms_context)
                .ok_or_else(|| Error::ContextMismatch {
                    name: env.name().clone(),
                    stored_keys: None,
                })?;
            Ok(env
                .open(&env.kms_context(context)?, &key)?
                .expose_secret()
                .to_vec())
        }

        fn seal_with(
            kms: &ToyKms,
            format: WriteFormat,
            name: &SecretName,
            version: Version,
            context: &EncryptionContext,
            plaintext: &[u8],
        ) -> (Attributes, Vec<u8>) {
            let sealing = Sealing {
                format,
                name,
                version,
                context,
                store: Some(STORE_ID),
                metadata: &Metadata::default(),
            };
            let request = data_key_request(&sealing).unwrap();
            let (key, wrapped) = kms.generate(&request);
            let item = seal(&request, plaintext, &data_key(&key, &wrapped)).unwrap();
            (item, key)
        }

        fn names() -> impl Strategy<Value = SecretName> {
            "[A-Za-z0-9_./:@-]{1,40}".prop_map(|s| SecretName::new(s).unwrap())
        }

        fn versions() -> impl Strategy<Value = Version> {
            prop_oneof![1..=20u64, 1..=crate::MAX_VERSION].prop_map(|n| Version::new(n).unwrap())
        }

        fn contexts() -> impl Strategy<Value = EncryptionContext> {
            proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_.:/-]{0,11}", "\\PC{0,16}", 0..5)
                .prop_filter_map("reserved key", |pairs| {
                    let mut ctx = EncryptionContext::new();
                    for (k, v) in pairs {
                        ctx.insert(k, v).ok()?;
                    }
                    Some(ctx)
                })
        }

        /// The sealed attributes whose integrity a reader relies on: every one but
        /// the unauthenticated metadata (`comment`, `created_at`).
        const AUTHENTICATED: [&str; 10] = [
            "name",
            "version",
            "format",
            "store",
            "key",
            "salt",
            "nonce",
            "commitment",
            "contents",
            "context_keys",
        ];

        /// Flip one bit of `attr`, chosen by `at`. `None` when the attribute is
        /// absent or the result is not UTF-8 (no DynamoDB string can hold it).
        fn flip_bit(item: &Attributes, attr: &str, at: Index) -> Option<Attributes> {
            let mut item = item.clone();
            match item.get_mut(attr)? {
                Attr::B(bytes) => {
                    let bit = at.index(bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                }
                Attr::S(s) => {
                    let mut bytes = s.clone().into_bytes();
                    let bit = at.index(bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                    *s = String::from_utf8(bytes).ok()?;
                }
                Attr::Ss(set) => {
                    let total: usize = set.iter().map(String::len).sum();
                    let mut bit = at.index(total * 8);
                    for s in set.iter_mut() {
                        if bit < s.len() * 8 {
                            let mut bytes = s.clone().into_bytes();
                            bytes[bit / 8] ^= 1 << (bit % 8);
                            *s = String::from_utf8(bytes).ok()?;
                            break;
                        }
                        bit -= s.len() * 8;
                    }
                }
                Attr::N(_) | Attr::Other(_) => return None,
            }
            Some(item)
        }

        proptest! {
            #[test]
            fn sealed_round_trips_any_bytes(
                name in names(),
                version in versions(),
                context in contexts(),
                plaintext in proptest::collection::vec(any::<u8>(), 0..600),
            ) {
                let kms = ToyKms::new();
                let (item, _) = seal_with(&kms, WriteFormat::Sealed, &name, version, &context, &plaintext);
                prop_assert_eq!(read(&kms, &item, &context).unwrap(), plaintext);
            }

            #[test]
            fn credstash_round_trips_any_text(
                name in names(),
                version in versions(),
                context in contexts(),
                plaintext in "\\PC{0,100}",
                digest in proptest::sample::select(Digest::ALL.to_vec()),
            ) {
                let kms = ToyKms::new();
                let format = WriteFormat::Credstash(digest);
                let (item, _) = seal_with(&kms, format, &name, version, &context, plaintext.as_bytes());
                prop_assert_eq!(read(&kms, &item, &context).unwrap(), plaintext.as_bytes());
            }

            #[test]
            fn any_single_bit_flip_in_a_sealed_item_is_rejected(
                name in names(),
                version in versions(),
                context in contexts(),
                plaintext in proptest::collection::vec(any::<u8>(), 0..64),
                attr in proptest::sample::select(AUTHENTICATED.to_vec()),
                at in any::<Index>(),
            ) {
                let kms = ToyKms::new();
                let (item, key) = seal_with(&kms, WriteFormat::Sealed, &name, version, &context, &plaintext);
                let Some(flipped) = flip_bit(&item, attr, at) else { return Ok(()) };
                prop_assert!(read(&kms, &flipped, &context).is_err(), "flip in {} accepted", attr);
                // The item alone refuses it, given the right data key; `key` is
                // the one attribute whose integrity KMS checks instead.
                if attr != "key" {
                    let opened = Envelope::parse(&flipped)
                        .and_then(|env| env.open(&env.kms_context(&context)?, &key));
                    prop_assert!(opened.is_err(), "flip in {} opened", attr);
                }
            }

            #[test]
            fn a_sealed_item_relabeled_to_another_name_or_version_is_rejected(
                name in names(),
                version in versions(),
                other_name in names(),
                other_version in versions(),
                context in contexts(),
                plaintext in proptest::collection::vec(any::<u8>(), 0..64),
            ) {
                prop_assume!(name != other_name || version != other_version);
                let kms = ToyKms::new();
                let (mut item, key) = seal_with(&kms, WriteFormat::Sealed, &name, version, &context, &plaintext);
                item.insert(attr::NAME.into(), Attr::S(other_name.as_str().into()));
                item.insert(attr::VERSION.into(), Attr::S(other_version.sort_key()));
                prop_assert!(read(&kms, &item, &context).is_err());
                let env = Envelope::parse(&item).unwrap();
                let err = env
                    .kms_context(&context)
                    .and_then(|kms| env.open(&kms, &key))
                    .unwrap_err();
                prop_assert!(err.to_string().contains("commitment"), "{}", err);
            }
        }
    }
}
