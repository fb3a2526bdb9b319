//! The credstash 1.17 item format ("legacy"), read and written byte for byte as
//! credstash writes it.
//!
//! A 64-byte KMS data key is split in two: the first half is an AES-256-CTR key
//! (fixed counter block `0x00..01`), the second an HMAC key. `contents` is the
//! base64 ciphertext, `hmac` the hex HMAC of the ciphertext (encrypt-then-MAC).
//! Nothing binds the name, version or context to the ciphertext; that is
//! credstash's design, kept for interop. See `docs/FORMAT.md`.

use std::fmt;
use std::str::FromStr;

use aes::Aes256;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};

use super::{Attr, Attributes};
use crate::{Error, Result, SecretName, SecretValue};

/// Attribute `key` (`S`): base64 (standard alphabet, padded) of the KMS CiphertextBlob.
pub const KEY: &str = "key";
/// Attribute `contents` (`S`): base64 of the AES-256-CTR ciphertext.
pub const CONTENTS: &str = "contents";
/// Attribute `hmac` (`S`, or `B` holding the same ASCII): hex HMAC of the ciphertext.
pub const HMAC: &str = "hmac";
/// Attribute `digest` (`S`): the HMAC's hash, by credstash's name; absent means `SHA256`.
pub const DIGEST: &str = "digest";

/// Size of the KMS data key: 32 bytes of AES key, then 32 bytes of HMAC key.
pub const DATA_KEY_LEN: usize = 64;

/// The initial counter block (credstash's `LEGACY_NONCE`), incremented as one
/// 128-bit big-endian integer.
const COUNTER_BLOCK: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The hash under the HMAC of a credstash item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Digest {
    /// SHA-1, named `SHA` by credstash (rucredstash writes `SHA1`).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256, credstash's default.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// MD5.
    Md5,
}

impl Digest {
    /// Every digest credstash 1.17 accepts.
    pub const ALL: [Digest; 6] = [
        Digest::Sha1,
        Digest::Sha224,
        Digest::Sha256,
        Digest::Sha384,
        Digest::Sha512,
        Digest::Md5,
    ];

    /// credstash's name for it, as stored in `digest` (`SHA` for SHA-1).
    pub fn as_str(self) -> &'static str {
        match self {
            Digest::Sha1 => "SHA",
            Digest::Sha224 => "SHA224",
            Digest::Sha256 => "SHA256",
            Digest::Sha384 => "SHA384",
            Digest::Sha512 => "SHA512",
            Digest::Md5 => "MD5",
        }
    }

    /// Length of the HMAC in bytes (the hex in `hmac` is twice as long).
    pub fn output_len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha224 => 28,
            Digest::Sha256 => 32,
            Digest::Sha384 => 48,
            Digest::Sha512 => 64,
            Digest::Md5 => 16,
        }
    }

    /// HMAC of `msg` under `key`.
    fn mac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
            let mut mac =
                <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Digest::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg),
            Digest::Sha224 => run::<Hmac<sha2::Sha224>>(key, msg),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg),
            Digest::Sha384 => run::<Hmac<sha2::Sha384>>(key, msg),
            Digest::Sha512 => run::<Hmac<sha2::Sha512>>(key, msg),
            Digest::Md5 => run::<Hmac<md5::Md5>>(key, msg),
        }
    }

    /// Whether `tag` is the HMAC of `msg` under `key`, compared in constant time.
    fn verify(self, key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
        fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
            let mut mac =
                <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(msg);
            mac.verify_slice(tag).is_ok()
        }
        match self {
            Digest::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg, tag),
            Digest::Sha224 => run::<Hmac<sha2::Sha224>>(key, msg, tag),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg, tag),
            Digest::Sha384 => run::<Hmac<sha2::Sha384>>(key, msg, tag),
            Digest::Sha512 => run::<Hmac<sha2::Sha512>>(key, msg, tag),
            Digest::Md5 => run::<Hmac<md5::Md5>>(key, msg, tag),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Digest {
    type Err = UnknownDigest;

    /// credstash's names, case-insensitively, plus `SHA1` (rucredstash's name for SHA-1).
    fn from_str(s: &str) -> std::result::Result<Self, UnknownDigest> {
        let digest = match s.to_ascii_uppercase().as_str() {
            "SHA" | "SHA1" => Digest::Sha1,
            "SHA224" => Digest::Sha224,
            "SHA256" => Digest::Sha256,
            "SHA384" => Digest::Sha384,
            "SHA512" => Digest::Sha512,
            "MD5" => Digest::Md5,
            _ => return Err(UnknownDigest(printable(s))),
        };
        Ok(digest)
    }
}

