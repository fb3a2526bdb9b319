//! Tampering with a real item: seal a value (either format) with the in-memory
//! key service, apply arbitrary edits to the stored attributes, then read it as
//! `Lockbox::get` does (parse, KMS context, unwrap, open). A tampered item never
//! opens to anything but the original value, and a sealed item never opens under
//! another name, version, store or context (credstash never bound name and version: a
//! relabeled credstash item reads, which `docs/FORMAT.md` states).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use lockbox::backend::{KeyService, MemoryKeyService};
use lockbox::envelope::{self, Attr, Digest, Envelope, ItemFormat, Metadata, Sealing, WriteFormat};
use lockbox::{EncryptionContext, ExposeSecret, SecretName, Version};
use lockbox_fuzz::{FuzzAttr, FuzzName};
use rand::SeedableRng;

#[derive(Arbitrary, Debug)]
enum Edit {
    /// Flip bits of one byte of a string, binary or number attribute.
    Flip { attr: FuzzName, at: u16, mask: u8 },
    /// Replace an attribute.
    Set { attr: FuzzName, value: FuzzAttr },
    /// Remove an attribute.
    Remove { attr: FuzzName },
    /// Truncate a binary or string attribute.
    Truncate { attr: FuzzName, len: u16 },
    /// Swap two attributes' values.
    Swap { a: FuzzName, b: FuzzName },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// None: sealed; Some(i): credstash with digest i.
    credstash: Option<u8>,
    name: String,
    version: u64,
    value: String,
    context: Vec<(String, String)>,
    edits: Vec<Edit>,
    /// The context the reader gives (None: the writer's).
    read_context: Option<Vec<(String, String)>>,
    seed: u64,
}

/// The store every item is sealed for.
const STORE: &str = "111122223333/fuzz-store";

fn keys() -> &'static MemoryKeyService {
    static KEYS: OnceLock<MemoryKeyService> = OnceLock::new();
    KEYS.get_or_init(|| MemoryKeyService::new(&["fuzz"]))
}

fn context(pairs: &[(String, String)]) -> EncryptionContext {
    let mut c = EncryptionContext::new();
    for (k, v) in pairs {
        let _ = c.insert(k.as_str(), v.as_str());
    }
    c
}

fuzz_target!(|input: Input| {
    let Ok(name) = SecretName::new(input.name.as_str()) else {
        return;
    };
    let Ok(version) = Version::new(input.version % 1000 + 1) else {
        return;
    };
    let format = match input.credstash {
        None => WriteFormat::Sealed,
        Some(i) => WriteFormat::Credstash(Digest::ALL[usize::from(i) % Digest::ALL.len()]),
    };
    let ctx = context(&input.context);
    let sealing = Sealing {
        format,
        name: &name,
        version,
        context: &ctx,
        store: Some(STORE),
        metadata: &Metadata::default(),
    };
    let request = envelope::data_key_request(&sealing).unwrap();
    let data_key = block_on(keys().generate_data_key(request.bytes(), request.context())).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(input.seed);
    let mut item =
        envelope::seal_with_rng(&request, input.value.as_bytes(), &data_key, &mut rng).unwrap();
    let original = item.clone();

    for edit in &input.edits {
        match edit {
            Edit::Flip { attr, at, mask } => match item.get_mut(&attr.get()) {
                Some(Attr::B(b)) if !b.is_empty() => {
                    let i = usize::from(*at) % b.len();
                    b[i] ^= mask;
                }
                Some(Attr::S(s) | Attr::N(s)) if !s.is_empty() => {
                    let mut bytes = std::mem::take(s).into_bytes();
                    let i = usize::from(*at) % bytes.len();
                    bytes[i] ^= mask;
                    *s = String::from_utf8_lossy(&bytes).into_owned();
                }
                _ => {}
            },
            Edit::Set { attr, value } => {
                item.insert(attr.get(), value.get());
            }
            Edit::Remove { attr } => {
                item.remove(&attr.get());
            }
            Edit::Truncate { attr, len } => match item.get_mut(&attr.get()) {
                Some(Attr::B(b)) => b.truncate(usize::from(*len)),
                Some(Attr::S(s)) => {
                    let mut n = usize::from(*len).min(s.len());
                    while !s.is_char_boundary(n) {
                        n -= 1;
                    }
                    s.truncate(n);
                }
                _ => {}
            },
            Edit::Swap { a, b } => {
                let (a, b) = (a.get(), b.get());
                let va = item.remove(&a);
                let vb = item.remove(&b);
                if let Some(v) = va {
                    item.insert(b.clone(), v);
                }
                if let Some(v) = vb {
                    item.insert(a.clone(), v);
                }
            }
        }
    }

    let read_ctx = match &input.read_context {
        None => ctx.clone(),
        Some(pairs) => context(pairs),
    };
    let Ok(envelope) = Envelope::parse(&item) else {
        return;
    };
    let Ok(kms_context) = envelope.kms_context(&read_ctx) else {
        return;
    };
    let Ok(key) =
        block_on(keys().decrypt_data_key(envelope.name(), envelope.wrapped_key(), &kms_context))
    else {
        return;
    };
    let Ok(value) = envelope.open(&kms_context, &key.plaintext) else {
        return;
    };
    assert_eq!(
        value.expose_secret(),
        input.value.as_bytes(),
        "a tampered item opened to another value"
    );
    assert_eq!(read_ctx, ctx, "an item opened under another context");
    if envelope.format() == ItemFormat::Sealed {
        assert!(item.get("format") == original.get("format"));
        assert_eq!(
            envelope.name(),
            &name,
            "a sealed item opened under another name"
        );
        assert_eq!(
            envelope.version(),
            version,
            "a sealed item opened at another version"
        );
        assert_eq!(
            envelope.store(),
            Some(STORE),
            "a sealed item opened for another store"
        );
    }
});
