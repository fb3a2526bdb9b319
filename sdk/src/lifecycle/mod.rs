//! A table's lifecycle: inspect it ([`doctor`]), move its secrets from credstash's
//! format to the sealed format ([`migrate`]), move its data keys to a new KMS key
//! ([`rewrap`]), and keep a copy of it in step ([`sync`]).
//!
//! The building blocks are public so that an application can run them too:
//! [`Lockbox::scan`] reads a table page by page (parallel segments, bounded,
//! backing off while throttled), and each operation is a method of the
//! [`Lockbox`] of the table it reads. Every operation is idempotent and
//! resumable: run again after an interruption, it finishes the work without
//! repeating or overwriting what was done. None of them ever returns, logs or
//! reports a secret's value.

pub mod doctor;
pub mod migrate;
pub mod rewrap;
pub mod sync;

mod pace;
#[cfg(test)]
mod scenarios;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use futures::stream::{self, Stream, StreamExt};

use crate::backend::{KeyService, PageKey, ScanRequest, SecretStore};
use crate::envelope::Envelope;
use crate::format::{attr, Attr, Attributes};
use crate::{EncryptionContext, Error, Lockbox, Result, Secret};

pub use pace::Pacer;

/// The default number of calls a lifecycle operation keeps in flight.
pub const DEFAULT_LIFECYCLE_CONCURRENCY: usize = 64;

/// The default number of parallel scan segments.
pub const DEFAULT_SEGMENTS: u32 = 4;

/// One stored item, by its key as stored: what reports name (never a value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemRef {
    /// The partition key (`name`).
    pub name: String,
    /// The sort key (`version`), as stored.
    pub sort_key: String,
}

impl ItemRef {
    /// The key of `item` (`?` for a missing or non-string key attribute).
    pub fn of(item: &Attributes) -> Self {
        let text = |a: &str| item.get(a).and_then(Attr::as_s).unwrap_or("?").to_owned();
        Self {
            name: text(attr::NAME),
            sort_key: text(attr::VERSION),
        }
    }

    /// The version shown to people: the number when the sort key is one (`42`),
    /// the sort key as stored otherwise.
    pub fn version_text(&self) -> String {
        match crate::Version::from_sort_key(&self.sort_key) {
            Ok(v) if crate::Version::is_canonical_sort_key(&self.sort_key) => v.to_string(),
            _ => format!("{:?}", crate::escape_untrusted(&self.sort_key)),
        }
    }
}

impl fmt::Display for ItemRef {
    /// `NAME@VERSION`, escaped for a terminal (names come from the table).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}",
            crate::escape_untrusted(&self.name),
            self.version_text()
        )
    }
}

/// A pattern of secret names: `*` matches any text, everything else itself
/// (as `lockbox get 'app/*'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// The pattern `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let parts: Vec<&str> = self.0.split('*').collect();
        let (first, rest) = parts.split_first().expect("split yields one part at least");
        let Some(mut remaining) = name.strip_prefix(first) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return remaining.is_empty();
        };
        for part in middle {
            match remaining.find(part) {
                Some(i) => remaining = &remaining[i + part.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last)
    }
}

/// The encryption contexts secrets were stored with: one per name (a file
/// mapping names to contexts), and one for every other name (`K=V` pairs given
/// for all).
///
/// A name in the map is tried with its context only. Any other name is tried
/// with the default context and, when that is not empty, with no context too:
/// a run with pairs for the few secrets that need them still reads the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contexts {
    by_name: BTreeMap<String, EncryptionContext>,
    default: EncryptionContext,
}

impl Contexts {
    /// No contexts: every secret is tried with none.
    pub fn new() -> Self {
        Self::default()
    }

    /// `context` for every name not given its own.
    pub fn with_default(mut self, context: EncryptionContext) -> Self {
        self.default = context;
        self
    }

    /// `context` for `name`.
    pub fn insert(&mut self, name: impl Into<String>, context: EncryptionContext) {
        self.by_name.insert(name.into(), context);
    }

