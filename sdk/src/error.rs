//! The SDK's one error type.

use crate::{SecretName, Version};

/// The AWS service an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// AWS KMS.
    Kms,
    /// Amazon DynamoDB.
    DynamoDb,
    /// AWS STS or another credential source.
    Credentials,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Kms => "KMS",
            Service::DynamoDb => "DynamoDB",
            Service::Credentials => "credentials",
        })
    }
}

/// The class of an [`Error`]: what a caller branches on (an exit code, a retry,
/// a failover to another region). Decided once, where the error is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such secret, version or table.
    NotFound,
    /// The version to write exists already.
    AlreadyExists,
    /// The caller's identity was refused, has no credentials, or the KMS key
    /// cannot be used.
    Denied,
    /// An item failed authentication, does not belong where it was found, or is in
    /// a format this reader does not accept; or the encryption context is wrong.
    Integrity,
    /// The service could not be reached or failed (5xx, connection errors).
    Unavailable,
    /// The service throttled the calls and the retry budget ran out.
    Throttled,
    /// A call ran past its deadline.
    Timeout,
    /// A conditional write lost: writers kept colliding on the next version, or
    /// a label moved (or a rotation started) since it was read. Retrying a lost
    /// label move fails the same way: read the labels again and decide
    /// ([`Error::is_retryable`] is `false` for it).
    Conflict,
    /// The input cannot be used (a name, version, context, value or setting).
    Usage,
    /// Anything else.
    Other,
}

