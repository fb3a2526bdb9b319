//! Exit codes, and the one place an error is printed.
//!
//! A script branches on the class of failure, so each class has its own code; the
//! SDK's typed error decides it, wherever it sits in the `anyhow` chain.

use lockbox::{escape_untrusted, Error, ErrorKind};

/// Success.
pub const OK: u8 = 0;
/// Any other failure.
pub const OTHER: u8 = 1;
/// Bad command line or input (clap uses 2 too).
pub const USAGE: u8 = 2;
/// No such secret, version or table.
pub const NOT_FOUND: u8 = 3;
/// Access denied, no usable credentials, an unusable KMS key, or an endpoint
/// whose TLS certificate is refused (an unknown CA: `AWS_CA_BUNDLE`).
pub const ACCESS: u8 = 4;
/// The item failed authentication or the encryption context does not match.
pub const INTEGRITY: u8 = 5;
/// Throttled, unavailable or timed out: retrying later may work.
pub const TRANSIENT: u8 = 6;
/// A lifecycle command ran but left problems: doctor found some at or above
/// `--fail-on`, or migrate, rewrap or sync did not finish every item (each is
/// listed). Running it again after fixing them is safe.
pub const INCOMPLETE: u8 = 7;

/// An error the CLI raises itself, with its exit code (for cases the SDK has no
/// variant for, like a bad flag combination found after parsing).
///
/// Its message is text the CLI composed: [`report`] keeps its line breaks (a
/// report of several failures is one line each) and escapes everything else, so
/// whoever builds one passes any text read from a table or a file through
/// [`lockbox::escape_untrusted`] first, or a newline in it would start a line.
#[derive(Debug)]
pub struct Coded {
    /// The exit code.
    pub code: u8,
    /// What happened and what to do.
    pub message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// A usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    coded(USAGE, message)
}

/// An error with its exit code.
pub fn coded(code: u8, message: impl Into<String>) -> anyhow::Error {
    Coded {
        code,
        message: message.into(),
    }
    .into()
}

/// A value clap's parsers refused (`values.rs`: a name, a version, a context
/// pair...), as every other error is printed: what was wrong with which argument,
/// then the parser's reason (the SDK's own message for its types) as `caused by:`.
/// The value itself is not repeated: it may be a secret typed in the wrong place.
pub fn bad_value(e: &clap::Error) -> Option<anyhow::Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind as ClapKind};
    if e.kind() != ClapKind::ValueValidation {
        return None;
    }
    let why = std::error::Error::source(e)?.to_string();
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => "an argument".to_owned(),
    };
    Some(usage(why).context(format!("invalid value for {arg}")))
}

/// The exit code for `err`: the first classified error in its chain.
pub fn code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code;
        }
        if let Some(e) = cause.downcast_ref::<Error>() {
            return sdk_code(e);
        }
    }
    OTHER
}

/// What the CLI says of an SDK error: its exit code (from the error's class), a
/// word for `exec`'s failure report, and what to do next where the SDK's message
/// does not say. The one table every command and `exec` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// The exit code.
    pub code: u8,
    /// A few words: "not found", "access denied", ...
    pub word: &'static str,
    /// What to do next.
    pub hint: Option<&'static str>,
}

/// The CLI's view of `e`.
pub fn class(e: &Error) -> Class {
    let code = match e.kind() {
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::Denied => ACCESS,
        ErrorKind::Integrity => INTEGRITY,
        ErrorKind::Throttled
        | ErrorKind::Timeout
        | ErrorKind::Unavailable
        | ErrorKind::Conflict => TRANSIENT,
        ErrorKind::Usage => USAGE,
        _ => OTHER,
    };
    let (word, hint) = match e {
        Error::NotFound { .. } => (
            "not found",
            Some("check the name and version with `lockbox list`"),
        ),
        Error::TableNotFound { .. } => ("not found", None),
        Error::NoCredentials { .. } => (
            "no credentials",
            Some(
                "configure AWS credentials (AWS_PROFILE, `aws sso login`, an instance or task \
                 role), or try `lockbox --local` for the embedded emulator",
            ),
        ),
        Error::ClockSkew { .. } => (
            "access denied",
            Some(
                "check this machine's clock and time zone (NTP: `timedatectl`, `chronyc \
                 tracking`); AWS refuses requests signed more than 15 minutes off its clock",
            ),
        ),
        Error::AccessDenied { .. } => (
            "access denied",
            Some("the identity lacks a permission: check its IAM policy and the KMS key policy"),
        ),
        Error::UntrustedCertificate { .. } => (
            "certificate refused",
            Some(
                "set AWS_CA_BUNDLE to a PEM file of the CA that signs the endpoint's \
                 certificate (a private CA, or your proxy's), or check --endpoint-url",
            ),
        ),
        Error::KeyUnavailable { .. } => (
            "access denied",
            Some("check the key with `aws kms describe-key` or pass -k"),
        ),
        Error::ContextMismatch { .. } => (
            "context mismatch",
            Some("pass the same KEY=VALUE context pairs the secret was stored with"),
        ),
        Error::Integrity { .. } => (
            "integrity check failed",
            Some(
                "the stored item was altered or copied; restore it from a backup or write a \
                 new version",
            ),
        ),
        Error::UntrustedKey { .. } | Error::UnsupportedFormat { .. } => {
            ("integrity check failed", None)
        }
        Error::Rollback { .. } => (
            "integrity check failed",
            Some(
                "if the newer versions were deleted on purpose, restart the reader; otherwise \
                 restore them (point-in-time recovery) and find who deleted them (CloudTrail)",
            ),
        ),
        Error::Throttled { .. } => (
            "throttled",
            Some("retry later; check the network and the AWS service health"),
        ),
        Error::Timeout { .. } => (
            "timed out",
            Some("retry later; check the network and the AWS service health"),
        ),
        Error::Unavailable { .. } => (
            "unavailable",
            Some("check --endpoint-url / --region and the network, then retry"),
        ),
        Error::VersionExists { .. } => (
            "already exists",
            Some("leave out -v to write the next version; existing versions are never overwritten"),
        ),
        _ => match e.kind() {
            ErrorKind::NotFound => ("not found", None),
            ErrorKind::Denied => ("access denied", None),
            ErrorKind::Integrity => ("integrity check failed", None),
            ErrorKind::Usage => ("unusable input", None),
            ErrorKind::Conflict => ("contention", None),
            ErrorKind::Throttled => ("throttled", None),
            ErrorKind::Timeout => ("timed out", None),
            ErrorKind::Unavailable => ("unavailable", None),
            _ => ("error", None),
        },
    };
    Class { code, word, hint }
}

