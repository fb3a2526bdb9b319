//! KMS ciphertext blobs: authenticated, self-identifying and bound to the
//! encryption context.
//!
//! Layout (the emulator's own; real KMS blobs are opaque too):
//!
//! ```text
//! version (1 byte, = 1) || key id (16-byte UUID) || nonce (12) || AES-256-GCM ciphertext || tag (16)
//! ```
//!
//! The GCM associated data is the 17-byte header followed by the canonical encoding
//! of the encryption context (see [`encode_context`]), so a blob names its key, and
//! neither the key id nor the context can be changed without failing authentication.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use uuid::Uuid;
use zeroize::Zeroizing;

/// An encryption context: sorted, so its encoding is canonical.
pub type Context = BTreeMap<String, String>;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Encrypts `plaintext` under the key `key_id` with `material`, bound to `context`.
pub fn seal(key_id: Uuid, material: &[u8; 32], plaintext: &[u8], context: &Context) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.push(VERSION);
    header.extend_from_slice(key_id.as_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let aad = associated_data(&header, context);
    let cipher = Aes256Gcm::new(material.into());
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        // AES-GCM only fails for inputs of more than 64 GiB; ours are ≤ 4 KiB.
        .unwrap_or_default();
    let mut blob = header;
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    blob
}

/// The key a blob names, if it looks like one of ours.
pub fn key_id(blob: &[u8]) -> Option<Uuid> {
    if blob.len() < OVERHEAD || blob[0] != VERSION {
        return None;
    }
    Uuid::from_slice(&blob[1..HEADER_LEN]).ok()
}

/// Decrypts a blob of [`key_id`]'s key; `None` if it was altered or the context differs.
pub fn open(material: &[u8; 32], blob: &[u8], context: &Context) -> Option<Zeroizing<Vec<u8>>> {
    key_id(blob)?;
    let (header, rest) = blob.split_at(HEADER_LEN);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let aad = associated_data(header, context);
    let cipher = Aes256Gcm::new(material.into());
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

fn associated_data(header: &[u8], context: &Context) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&encode_context(context));
    aad
}

/// The canonical encoding of a context: the pair count, then each pair in key order
/// as length-prefixed key and value (all lengths u32 big-endian). Unambiguous, so
/// `{"ab":"c"}` and `{"a":"bc"}` differ; an empty context encodes like an absent one.
pub fn encode_context(context: &Context) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(context.len() as u32).to_be_bytes());
    for (k, v) in context {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn round_trip_and_key_id() {
        let id = Uuid::new_v4();
        let material = [7u8; 32];
        let blob = seal(id, &material, b"hello", &ctx(&[("a", "b")]));
        assert_eq!(key_id(&blob), Some(id));
        assert_eq!(blob.len(), 5 + OVERHEAD);
        let plain = open(&material, &blob, &ctx(&[("a", "b")])).unwrap();
        assert_eq!(plain.as_slice(), b"hello");
    }

    #[test]
    fn context_boundaries_are_unambiguous() {
        assert_ne!(
            encode_context(&ctx(&[("ab", "c")])),
            encode_context(&ctx(&[("a", "bc")]))
        );
        let material = [1u8; 32];
        let blob = seal(Uuid::new_v4(), &material, b"x", &ctx(&[("ab", "c")]));
        assert!(open(&material, &blob, &ctx(&[("a", "bc")])).is_none());
        assert!(open(&material, &blob, &Context::new()).is_none());
    }

    #[test]
    fn any_flipped_bit_is_rejected() {
        let material = [2u8; 32];
        let id = Uuid::new_v4();
        let blob = seal(id, &material, b"secret", &Context::new());
        for i in 0..blob.len() * 8 {
            let mut bad = blob.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(open(&material, &bad, &Context::new()).is_none(), "bit {i}");
        }
    }
}