    /// Contexts by name from a JSON object of objects:
    /// `{"app/db": {"env": "prod"}, "other": {}}`.
    pub fn from_json(text: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidContext { reason };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "the contexts file is not JSON (line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        let object = value.as_object().ok_or_else(|| {
            bad(
                "the contexts file must be a JSON object of names to objects of KEY: VALUE strings"
                    .into(),
            )
        })?;
        let mut out = Self::new();
        for (name, pairs) in object {
            let pairs = pairs.as_object().ok_or_else(|| {
                bad(format!(
                    "the context of {:?} must be an object of KEY: VALUE strings",
                    crate::escape_untrusted(name)
                ))
            })?;
            let mut context = EncryptionContext::new();
            for (k, v) in pairs {
                let v = v.as_str().ok_or_else(|| {
                    bad(format!(
                        "the context value of {:?} for {:?} must be a string",
                        crate::escape_untrusted(k),
                        crate::escape_untrusted(name)
                    ))
                })?;
                context.insert(k.as_str(), v)?;
            }
            out.insert(name.clone(), context);
        }
        Ok(out)
    }

    /// Whether no context at all was given.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty() && self.default.is_empty()
    }

    /// The contexts to try for `name`, in order.
    pub fn candidates(&self, name: &str) -> Vec<&EncryptionContext> {
        match self.by_name.get(name) {
            Some(c) => vec![c],
            None if self.default.is_empty() => vec![&self.default],
            None => vec![&self.default, empty_context()],
        }
    }

    /// The contexts to try for a parsed item: for a sealed item, only those with
    /// the stored keys (the item says which it needs).
    pub(crate) fn candidates_for(&self, env: &Envelope) -> Vec<&EncryptionContext> {
        let mut all = self.candidates(env.name().as_str());
        if let Some(stored) = env.context_keys() {
            all.retain(|c| c.keys().eq(stored.iter().map(String::as_str)));
        }
        all
    }
}

fn empty_context() -> &'static EncryptionContext {
    static EMPTY: std::sync::OnceLock<EncryptionContext> = std::sync::OnceLock::new();
    EMPTY.get_or_init(EncryptionContext::new)
}

/// Told how a lifecycle operation advances (a progress bar, a log). Every
/// method has a default that does nothing.
pub trait Progress: Send + Sync {
    /// A phase starts (`scanning`, `migrating`, ...), with its size when known.
    fn phase(&self, name: &str, total: Option<u64>) {
        let _ = (name, total);
    }
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }
}

/// Progress reported nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Options every lifecycle operation takes.
#[derive(Clone)]
pub struct RunOptions {
    /// Calls in flight at most (default [`DEFAULT_LIFECYCLE_CONCURRENCY`]).
    pub concurrency: usize,
    /// Parallel scan segments (default [`DEFAULT_SEGMENTS`]).
    pub segments: u32,
    /// Only the secrets whose names match.
    pub names: Option<NamePattern>,
    /// The encryption contexts the secrets were stored with.
    pub contexts: Contexts,
    /// Say what would be done; change nothing.
    pub dry_run: bool,
    /// Where progress is reported.
    pub progress: Arc<dyn Progress>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_LIFECYCLE_CONCURRENCY,
            segments: DEFAULT_SEGMENTS,
            names: None,
            contexts: Contexts::default(),
            dry_run: false,
            progress: Arc::new(NoProgress),
        }
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("concurrency", &self.concurrency)
            .field("segments", &self.segments)
            .field("names", &self.names)
            .field("contexts", &self.contexts)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl RunOptions {
    /// Whether `item` is one of the secrets asked for.
    pub(crate) fn selects(&self, item: &Attributes) -> bool {
        match &self.names {
            None => true,
            Some(p) => item
                .get(attr::NAME)
                .and_then(Attr::as_s)
                .is_some_and(|n| p.matches(n)),
        }
    }
}

/// How to scan a table with [`Lockbox::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Parallel segments, each read page after page (at least 1).
    pub segments: u32,
    /// Only the keys (`name`, `version`) of each item.
    pub keys_only: bool,
    /// Items evaluated per page at most (the backend may stop sooner).
    pub page_limit: Option<u32>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            segments: DEFAULT_SEGMENTS,
            keys_only: false,
            page_limit: None,
        }
    }
}

impl Lockbox {
    /// The key service this lockbox reads and writes with.
    pub fn key_service(&self) -> Arc<dyn KeyService> {
        self.inner.keys.clone()
    }

    /// The store this lockbox reads and writes.
    pub fn secret_store(&self) -> Arc<dyn SecretStore> {
        self.inner.store.clone()
    }

