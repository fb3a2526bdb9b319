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
/// A label moved, or a rotation started or ended, since this command read the
/// labels (another operator was first): nothing was changed. Unlike exit 6,
/// running it again as it is does not help; read the labels again and decide.
pub const CONFLICT: u8 = 8;

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
    if let Some(code) = err.downcast_ref::<Advice>().and_then(|a| a.code) {
        return code;
    }
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

/// How this run reached its store, as the flags that say so (`-t T`,
/// `--local=DIR`, `-r R`...), so a hint's command runs against the same store:
/// `lockbox -t cs-table list`, not `lockbox list`. Set once by `main`.
static INVOCATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Whether errors are printed as JSON on stdout too (`-o json`). Set once by `main`.
static JSON_ERRORS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Remember the flags that select the store, for the hints' commands.
pub fn set_invocation(flags: String) {
    let _ = INVOCATION.set(flags);
}

/// Print errors as a JSON document on stdout as well (`-o json`).
pub fn set_json_errors(yes: bool) {
    JSON_ERRORS.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// Whether errors are printed as JSON too.
pub fn json_errors() -> bool {
    JSON_ERRORS.load(std::sync::atomic::Ordering::Relaxed)
}

/// `lockbox FLAGS rest`, with the flags of this run that select the store, in
/// backquotes: a command a hint can give.
pub fn lockbox_cmd(rest: &str) -> String {
    match INVOCATION.get().map(String::as_str) {
        None | Some("") => format!("`lockbox {rest}`"),
        Some(flags) => format!("`lockbox {flags} {rest}`"),
    }
}

/// What the CLI found out about a failure once it happened (the closest names,
/// where the key really lives), put in front of the error with `.context`: its
/// hints replace the class's own, and it may change the error's line and code.
/// [`report`] prints it; it is never shown as a line of the chain.
#[derive(Debug, Default)]
pub struct Advice {
    /// Said instead of the first SDK error's message.
    pub message: Option<String>,
    /// The exit code, when the diagnosis changes the class.
    pub code: Option<u8>,
    /// What to do next; empty keeps the class's hint.
    pub hints: Vec<String>,
}

impl std::fmt::Display for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or("advice"))
    }
}

/// What the CLI says of an SDK error: its exit code (from the error's class), a
/// word for `exec`'s failure report, and what to do next where the SDK's message
/// does not say. The one table every command and `exec` use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The exit code.
    pub code: u8,
    /// A few words: "not found", "access denied", ...
    pub word: &'static str,
    /// What to do next.
    pub hint: Option<String>,
    /// A name for scripts (`-o json`'s `class`): `not_found`, `access_denied`...
    pub id: &'static str,
}

/// What to run for a KMS key that cannot be used: create a missing alias's key,
/// enable a disabled one, else look at it.
fn key_hint(key: &str, reason: &str) -> String {
    let alias = key.starts_with("alias/");
    let key = crate::args::shell_word(key);
    if reason.starts_with("no such key") && alias {
        format!(
            "create it with `aws kms create-key --description lockbox` and then `aws kms \
             create-alias --alias-name {key} --target-key-id KEY_ID` (KEY_ID from the first), \
             or pass another key with -k"
        )
    } else if reason.starts_with("the key is disabled") {
        format!("enable it with `aws kms enable-key --key-id KEY_ID` (`aws kms describe-key --key-id {key}` shows KEY_ID), or pass another key with -k")
    } else if reason.starts_with("the key is pending deletion") {
        format!("cancel its deletion with `aws kms cancel-key-deletion --key-id KEY_ID`, then enable it (`aws kms describe-key --key-id {key}` shows KEY_ID)")
    } else {
        format!("check the key with `aws kms describe-key --key-id {key}` or pass -k")
    }
}

