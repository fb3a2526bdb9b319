//! [`KmsKeyService`]: data keys from AWS KMS.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use zeroize::Zeroizing;

use super::aws::{map_sdk_error, service_code};
use super::{DataKey, KeyService};
use crate::{EncryptionContext, Error, Result, SecretName, Service};

/// Wraps data keys with `GenerateDataKey` under the writer's key and unwraps them
/// with `Decrypt`, pinning the key: a blob is only unwrapped by a key this reader
/// trusts (the writer's key by default), never by whichever key the blob names.
#[derive(Debug, Clone)]
pub struct KmsKeyService {
    client: aws_sdk_kms::Client,
    key_id: String,
    trusted: Vec<String>,
    endpoint: Option<String>,
}

impl KmsKeyService {
    /// Write under `key_id` (id, ARN, alias or alias ARN) and trust only it.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        let key_id = key_id.into();
        Self {
            client,
            trusted: vec![key_id.clone()],
            key_id,
            endpoint: None,
        }
    }

    /// Name the endpoint in timeout and connection errors.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Also trust these keys when reading (tables whose secrets were written
    /// under several keys). The writer's key stays trusted and is tried first.
    pub fn trust(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        for k in keys {
            let k = k.into();
            if !self.trusted.contains(&k) {
                self.trusted.push(k);
            }
        }
        self
    }

    /// The key new data keys are generated under.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn map<E, R>(&self, err: aws_sdk_kms::error::SdkError<E, R>) -> Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        map_sdk_error(Service::Kms, self.endpoint.as_deref(), err)
    }
}

/// Key states reported by KMS as their own error codes.
fn key_state_error(code: &str, key: &str, message: &str) -> Option<Error> {
    let reason = match code {
        "DisabledException" => "the key is disabled",
        "KMSInvalidStateException" => "the key is pending deletion or otherwise unusable",
        "NotFoundException" => "no such key (check the key id or alias)",
        "KeyUnavailableException" => "the key is unavailable",
        _ => return None,
    };
    Some(Error::KeyUnavailable {
        key: key.to_owned(),
        reason: format!("{reason} ({message})"),
    })
}

#[async_trait]
impl KeyService for KmsKeyService {
    async fn generate_data_key(
        &self,
        bytes: usize,
        context: &EncryptionContext,
    ) -> Result<DataKey> {
        let n = i32::try_from(bytes).map_err(|_| Error::InvalidValue {
            reason: "data key size out of range".into(),
        })?;
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .number_of_bytes(n)
            .set_encryption_context((!context.is_empty()).then(|| context.to_map()))
            .send()
            .await
            .map_err(|e| {
                let msg = aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&e)
                    .unwrap_or("")
                    .to_owned();
                match service_code(&e).and_then(|c| key_state_error(c, &self.key_id, &msg)) {
                    Some(err) => err,
                    None => self.map(e),
                }
            })?;
        let plaintext = Zeroizing::new(
            out.plaintext
                .ok_or_else(|| Error::Backend {
                    service: Service::Kms,
                    message: "GenerateDataKey returned no plaintext".into(),
                    source: None,
                })?
                .into_inner(),
        );
        let wrapped = out
            .ciphertext_blob
            .ok_or_else(|| Error::Backend {
                service: Service::Kms,
                message: "GenerateDataKey returned no ciphertext".into(),
                source: None,
            })?
            .into_inner();
        if plaintext.len() != bytes {
            return Err(Error::Backend {
                service: Service::Kms,
                message: format!(
                    "KMS returned a {}-byte data key, expected {bytes}",
                    plaintext.len()
                ),
                source: None,
            });
        }
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt_data_key(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>> {
        for key in &self.trusted {
            let result = self
                .client
                .decrypt()
                .key_id(key)
                .ciphertext_blob(Blob::new(wrapped))
                .set_encryption_context((!context.is_empty()).then(|| context.to_map()))
                .send()
                .await;
            match result {
                Ok(out) => {
                    let plaintext = out.plaintext.ok_or_else(|| Error::Backend {
                        service: Service::Kms,
                        message: "Decrypt returned no plaintext".into(),
                        source: None,
                    })?;
                    return Ok(Zeroizing::new(plaintext.into_inner()));
                }
                Err(e) => {
                    let msg = aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&e)
                        .unwrap_or("")
                        .to_owned();
                    match service_code(&e) {
                        // The blob is under another key: try the next trusted one.
                        Some("IncorrectKeyException") => continue,
                        Some("InvalidCiphertextException") => {
                            return Err(Error::ContextMismatch {
                                name: name.clone(),
                                stored_keys: None,
                            })
                        }
                        Some(code) => {
                            if let Some(err) = key_state_error(code, key, &msg) {
                                return Err(err);
                            }
                            return Err(self.map(e));
                        }
                        None => return Err(self.map(e)),
                    }
                }
            }
        }
        Err(Error::UntrustedKey {
            name: name.to_string(),
            key: format!("not one of {}", self.trusted.join(", ")),
        })
    }
}