    /// Every item of the table, page by page, as stored (nothing is decrypted):
    /// `options.segments` parallel scan segments, each read one page at a time.
    /// A throttled or failed page is read again after a backoff for as long as
    /// the scan makes progress (see [`Pacer`]); the stream ends with the error
    /// otherwise.
    pub fn scan(&self, options: &ScanOptions) -> impl Stream<Item = Result<Vec<Attributes>>> + '_ {
        scan_store(
            self.inner.store.clone(),
            options.clone(),
            Arc::new(Pacer::new()),
        )
    }

    /// Forget the table's record (after a lifecycle operation changed it).
    pub(crate) fn forget_record(&self) {
        self.inner.record.forget();
    }

    /// Open `item` trying each of the contexts `contexts` gives for it: the
    /// secret and the context that opened it, or why not.
    pub(crate) async fn open_with(
        &self,
        item: &Attributes,
        env: &Envelope,
        contexts: &Contexts,
        pacer: &Pacer,
    ) -> Result<std::result::Result<(Secret, EncryptionContext), Unopened>> {
        let candidates = contexts.candidates_for(env);
        if candidates.is_empty() {
            return Ok(Err(Unopened::NeedsContext(
                env.context_keys().map(<[String]>::to_vec),
            )));
        }
        let mut stored_keys = None;
        for context in candidates {
            match pacer.run(|| self.open_item(item, context)).await {
                Ok(secret) => return Ok(Ok((secret, context.clone()))),
                Err(Error::ContextMismatch { stored_keys: k, .. }) => stored_keys = k,
                Err(e) if item_error(&e) => return Ok(Err(Unopened::Refused(e))),
                Err(e) => return Err(e),
            }
        }
        Ok(Err(Unopened::NeedsContext(stored_keys)))
    }
}

/// Why an item could not be opened.
#[derive(Debug)]
pub(crate) enum Unopened {
    /// None of the contexts given is the one it was stored with (the stored
    /// keys, when the format records them).
    NeedsContext(Option<Vec<String>>),
    /// The item itself was refused (integrity, format, key, ...).
    Refused(Error),
}

/// Whether `e` is about one item (reported, the run goes on) rather than about
/// the run (denied, unavailable, throttled for good: the run stops).
pub(crate) fn item_error(e: &Error) -> bool {
    use crate::ErrorKind as K;
    matches!(
        e.kind(),
        K::Integrity | K::NotFound | K::AlreadyExists | K::Usage
    ) && !matches!(e, Error::TableNotFound { .. })
}