pub fn class(e: &Error) -> Class {
    let code = e.exit_code();
    let retry = "retry later; check the network and the AWS service health";
    let (word, hint, id): (&'static str, Option<String>, &'static str) = match e {
        Error::NotFound { name, version } => (
            "not found",
            Some(match version {
                Some(_) => format!(
                    "see its versions with {}",
                    lockbox_cmd(&format!("history {name}"))
                ),
                None => format!("check the name with {}", lockbox_cmd("keys")),
            }),
            "not_found",
        ),
        Error::NotReplicated { unavailable, .. } => (
            "not found",
            Some(format!(
                "retry once {unavailable} answers again (reads go back to it by themselves), \
                 or after the replication lag; if it is still missing then, it does not exist"
            )),
            "not_found",
        ),
        Error::TableNotFound { .. } => ("not found", None, "not_found"),
        Error::Label {
            name,
            kind: ErrorKind::Conflict,
            ..
        } => (
            "label conflict",
            Some(format!(
                "nothing was changed; see where the labels are now with {}, then decide \
                 (running the same command again does not help)",
                lockbox_cmd(&format!("label {name}"))
            )),
            "label_conflict",
        ),
        Error::NoCredentials { .. } => (
            "no credentials",
            Some(
                "configure AWS credentials (AWS_PROFILE, `aws sso login`, an instance or task \
                 role), or try `lockbox --local` for the embedded emulator"
                    .into(),
            ),
            "no_credentials",
        ),
        Error::ClockSkew { .. } => (
            "access denied",
            Some(
                "check this machine's clock and time zone (NTP: `timedatectl`, `chronyc \
                 tracking`); AWS refuses requests signed more than 15 minutes off its clock"
                    .into(),
            ),
            "access_denied",
        ),
        Error::AccessDenied { .. } if e.refuses_credentials() => (
            "bad credentials",
            Some(
                "the credentials are wrong or expired, not the permissions: check \
                 AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the profile \
                 (-p, AWS_PROFILE), run `aws sso login`, or refresh the role session"
                    .into(),
            ),
            "bad_credentials",
        ),
        Error::AccessDenied { .. } => (
            "access denied",
            Some(
                "the identity lacks a permission: check its IAM policy and the KMS key policy"
                    .into(),
            ),
            "access_denied",
        ),
        Error::UntrustedCertificate { .. } => (
            "certificate refused",
            Some(
                "set AWS_CA_BUNDLE to a PEM file of the CA that signs the endpoint's \
                 certificate (a private CA, or your proxy's), or check --endpoint-url"
                    .into(),
            ),
            "untrusted_certificate",
        ),
        Error::KeyUnavailable { key, reason, .. } => (
            "access denied",
            Some(key_hint(key, reason)),
            "key_unavailable",
        ),
        Error::ContextMismatch { .. } => (
            "context mismatch",
            Some("pass the same KEY=VALUE context pairs the secret was stored with".into()),
            "context_mismatch",
        ),
        Error::Integrity { .. } => (
            "integrity check failed",
            Some(
                "the stored item was altered or copied; restore it from a backup or write a \
                 new version"
                    .into(),
            ),
            "integrity",
        ),
        // The error names what is known of the key (the SDK's `key` is not always
        // one key id: KMS may only say it is none of the trusted ones).
        Error::UntrustedKey { .. } => (
            "integrity check failed",
            Some(
                "if the key that wrapped it is yours, trust its ARN with `--trust-key ARN` (or \
                 LOCKBOX_TRUST_KEYS); otherwise someone wrote this item under a key of their \
                 own: check CloudTrail"
                    .into(),
            ),
            "integrity",
        ),
        Error::UnsupportedFormat { .. } => ("integrity check failed", None, "integrity"),
        Error::Rollback { .. } => (
            "integrity check failed",
            Some(
                "if the newer versions were deleted on purpose, restart the reader; otherwise \
                 restore them (point-in-time recovery) and find who deleted them (CloudTrail)"
                    .into(),
            ),
            "integrity",
        ),
        Error::Throttled { service, .. } => (
            "throttled",
            Some(match service {
                lockbox::Service::DynamoDb => "retry later; lower --concurrency, or raise the \
                     table's capacity (on-demand tables adapt to a new peak within minutes)"
                    .into(),
                lockbox::Service::Kms => "retry later; lower --concurrency, or ask AWS for a \
                     higher KMS request quota"
                    .into(),
                _ => retry.into(),
            }),
            "throttled",
        ),
        Error::Timeout { .. } => ("timed out", Some(retry.into()), "timeout"),
        Error::Unavailable { .. } => (
            "unavailable",
            Some("check --endpoint-url / --region and the network, then retry".into()),
            "unavailable",
        ),
        Error::VersionExists { .. } => (
            "already exists",
            Some(
                "leave out -v to write the next version; existing versions are never overwritten"
                    .into(),
            ),
            "already_exists",
        ),
        _ => match e.kind() {
            ErrorKind::NotFound => ("not found", None, "not_found"),
            ErrorKind::Denied => ("access denied", None, "access_denied"),
            ErrorKind::Integrity => ("integrity check failed", None, "integrity"),
            ErrorKind::Usage => ("unusable input", None, "usage"),
            ErrorKind::Conflict => ("contention", None, "contention"),
            ErrorKind::Throttled => ("throttled", None, "throttled"),
            ErrorKind::Timeout => ("timed out", None, "timeout"),
            ErrorKind::Unavailable => ("unavailable", None, "unavailable"),
            _ => ("error", None, "error"),
        },
    };
    Class {
        code,
        word,
        hint,
        id,
    }
}

