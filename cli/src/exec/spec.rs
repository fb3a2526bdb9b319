//! What `exec` fetches: declarations from flags, a manifest and the inherited
//! environment, checked before anything is fetched.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use lockbox::{EncryptionContext, Reference, SecretName, SecretRef};
use serde::Deserialize;

use crate::args::ExecArgs;
use crate::exit::usage;

/// The scheme of a reference in the inherited environment.
pub const REF_SCHEME: &str = "lockbox://";

/// Where a secret goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// An environment variable of the child.
    Env(String),
    /// A file on a memory-backed filesystem.
    File(PathBuf),
    /// Every member of a JSON object, each in a variable named PREFIX and its
    /// key (`--env-json PREFIX=REF`); `from` is the reference as written.
    Json {
        /// The variables' prefix (may be empty).
        prefix: String,
        /// The reference, for messages.
        from: String,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Env(v) => write!(f, "${v}"),
            Target::File(p) => write!(f, "file {}", p.display()),
            Target::Json { prefix, from } => write!(f, "--env-json {prefix}={from}"),
        }
    }
}

/// One secret bound to one target.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Where it goes.
    pub target: Target,
    /// What to fetch: a secret, a version or label, and optionally a field.
    pub secret: Reference,
    /// The declaration read as a plain secret name, when the reference grammar
    /// reads it otherwise (`deploy@stable`, `a#/b`): a table shared with
    /// credstash may hold a secret of that name. If it exists, it is what is
    /// read, with a warning ([`super::resolve`]).
    pub literal: Option<SecretName>,
}

/// Everything declared, before prefixes are expanded.
#[derive(Debug, Default)]
pub struct Spec {
    /// Explicit bindings (flags, manifest, inherited references), one per target.
    pub bindings: Vec<Binding>,
    /// Prefixes to list.
    pub prefixes: Vec<String>,
    /// One encryption context for every secret.
    pub context: EncryptionContext,
    /// Allow prefix collisions (last name wins).
    pub allow_collisions: bool,
}

impl Spec {
    /// Whether any secret goes to a file.
    pub fn has_files(&self) -> bool {
        self.bindings
            .iter()
            .any(|b| matches!(b.target, Target::File(_)))
    }
}

/// A manifest: the same declarations as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    files: BTreeMap<PathBuf, String>,
    /// A list, or one prefix as a string (`prefix = "prod/app/"`).
    #[serde(default, deserialize_with = "one_or_many")]
    prefix: Vec<String>,
    #[serde(default)]
    refs: Vec<String>,
    #[serde(default)]
    env_json: BTreeMap<String, String>,
    #[serde(default)]
    context: BTreeMap<String, String>,
}

/// A string or a list of strings, as a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    // A manifest that cannot be read is bad input, as `put @FILE`'s file is.
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read the manifest {}: {e}; check the path after --manifest",
            path.display()
        ))
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let parsed: Result<Manifest, String> = match ext.as_str() {
        "json" => serde_json::from_str(&text).map_err(|e| e.to_string()),
        "yaml" | "yml" => crate::yaml::from_str(
            &text,
            crate::yaml::MANIFEST_LIMIT,
            crate::yaml::Detail::Full,
        )
        .map_err(String::from),
        _ => toml::from_str(&text).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| {
        usage(format!(
            "the manifest {} is not valid: {e}\n  it takes `env` (VAR = \"REF\"), `files` \
             (PATH = \"REF\"), `env_json` (PREFIX = \"REF\"), `prefix` (a list, or one \
             string), `refs` (a list of variables that may hold lockbox:// references) and \
             `context` (KEY = \"VALUE\"); a REF is NAME[@VERSION|@LABEL][#/json/pointer]",
            path.display()
        ))
    })
}