/// The scan behind [`Lockbox::scan`].
pub(crate) fn scan_store(
    store: Arc<dyn SecretStore>,
    options: ScanOptions,
    pacer: Arc<Pacer>,
) -> impl Stream<Item = Result<Vec<Attributes>>> {
    let total = options.segments.max(1);
    let segments = (0..total).map(move |segment| {
        let store = store.clone();
        let pacer = pacer.clone();
        let request = ScanRequest {
            segment: (total > 1).then_some((segment, total)),
            start: None,
            limit: options.page_limit,
            keys_only: options.keys_only,
        };
        stream::unfold(Some(request), move |request| {
            let store = store.clone();
            let pacer = pacer.clone();
            async move {
                let request = request?;
                match pacer.run(|| store.scan_page(&request)).await {
                    Ok(page) => {
                        let next = page.next.map(|start: PageKey| ScanRequest {
                            start: Some(start),
                            ..request
                        });
                        Some((Ok(page.items), next))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
        .boxed()
    });
    stream::select_all(segments)
}

/// Every item a scan yields, or its first error.
pub(crate) async fn scan_all(
    store: &Arc<dyn SecretStore>,
    options: &RunOptions,
    keys_only: bool,
    pacer: &Arc<Pacer>,
) -> Result<Vec<Attributes>> {
    let scan = ScanOptions {
        segments: options.segments,
        keys_only,
        page_limit: None,
    };
    let mut pages = std::pin::pin!(scan_store(store.clone(), scan, pacer.clone()));
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page?;
        options.progress.advance(page.len() as u64);
        out.extend(page.into_iter().filter(|i| options.selects(i)));
    }
    Ok(out)
}

/// The keys of every item of a store (a keys-only scan).
pub(crate) async fn scan_keys(
    store: &Arc<dyn SecretStore>,
    options: &RunOptions,
    pacer: &Arc<Pacer>,
) -> Result<HashMap<ItemRef, ()>> {
    let quiet = RunOptions {
        progress: Arc::new(NoProgress),
        names: None,
        ..options.clone()
    };
    Ok(scan_all(store, &quiet, true, pacer)
        .await?
        .iter()
        .map(|i| (ItemRef::of(i), ()))
        .collect())
}

/// Whether two stores are the same table: the same store object, or the same ARN.
pub(crate) async fn same_table(
    a: &Lockbox,
    b: &Lockbox,
    a_arn: Option<&str>,
    b_arn: Option<&str>,
) -> bool {
    Arc::ptr_eq(&a.inner.store, &b.inner.store)
        || matches!((a_arn, b_arn), (Some(x), Some(y)) if x == y)
}

/// A table error (`Error::Table`) of class `kind`.
pub(crate) fn table_error(table: &str, kind: crate::ErrorKind, reason: String) -> Error {
    Error::Table {
        table: table.to_owned(),
        kind,
        reason,
    }
}

/// A context that holds only reserved lockbox pairs, for key checks: it can never
/// be an item's, and makes the round trip's calls easy to tell apart in CloudTrail.
pub(crate) fn probe_context() -> EncryptionContext {
    let mut c = EncryptionContext::new();
    c.insert_reserved("lockbox-probe", "key check".to_owned());
    c
}

/// Check that `keys` can wrap and unwrap a data key (KMS `GenerateDataKey`, then
/// `Decrypt`) and return the ARN of the key it wraps under.
pub(crate) async fn round_trip(keys: &dyn KeyService, pacer: &Pacer) -> Result<Option<String>> {
    let context = probe_context();
    let key = pacer
        .run(|| keys.generate_data_key(crate::format::sealed::DATA_KEY_LEN, &context))
        .await?;
    let probe = crate::SecretName::new("lockbox-key-check").expect("a valid name");
    let back = pacer
        .run(|| keys.decrypt_data_key(&probe, &key.wrapped, &context))
        .await?;
    if back.plaintext.as_slice() != key.plaintext.as_slice() {
        return Err(Error::Backend {
            service: crate::Service::Kms,
            message: "the key service returned another data key than it generated".into(),
            source: None,
        });
    }
    Ok(key.key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_match_like_get() {
        let p = NamePattern::new("app/*");
        assert!(p.matches("app/db") && p.matches("app/") && !p.matches("other/app/db"));
        let p = NamePattern::new("*db*");
        assert!(p.matches("prod/db/password") && !p.matches("prod/cache"));
        assert!(NamePattern::new("exact").matches("exact"));
        assert!(!NamePattern::new("exact").matches("exact2"));
        assert!(NamePattern::new("a.b").matches("a.b") && !NamePattern::new("a.b").matches("axb"));
    }

    #[test]
    fn contexts_from_json_and_candidates() {
        let c = Contexts::from_json(r#"{"app/db": {"env": "prod"}, "plain": {}}"#)
            .unwrap()
            .with_default(EncryptionContext::from_pairs(["team=core"]).unwrap());
        assert_eq!(c.candidates("app/db").len(), 1);
        assert_eq!(c.candidates("app/db")[0].get("env"), Some("prod"));
        assert!(c.candidates("plain")[0].is_empty());
        let other = c.candidates("other");
        assert_eq!(other.len(), 2);
        assert_eq!(other[0].get("team"), Some("core"));
        assert!(other[1].is_empty());
        assert_eq!(Contexts::new().candidates("x").len(), 1);
        for bad in [
            "[]",
            r#"{"a": "x"}"#,
            r#"{"a": {"k": 1}}"#,
            r#"{"a": {"lockbox-name": "x"}}"#,
            "{",
        ] {
            assert!(Contexts::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn item_refs_print_escaped_names_and_plain_versions() {
        let r = ItemRef {
            name: "a\u{1b}[31m".into(),
            sort_key: "0000000000000000042".into(),
        };
        assert!(!r.to_string().contains('\u{1b}'));
        assert!(r.to_string().ends_with("@42"));
        let legacy = ItemRef {
            name: "n".into(),
            sort_key: "9".into(),
        };
        assert_eq!(legacy.to_string(), "n@\"9\"");
    }
}