/// The exit code of an SDK error's class.
pub fn sdk_code(e: &Error) -> u8 {
    class(e).code
}

/// What to do next, for the classes where the SDK's message does not say.
fn hints(err: &anyhow::Error) -> Vec<String> {
    if let Some(advice) = err.downcast_ref::<Advice>() {
        if !advice.hints.is_empty() {
            return advice.hints.clone();
        }
    }
    err.chain()
        .find_map(|c| c.downcast_ref::<Error>())
        .and_then(|e| class(e).hint)
        .into_iter()
        .collect()
}

/// The class name scripts see for `err` (`-o json`).
fn class_id(err: &anyhow::Error) -> &'static str {
    if let Some(e) = err.chain().find_map(|c| c.downcast_ref::<Error>()) {
        return class(e).id;
    }
    match code(err) {
        USAGE => "usage",
        NOT_FOUND => "not_found",
        ACCESS => "access_denied",
        INTEGRITY => "integrity",
        TRANSIENT => "unavailable",
        INCOMPLETE => "incomplete",
        CONFLICT => "label_conflict",
        _ => "error",
    }
}

/// The SDK's words for `e`, where the CLI says it better: a missing table is
/// named with the region the CLI looked in (the hint says what to do; the SDK's
/// "create it with `lockbox setup`" is wrong for a mistyped `-t` or region).
fn sdk_message(e: &Error) -> Option<String> {
    match e {
        Error::TableNotFound { table, .. } => Some(format!("table {table} does not exist")),
        _ => None,
    }
}

