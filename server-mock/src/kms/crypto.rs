//! The cryptographic operations: `GenerateDataKey` (with and without the
//! plaintext), `Encrypt`, `Decrypt` and `ReEncrypt`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::ciphertext::{self, Context};
use super::{
    algorithm, context, Accept, Key, Kms, State, ALGORITHM, MAX_CIPHERTEXT, MAX_PLAINTEXT,
};
use crate::error::AwsError;
use crate::protocol::Input;

impl Kms {
    pub(super) fn generate_data_key(
        &self,
        body: &Input<'_>,
        region: &str,
        with_plaintext: bool,
    ) -> Result<Value, AwsError> {
        let key_id = body.nonempty_str("KeyId")?;
        let context = context(body, "EncryptionContext")?;
        let length = match (body.int("NumberOfBytes")?, body.str("KeySpec")?) {
            (Some(n), None) if (1..=1024).contains(&n) => n as usize,
            (Some(n), None) => {
                return Err(AwsError::constraint(
                    "numberOfBytes",
                    &format!("Member must have value between 1 and 1024 (got {n})"),
                ))
            }
            (None, Some("AES_256")) => 32,
            (None, Some("AES_128")) => 16,
            (None, Some(other)) => {
                return Err(AwsError::constraint(
                    "keySpec",
                    &format!(
                        "Member must satisfy enum value set: [AES_256, AES_128] (got {other:?})"
                    ),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(AwsError::validation(
                    "Please specify either number of bytes or key spec, not both.",
                ))
            }
            (None, None) => {
                return Err(AwsError::validation(
                    "Please specify either number of bytes or key spec.",
                ))
            }
        };
        let state = self.read();
        let key = self.find(&state, region, key_id, Accept::KeyOrAlias)?;
        key.check_usable()?;
        let mut plaintext = Zeroizing::new(vec![0u8; length]);
        rand::rngs::OsRng.fill_bytes(&mut plaintext);
        let blob = ciphertext::seal(key.id, &key.material, &plaintext, &context);
        let mut out = json!({ "CiphertextBlob": B64.encode(blob), "KeyId": key.arn() });
        if with_plaintext {
            out["Plaintext"] = Value::String(B64.encode(plaintext.as_slice()));
        }
        Ok(out)
    }

    pub(super) fn encrypt(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let key_id = body.nonempty_str("KeyId")?;
        let plaintext = body.required_blob("Plaintext")?;
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(AwsError::constraint(
                "plaintext",
                "Member must have length between 1 and 4096",
            ));
        }
        let context = context(body, "EncryptionContext")?;
        algorithm(body, "EncryptionAlgorithm")?;
        let state = self.read();
        let key = self.find(&state, region, key_id, Accept::KeyOrAlias)?;
        key.check_usable()?;
        let blob = ciphertext::seal(key.id, &key.material, &plaintext, &context);
        Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "KeyId": key.arn(),
            "EncryptionAlgorithm": ALGORITHM,
        }))
    }

    pub(super) fn decrypt(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let blob = body.required_blob("CiphertextBlob")?;
        let context = context(body, "EncryptionContext")?;
        algorithm(body, "EncryptionAlgorithm")?;
        let state = self.read();
        let (key, plaintext) =
            self.open_blob(&state, region, &blob, &context, body.str("KeyId")?)?;
        Ok(json!({
            "KeyId": key.arn(),
            "Plaintext": B64.encode(plaintext.as_slice()),
            "EncryptionAlgorithm": ALGORITHM,
        }))
    }

    pub(super) fn re_encrypt(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let blob = body.required_blob("CiphertextBlob")?;
        let source_context = context(body, "SourceEncryptionContext")?;
        let destination_context = context(body, "DestinationEncryptionContext")?;
        let destination = body.nonempty_str("DestinationKeyId")?;
        algorithm(body, "SourceEncryptionAlgorithm")?;
        algorithm(body, "DestinationEncryptionAlgorithm")?;
        let state = self.read();
        let (source, plaintext) = self.open_blob(
            &state,
            region,
            &blob,
            &source_context,
            body.str("SourceKeyId")?,
        )?;
        let target = self.find(&state, region, destination, Accept::KeyOrAlias)?;
        target.check_usable()?;
        let blob = ciphertext::seal(
            target.id,
            &target.material,
            &plaintext,
            &destination_context,
        );
        Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "SourceKeyId": source.arn(),
            "KeyId": target.arn(),
            "SourceEncryptionAlgorithm": ALGORITHM,
            "DestinationEncryptionAlgorithm": ALGORITHM,
        }))
    }

    /// Decrypts `blob`, checking an optional caller-named key and the key's state.
    fn open_blob<'s>(
        &self,
        state: &'s State,
        region: &str,
        blob: &[u8],
        context: &Context,
        named: Option<&str>,
    ) -> Result<(&'s Key, Zeroizing<Vec<u8>>), AwsError> {
        if blob.is_empty() || blob.len() > MAX_CIPHERTEXT {
            return Err(AwsError::constraint(
                "ciphertextBlob",
                "Member must have length between 1 and 6144",
            ));
        }
        let invalid = || AwsError::with_code("InvalidCiphertextException", "");
        // A key the caller names must exist here, and be the blob's.
        if let Some(named) = named {
            let expected = self.find(state, region, named, Accept::KeyOrAlias)?;
            if ciphertext::key_id(blob).is_some_and(|id| id != expected.id) {
                return Err(AwsError::with_code(
                    "IncorrectKeyException",
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        // A multi-Region key's blob opens with any of its replicas: they share the
        // id and the material.
        let key = ciphertext::key_id(blob)
            .and_then(|id| state.keys.get(&(id, region.to_owned())))
            .ok_or_else(invalid)?;
        key.check_usable()?;
        let plaintext = ciphertext::open(&key.material, blob, context).ok_or_else(invalid)?;
        Ok((key, plaintext))
    }
}
