//! Values the command line parses once, into the SDK's types where it has them:
//! secret names, versions, encryption-context pairs, credstash digests, table
//! modes, durations and signals. clap calls these (`value_parser`), so a bad value
//! is a usage error (exit 2) naming the argument before anything runs, and the
//! commands never see a raw string. A leaf: it imports nothing of the binary.

use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use lockbox::Digest;
use lockbox::{EncryptionContext, SecretName, TableMode, Version};

/// A secret name (`SecretName`'s rules: no `*`, no control or invisible
/// characters, no surrounding spaces, at most 2048 bytes).
pub fn secret_name(text: &str) -> Result<SecretName, String> {
    SecretName::new(text).map_err(|e| e.to_string())
}

/// `prune --keep N`: how many versions to keep, at least 1.
pub fn keep(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("--keep must be at least 1 (to delete every version, use `delete`)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a number of versions")),
    }
}

/// A version: a number from 1, or credstash's 19-digit padded form.
pub fn version(text: &str) -> Result<Version, String> {
    text.parse::<Version>().map_err(|e| e.to_string())
}

/// What `get` reads: one secret, or with `*` every secret whose name matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOrPattern {
    /// One secret.
    Name(SecretName),
    /// A pattern: `*` matches any text, every other character itself.
    Pattern(String),
    /// A reference, `lockbox://NAME[@VERSION|@LABEL][#/json/pointer]`: a version
    /// or label and, optionally, one field of a JSON value.
    Reference(lockbox::Reference),
}

/// A secret name, a pattern when the text holds `*`, or a reference when it
/// starts with `lockbox://` (a name is taken as it is written: `a@b` and `a#b`
/// are names, as credstash reads them).
pub fn name_or_pattern(text: &str) -> Result<NameOrPattern, String> {
    if text.starts_with(lockbox::REFERENCE_SCHEME) {
        return lockbox::Reference::from_uri(text)
            .map(NameOrPattern::Reference)
            .map_err(|e| e.to_string());
    }
    if text.contains('*') {
        Ok(NameOrPattern::Pattern(text.to_owned()))
    } else {
        secret_name(text).map(NameOrPattern::Name)
    }
}

/// One `KEY=VALUE` encryption-context pair, split at the first `=` (so a value
/// may hold `=`); the key is checked as the SDK checks it (not empty, not
/// lockbox's reserved prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextPair {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// `KEY=VALUE`.
pub fn context_pair(text: &str) -> Result<ContextPair, String> {
    // The SDK's checks, and its words for what is wrong.
    EncryptionContext::from_pairs([text]).map_err(|e| {
        let mut message = e.to_string();
        if text.chars().all(|c| c.is_ascii_digit()) {
            // `rollback NAME 2`, `get NAME 2`: a version given where a pair goes.
            // A number where a pair goes: shown, as the command to type instead.
            message.push_str(&format!(
                " (a version is given with -v {text}, or in rollback with --to {text})"
            ));
        }
        message
    })?;
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    // `env=prod,team=core` is one pair whose value is `prod,team=core`; it was
    // almost surely meant as two.
    let looks_like_pairs = value.split(',').skip(1).any(|part| {
        part.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    });
    if looks_like_pairs {
        eprintln!(
            "lockbox: warning: the context pair {key}=... has a value with `,KEY=` in it; \
             to give several pairs, give each on its own (KEY=VALUE KEY=VALUE, or \
             --context once per pair)"
        );
    }
    Ok(ContextPair {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// The encryption context of `pairs`: each key once, no two keys that differ
/// only in letter case.
pub fn context<'a>(
    pairs: impl IntoIterator<Item = &'a ContextPair>,
) -> lockbox::Result<EncryptionContext> {
    let mut context = EncryptionContext::new();
    for p in pairs {
        if context.get(&p.key).is_some() {
            return Err(lockbox::Error::InvalidContext {
                reason: format!("context key {:?} is given twice", p.key),
            });
        }
        context.insert(p.key.as_str(), p.value.as_str())?;
    }
    Ok(context)
}

/// A `KEY=VALUE` table tag (`setup --tags`): the key not empty, the value may be.
pub fn tag(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?}: a tag is written KEY=VALUE"))
}

/// credstash's `-d/--digest` names (SHA is SHA-1), in any letter case.
pub fn digest() -> impl TypedValueParser<Value = Digest> {
    PossibleValuesParser::new(Digest::ALL.map(Digest::as_str))
        .try_map(|text| text.parse::<Digest>())
}

/// Text where empty means `default`, so an empty environment variable counts as
/// unset.
pub fn or_default(default: &'static str) -> impl TypedValueParser<Value = String> {
    clap::builder::StringValueParser::new().map(move |text| {
        if text.is_empty() {
            default.to_owned()
        } else {
            text
        }
    })
}

/// `--table-mode`: `sealed` or `credstash`.
pub fn table_mode(text: &str) -> Result<TableMode, String> {
    text.parse().map_err(|e: lockbox::Error| e.to_string())
}

/// `--concurrency` (or `LOCKBOX_CONCURRENCY`): 1 to 65535.
pub fn concurrency(text: &str) -> Result<usize, String> {
    if text.is_empty() {
        // An empty LOCKBOX_CONCURRENCY counts as unset.
        return Ok(lockbox::DEFAULT_CONCURRENCY);
    }
    match text.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n.into()),
        _ => Err(format!(
            "{text:?} is not a whole number from 1 to 65535 (--concurrency, \
             LOCKBOX_CONCURRENCY); leave both out for the default ({})",
            lockbox::DEFAULT_CONCURRENCY
        )),
    }
}

