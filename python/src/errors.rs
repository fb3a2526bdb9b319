//! SDK errors as Python exceptions: one class per [`ErrorKind`], each carrying the
//! message and the hint the `lockbox` CLI prints for the same error.
//!
//! The classes are defined in Python (`lockbox_secrets/_errors.py`, so they can be
//! subclassed and documented there) and looked up once.

use lockbox::{Error, ErrorKind, Service};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

/// The module that defines the exception classes.
const ERRORS_MODULE: &str = "lockbox_secrets._errors";

/// What to do next, for the classes where the SDK's message does not say.
///
/// The CLI has its own (`cli/src/exit.rs`), which repeats the flags in use and
/// suggests close names; a program's exception gives the advice without them.
/// `tests/test_errors.py` checks that an exception has a hint exactly where the
/// CLI gives one for the same error.
pub fn hint(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::NotFound { .. } => "check the name and version with `lockbox list`",
        Error::NotReplicated { .. } => {
            "retry once the first region answers again, or after the replication lag; if it \
             is still missing then, it does not exist"
        }
        Error::NoCredentials { .. } => {
            "configure AWS credentials (AWS_PROFILE, `aws sso login`, an instance or task \
             role), or try `lockbox --local` for the embedded emulator"
        }
        Error::ClockSkew { .. } => {
            "check this machine's clock and time zone (NTP: `timedatectl`, `chronyc tracking`); \
             AWS refuses requests signed more than 15 minutes off its clock"
        }
        Error::AccessDenied { .. } => {
            "the identity lacks a permission: check its IAM policy and the KMS key policy"
        }
        Error::ContextMismatch { .. } => {
            "pass the same KEY=VALUE context pairs the secret was stored with"
        }
        Error::Integrity { .. } => {
            "the stored item was altered or copied; restore it from a backup or write a new version"
        }
        Error::Throttled { .. } | Error::Timeout { .. } => {
            "retry later; check the network and the AWS service health"
        }
        Error::VersionExists { .. } => {
            "leave out -v to write the next version; existing versions are never overwritten"
        }
        Error::KeyUnavailable { .. } => "check the key with `aws kms describe-key` or pass -k",
        Error::Unavailable { .. } => "check --endpoint-url / --region and the network, then retry",
        Error::UntrustedCertificate { .. } => {
            "set AWS_CA_BUNDLE to a PEM file of the CA that signs the endpoint's certificate"
        }
        Error::Label {
            kind: ErrorKind::Conflict,
            ..
        } => {
            "nothing was changed; see where the labels are now with `labels()`, then decide \
             (running the same call again does not help)"
        }
        Error::Rollback { .. } => {
            "if the newer versions were deleted on purpose, restart the reader; otherwise \
             restore them (point-in-time recovery) and find who deleted them (CloudTrail)"
        }
        _ => return None,
    })
}

/// The `kind` attribute: the error class, as `ErrorKind` names it.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::AlreadyExists => "already_exists",
        ErrorKind::Denied => "denied",
        ErrorKind::Integrity => "integrity",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Throttled => "throttled",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Usage => "usage",
        _ => "other",
    }
}

/// The `code` attribute: which error of its class (the SDK's variant).
fn code_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidName { .. } => "invalid_name",
        Error::InvalidVersion { .. } => "invalid_version",
        Error::InvalidContext { .. } => "invalid_context",
        Error::InvalidValue { .. } => "invalid_value",
        Error::NotFound { .. } => "secret_not_found",
        Error::NotReplicated { .. } => "not_replicated",
        Error::TableNotFound { .. } => "table_not_found",
        Error::VersionExists { .. } => "version_exists",
        Error::AccessDenied { .. } => "access_denied",
        Error::ClockSkew { .. } => "clock_skew",
        Error::NoCredentials { .. } => "no_credentials",
        Error::KeyUnavailable { .. } => "key_unavailable",
        Error::ContextMismatch { .. } => "context_mismatch",
        Error::Integrity { .. } => "integrity",
        Error::UnsupportedFormat { .. } => "unsupported_format",
        Error::UntrustedKey { .. } => "untrusted_key",
        Error::Rollback { .. } => "rollback",
        Error::Throttled { .. } => "throttled",
        Error::Timeout { .. } => "timeout",
        Error::Unavailable { .. } => "unavailable",
        Error::UntrustedCertificate { .. } => "untrusted_certificate",
        Error::Table { .. } => "table",
        Error::Contention { .. } => "contention",
        Error::Backend { .. } => "backend",
        Error::Label { .. } => "label",
        Error::LabelRollback { .. } => "label_rollback",
        Error::Field { .. } => "field",
        _ => "other",
    }
}