/// A portable environment variable name.
fn valid_var(var: &str) -> bool {
    let mut chars = var.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A declaration's reference, `[lockbox://]NAME[@VERSION|@LABEL][#/pointer]`,
/// and the plain name it may also be ([`Binding::literal`]). Text the grammar
/// refuses but that is a valid name (`a#b`, `100%`: names a credstash table may
/// hold) is that name, as before references had labels and fields. Written with
/// the `lockbox://` scheme, a declaration is read by the grammar alone.
pub fn reference(text: &str, what: &str) -> Result<(Reference, Option<SecretName>)> {
    match text.strip_prefix(REF_SCHEME) {
        Some(body) => body
            .parse::<Reference>()
            .map(|r| (r, None))
            .map_err(|e| usage(format!("{what}: {e}"))),
        None => compatible_reference(text, what),
    }
}

/// A reference without its scheme, or the plain name it was before references
/// had labels and fields ([`reference`]); what `--env-ref` variables hold.
fn compatible_reference(text: &str, what: &str) -> Result<(Reference, Option<SecretName>)> {
    // How `NAME[@VERSION]` was read before: a version pins as it still does.
    let before = text.parse::<SecretRef>();
    match text.parse::<Reference>() {
        Ok(r) => {
            let literal = match before {
                Ok(b) if b.version.is_none() && r != Reference::from(b.clone()) => Some(b.name),
                _ => None,
            };
            Ok((r, literal))
        }
        Err(e) => match before {
            Ok(b) => Ok((Reference::from(b), None)),
            Err(_) => Err(usage(format!("{what}: {e}"))),
        },
    }
}

fn split_decl<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str)> {
    text.split_once('=')
        .filter(|(l, r)| !l.is_empty() && !r.is_empty())
        .ok_or_else(|| {
            usage(format!(
                "{flag} {text:?} is not of the form {}=NAME[@VERSION|@LABEL][#/POINTER]",
                if flag == "--file" { "PATH" } else { "VAR" }
            ))
        })
}