/// A digest name credstash 1.17 does not accept (such as the 1.12-era `RIPEMD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDigest(String);

impl fmt::Display for UnknownDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown digest {:?}; credstash digests are SHA (SHA-1, also SHA1), SHA224, SHA256, SHA384, SHA512 and MD5",
            self.0
        )
    }
}

impl std::error::Error for UnknownDigest {}

/// Attacker-controlled item text, shortened and escaped for an error message.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// The credstash-specific attributes of an item, decoded and checked.
pub(crate) struct Parsed {
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) digest: Digest,
    contents: Vec<u8>,
    hmac: Vec<u8>,
}

/// Decode `key`, `contents`, `hmac` and `digest`, checking types and lengths.
pub(crate) fn parse(name: &SecretName, item: &Attributes) -> Result<Parsed> {
    let bad = |reason: String| Error::integrity(name, reason);
    let base64_attr = |attr: &str| -> Result<Vec<u8>> {
        match item.get(attr) {
            None => Err(bad(format!("attribute `{attr}` is missing"))),
            Some(Attr::S(s)) => BASE64
                .decode(s)
                .map_err(|_| bad(format!("attribute `{attr}` is not valid base64"))),
            Some(other) => Err(bad(format!(
                "attribute `{attr}` is {}, expected a base64 string (S)",
                other.type_tag()
            ))),
        }
    };
    let digest = match item.get(DIGEST) {
        None => Digest::Sha256,
        Some(Attr::S(s)) => s
            .parse()
            .map_err(|e: UnknownDigest| Error::UnsupportedFormat {
                name: name.to_string(),
                reason: format!("credstash item with {e}"),
            })?,
        Some(other) => {
            return Err(bad(format!(
                "attribute `{DIGEST}` is {}, expected a string (S)",
                other.type_tag()
            )))
        }
    };
    let hmac_hex: &[u8] = match item.get(HMAC) {
        None => return Err(bad(format!("attribute `{HMAC}` is missing"))),
        Some(Attr::S(s)) => s.as_bytes(),
        Some(Attr::B(b)) => b,
        Some(other) => {
            return Err(bad(format!(
                "attribute `{HMAC}` is {}, expected hex as a string (S) or binary (B)",
                other.type_tag()
            )))
        }
    };
    if hmac_hex.len() != 2 * digest.output_len() {
        return Err(bad(format!(
            "attribute `{HMAC}` holds {} hex digits; HMAC-{} needs {}",
            hmac_hex.len(),
            digest,
            2 * digest.output_len()
        )));
    }
    let hmac = hex::decode(hmac_hex).map_err(|_| bad(format!("attribute `{HMAC}` is not hex")))?;
    let wrapped_key = base64_attr(KEY)?;
    if wrapped_key.is_empty() {
        return Err(bad(format!("attribute `{KEY}` is empty")));
    }
    let contents = base64_attr(CONTENTS)?;
    Ok(Parsed {
        wrapped_key,
        digest,
        contents,
        hmac,
    })
}