/// The AWS service the error came from, where the SDK says.
fn service(e: &Error) -> Option<&'static str> {
    let s = match e {
        Error::AccessDenied { service, .. }
        | Error::ClockSkew { service, .. }
        | Error::Throttled { service, .. }
        | Error::Timeout { service, .. }
        | Error::Unavailable { service, .. }
        | Error::UntrustedCertificate { service, .. }
        | Error::Backend { service, .. } => *service,
        Error::KeyUnavailable { .. } | Error::ContextMismatch { .. } => Service::Kms,
        Error::TableNotFound { .. } => Service::DynamoDb,
        Error::NoCredentials { .. } => Service::Credentials,
        _ => return None,
    };
    Some(match s {
        Service::Kms => "kms",
        Service::DynamoDb => "dynamodb",
        Service::Credentials => "credentials",
        _ => return None,
    })
}

/// The secret the error concerns, where it names one.
fn subject(e: &Error) -> Option<String> {
    Some(match e {
        Error::NotFound { name, .. }
        | Error::VersionExists { name, .. }
        | Error::ContextMismatch { name, .. }
        | Error::Rollback { name, .. }
        | Error::Contention { name, .. }
        | Error::Label { name, .. }
        | Error::LabelRollback { name, .. }
        | Error::Field { name, .. } => name.as_str().to_owned(),
        Error::Integrity { name, .. }
        | Error::UnsupportedFormat { name, .. }
        | Error::UntrustedKey { name, .. } => name.clone(),
        _ => return None,
    })
}

/// The exception class of an error.
fn class_name(e: &Error) -> &'static str {
    if matches!(e, Error::ContextMismatch { .. }) {
        return "ContextMismatchError";
    }
    match e.kind() {
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::AlreadyExists => "AlreadyExistsError",
        ErrorKind::Denied => "AccessDeniedError",
        ErrorKind::Integrity => "IntegrityError",
        ErrorKind::Unavailable => "UnavailableError",
        ErrorKind::Throttled => "ThrottledError",
        ErrorKind::Timeout => "TimedOutError",
        ErrorKind::Conflict => "ConflictError",
        ErrorKind::Usage => "UsageError",
        _ => "LockboxError",
    }
}

/// The `lockbox_secrets._errors` module, imported once.
fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || Ok(PyModule::import(py, ERRORS_MODULE)?.unbind()))
        .map(|m| m.bind(py))
}

/// Build the exception `class(message, hint=..., kind=..., code=..., ...)`.
fn raise(
    py: Python<'_>,
    class: &str,
    message: &str,
    fields: &[(&str, Option<&str>)],
    exit: u8,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = errors_module(py)?.getattr(class)?;
        let kwargs = PyDict::new(py);
        for (k, v) in fields {
            kwargs.set_item(k, v)?;
        }
        kwargs.set_item("exit_code", exit)?;
        Ok(PyErr::from_value(cls.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|e| e)
}

/// An SDK error as a Python exception. The message is the SDK's, which never holds
/// a secret value or key byte.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    let kind = e.kind();
    let name = subject(e);
    raise(
        py,
        class_name(e),
        &e.to_string(),
        &[
            ("hint", hint(e)),
            ("kind", Some(kind_name(kind))),
            ("code", Some(code_name(e))),
            ("service", service(e)),
            ("name", name.as_deref()),
        ],
        e.exit_code(),
    )
}

/// A usage error raised by this module itself (a bad argument found after
/// Python's own type checks).
pub fn usage(py: Python<'_>, message: &str) -> PyErr {
    raise(
        py,
        "UsageError",
        message,
        &[("kind", Some("usage")), ("code", Some("invalid_argument"))],
        2,
    )
}

/// A bug: a Rust panic, caught before it reaches the interpreter. Its message may
/// hold data, so it is not shown.
pub fn internal(py: Python<'_>) -> PyErr {
    raise(
        py,
        "InternalError",
        "internal error in lockbox (a bug): the operation was stopped; no value was shown. \
         Please report it",
        &[("kind", Some("other")), ("code", Some("internal"))],
        1,
    )
}
