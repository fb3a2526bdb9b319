//! [`KmsKeyService`]: data keys from AWS KMS.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use zeroize::Zeroizing;

use super::aws::{map_sdk_error, service_code, AwsFailure};
use super::{DataKey, KeyDescription, KeyService, ReEncrypted, UnwrappedKey};
use crate::{EncryptionContext, Error, Result, SecretName, Service};

/// Wraps data keys with `GenerateDataKey` under the writer's key and unwraps them
/// with `Decrypt`, pinning the key: a blob is only unwrapped by a key this reader
/// trusts (the writer's key by default), never by whichever key the blob names.
#[derive(Debug, Clone)]
pub struct KmsKeyService {
    client: aws_sdk_kms::Client,
    key_id: String,
    trusted: Vec<String>,
    /// The keys named by [`KmsKeyService::trust`]: trusted explicitly, even when
    /// one of them is also the writer's key.
    explicit: Vec<String>,
    endpoint: Option<String>,
    finishing: Finishing,
    warm: Option<std::sync::Arc<Warm>>,
}

/// What [`KmsKeyService::warm_with`] needs to open connections to the KMS
/// endpoint ahead of the first calls: the HTTP client's warmer, the timeouts its
/// calls use (which pool), and what picks the endpoint.
#[derive(Debug, Clone)]
pub(crate) struct WarmPlan {
    pub(crate) warmer: crate::transport::Warmer,
    pub(crate) timeouts: aws_smithy_types::timeout::TimeoutConfig,
    pub(crate) region: String,
    pub(crate) use_fips: bool,
    pub(crate) use_dual_stack: bool,
    pub(crate) endpoint_url: Option<String>,
}

#[derive(Debug)]
struct Warm {
    plan: WarmPlan,
    /// Set by the first [`KeyService::open_connections`]: a process warms once,
    /// at start-up; later calls find the connections in the pool or open them.
    done: AtomicBool,
}

/// Set by [`KeyService::finishing`]: from then on each `Decrypt` asks for its
/// connection to be closed after the answer (`Connection: close`, a hop-by-hop
/// header added after signing). A clone starts with its original's state.
#[derive(Debug, Default)]
struct Finishing(AtomicBool);

impl Finishing {
    fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Clone for Finishing {
    fn clone(&self) -> Self {
        Self(AtomicBool::new(self.get()))
    }
}

/// Adds `Connection: close` to a request once it is signed: a hop-by-hop header
/// that a proxy may drop or change must not be covered by the signature.
#[derive(Debug)]
struct CloseAfterAnswer;

impl aws_smithy_runtime_api::client::interceptors::Intercept for CloseAfterAnswer {
    fn name(&self) -> &'static str {
        "CloseAfterAnswer"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("connection", "close");
        Ok(())
    }
}

impl KmsKeyService {
    /// Write under `key_id` (id, ARN, alias or alias ARN) and trust only it.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        let key_id = key_id.into();
        Self {
            client,
            trusted: vec![key_id.clone()],
            explicit: Vec::new(),
            key_id,
            endpoint: None,
            finishing: Finishing::default(),
            warm: None,
        }
    }

    /// Open connections to the KMS endpoint as [`KeyService::open_connections`]
    /// asks, through `plan`'s HTTP client (the one `from_env` builds).
    pub(crate) fn warm_with(mut self, plan: WarmPlan) -> Self {
        self.warm = Some(std::sync::Arc::new(Warm {
            plan,
            done: AtomicBool::new(false),
        }));
        self
    }

    /// Name the endpoint in timeout and connection errors.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Also trust these keys when reading (tables whose secrets were written
    /// under several keys). The writer's key stays trusted and is tried first.
    ///
    /// A key named here is trusted *explicitly*: an item it unwraps is accepted
    /// whatever key the table is pinned to, even when it is also the writer's
    /// key. That is what a key rotation needs (`lockbox rewrap`): readers that
    /// trust both the old and the new key explicitly read every item while the
    /// items move and after the table's pin moves.
    pub fn trust(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        for k in keys {
            let k = k.into();
            if !self.trusted.contains(&k) {
                self.trusted.push(k.clone());
            }
            if !self.explicit.contains(&k) {
                self.explicit.push(k);
            }
        }
        self
    }

    /// The key new data keys are generated under.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn map<E>(
        &self,
        err: aws_sdk_kms::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        map_sdk_error(Service::Kms, self.endpoint.as_deref(), err)
    }
}