/// Check the HMAC in constant time, then decrypt. Plaintext is returned as bytes
/// (credstash itself requires UTF-8; lockbox does not, so binary values written by
/// unicreds or gcredstash stay readable).
pub(crate) fn open(name: &SecretName, parsed: &Parsed, data_key: &[u8]) -> Result<SecretValue> {
    if data_key.len() != DATA_KEY_LEN {
        return Err(Error::integrity(
            name,
            format!(
                "KMS returned a {}-byte data key; credstash items need exactly {DATA_KEY_LEN} bytes (an AES key and an HMAC key)",
                data_key.len()
            ),
        ));
    }
    let (aes_key, hmac_key) = data_key.split_at(32);
    if !parsed
        .digest
        .verify(hmac_key, &parsed.contents, &parsed.hmac)
    {
        return Err(Error::integrity(
            name,
            "the HMAC does not match: wrong data key, or the contents were altered",
        ));
    }
    let mut buf = parsed.contents.clone();
    apply_ctr(aes_key, &mut buf);
    Ok(SecretValue::new(buf))
}

/// Encrypt `plaintext` and add `key`, `contents`, `hmac` (S, lowercase hex) and
/// `digest` to `item`, exactly as credstash 1.17 writes them.
pub(crate) fn seal_into(
    item: &mut Attributes,
    plaintext: &[u8],
    data_key: &[u8],
    wrapped_key: &[u8],
    digest: Digest,
) -> Result<()> {
    if std::str::from_utf8(plaintext).is_err() {
        return Err(Error::InvalidValue {
            reason: "the value is not UTF-8 text, which credstash cannot read; store binary values in the sealed format".into(),
        });
    }
    if data_key.len() != DATA_KEY_LEN {
        return Err(Error::Backend {
            service: crate::Service::Kms,
            message: format!(
                "KMS returned a {}-byte data key; the credstash format needs {DATA_KEY_LEN}",
                data_key.len()
            ),
            source: None,
        });
    }
    if wrapped_key.is_empty() {
        return Err(Error::Backend {
            service: crate::Service::Kms,
            message: "KMS returned an empty CiphertextBlob".into(),
            source: None,
        });
    }
    let (aes_key, hmac_key) = data_key.split_at(32);
    let mut ciphertext = plaintext.to_vec();
    apply_ctr(aes_key, &mut ciphertext);
    let hmac = digest.mac(hmac_key, &ciphertext);
    item.insert(KEY.into(), Attr::S(BASE64.encode(wrapped_key)));
    item.insert(CONTENTS.into(), Attr::S(BASE64.encode(&ciphertext)));
    item.insert(HMAC.into(), Attr::S(hex::encode(hmac)));
    item.insert(DIGEST.into(), Attr::S(digest.as_str().into()));
    Ok(())
}