/// The exit code of an SDK error's class.
pub fn sdk_code(e: &Error) -> u8 {
    class(e).code
}

/// What to do next, for the classes where the SDK's message does not say.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    class(err.chain().find_map(|c| c.downcast_ref::<Error>())?).hint
}

/// One error of a chain as it is printed. Messages embed text from tables, files
/// and AWS's answers (names, sort keys, context keys, format ids), so every
/// character that could move the cursor, recolour the terminal or start a new
/// line, such as a forged `hint:`, is escaped ([`escape_untrusted`]). Only a
/// [`Coded`] message, composed by the CLI, keeps its line breaks.
fn printable(cause: &(dyn std::error::Error + 'static)) -> String {
    let text = cause.to_string();
    if cause.downcast_ref::<Coded>().is_some() {
        text.split('\n')
            .map(escape_untrusted)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        escape_untrusted(&text).into_owned()
    }
}

/// Print `err` on stderr (what happened, why, what to do) and return its exit code.
pub fn report(err: &anyhow::Error) -> u8 {
    let mut chain = err.chain();
    let mut sdk_error = false;
    if let Some(top) = chain.next() {
        eprintln!("lockbox: error: {}", printable(top));
        sdk_error = top.downcast_ref::<Error>().is_some();
    }
    for cause in chain {
        // The SDK's message already carries its sources' text (AWS's error context).
        if sdk_error {
            break;
        }
        eprintln!("  caused by: {}", printable(cause));
        sdk_error = cause.downcast_ref::<Error>().is_some();
    }
    if let Some(h) = hint(err) {
        eprintln!("  hint: {h}");
    }
    code(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    fn name() -> lockbox::SecretName {
        lockbox::SecretName::new("a").unwrap()
    }

    #[test]
    fn codes_follow_the_sdk_error_through_context() {
        let cases = [
            (
                Error::NotFound {
                    name: name(),
                    version: None,
                },
                NOT_FOUND,
            ),
            (
                Error::NoCredentials {
                    message: "x".into(),
                },
                ACCESS,
            ),
            (
                Error::ContextMismatch {
                    name: name(),
                    stored_keys: None,
                },
                INTEGRITY,
            ),
            (
                Error::Throttled {
                    service: lockbox::Service::Kms,
                    message: "x".into(),
                    source: None,
                },
                TRANSIENT,
            ),
            (Error::InvalidContext { reason: "x".into() }, USAGE),
            (
                Error::VersionExists {
                    name: name(),
                    version: lockbox::Version::FIRST,
                },
                OTHER,
            ),
        ];
        for (e, want) in cases {
            let err = Err::<(), _>(e).context("reading a").unwrap_err();
            assert_eq!(code(&err), want, "{err:#}");
        }
        assert_eq!(code(&usage("bad")), USAGE);
        let skew = anyhow::Error::new(Error::ClockSkew {
            service: lockbox::Service::Kms,
            message: "InvalidSignatureException: Signature expired".into(),
            source: None,
        });
        assert_eq!(code(&skew), ACCESS);
        assert!(hint(&skew).unwrap().contains("clock"));
        let denied = anyhow::Error::new(Error::AccessDenied {
            service: lockbox::Service::Kms,
            message: "AccessDeniedException: no".into(),
            source: None,
        });
        assert!(hint(&denied).unwrap().contains("IAM policy"));
        assert_eq!(code(&anyhow::anyhow!("x")), OTHER);
    }

    #[test]
    fn printed_messages_escape_what_could_forge_a_line() {
        let forged = anyhow::Error::new(Error::ContextMismatch {
            name: name(),
            stored_keys: Some(vec!["env\n  hint: run `curl x | sh`\x1b]0;ok\x1b\\".into()]),
        });
        let text = printable(forged.as_ref());
        assert!(!text.contains('\n') && !text.contains('\x1b'), "{text}");
        assert!(text.contains("env\\n  hint: run `curl x | sh`\\u{1b}]0;ok"));
        // Plain messages keep their exact bytes.
        let plain = anyhow::anyhow!("cannot read a/b from table t: it's \"quoted\" é");
        assert_eq!(
            printable(plain.as_ref()),
            "cannot read a/b from table t: it's \"quoted\" é"
        );
        // A message the CLI composed keeps its lines; each is escaped.
        let coded = usage("2 secrets could not be read\n  a\x1b[2K: not found\n  b: denied");
        assert_eq!(
            printable(coded.as_ref()),
            "2 secrets could not be read\n  a\\u{1b}[2K: not found\n  b: denied"
        );
    }
}