/// How much lockbox logs (`--log-level`), by credstash's (Python's) level names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `NOTSET`: everything.
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARNING` (or `WARN`): credstash's default, and lockbox's.
    Warning,
    /// `ERROR`, and `CRITICAL` (or `FATAL`), which lockbox does not tell apart.
    Error,
}

/// Python's level names, in any letter case.
pub fn log_level(text: &str) -> Result<LogLevel, String> {
    Ok(match text.to_ascii_uppercase().as_str() {
        "NOTSET" => LogLevel::Trace,
        "DEBUG" => LogLevel::Debug,
        "INFO" => LogLevel::Info,
        "WARNING" | "WARN" => LogLevel::Warning,
        "ERROR" | "CRITICAL" | "FATAL" => LogLevel::Error,
        _ => {
            return Err(format!(
                "{text:?} is not a log level: use DEBUG, INFO, WARNING, ERROR or CRITICAL \
                 (credstash's names; NOTSET logs everything)"
            ))
        }
    })
}

/// `30s`, `5m`, `1h`, `500ms`, or a bare number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m, 1h or 500ms"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if d.is_zero() {
        return Err(format!("{text:?}: a duration must be more than zero"));
    }
    Ok(d)
}

/// What `exec --watch` does when a secret changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// Stop the child with SIGTERM and start it again with the new values.
    Restart,
    /// Rewrite the files, then send this signal.
    Signal(rustix::process::Signal),
}

/// Signals `exec` forwards and `--on-change signal:` accepts.
pub const SIGNALS: &[(&str, rustix::process::Signal)] = &[
    ("HUP", rustix::process::Signal::HUP),
    ("INT", rustix::process::Signal::INT),
    ("QUIT", rustix::process::Signal::QUIT),
    ("TERM", rustix::process::Signal::TERM),
    ("USR1", rustix::process::Signal::USR1),
    ("USR2", rustix::process::Signal::USR2),
];

/// `restart` or `signal:SIGHUP` (also `signal:HUP`).
pub fn on_change(text: &str) -> Result<OnChange, String> {
    if text == "restart" {
        return Ok(OnChange::Restart);
    }
    let name = text
        .strip_prefix("signal:")
        .ok_or_else(|| format!("{text:?}: use `restart` or `signal:SIGHUP`"))?;
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(bare))
        .map(|(_, s)| OnChange::Signal(*s))
        .ok_or_else(|| {
            format!(
                "{name:?}: the signal is one of SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2"
            )
        })
}

/// A label: `current`, `previous`, `pending`, or one of the user's (a letter,
/// then letters, digits, `-`, `_`).
pub fn label(text: &str) -> Result<lockbox::Label, String> {
    lockbox::Label::new(text).map_err(|e| e.to_string())
}

/// A JSON pointer naming a field (`/password`, `/users/0/name`): RFC 6901, in
/// the form a JSON string holds it (`~1` for `/`, `~0` for `~`).
pub fn json_pointer(text: &str) -> Result<lockbox::JsonPointer, String> {
    let pointer = lockbox::JsonPointer::new(text).map_err(|e| {
        if text.starts_with('/') {
            e.to_string()
        } else {
            format!("{e} (for the member {text:?}, write /{text})")
        }
    })?;
    if pointer.is_root() {
        return Err("an empty pointer names the whole value; leave --field out".into());
    }
    Ok(pointer)
}

/// Where `label NAME LABEL=TO` moves a label: a version, or the version another
/// label names now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelTo {
    /// This version.
    Version(Version),
    /// Where this label is.
    Label(lockbox::Label),
}

/// `LABEL` or `LABEL=VERSION` (`label` command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSpec {
    /// The label.
    pub label: lockbox::Label,
    /// Where to move it; `None` shows (or with `--remove`, removes) it.
    pub to: Option<LabelTo>,
}

/// `LABEL`, `LABEL=7` or `LABEL=OTHER` (the version label OTHER names).
pub fn label_spec(text: &str) -> Result<LabelSpec, String> {
    let (l, to) = match text.split_once('=') {
        Some((l, to)) => (l, Some(to)),
        None => (text, None),
    };
    let label = label(l)?;
    let to = match to {
        None => None,
        Some("") => {
            return Err(
                "give a version after `=` (a number, or a label), or remove the label \
                 with --remove"
                    .into(),
            )
        }
        Some(to) if to.bytes().all(|b| b.is_ascii_digit()) => Some(LabelTo::Version(version(to)?)),
        Some(to) => Some(LabelTo::Label(lockbox::Label::new(to).map_err(|e| {
            format!("after `=` comes a version number or a label: {e}")
        })?)),
    };
    Ok(LabelSpec { label, to })
}

/// `label --from`: where the label must be for the change to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFrom {
    /// On this version.
    Version(Version),
    /// Nowhere: the secret does not carry the label.
    Absent,
}

/// A version number, or `none` (the label must be absent).
pub fn label_from(text: &str) -> Result<LabelFrom, String> {
    if text == "none" {
        return Ok(LabelFrom::Absent);
    }
    version(text)
        .map(LabelFrom::Version)
        .map_err(|e| format!("{e} (--from takes the version the label names now, or `none`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert!(duration("0s").is_err());
        assert!(duration("5d").is_err());
        assert!(duration("s").is_err());
    }

    #[test]
    fn on_change_actions() {
        assert_eq!(on_change("restart"), Ok(OnChange::Restart));
        assert_eq!(
            on_change("signal:SIGHUP"),
            Ok(OnChange::Signal(rustix::process::Signal::HUP))
        );
        assert_eq!(
            on_change("signal:usr1"),
            Ok(OnChange::Signal(rustix::process::Signal::USR1))
        );
        assert!(on_change("signal:KILL").is_err());
        assert!(on_change("reload").is_err());
    }

    #[test]
    fn context_pairs() {
        let p = context_pair("a=b=c").unwrap();
        assert_eq!((p.key.as_str(), p.value.as_str()), ("a", "b=c"));
        assert!(context_pair("a=").is_ok());
        assert!(context_pair("noequals").is_err());
        assert!(context_pair("=v").is_err());
        assert!(context_pair("lockbox-name=x").is_err());
        let twice = [context_pair("a=1").unwrap(), context_pair("a=2").unwrap()];
        assert!(context(&twice).is_err());
        let cased = [
            context_pair("Env=1").unwrap(),
            context_pair("env=2").unwrap(),
        ];
        assert!(context(&cased).is_err());
        let ok = [context_pair("b=2").unwrap(), context_pair("a=1").unwrap()];
        assert_eq!(context(&ok).unwrap().len(), 2);
    }

    #[test]
    fn names_versions_and_patterns() {
        assert!(secret_name("db/password").is_ok());
        assert!(secret_name("").is_err());
        assert_eq!(version("0000000000000000005"), version("5"));
        assert!(version("0").is_err());
        assert!(version("v5").is_err());
        assert!(matches!(
            name_or_pattern("db.*"),
            Ok(NameOrPattern::Pattern(_))
        ));
        assert!(matches!(
            name_or_pattern("db.x"),
            Ok(NameOrPattern::Name(_))
        ));
        assert_eq!(tag("k=").unwrap(), ("k".to_owned(), String::new()));
        assert!(tag("=v").is_err() && tag("novalue").is_err());
        assert_eq!(log_level("warning"), Ok(LogLevel::Warning));
        assert_eq!(log_level("CRITICAL"), Ok(LogLevel::Error));
        assert!(log_level("LOUD").is_err());
        assert_eq!(concurrency("3"), Ok(3));
        for bad in ["0", "-3", "lots", "70000"] {
            assert!(
                concurrency(bad).unwrap_err().contains("1 to 65535"),
                "{bad}"
            );
        }
    }

    #[test]
    fn labels_pointers_and_references() {
        assert!(matches!(
            name_or_pattern("lockbox://db@stable#/password"),
            Ok(NameOrPattern::Reference(_))
        ));
        // Without the scheme a name is a name, `@` and `#` included.
        assert!(matches!(
            name_or_pattern("deploy@stable"),
            Ok(NameOrPattern::Name(_))
        ));
        assert!(matches!(name_or_pattern("a#b"), Ok(NameOrPattern::Name(_))));
        assert!(name_or_pattern("lockbox://db#password").is_err());
        assert_eq!(label("stable").unwrap().as_str(), "stable");
        assert!(label("Current").is_err() && label("latest").is_err());
        assert_eq!(json_pointer("/a~1b").unwrap().tokens(), ["a/b"]);
        assert!(json_pointer("").is_err());
        assert!(json_pointer("password").unwrap_err().contains("/password"));
        let spec = label_spec("stable=7").unwrap();
        assert_eq!(spec.label.as_str(), "stable");
        assert_eq!(spec.to, Some(LabelTo::Version(version("7").unwrap())));
        assert_eq!(
            label_spec("stable=current").unwrap().to,
            Some(LabelTo::Label(lockbox::Label::CURRENT))
        );
        assert_eq!(label_spec("stable").unwrap().to, None);
        for bad in ["stable=", "=3", "stable=0", "stable=a.b", "7=3"] {
            assert!(label_spec(bad).is_err(), "{bad}");
        }
        assert_eq!(label_from("none"), Ok(LabelFrom::Absent));
        assert_eq!(
            label_from("3"),
            Ok(LabelFrom::Version(version("3").unwrap()))
        );
        assert!(label_from("current").is_err());
    }
}