/// AES-256-CTR with credstash's fixed initial counter block, in place.
fn apply_ctr(key: &[u8], buf: &mut [u8]) {
    let mut cipher = Aes256Ctr::new_from_slices(key, &COUNTER_BLOCK)
        .expect("a 32-byte key and a 16-byte counter block");
    cipher.apply_keystream(buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExposeSecret;

    /// a.11: the data key is bytes 00..3f.
    fn vector_key() -> Vec<u8> {
        (0u8..64).collect()
    }

    const VECTORS: [(&str, Digest, &str, &str); 2] = [
        (
            "secretvalue",
            Digest::Sha256,
            "gzgV3C/N6YTKg/4=",
            "204b74697e95dee822aac2cf277c090740202a50a81da08046f6bb7d18a98ea5",
        ),
        (
            "héllo wörld\n",
            Digest::Sha512,
            "mJ7fwibWv5JlQOldLMg=",
            "87d53c1b7241ef3913ed678575eb3d26ddb6b0cc502ed8a0d09134de4ba394731f2e20bbfb934b69747019f7e6a2eb0fa8011cfa4cfe5e1cc6a86bc948d861ae",
        ),
    ];

    fn name() -> SecretName {
        SecretName::new("app/key").unwrap()
    }

    fn item(contents: &str, hmac: Attr, digest: Option<&str>) -> Attributes {
        let mut item = Attributes::new();
        item.insert(KEY.into(), Attr::S(BASE64.encode(b"blob")));
        item.insert(CONTENTS.into(), Attr::S(contents.into()));
        item.insert(HMAC.into(), hmac);
        if let Some(d) = digest {
            item.insert(DIGEST.into(), Attr::S(d.into()));
        }
        item
    }

    fn open_item(item: &Attributes, key: &[u8]) -> Result<SecretValue> {
        open(&name(), &parse(&name(), item)?, key)
    }

    #[test]
    fn vectors_seal_exactly() {
        for (plaintext, digest, contents, hmac) in VECTORS {
            let mut item = Attributes::new();
            seal_into(
                &mut item,
                plaintext.as_bytes(),
                &vector_key(),
                b"blob",
                digest,
            )
            .unwrap();
            assert_eq!(item[CONTENTS], Attr::S(contents.into()), "{plaintext:?}");
            assert_eq!(item[HMAC], Attr::S(hmac.into()), "{plaintext:?}");
            assert_eq!(item[DIGEST], Attr::S(digest.as_str().into()));
            assert_eq!(item[KEY], Attr::S("YmxvYg==".into()));
            assert_eq!(item.len(), 4);
        }
    }

    #[test]
    fn vectors_open_with_hmac_as_s_or_b_in_either_case() {
        for (plaintext, digest, contents, hmac) in VECTORS {
            for hmac in [
                Attr::S(hmac.into()),
                Attr::S(hmac.to_ascii_uppercase()),
                Attr::B(hmac.as_bytes().to_vec()),
                Attr::B(hmac.to_ascii_uppercase().into_bytes()),
            ] {
                let item = item(contents, hmac, Some(digest.as_str()));
                let value = open_item(&item, &vector_key()).unwrap();
                assert_eq!(value.expose_str().unwrap(), plaintext);
            }
        }
    }

    #[test]
    fn missing_digest_means_sha256() {
        let (plaintext, _, contents, hmac) = VECTORS[0];
        let item = item(contents, Attr::S(hmac.into()), None);
        assert_eq!(parse(&name(), &item).unwrap().digest, Digest::Sha256);
        assert_eq!(
            open_item(&item, &vector_key())
                .unwrap()
                .expose_str()
                .unwrap(),
            plaintext
        );
    }

    #[test]
    fn every_digest_round_trips() {
        for digest in Digest::ALL {
            let mut item = Attributes::new();
            seal_into(&mut item, b"v", &vector_key(), b"blob", digest).unwrap();
            let Attr::S(hex) = &item[HMAC] else { panic!() };
            assert_eq!(hex.len(), 2 * digest.output_len());
            assert_eq!(
                open_item(&item, &vector_key()).unwrap().expose_secret(),
                b"v"
            );
        }
        // rucredstash writes SHA-1 as `SHA1`.
        let mut item = Attributes::new();
        seal_into(&mut item, b"v", &vector_key(), b"blob", Digest::Sha1).unwrap();
        item.insert(DIGEST.into(), Attr::S("SHA1".into()));
        assert_eq!(
            open_item(&item, &vector_key()).unwrap().expose_secret(),
            b"v"
        );
    }

    #[test]
    fn digest_names() {
        for digest in Digest::ALL {
            assert_eq!(digest.as_str().parse::<Digest>(), Ok(digest));
            assert_eq!(digest.as_str().to_lowercase().parse::<Digest>(), Ok(digest));
        }
        assert_eq!("sha1".parse::<Digest>(), Ok(Digest::Sha1));
        assert_eq!(Digest::default(), Digest::Sha256);
        let err = "RIPEMD".parse::<Digest>().unwrap_err().to_string();
        assert!(err.contains("RIPEMD") && err.contains("SHA256"), "{err}");
    }

    #[test]
    fn unknown_digest_is_unsupported_before_any_key_is_needed() {
        let (_, _, contents, hmac) = VECTORS[0];
        let item = item(contents, Attr::S(hmac.into()), Some("WHIRLPOOL"));
        let err = parse(&name(), &item).err().unwrap();
        assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
        assert!(err.to_string().contains("WHIRLPOOL"), "{err}");
    }

    #[test]
    fn tampering_is_an_integrity_error() {
        let (_, digest, contents, hmac) = VECTORS[0];
        let key = vector_key();
        let mut ciphertext = BASE64.decode(contents).unwrap();
        ciphertext[0] ^= 1;
        let tampered = item(
            &BASE64.encode(&ciphertext),
            Attr::S(hmac.into()),
            Some(digest.as_str()),
        );
        let mut wrong_hmac = hmac.to_owned();
        wrong_hmac.replace_range(0..1, "3");
        let cases = [
            (tampered, key.clone()),
            (item(contents, Attr::S(wrong_hmac), None), key.clone()),
            (item(contents, Attr::S(hmac.into()), None), {
                let mut k = key.clone();
                k[40] ^= 1;
                k
            }),
        ];
        for (item, key) in cases {
            let err = open_item(&item, &key).unwrap_err();
            assert!(matches!(err, Error::Integrity { .. }), "{err}");
            assert!(err.to_string().contains("HMAC"), "{err}");
        }
    }

    #[test]
    fn data_key_must_be_64_bytes() {
        let (_, _, contents, hmac) = VECTORS[0];
        let item = item(contents, Attr::S(hmac.into()), None);
        for len in [0, 32, 63, 65] {
            let err = open_item(&item, &vec![0; len]).unwrap_err();
            assert!(matches!(err, Error::Integrity { .. }), "{err}");
            assert!(
                err.to_string().contains(&format!("{len}-byte data key")),
                "{err}"
            );
            assert!(seal_into(
                &mut Attributes::new(),
                b"v",
                &vec![0; len],
                b"blob",
                Digest::Sha256
            )
            .is_err());
        }
    }

    #[test]
    fn malformed_attributes_are_refused() {
        let (_, _, contents, hmac) = VECTORS[0];
        let good = item(contents, Attr::S(hmac.into()), None);
        let mut cases = Vec::new();
        for attr in [KEY, CONTENTS, HMAC] {
            let mut i = good.clone();
            i.remove(attr);
            cases.push(i);
            let mut i = good.clone();
            i.insert(attr.into(), Attr::N("1".into()));
            cases.push(i);
        }
        for (attr, value) in [
            (CONTENTS, Attr::S("not base64!".into())),
            (KEY, Attr::S(String::new())),
            (HMAC, Attr::S(hmac[..62].into())),
            (HMAC, Attr::S(format!("{}zz", &hmac[..62]))),
            (DIGEST, Attr::B(b"SHA256".to_vec())),
        ] {
            let mut i = good.clone();
            i.insert(attr.into(), value);
            cases.push(i);
        }
        for item in cases {
            let err = parse(&name(), &item).err().unwrap();
            assert!(matches!(err, Error::Integrity { .. }), "{item:?}: {err}");
        }
    }

    #[test]
    fn non_utf8_values_cannot_be_written_but_can_be_read() {
        let err = seal_into(
            &mut Attributes::new(),
            &[0xff, 0xfe],
            &vector_key(),
            b"blob",
            Digest::Sha256,
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
        // As unicreds or gcredstash would write it.
        let key = vector_key();
        let mut ciphertext = vec![0xff, 0x00, 0xfe];
        apply_ctr(&key[..32], &mut ciphertext);
        let hmac = hex::encode(Digest::Sha256.mac(&key[32..], &ciphertext));
        let item = item(
            &BASE64.encode(&ciphertext),
            Attr::B(hmac.into_bytes()),
            None,
        );
        assert_eq!(
            open_item(&item, &key).unwrap().expose_secret(),
            &[0xff, 0x00, 0xfe]
        );
    }

    #[test]
    fn empty_value_round_trips() {
        let mut item = Attributes::new();
        seal_into(&mut item, b"", &vector_key(), b"blob", Digest::Sha256).unwrap();
        assert_eq!(item[CONTENTS], Attr::S(String::new()));
        assert!(open_item(&item, &vector_key()).unwrap().is_empty());
    }
}