/// Collect and check every declaration: flags override the manifest, and either
/// overrides a `lockbox://` reference in a variable named by `--env-ref` or the
/// manifest's `refs`. A reference in any other variable is not resolved (its
/// value may come from anyone who can set an environment variable: a CI job's
/// merge request title, a pod annotation); [`child_env`](super::env::child_env)
/// drops it.
pub fn build(args: &ExecArgs, inherited: &[(OsString, OsString)]) -> Result<Spec> {
    let manifest = match &args.manifest {
        Some(p) => read_manifest(p)?,
        None => Manifest::default(),
    };
    type Source = (Reference, Option<SecretName>);
    let mut env: BTreeMap<String, Source> = BTreeMap::new();
    let mut files: BTreeMap<PathBuf, Source> = BTreeMap::new();

    // Lowest precedence first: references, only in the variables named for them.
    let mut ref_vars = std::collections::BTreeSet::new();
    for (var, from) in manifest
        .refs
        .iter()
        .map(|v| (v, "the manifest's refs"))
        .chain(args.env_ref.iter().map(|v| (v, "--env-ref")))
    {
        if !valid_var(var) {
            return Err(usage(format!(
                "{from} names {var:?}, which is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )));
        }
        if args.pristine {
            return Err(usage(format!(
                "{from} names {var}, but --pristine reads no declaration from the inherited \
                 environment; declare the secret with --env {var}=NAME instead"
            )));
        }
        ref_vars.insert(var.as_str());
    }
    for (k, v) in inherited {
        let Some(rest) = v.as_bytes().strip_prefix(REF_SCHEME.as_bytes()) else {
            continue;
        };
        let var = k.to_string_lossy();
        if !ref_vars.contains(var.as_ref()) {
            tracing::warn!(
                "${} holds a lockbox:// reference, which is not resolved (only the variables \
                 named by --env-ref or the manifest's refs are) and not passed to the command",
                lockbox::escape_untrusted(&var)
            );
            continue;
        }
        let rest = std::str::from_utf8(rest).map_err(|_| {
            usage(format!(
                "${var} holds a lockbox:// reference that is not UTF-8"
            ))
        })?;
        let r = compatible_reference(rest, &format!("${var} holds a bad lockbox:// reference"))?;
        env.insert(var.into_owned(), r);
    }
    for (var, r) in &manifest.env {
        if !valid_var(var) {
            return Err(usage(format!(
                "the manifest declares {var:?}, which is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )));
        }
        env.insert(
            var.clone(),
            reference(r, &format!("the manifest's env.{var}"))?,
        );
    }
    for (path, r) in &manifest.files {
        files.insert(
            path.clone(),
            reference(r, &format!("the manifest's files.{}", path.display()))?,
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &args.env {
        let (var, r) = split_decl("--env", d)?;
        if !valid_var(var) {
            return Err(usage(format!(
                "--env {d:?}: {var:?} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )));
        }
        if !seen.insert(var) {
            return Err(usage(format!("--env declares {var} twice")));
        }
        env.insert(var.to_owned(), reference(r, &format!("--env {var}"))?);
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &args.file {
        let (path, r) = split_decl("--file", d)?;
        if !seen.insert(path) {
            return Err(usage(format!("--file declares {path} twice")));
        }
        files.insert(
            PathBuf::from(path),
            reference(r, &format!("--file {path}"))?,
        );
    }
    for path in files.keys() {
        super::files::check_path(path, args.allow_disk)?;
    }
    // Fan-outs: the manifest's, then the flags' (all of them: their variables
    // are known only once the values are read, and any two that meet are
    // refused then).
    let mut fanouts = Vec::new();
    for (prefix, r, what) in manifest
        .env_json
        .iter()
        .map(|(p, r)| {
            (
                p.as_str(),
                r.as_str(),
                format!("the manifest's env_json.{p}"),
            )
        })
        .chain(args.env_json.iter().map(|d| match d.split_once('=') {
            Some((p, r)) => (p, r, format!("--env-json {p}")),
            None => ("", "", format!("--env-json {d:?}")),
        }))
    {
        if r.is_empty() {
            return Err(usage(format!(
                "{what}: give PREFIX=NAME[@VERSION|@LABEL][#/POINTER] (PREFIX may be empty: \
                 `--env-json =NAME`)"
            )));
        }
        if !prefix.is_empty() && !valid_var(prefix) {
            return Err(usage(format!(
                "{what}: the prefix {prefix:?} does not start a variable name \
                 ([A-Za-z_][A-Za-z0-9_]*)"
            )));
        }
        let (secret, literal) = reference(r, &what)?;
        fanouts.push(Binding {
            target: Target::Json {
                prefix: prefix.to_owned(),
                from: r.to_owned(),
            },
            secret,
            literal,
        });
    }

    // The flags override the manifest key by key.
    let mut pairs: BTreeMap<&str, &str> = manifest
        .context
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for p in &args.context {
        pairs.insert(&p.key, &p.value);
    }
    let mut context = EncryptionContext::new();
    for (k, v) in pairs {
        context
            .insert(k, v)
            .context("the encryption context is given as --context KEY=VALUE")?;
    }

    let mut prefixes = manifest.prefix;
    prefixes.extend(args.prefix.iter().cloned());
    prefixes.sort();
    prefixes.dedup();
    if prefixes.iter().any(String::is_empty) {
        return Err(usage("--prefix must not be empty"));
    }

    let bindings = env
        .into_iter()
        .map(|(v, (secret, literal))| Binding {
            target: Target::Env(v),
            secret,
            literal,
        })
        .chain(files.into_iter().map(|(p, (secret, literal))| Binding {
            target: Target::File(p),
            secret,
            literal,
        }))
        .chain(fanouts)
        .collect();
    Ok(Spec {
        bindings,
        prefixes,
        context,
        allow_collisions: args.allow_collisions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_example_manifest_parses() {
        let text = include_str!("../../../examples/container/lockbox.toml");
        let m: Manifest = toml::from_str(text).unwrap();
        assert_eq!(m.prefix, ["prod/app/"]);
        assert_eq!(m.refs, ["SENTRY_DSN"]);
        assert_eq!(m.env["STRIPE_KEY"], "prod/payments/stripe@3");
        assert_eq!(m.files[Path::new("/dev/shm/tls.key")], "prod/app-tls/key");
        assert_eq!(m.context["env"], "prod");
        let unknown: Result<Manifest, _> = toml::from_str("envs = {}");
        assert!(unknown.is_err());
    }

    #[test]
    fn declarations_read_references_and_the_names_they_were() {
        let read = |t: &str| reference(t, "--env X").map_err(|e| e.to_string());
        let (r, literal) = read("prod/db@stable#/password").unwrap();
        assert_eq!(r.to_string(), "prod/db@stable#/password");
        assert_eq!(literal.unwrap().as_str(), "prod/db@stable#/password");
        let (r, literal) = read("prod/db@7").unwrap();
        assert_eq!(r.to_string(), "prod/db@7");
        assert!(literal.is_none());
        // The grammar refuses `#b`, a name holds it: the name, as before.
        let (r, literal) = read("a#b").unwrap();
        assert_eq!((r.name.as_str(), r.pointer.is_none()), ("a#b", true));
        assert!(literal.is_none());
        // With the scheme: the grammar alone.
        let (r, literal) = read("lockbox://deploy@stable").unwrap();
        assert_eq!(r.to_string(), "deploy@stable");
        assert!(literal.is_none());
        assert!(read("lockbox://a#b").is_err());
        assert!(read("lockbox://db@Current").is_err());
        // Inherited references keep reading old names.
        let (r, _) = compatible_reference("a#b", "$X").unwrap();
        assert_eq!(r.name.as_str(), "a#b");
        let (r, literal) = read("a#b@3").unwrap();
        assert_eq!(r.to_string(), "a%23b@3");
        assert!(literal.is_none());
    }

    #[test]
    fn variable_names() {
        assert!(valid_var("DB_PASSWORD"));
        assert!(valid_var("_x1"));
        assert!(!valid_var("1X"));
        assert!(!valid_var("A-B"));
        assert!(!valid_var(""));
    }
}