/// One error of a chain as it is printed. Messages embed text from tables, files
/// and AWS's answers (names, sort keys, context keys, format ids), so every
/// character that could move the cursor, recolour the terminal or start a new
/// line, such as a forged `hint:`, is escaped ([`escape_untrusted`]). Only a
/// [`Coded`] message, composed by the CLI, keeps its line breaks.
fn printable(cause: &(dyn std::error::Error + 'static)) -> String {
    let text = match cause.downcast_ref::<Error>().and_then(sdk_message) {
        Some(text) => text,
        None => cause.to_string(),
    };
    if cause.downcast_ref::<Coded>().is_some() {
        text.split('\n')
            .map(escape_untrusted)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        escape_untrusted(&text).into_owned()
    }
}

/// The lines [`report`] prints for `err`: what happened, then each cause.
pub fn lines(err: &anyhow::Error) -> Vec<String> {
    let advice = err.downcast_ref::<Advice>();
    let mut chain = err.chain();
    if advice.is_some() {
        chain.next();
    }
    let mut out = Vec::new();
    let mut sdk_error = false;
    for cause in chain {
        // The SDK's message already carries its sources' text (AWS's error context).
        if sdk_error {
            break;
        }
        sdk_error = cause.downcast_ref::<Error>().is_some();
        match advice.and_then(|a| a.message.as_ref()) {
            Some(message) if sdk_error => out.push(escape_untrusted(message).into_owned()),
            _ => out.push(printable(cause)),
        }
    }
    out
}

/// Print `err` on stderr (what happened, why, what to do) and return its exit
/// code; under `-o json`, also print it on stdout as one JSON document:
/// `{"error": {"class", "code", "hints", "message", "causes"}}`.
pub fn report(err: &anyhow::Error) -> u8 {
    let lines = lines(err);
    let hints = hints(err);
    let code = code(err);
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            eprintln!("lockbox: error: {line}");
        } else {
            eprintln!("  caused by: {line}");
        }
    }
    // Hints may quote names, regions and keys from the table's items and tags.
    for h in &hints {
        eprintln!("  hint: {}", escape_untrusted(h));
    }
    // Exit 7 comes after the command's own report, which says what is left: one
    // document on stdout, not two.
    if json_errors() && code != INCOMPLETE {
        let (message, causes) = lines
            .split_first()
            .map_or(("", &[][..]), |(m, c)| (m.as_str(), c));
        let doc = crate::output::json::ErrorDocument {
            error: crate::output::json::ErrorBody {
                causes: causes.iter().map(String::as_str).collect(),
                class: class_id(err),
                code,
                hints: hints.iter().map(String::as_str).collect(),
                message,
            },
        };
        // Printed here rather than through `output`, which builds on this
        // module's usage errors. An error document holds no secret value.
        if let Ok(text) = serde_json::to_string_pretty(&doc) {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn the_sdk_codes_are_the_documented_ones() {
        let name = || lockbox::SecretName::new("n").unwrap();
        let cases = [
            (
                Error::NotFound {
                    name: name(),
                    version: None,
                },
                NOT_FOUND,
            ),
            (Error::InvalidValue { reason: "r".into() }, USAGE),
            (
                Error::Integrity {
                    name: "n".into(),
                    reason: "r".into(),
                },
                INTEGRITY,
            ),
            (
                Error::Contention {
                    name: name(),
                    attempts: 3,
                },
                TRANSIENT,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(sdk_code(&e), code, "{e}");
        }
    }

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
            // A lost label move is not transient; writers colliding on a version are.
            (
                Error::Label {
                    name: name(),
                    kind: ErrorKind::Conflict,
                    reason: "label stable moved".into(),
                },
                CONFLICT,
            ),
            (
                Error::Contention {
                    name: name(),
                    attempts: 5,
                },
                TRANSIENT,
            ),
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
        assert!(hints(&skew)[0].contains("clock"));
        let denied = anyhow::Error::new(Error::AccessDenied {
            service: lockbox::Service::Kms,
            message: "AccessDeniedException: no".into(),
            source: None,
        });
        assert!(hints(&denied)[0].contains("IAM policy"));
        // A refused signature or an expired token is about the credentials.
        for message in [
            "InvalidSignatureException: The request signature we calculated does not match",
            "UnrecognizedClientException: The security token included in the request is invalid",
            "ExpiredTokenException: The security token included in the request is expired",
        ] {
            let bad = anyhow::Error::new(Error::AccessDenied {
                service: lockbox::Service::DynamoDb,
                message: message.into(),
                source: None,
            });
            assert_eq!(code(&bad), ACCESS);
            let h = &hints(&bad)[0];
            assert!(
                h.contains("credentials are wrong or expired") && !h.contains("IAM"),
                "{h}"
            );
        }
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