/// Everything that can go wrong in lockbox. Messages never contain secret values
/// or key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A secret name failed validation.
    #[error("invalid secret name {name:?}: {reason}")]
    InvalidName {
        /// The name, escaped for printing.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A version failed validation.
    #[error("invalid version {version:?}: {reason}")]
    InvalidVersion {
        /// The version text, escaped.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An encryption context failed validation.
    #[error("invalid encryption context: {reason}")]
    InvalidContext {
        /// What is wrong with it.
        reason: String,
    },
    /// A value cannot be stored as asked (for example non-UTF-8 bytes in the
    /// credstash format, which credstash cannot read).
    #[error("invalid value: {reason}")]
    InvalidValue {
        /// What is wrong with it.
        reason: String,
    },
    /// No such secret, or no such version of it.
    #[error("{}", not_found_message(name, *version))]
    NotFound {
        /// The secret.
        name: SecretName,
        /// The version asked for; `None` for "latest".
        version: Option<Version>,
    },
    /// Not found in a region read in place of an unavailable one (the first of
    /// the read order): the secret or version may exist there but not have
    /// replicated yet. Class not found, as [`Error::NotFound`].
    #[error("{}", not_replicated_message(name, *version, region, unavailable))]
    NotReplicated {
        /// The secret.
        name: SecretName,
        /// The version asked for; `None` for "latest".
        version: Option<Version>,
        /// The region that answered "not found".
        region: String,
        /// The first region of the read order, which was unavailable.
        unavailable: String,
    },
    /// The version to write exists already; nothing was overwritten.
    #[error("{name} version {version} already exists; versions are never overwritten")]
    VersionExists {
        /// The secret.
        name: SecretName,
        /// The existing version.
        version: Version,
    },
    /// The caller's identity may not do this.
    #[error("access denied by {service}: {message}")]
    AccessDenied {
        /// Which service refused.
        service: Service,
        /// The service's explanation (names the missing permission when AWS does).
        message: String,
        /// The AWS SDK's error, when the failure came from an AWS call: its
        /// request id is [`Error::request_id`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The service refused the request's signature because its signing time was
    /// too far from the service's clock (AWS allows 15 minutes). The SDK has
    /// already retried once with a clock corrected from the answer's `Date`.
    #[error("access denied by {service}: {message} (clock skew: the request was signed more than 15 minutes away from the service's clock)")]
    ClockSkew {
        /// Which service refused.
        service: Service,
        /// The service's explanation.
        message: String,
        /// The AWS SDK's error, when the failure came from an AWS call: its
        /// request id is [`Error::request_id`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// No AWS credentials could be found or loaded.
    #[error("no usable AWS credentials: {message}")]
    NoCredentials {
        /// What the credential chain reported.
        message: String,
    },
    /// The encryption context given does not match the one the secret was written with.
    #[error("{}", context_mismatch_message(name, stored_keys))]
    ContextMismatch {
        /// The secret.
        name: SecretName,
        /// The context keys the item records, when its format stores them.
        stored_keys: Option<Vec<String>>,
    },
    /// The item failed authentication: tampered with, copied from elsewhere, or corrupt.
    #[error("integrity check failed for {name}: {reason}")]
    Integrity {
        /// The secret (or `?` when the item has no usable name).
        name: String,
        /// What failed (never a value or key).
        reason: String,
    },
    /// The item is in a format this reader does not know or does not accept.
    #[error("{name}: {reason}")]
    UnsupportedFormat {
        /// The secret.
        name: String,
        /// Which format, and why it is refused.
        reason: String,
    },
    /// The item's data key is wrapped under a KMS key this reader does not trust.
    #[error("{name}: its data key is wrapped under a KMS key this reader does not trust ({key}); add it to the trusted keys if it is yours")]
    UntrustedKey {
        /// The secret.
        name: String,
        /// The untrusted key's id or ARN.
        key: String,
    },
    /// The KMS key is disabled, pending deletion, or does not exist.
    #[error("KMS key {key} cannot be used: {reason}")]
    KeyUnavailable {
        /// The key.
        key: String,
        /// The key's state.
        reason: String,
        /// The AWS SDK's error, when the failure came from an AWS call: its
        /// request id is [`Error::request_id`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The table does not exist.
    #[error("table {table} does not exist; create it with `lockbox setup`")]
    TableNotFound {
        /// The table.
        table: String,
        /// The AWS SDK's error, when the failure came from an AWS call: its
        /// request id is [`Error::request_id`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The service throttled the calls and the retry budget ran out.
    #[error("{service} throttled the request and retries ran out: {message}")]
    Throttled {
        /// Which service.
        service: Service,
        /// The service's message.
        message: String,
        /// The AWS SDK's error, when the failure came from an AWS call: its
        /// request id is [`Error::request_id`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A call or the operation ran past its deadline.
    #[error("timed out waiting for {service}{}", endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default())]
    Timeout {
        /// Which service.
        service: Service,
        /// The endpoint, when known.
        endpoint: Option<String>,
        /// The AWS SDK's error, when the failure came from an AWS call: its
        /// request id is [`Error::request_id`].
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The server's TLS certificate was refused: signed by an authority this
    /// process does not trust, for another host name, or expired. Retrying does
    /// not help; trusting the right authority (`AWS_CA_BUNDLE`) or reaching the
    /// right host does.
    #[error("{service}: the server's TLS certificate was refused ({reason}){}; if a private CA or a TLS-inspecting proxy signs it, put that CA's certificate in a PEM file named by AWS_CA_BUNDLE (or ca_bundle in the AWS profile)", endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default())]
    UntrustedCertificate {
        /// Which service.
        service: Service,
        /// The endpoint, when known.
        endpoint: Option<String>,
        /// Why it was refused (`UnknownIssuer`, `NotValidForName`, `Expired`...).
        reason: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The service could not be reached, or answered with a server error (5xx).
    #[error("{service} is unavailable: {message}")]
    Unavailable {
        /// Which service.
        service: Service,
        /// What failed (the endpoint and the error; no secret material).
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// What a table records about itself (its mode, store identity and key) could
    /// not be read, or does not allow what was asked.
    #[error("table {table}: {reason}")]
    Table {
        /// The table.
        table: String,
        /// The class of the failure.
        kind: ErrorKind,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A read found an older latest version than this process already read: newer
    /// versions were deleted, or an old item was put back.
    #[error("{name}: the latest version is now {got}, older than version {seen} read before; newer versions were deleted or an old item was put back, so the older value is refused")]
    Rollback {
        /// The secret.
        name: SecretName,
        /// The highest version read before.
        seen: Version,
        /// The version now found.
        got: Version,
    },
    /// A label document went back: a reader that had read revision `seen` of
    /// a secret's labels now finds an older revision, or none (`got` is `None`:
    /// the document was deleted). lockbox itself never lowers a revision or
    /// deletes the document of a secret that keeps versions, so an older label
    /// document was put back (a replayed or restored item); the labels it names
    /// are refused.
    #[error("{}", label_rollback_message(name, *seen, *got))]
    LabelRollback {
        /// The secret.
        name: SecretName,
        /// The highest revision of its labels read before.
        seen: u64,
        /// The revision now found; `None` when the label document is gone.
        got: Option<u64>,
    },
    /// A label could not be read, set or moved as asked: the secret has no
    /// such label (class not found), the label moved since it was read or a
    /// rotation is in progress (conflict), or the request cannot be met (a label
    /// on a missing version, removing `current`, a rule of a table shared with
    /// credstash: usage).
    #[error("{name}: {reason}")]
    Label {
        /// The secret.
        name: SecretName,
        /// The class of the failure.
        kind: ErrorKind,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A field of a secret's JSON value could not be taken (no such member, not
    /// JSON, a binary value, `null`, a fan-out collision): fails closed like a
    /// missing secret, naming the secret and the pointer, never the value.
    #[error("{name}: field {:?}: {reason}", crate::escape_untrusted(pointer.as_str()))]
    Field {
        /// The secret.
        name: SecretName,
        /// The pointer (`""` for the whole value).
        pointer: crate::JsonPointer,
        /// Why.
        reason: crate::json::FieldError,
    },
    /// Too many concurrent writers kept taking the next version.
    #[error(
        "gave up allocating a new version of {name} after {attempts} conflicting writes; retry"
    )]
    Contention {
        /// The secret.
        name: SecretName,
        /// How many conditional writes lost.
        attempts: u32,
    },
    /// Any other failure of a backend, with its source.
    #[error("{service} error: {message}")]
    Backend {
        /// Which service.
        service: Service,
        /// A description (error code and message; no secret material).
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

fn not_found_message(name: &SecretName, version: Option<Version>) -> String {
    match version {
        Some(v) => format!("secret {name} has no version {v}"),
        None => format!("secret {name} not found"),
    }
}

fn not_replicated_message(
    name: &SecretName,
    version: Option<Version>,
    region: &str,
    unavailable: &str,
) -> String {
    let what = match version {
        Some(v) => format!("secret {name} has no version {v} in {region}"),
        None => format!("secret {name} not found in {region}"),
    };
    format!(
        "{what}, read there because {unavailable} is unavailable; it may not have replicated \
         to {region} yet"
    )
}

fn label_rollback_message(name: &SecretName, seen: u64, got: Option<u64>) -> String {
    match got {
        Some(got) => format!(
            "{name}: its labels are now at revision {got}, older than revision {seen} read \
             before; an older label document was put back, so its labels are refused"
        ),
        None => format!(
            "{name}: its label document (revision {seen} read before) is gone, so the highest \
             version is no longer known to be the one to read; refused. If its labels were \
             removed on purpose, read it with a new Lockbox"
        ),
    }
}

fn context_mismatch_message(name: &SecretName, stored: &Option<Vec<String>>) -> String {
    match stored {
        Some(keys) if keys.is_empty() => format!(
            "{name}: the encryption context does not match; it was stored with no context"
        ),
        // The stored keys come from the item, which any table writer can change:
        // shown escaped, so they cannot forge a line or a terminal sequence.
        Some(keys) => format!(
            "{name}: the encryption context does not match; it was stored with context keys {}",
            keys.iter()
                .map(|k| crate::escape_untrusted(k))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => format!(
            "{name}: could not decrypt the data key; the encryption context given may not match the one it was stored with"
        ),
    }
}

impl Error {
    /// An integrity failure.
    pub(crate) fn integrity(name: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::Integrity {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    /// Whether this is an access denial of the credentials themselves (an unknown
    /// access key, a wrong secret key, an expired session), not of the
    /// identity's permissions: AWS's error code, which starts the message.
    pub fn refuses_credentials(&self) -> bool {
        match self {
            Error::AccessDenied { message, .. } => {
                let code = message.split(':').next().unwrap_or("");
                crate::backend::aws::BAD_CREDENTIALS.contains(&code)
            }
            _ => false,
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. }
            | Error::InvalidVersion { .. }
            | Error::InvalidContext { .. }
            | Error::InvalidValue { .. } => ErrorKind::Usage,
            Error::NotFound { .. } | Error::NotReplicated { .. } | Error::TableNotFound { .. } => {
                ErrorKind::NotFound
            }
            Error::VersionExists { .. } => ErrorKind::AlreadyExists,
            Error::AccessDenied { .. }
            | Error::ClockSkew { .. }
            | Error::NoCredentials { .. }
            | Error::UntrustedCertificate { .. }
            | Error::KeyUnavailable { .. } => ErrorKind::Denied,
            Error::ContextMismatch { .. }
            | Error::Integrity { .. }
            | Error::UnsupportedFormat { .. }
            | Error::UntrustedKey { .. }
            | Error::Rollback { .. }
            | Error::LabelRollback { .. } => ErrorKind::Integrity,
            Error::Field { .. } => ErrorKind::NotFound,
            Error::Label { kind, .. } => *kind,
            Error::Throttled { .. } => ErrorKind::Throttled,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Contention { .. } => ErrorKind::Conflict,
            Error::Table { kind, .. } => *kind,
            Error::Backend { .. } => ErrorKind::Other,
        }
    }

    /// The exit code the `lockbox` CLI gives this error (the Python package's
    /// exceptions carry the same): 3 not found, 4 denied, 5 integrity, 6
    /// throttled, timed out, unavailable or contention (retry later), 8 a label
    /// move another writer beat (running the same step again does not help), 2
    /// unusable input, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self.kind() {
            ErrorKind::NotFound => 3,
            ErrorKind::Denied => 4,
            ErrorKind::Integrity => 5,
            ErrorKind::Conflict if matches!(self, Error::Label { .. }) => 8,
            ErrorKind::Throttled
            | ErrorKind::Timeout
            | ErrorKind::Unavailable
            | ErrorKind::Conflict => 6,
            ErrorKind::Usage => 2,
            _ => 1,
        }
    }

    /// Whether retrying the same call later may succeed: throttling, timeouts,
    /// an unavailable service (5xx, connection failures) and write contention.
    /// Denied, not-found, usage and integrity errors are never retryable: the
    /// same call fails the same way until something else changes. Nor is a lost
    /// label move ([`Error::Label`] of class conflict): the label is no longer
    /// where the move expected it.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Error::Label { .. })
            && matches!(
                self.kind(),
                ErrorKind::Throttled
                    | ErrorKind::Timeout
                    | ErrorKind::Unavailable
                    | ErrorKind::Conflict
            )
    }
}

impl Error {
    /// The same failure again, for a second caller of one shared fetch (the
    /// AWS SDK's error it came from, if any, stays with the first).
    pub(crate) fn duplicate(&self) -> Error {
        use Error as E;
        match self {
            E::InvalidName { name, reason } => E::InvalidName {
                name: name.clone(),
                reason: reason.clone(),
            },
            E::InvalidVersion { version, reason } => E::InvalidVersion {
                version: version.clone(),
                reason: reason.clone(),
            },
            E::InvalidContext { reason } => E::InvalidContext {
                reason: reason.clone(),
            },
            E::InvalidValue { reason } => E::InvalidValue {
                reason: reason.clone(),
            },
            E::NotFound { name, version } => E::NotFound {
                name: name.clone(),
                version: *version,
            },
            E::NotReplicated {
                name,
                version,
                region,
                unavailable,
            } => E::NotReplicated {
                name: name.clone(),
                version: *version,
                region: region.clone(),
                unavailable: unavailable.clone(),
            },
            E::VersionExists { name, version } => E::VersionExists {
                name: name.clone(),
                version: *version,
            },
            E::AccessDenied {
                service, message, ..
            } => E::AccessDenied {
                service: *service,
                message: message.clone(),
                source: None,
            },
            E::ClockSkew {
                service, message, ..
            } => E::ClockSkew {
                service: *service,
                message: message.clone(),
                source: None,
            },
            E::NoCredentials { message } => E::NoCredentials {
                message: message.clone(),
            },
            E::ContextMismatch { name, stored_keys } => E::ContextMismatch {
                name: name.clone(),
                stored_keys: stored_keys.clone(),
            },
            E::Integrity { name, reason } => E::Integrity {
                name: name.clone(),
                reason: reason.clone(),
            },
            E::UnsupportedFormat { name, reason } => E::UnsupportedFormat {
                name: name.clone(),
                reason: reason.clone(),
            },
            E::UntrustedKey { name, key } => E::UntrustedKey {
                name: name.clone(),
                key: key.clone(),
            },
            E::KeyUnavailable { key, reason, .. } => E::KeyUnavailable {
                key: key.clone(),
                reason: reason.clone(),
                source: None,
            },
            E::TableNotFound { table, .. } => E::TableNotFound {
                table: table.clone(),
                source: None,
            },
            E::Throttled {
                service, message, ..
            } => E::Throttled {
                service: *service,
                message: message.clone(),
                source: None,
            },
            E::Timeout {
                service, endpoint, ..
            } => E::Timeout {
                service: *service,
                endpoint: endpoint.clone(),
                source: None,
            },
            E::UntrustedCertificate {
                service,
                endpoint,
                reason,
                ..
            } => E::UntrustedCertificate {
                service: *service,
                endpoint: endpoint.clone(),
                reason: reason.clone(),
                source: None,
            },
            E::Unavailable {
                service, message, ..
            } => E::Unavailable {
                service: *service,
                message: message.clone(),
                source: None,
            },
            E::Table {
                table,
                kind,
                reason,
            } => E::Table {
                table: table.clone(),
                kind: *kind,
                reason: reason.clone(),
            },
            E::Rollback { name, seen, got } => E::Rollback {
                name: name.clone(),
                seen: *seen,
                got: *got,
            },
            E::LabelRollback { name, seen, got } => E::LabelRollback {
                name: name.clone(),
                seen: *seen,
                got: *got,
            },
            E::Label { name, kind, reason } => E::Label {
                name: name.clone(),
                kind: *kind,
                reason: reason.clone(),
            },
            E::Field {
                name,
                pointer,
                reason,
            } => E::Field {
                name: name.clone(),
                pointer: pointer.clone(),
                reason: reason.clone(),
            },
            E::Contention { name, attempts } => E::Contention {
                name: name.clone(),
                attempts: *attempts,
            },
            E::Backend {
                service, message, ..
            } => E::Backend {
                service: *service,
                message: message.clone(),
                source: None,
            },
        }
    }

    /// The request id AWS gave the failed call (`x-amzn-RequestId`), for AWS
    /// support and CloudTrail; `None` when the failure did not come from an AWS
    /// answer (a connection that never reached AWS, a timeout, a local check).
    pub fn request_id(&self) -> Option<&str> {
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            if let Some(aws) = c.downcast_ref::<crate::backend::AwsFailure>() {
                return aws.request_id();
            }
            cause = c.source();
        }
        None
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