/// Key states reported by KMS as their own error codes.
/// The reason of [`Error::KeyUnavailable`] for a key that does not exist (in
/// the region asked).
pub(crate) const NO_SUCH_KEY: &str = "no such key (check the key id or alias)";

fn key_state_reason(code: &str) -> Option<&'static str> {
    Some(match code {
        "DisabledException" => "the key is disabled",
        "KMSInvalidStateException" => "the key is pending deletion or otherwise unusable",
        "NotFoundException" => NO_SUCH_KEY,
        "KeyUnavailableException" => "the key is unavailable",
        _ => return None,
    })
}

impl KmsKeyService {
    /// Map an error of a call about `key`: a key-state code becomes
    /// [`Error::KeyUnavailable`], anything else is mapped as any AWS error.
    fn key_error<E>(
        &self,
        key: &str,
        err: aws_sdk_kms::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        match service_code(&err).and_then(key_state_reason) {
            Some(reason) => {
                let message =
                    aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&err)
                        .unwrap_or("");
                Error::KeyUnavailable {
                    key: key.to_owned(),
                    reason: format!("{reason} ({message})"),
                    source: Some(AwsFailure::wrap(err)),
                }
            }
            None => self.map(err),
        }
    }
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
            .map_err(|e| self.key_error(&self.key_id, e))?;
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
        let key_id = out.key_id;
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
        Ok(DataKey {
            plaintext,
            wrapped,
            key_id,
        })
    }

    async fn decrypt_data_key(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<UnwrappedKey> {
        for key in &self.trusted {
            let call = self
                .client
                .decrypt()
                .key_id(key)
                .ciphertext_blob(Blob::new(wrapped))
                .set_encryption_context((!context.is_empty()).then(|| context.to_map()));
            let result = if self.finishing.get() {
                call.customize().interceptor(CloseAfterAnswer).send().await
            } else {
                call.send().await
            };
            match result {
                Ok(out) => {
                    crate::served::kms(self.client.config().region().map(|r| r.as_ref()));
                    let plaintext = out.plaintext.ok_or_else(|| Error::Backend {
                        service: Service::Kms,
                        message: "Decrypt returned no plaintext".into(),
                        source: None,
                    })?;
                    return Ok(UnwrappedKey {
                        plaintext: Zeroizing::new(plaintext.into_inner()),
                        key_id: out.key_id,
                        trusted_explicitly: *key != self.key_id || self.explicit.contains(key),
                    });
                }
                Err(e) => match service_code(&e) {
                    // The blob is under another key: try the next trusted one.
                    Some("IncorrectKeyException") => continue,
                    Some("InvalidCiphertextException") => {
                        return Err(Error::ContextMismatch {
                            name: name.clone(),
                            stored_keys: None,
                        })
                    }
                    _ => return Err(self.key_error(key, e)),
                },
            }
        }
        Err(Error::UntrustedKey {
            name: name.to_string(),
            key: format!("not one of {}", self.trusted.join(", ")),
        })
    }

    async fn writer_key_arn(&self) -> Result<String> {
        let out = self
            .client
            .describe_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| self.key_error(&self.key_id, e))?;
        out.key_metadata
            .and_then(|m| m.arn)
            .ok_or_else(|| Error::Backend {
                service: Service::Kms,
                message: format!("DescribeKey of {} returned no key ARN", self.key_id),
                source: None,
            })
    }

    async fn describe_key(&self) -> Result<KeyDescription> {
        let out = self
            .client
            .describe_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| self.key_error(&self.key_id, e))?;
        let meta = out.key_metadata.ok_or_else(|| Error::Backend {
            service: Service::Kms,
            message: format!("DescribeKey of {} returned no key metadata", self.key_id),
            source: None,
        })?;
        Ok(KeyDescription {
            arn: meta.arn.clone().ok_or_else(|| Error::Backend {
                service: Service::Kms,
                message: format!("DescribeKey of {} returned no key ARN", self.key_id),
                source: None,
            })?,
            state: meta.key_state.as_ref().map(|s| s.as_str().to_owned()),
            enabled: meta.enabled,
            multi_region: meta.multi_region,
        })
    }

    async fn re_encrypt(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
        from: &[String],
        to: &str,
    ) -> Result<ReEncrypted> {
        let map = (!context.is_empty()).then(|| context.to_map());
        for key in from {
            let result = self
                .client
                .re_encrypt()
                .ciphertext_blob(Blob::new(wrapped))
                .source_key_id(key)
                .set_source_encryption_context(map.clone())
                .destination_key_id(to)
                .set_destination_encryption_context(map.clone())
                .send()
                .await;
            match result {
                Ok(out) => {
                    let blob = out.ciphertext_blob.ok_or_else(|| Error::Backend {
                        service: Service::Kms,
                        message: "ReEncrypt returned no ciphertext".into(),
                        source: None,
                    })?;
                    return Ok(ReEncrypted {
                        wrapped: blob.into_inner(),
                        source_key_id: out.source_key_id,
                        key_id: out.key_id,
                    });
                }
                Err(e) => match service_code(&e) {
                    // The blob is under another key: try the next one.
                    Some("IncorrectKeyException") => continue,
                    Some("InvalidCiphertextException") => {
                        return Err(Error::ContextMismatch {
                            name: name.clone(),
                            stored_keys: None,
                        })
                    }
                    _ => {
                        // A key-state error names the source or the destination key.
                        let message =
                            aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&e)
                                .unwrap_or("");
                        let which = if message.contains(to) {
                            to
                        } else {
                            key.as_str()
                        };
                        return Err(self.key_error(which, e));
                    }
                },
            }
        }
        Err(Error::UntrustedKey {
            name: name.to_string(),
            key: format!("not one of {}", from.join(", ")),
        })
    }

    fn finishing(&self) {
        self.finishing.0.store(true, Ordering::Relaxed);
    }

    async fn open_connections(&self, calls: usize) {
        let Some(warm) = &self.warm else { return };
        if warm.done.swap(true, Ordering::Relaxed) {
            return;
        }
        let plan = &warm.plan;
        let params = aws_sdk_kms::config::endpoint::Params::builder()
            .region(plan.region.clone())
            .use_fips(plan.use_fips)
            .use_dual_stack(plan.use_dual_stack)
            .set_endpoint(plan.endpoint_url.clone())
            .build();
        let Ok(params) = params else { return };
        use aws_sdk_kms::config::endpoint::ResolveEndpoint as _;
        let Ok(endpoint) = aws_sdk_kms::config::endpoint::DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
        else {
            return;
        };
        plan.warmer
            .open(endpoint.url(), calls, &plan.timeouts)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;

    use super::*;

    /// Serves KMS `Decrypt` answers on one keep-alive connection until the
    /// client closes it; returns each request's head, lower-cased.
    fn serve_one_connection(listener: TcpListener) -> Vec<String> {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut writer = conn;
        let mut heads = Vec::new();
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 {
                    return heads; // the client closed the connection
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            heads.push(head);
            let answer = r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#;
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: r\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn once_finishing_each_decrypt_closes_its_connection_after_the_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || serve_one_connection(listener));
        let options = crate::aws::test_options(&format!("http://127.0.0.1:{port}"));
        let config = crate::aws::load(&options).await.unwrap();
        let keys = KmsKeyService::new(aws_sdk_kms::Client::new(&config), "alias/k");
        let name = SecretName::new("s").unwrap();
        let context = EncryptionContext::new();

        // Before: the connection is kept for the next call, which reuses it.
        let key = keys
            .decrypt_data_key(&name, b"blob", &context)
            .await
            .unwrap();
        assert_eq!(key.plaintext.len(), 32);
        keys.finishing();
        let key = keys
            .decrypt_data_key(&name, b"blob", &context)
            .await
            .unwrap();
        assert_eq!(key.plaintext.len(), 32);

        // Both calls came on one connection; only the second asked to close it.
        let heads = server.join().unwrap();
        assert_eq!(heads.len(), 2, "both calls on the first connection");
        assert!(!heads[0].contains("connection: close"), "{}", heads[0]);
        assert!(heads[1].contains("connection: close"), "{}", heads[1]);
        assert!(heads[1].contains("x-amz-target: trentservice.decrypt"));
        // Added after signing: not among the signed headers.
        let signed = heads[1]
            .lines()
            .find_map(|l| l.split("signedheaders=").nth(1))
            .expect("a SigV4 authorization header");
        assert!(signed.contains("x-amz-target"), "{signed}");
        assert!(!signed.contains("connection"), "{signed}");
    }
}
