//! In-memory backends, for unit tests and examples. Not durable, not for production.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use rand::RngCore;
use zeroize::Zeroizing;

use super::{
    sort_summaries, DataKey, ItemSummary, KeyService, PageKey, ReEncrypted, ScanPage, ScanRequest,
    SecretStore, SetupOutcome, TableDescription, TableRecord, UnwrappedKey,
};
use crate::format::{attr, Attr, Attributes};
use crate::{EncryptionContext, Error, Result, SecretName, Service, Version};

/// A key service holding its master keys in memory. Blobs name their key and
/// bind the encryption context, like KMS's.
pub struct MemoryKeyService {
    keys: HashMap<String, Zeroizing<[u8; 32]>>,
    writer: String,
    trusted: Vec<String>,
    explicit: Vec<String>,
}

impl std::fmt::Debug for MemoryKeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryKeyService")
            .field("writer", &self.writer)
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl MemoryKeyService {
    /// A service with master keys named `key_ids` (random material), writing with
    /// the first and trusting all of them.
    pub fn new<S: AsRef<str>>(key_ids: &[S]) -> Self {
        assert!(!key_ids.is_empty(), "at least one key");
        let keys = key_ids
            .iter()
            .map(|id| {
                let mut k = Zeroizing::new([0u8; 32]);
                rand::thread_rng().fill_bytes(&mut k[..]);
                (id.as_ref().to_owned(), k)
            })
            .collect();
        let ids: Vec<String> = key_ids.iter().map(|s| s.as_ref().to_owned()).collect();
        Self {
            keys,
            writer: ids[0].clone(),
            trusted: ids,
            explicit: Vec::new(),
        }
    }

    /// The same master keys, writing with `writer` and trusting only `trusted`
    /// (as a differently configured client of the same KMS would).
    pub fn view(&self, writer: &str, trusted: &[&str]) -> Self {
        Self {
            keys: self.keys.clone(),
            writer: writer.to_owned(),
            trusted: trusted.iter().map(|s| (*s).to_owned()).collect(),
            explicit: Vec::new(),
        }
    }

    /// Trust `keys` explicitly, as [`KmsKeyService::trust`](super::KmsKeyService::trust)
    /// does: an item they unwrap is accepted whatever key the table is pinned
    /// to, even when one of them is the writer's key.
    pub fn trust_explicitly(mut self, keys: &[&str]) -> Self {
        for k in keys {
            if !self.trusted.iter().any(|t| t == k) {
                self.trusted.push((*k).to_owned());
            }
            self.explicit.push((*k).to_owned());
        }
        self
    }

    /// Wrap `plaintext` under the master key `id`, binding `context`.
    fn wrap(&self, id: &str, plaintext: &[u8], context: &EncryptionContext) -> Option<Vec<u8>> {
        let cipher = self.cipher(id)?;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = context.canonical_bytes();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("in-memory encryption cannot fail");
        let id = id.as_bytes();
        let mut wrapped = Vec::with_capacity(2 + id.len() + 12 + sealed.len());
        wrapped.extend_from_slice(&(id.len() as u16).to_be_bytes());
        wrapped.extend_from_slice(id);
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Some(wrapped)
    }

    /// The master key a blob names and its plaintext, if the blob is well formed,
    /// names a key of this service and opens under `context`. `Err(None)`: malformed.
    fn unwrap_any(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> std::result::Result<(String, Zeroizing<Vec<u8>>), Option<String>> {
        let (len, rest) = wrapped.split_at_checked(2).ok_or(None)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let (id, rest) = rest.split_at_checked(len).ok_or(None)?;
        let (nonce, sealed) = rest.split_at_checked(12).ok_or(None)?;
        let id = std::str::from_utf8(id).map_err(|_| None)?.to_owned();
        let cipher = self.cipher(&id).ok_or(None)?;
        let aad = context.canonical_bytes();
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(|p| (id.clone(), Zeroizing::new(p)))
            .map_err(|_| Some(id))
    }

    fn cipher(&self, id: &str) -> Option<Aes256Gcm> {
        self.keys
            .get(id)
            .map(|k| Aes256Gcm::new_from_slice(&k[..]).expect("32-byte key"))
    }
}

#[async_trait]
impl KeyService for MemoryKeyService {
    async fn generate_data_key(
        &self,
        bytes: usize,
        context: &EncryptionContext,
    ) -> Result<DataKey> {
        let mut plaintext = Zeroizing::new(vec![0u8; bytes]);
        rand::thread_rng().fill_bytes(&mut plaintext);
        let cipher = self
            .cipher(&self.writer)
            .ok_or_else(|| Error::KeyUnavailable {
                key: self.writer.clone(),
                reason: "no such key".into(),
                source: None,
            })?;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = context.canonical_bytes();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .expect("in-memory encryption cannot fail");
        let id = self.writer.as_bytes();
        let mut wrapped = Vec::with_capacity(2 + id.len() + 12 + sealed.len());
        wrapped.extend_from_slice(&(id.len() as u16).to_be_bytes());
        wrapped.extend_from_slice(id);
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Ok(DataKey {
            plaintext,
            wrapped,
            key_id: Some(self.writer.clone()),
        })
    }

    async fn decrypt_data_key(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<UnwrappedKey> {
        let bad = || Error::integrity(name, "the wrapped data key is malformed");
        let (len, rest) = wrapped.split_at_checked(2).ok_or_else(bad)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let (id, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
        let (nonce, sealed) = rest.split_at_checked(12).ok_or_else(bad)?;
        let id = std::str::from_utf8(id).map_err(|_| bad())?;
        if !self.trusted.iter().any(|t| t == id) {
            return Err(Error::UntrustedKey {
                name: name.to_string(),
                key: id.to_owned(),
            });
        }
        let cipher = self.cipher(id).ok_or_else(bad)?;
        let aad = context.canonical_bytes();
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(|plaintext| UnwrappedKey {
                plaintext: Zeroizing::new(plaintext),
                key_id: Some(id.to_owned()),
                trusted_explicitly: id != self.writer || self.explicit.iter().any(|e| e == id),
            })
            .map_err(|_| Error::ContextMismatch {
                name: name.clone(),
                stored_keys: None,
            })
    }

    async fn writer_key_arn(&self) -> Result<String> {
        // Key ids are the whole identity here: there are no aliases to resolve.
        Ok(self.writer.clone())
    }

    async fn describe_key(&self) -> Result<super::KeyDescription> {
        if !self.keys.contains_key(&self.writer) {
            return Err(Error::KeyUnavailable {
                key: self.writer.clone(),
                reason: "no such key".into(),
                source: None,
            });
        }
        Ok(super::KeyDescription::new(self.writer.clone(), true))
    }

    async fn re_encrypt(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
        from: &[String],
        to: &str,
    ) -> Result<ReEncrypted> {
        let (source, plaintext) = match self.unwrap_any(wrapped, context) {
            Ok(opened) => opened,
            Err(Some(id)) if from.contains(&id) => {
                return Err(Error::ContextMismatch {
                    name: name.clone(),
                    stored_keys: None,
                })
            }
            Err(Some(id)) => {
                return Err(Error::UntrustedKey {
                    name: name.to_string(),
                    key: id,
                })
            }
            Err(None) => return Err(Error::integrity(name, "the wrapped data key is malformed")),
        };
        if !from.contains(&source) {
            return Err(Error::UntrustedKey {
                name: name.to_string(),
                key: source,
            });
        }
        let rewrapped =
            self.wrap(to, &plaintext, context)
                .ok_or_else(|| Error::KeyUnavailable {
                    key: to.to_owned(),
                    reason: "no such key".into(),
                    source: None,
                })?;
        Ok(ReEncrypted {
            wrapped: rewrapped,
            source_key_id: Some(source),
            key_id: Some(to.to_owned()),
        })
    }
}

/// A table in memory, with DynamoDB's semantics for the operations lockbox uses.
#[derive(Debug, Default)]
pub struct MemorySecretStore {
    table: Mutex<Option<MemoryTable>>,
    /// The companion table of labels, made on first use (it exists once set up).
    labels: std::sync::OnceLock<std::sync::Arc<MemorySecretStore>>,
    /// Calls that reached the table.
    calls: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct MemoryTable {
    record: TableRecord,
    items: BTreeMap<(String, String), Attributes>,
}

impl MemorySecretStore {
    /// A store whose table does not exist yet (call `setup`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose table exists already and records `record` (as `setup` would
    /// have made it).
    pub fn with_record(record: TableRecord) -> Self {
        Self {
            table: Mutex::new(Some(MemoryTable {
                record,
                items: BTreeMap::new(),
            })),
            labels: std::sync::OnceLock::new(),
            calls: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many calls have reached this store's table (its companion table of
    /// labels not counted): a test can tell that a poller ran.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Put an item unconditionally, bypassing all checks (for tests that forge items).
    #[doc(hidden)]
    pub fn insert_raw(&self, item: Attributes) {
        let mut guard = self.table.lock().expect("lock");
        let table = guard.get_or_insert_with(MemoryTable::default);
        let key = key_of(&item).expect("item has name and version");
        table.items.insert(key, item);
    }

    fn with_table<T>(&self, f: impl FnOnce(&mut MemoryTable) -> Result<T>) -> Result<T> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut guard = self.table.lock().expect("lock");
        match guard.as_mut() {
            Some(table) => f(table),
            None => Err(Error::TableNotFound {
                table: "memory".into(),
                source: None,
            }),
        }
    }
}

/// The key of an item to write, which must have one.
fn required_key(item: &Attributes) -> Result<(String, String)> {
    key_of(item).ok_or_else(|| Error::Backend {
        service: Service::DynamoDb,
        message: "item lacks its name or version".into(),
        source: None,
    })
}

fn key_of(item: &Attributes) -> Option<(String, String)> {
    Some((
        item.get(attr::NAME)?.as_s()?.to_owned(),
        item.get(attr::VERSION)?.as_s()?.to_owned(),
    ))
}

#[async_trait]
impl SecretStore for MemorySecretStore {
    async fn put_new(&self, item: &Attributes) -> Result<()> {
        let key = required_key(item)?;
        self.with_table(|t| {
            if t.items.contains_key(&key) {
                return Err(Error::VersionExists {
                    name: SecretName::new(key.0.clone())?,
                    version: Version::from_sort_key(&key.1)?,
                });
            }
            t.items.insert(key, item.clone());
            Ok(())
        })
    }

    async fn get_latest(&self, name: &SecretName) -> Result<Option<Attributes>> {
        self.with_table(|t| {
            Ok(t.items
                .range((name.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == name.as_str())
                .filter_map(|((_, v), item)| Some((Version::from_sort_key(v).ok()?, item)))
                .max_by_key(|(v, _)| *v)
                .map(|(_, item)| item.clone()))
        })
    }

    async fn get_version(&self, name: &SecretName, version: Version) -> Result<Option<Attributes>> {
        self.with_table(|t| {
            let n = name.to_string();
            Ok(t.items
                .get(&(n.clone(), version.sort_key()))
                .or_else(|| t.items.get(&(n, version.get().to_string())))
                .cloned())
        })
    }

    async fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>> {
        self.with_table(|t| {
            let mut out: Vec<ItemSummary> = t
                .items
                .range((name.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == name.as_str())
                .filter_map(|(_, item)| ItemSummary::from_attributes(item))
                .collect();
            sort_summaries(&mut out);
            Ok(out)
        })
    }

    async fn list(&self) -> Result<Vec<ItemSummary>> {
        self.with_table(|t| {
            let mut out: Vec<ItemSummary> = t
                .items
                .values()
                .filter_map(ItemSummary::from_attributes)
                .collect();
            sort_summaries(&mut out);
            Ok(out)
        })
    }

    async fn delete(&self, name: &SecretName, sort_key: &str) -> Result<bool> {
        self.with_table(|t| {
            Ok(t.items
                .remove(&(name.to_string(), sort_key.to_owned()))
                .is_some())
        })
    }

    async fn setup(
        &self,
        record: &TableRecord,
        _tags: &[(String, String)],
    ) -> Result<SetupOutcome> {
        let mut guard = self.table.lock().expect("lock");
        if guard.is_some() {
            return Ok(SetupOutcome::AlreadyExists);
        }
        *guard = Some(MemoryTable {
            record: record.clone(),
            items: BTreeMap::new(),
        });
        Ok(SetupOutcome::Created)
    }

    async fn table_record(&self) -> Result<TableRecord> {
        self.with_table(|t| Ok(t.record.clone()))
    }

    async fn update_record(&self, record: &TableRecord) -> Result<()> {
        self.with_table(|t| {
            for (slot, value) in [
                (&mut t.record.mode, &record.mode),
                (&mut t.record.store, &record.store),
                (&mut t.record.key_arn, &record.key_arn),
                (&mut t.record.labels, &record.labels),
            ] {
                if value.is_some() {
                    slot.clone_from(value);
                }
            }
            Ok(())
        })
    }

    fn table(&self) -> &str {
        "memory"
    }

    async fn scan_page(&self, request: &ScanRequest) -> Result<ScanPage> {
        // Small pages by default, so that callers' paging is exercised.
        let limit = request.limit.unwrap_or(7).max(1) as usize;
        self.with_table(|t| {
            let start = request
                .start
                .as_ref()
                .map(|k| (k.name.clone(), k.sort_key.clone()));
            let mut items = Vec::new();
            let mut last = None;
            let range = match &start {
                Some(k) => t.items.range((
                    std::ops::Bound::Excluded(k.clone()),
                    std::ops::Bound::Unbounded,
                )),
                None => t.items.range::<(String, String), _>(..),
            };
            let mut more = false;
            for (evaluated, (key, item)) in range.enumerate() {
                if evaluated == limit {
                    more = true;
                    break;
                }
                last = Some(key.clone());
                let in_segment = request
                    .segment
                    .is_none_or(|(s, total)| segment_of(&key.0, total) == s);
                if !in_segment {
                    continue;
                }
                items.push(if request.keys_only {
                    item.iter()
                        .filter(|(k, _)| *k == attr::NAME || *k == attr::VERSION)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                } else {
                    item.clone()
                });
            }
            Ok(ScanPage {
                items,
                next: last
                    .filter(|_| more)
                    .map(|(name, sort_key)| PageKey { name, sort_key }),
            })
        })
    }

    async fn get_item(&self, name: &str, sort_key: &str) -> Result<Option<Attributes>> {
        self.with_table(|t| {
            Ok(t.items
                .get(&(name.to_owned(), sort_key.to_owned()))
                .cloned())
        })
    }

    async fn put_if_absent(&self, item: &Attributes) -> Result<bool> {
        let key = key_of(item).ok_or_else(|| Error::Backend {
            service: Service::DynamoDb,
            message: "item lacks its name or version".into(),
            source: None,
        })?;
        self.with_table(|t| {
            if t.items.contains_key(&key) {
                return Ok(false);
            }
            t.items.insert(key, item.clone());
            Ok(true)
        })
    }

    async fn replace_key(
        &self,
        name: &str,
        sort_key: &str,
        old: &Attr,
        new: &Attr,
    ) -> Result<bool> {
        self.with_table(|t| {
            let key = crate::format::credstash::KEY;
            match t.items.get_mut(&(name.to_owned(), sort_key.to_owned())) {
                Some(item) if item.get(key) == Some(old) => {
                    item.insert(key.to_owned(), new.clone());
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    async fn put_revision(&self, item: &Attributes, expected: Option<u64>) -> Result<bool> {
        let key = required_key(item)?;
        self.with_table(|t| {
            let stored = t
                .items
                .get(&key)
                .map(|i| i.get(crate::format::labels::REVISION));
            let holds = match (stored, expected) {
                (None, None) => true,
                (Some(Some(Attr::N(n))), Some(e)) => n.parse::<u64>().ok() == Some(e),
                _ => false,
            };
            if holds {
                t.items.insert(key, item.clone());
            }
            Ok(holds)
        })
    }

    async fn delete_returning(
        &self,
        name: &SecretName,
        sort_key: &str,
    ) -> Result<Option<Attributes>> {
        self.with_table(|t| Ok(t.items.remove(&(name.to_string(), sort_key.to_owned()))))
    }

    fn label_store(&self) -> Option<std::sync::Arc<dyn SecretStore>> {
        Some(self.labels.get_or_init(Default::default).clone())
    }

    async fn describe_table(&self) -> Result<TableDescription> {
        self.with_table(|t| {
            Ok(TableDescription {
                status: Some("ACTIVE".into()),
                billing_mode: Some("PAY_PER_REQUEST".into()),
                deletion_protection: Some(false),
                point_in_time_recovery: Some(false),
                item_count: Some(t.items.len() as i64),
                ..TableDescription::default()
            })
        })
    }
}

/// The scan segment of a partition key (a stable hash, as DynamoDB's is).
fn segment_of(name: &str, total: u32) -> u32 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(total.max(1))) as u32
}
