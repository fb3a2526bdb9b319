//! The two seams of the SDK: a [`KeyService`] that wraps and unwraps data keys,
//! and a [`SecretStore`] that holds versioned items.
//!
//! Real implementations use AWS KMS ([`KmsKeyService`]) and DynamoDB
//! ([`DynamoDbSecretStore`]); the in-memory ones ([`MemoryKeyService`],
//! [`MemorySecretStore`]) are for tests.

mod admin;
pub(crate) mod aws;
pub(crate) use aws::AwsFailure;
mod dynamodb;
mod kms;
mod memory;
mod region;

pub use admin::{
    KeyDescription, PageKey, ReEncrypted, ReplicaDescription, ScanPage, ScanRequest,
    TableDescription,
};
pub use dynamodb::DynamoDbSecretStore;
pub use kms::KmsKeyService;
pub(crate) use kms::WarmPlan;
pub(crate) use kms::NO_SUCH_KEY;
pub use memory::{MemoryKeyService, MemorySecretStore};
pub(crate) use region::check_regions;
pub use region::{
    fails_over, is_multi_region_key, key_in_region, regional_pair, same_key_any_region,
    RegionalKeyService, RegionalSecretStore, DEFAULT_COOL_DOWN,
};

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::format::{attr, Attr, Attributes};
use crate::{EncryptionContext, Result, SecretName, Version};

pub use crate::envelope::DataKey;
pub use crate::table::{TableMode, TableRecord};

/// A data key unwrapped by a [`KeyService`]: the plaintext (wiped on drop) and
/// the key that unwrapped it as the service reports it (KMS: the key's ARN).
pub struct UnwrappedKey {
    /// The plaintext key bytes.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The master key that unwrapped it (KMS `KeyId` in the answer).
    pub key_id: Option<String>,
    /// Whether it was unwrapped with a key the service was told to trust besides
    /// its writer key (an operator's explicit choice, such as a key rotation
    /// window): a reader then accepts it even when the table is pinned to another
    /// key.
    pub trusted_explicitly: bool,
}

impl std::fmt::Debug for UnwrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnwrappedKey")
            .field("plaintext", &"[REDACTED]")
            .field("key_id", &self.key_id)
            .field("trusted_explicitly", &self.trusted_explicitly)
            .finish()
    }
}

/// Wraps and unwraps data keys under a master key, with an encryption context.
#[async_trait]
pub trait KeyService: Send + Sync + std::fmt::Debug {
    /// A new random data key of `bytes` bytes, wrapped under the writer's key.
    async fn generate_data_key(&self, bytes: usize, context: &EncryptionContext)
        -> Result<DataKey>;

    /// Unwrap `wrapped`, accepting only the keys this reader trusts. `name` is
    /// used in error messages.
    async fn decrypt_data_key(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<UnwrappedKey>;

    /// The full identifier (KMS: the ARN) of the key new data keys are generated
    /// under, resolving an alias: what `setup` pins the table to.
    async fn writer_key_arn(&self) -> Result<String>;

    /// The writer's key as the service describes it: its ARN, state and whether
    /// it is enabled (KMS `DescribeKey`). The default knows only the ARN.
    async fn describe_key(&self) -> Result<KeyDescription> {
        Ok(KeyDescription::new(self.writer_key_arn().await?, true))
    }

    /// Move the data key `wrapped` (under `context`) to the master key `to`
    /// without its plaintext leaving the service (KMS `ReEncrypt`, the same
    /// context on both sides). Only a blob under one of the keys `from` is moved,
    /// tried in order: one under another key is [`crate::Error::UntrustedKey`];
    /// a wrong context is [`crate::Error::ContextMismatch`]. `name` is used in
    /// error messages. The default does not support it.
    async fn re_encrypt(
        &self,
        name: &SecretName,
        wrapped: &[u8],
        context: &EncryptionContext,
        from: &[String],
        to: &str,
    ) -> Result<ReEncrypted> {
        let _ = (name, wrapped, context, from, to);
        Err(admin::unsupported(crate::Service::Kms, "re-encryption"))
    }

    /// Told by a [one-shot](crate::LockboxBuilder::one_shot) [`Lockbox`](crate::Lockbox)
    /// once a batch has started every fetch: the unwraps still to come are the
    /// process's last calls, so an implementation that talks over the network may
    /// close each connection after use instead of keeping it idle for a next call
    /// that will not come. The sockets are then closed while the last answers are
    /// awaited rather than at exit. The default does nothing.
    fn finishing(&self) {}

    /// Told before a batch of up to `calls` unwraps whose inputs are still being
    /// read: an implementation may open its connections meanwhile, so that the
    /// unwraps do not wait for handshakes. Returns when that is done (or at once).
    async fn open_connections(&self, calls: usize) {
        let _ = calls;
    }
}

/// The result of `setup`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupOutcome {
    /// The table was created.
    Created,
    /// The table existed; nothing was changed.
    AlreadyExists,
}

/// One stored version, without its secret: what `list` and `history` show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemSummary {
    /// The secret's name as stored (not validated: old tables may hold any text).
    pub name: String,
    /// The sort key as stored.
    pub sort_key: String,
    /// The version, when the sort key is a number.
    pub version: Option<Version>,
    /// The item's format: `sealed`, `credstash`, or the unknown format id.
    pub format: String,
    /// The comment, if any.
    pub comment: Option<String>,
    /// Creation time (Unix seconds), where the writer recorded it.
    pub created_at: Option<u64>,
    /// The labels naming this version (filled in by
    /// [`Lockbox::list`](crate::Lockbox::list) and
    /// [`Lockbox::history`](crate::Lockbox::history); empty from a store).
    pub labels: Vec<crate::Label>,
    /// When this is a label document (without its copy): what it records.
    pub(crate) document: Option<Box<crate::format::labels::LabelDocument>>,
}

/// The parallel scan segments of a listing of the whole table (`list`, and
/// `Lockbox::names`). A segment is read page after page (1 MB of items each), so
/// fewer segments cost round trips on a big table: on 10,000 secrets x 5
/// versions (16 pages) at 10 ms a call, `list` took 115 ms with 16 segments
/// where 4 took 133 and 8 took 120 (24, 32 and 64: no faster), and `keys` 66
/// ms against 80 with 4 (`scripts/bench-big`, docs/BENCHMARKS.md). On a small
/// table the extra segments are calls that come back at once, together.
pub(crate) const LISTING_SEGMENTS: u32 = 16;

/// The attributes a summary needs (a projection for list/history queries and
/// for probes of the latest version, label documents included). Not `hmac`:
/// a credstash item is told by its lack of a format id, and its 64-character
/// `hmac` was a third of a listing's bytes.
pub(crate) const SUMMARY_ATTRIBUTES: [&str; 10] = [
    attr::NAME,
    attr::VERSION,
    attr::COMMENT,
    attr::CREATED_AT,
    crate::format::sealed::FORMAT,
    crate::format::labels::REVISION,
    crate::format::labels::LABELS,
    crate::format::labels::ROTATION,
    crate::format::labels::ROTATION_STATE,
    crate::format::labels::UPDATED_AT,
];

impl ItemSummary {
    /// Summarise a (possibly projected) item: from the attributes a listing
    /// projects ([`SUMMARY_ATTRIBUTES`]), whatever else the item holds.
    pub fn from_attributes(item: &Attributes) -> Option<Self> {
        let summary = SUMMARY_ATTRIBUTES
            .iter()
            .filter_map(|a| item.get_key_value(*a))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self::from_owned(summary)
    }

    /// [`ItemSummary::from_attributes`] of an item that is no longer needed: its
    /// strings are moved into the summary, not copied (a listing of a big table
    /// makes one summary per version).
    pub(crate) fn from_owned(mut item: Attributes) -> Option<Self> {
        let document = if crate::format::labels::is_document(&item) {
            crate::format::labels::LabelDocument::parse(&item)
                .ok()
                .map(|mut d| {
                    d.copy = None;
                    Box::new(d)
                })
        } else {
            None
        };
        Self::from_fields(|name| item.remove(name), document)
    }

    /// The summary of an item whose attributes `take` hands over by name, and
    /// what it records when it is a label document (`document`).
    pub(crate) fn from_fields(
        mut take: impl FnMut(&str) -> Option<Attr>,
        document: Option<Box<crate::format::labels::LabelDocument>>,
    ) -> Option<Self> {
        let Some(Attr::S(name)) = take(attr::NAME) else {
            return None;
        };
        let Some(Attr::S(sort_key)) = take(attr::VERSION) else {
            return None;
        };
        let format = match take(crate::format::sealed::FORMAT) {
            Some(Attr::S(id)) if id == crate::format::sealed::FORMAT_ID => "sealed".to_owned(),
            Some(Attr::S(id)) => id,
            Some(other) => format!("unknown ({})", other.type_tag()),
            // Without a format id an item is in credstash's layout: that is what
            // a summary says. Whether its attributes are all there (`hmac`,
            // `key`, `contents`) is for `doctor` and for reading it to find out;
            // a listing does not fetch them.
            None => "credstash".to_owned(),
        };
        Some(Self {
            version: Version::from_sort_key(&sort_key).ok(),
            name,
            sort_key,
            format,
            comment: match take(attr::COMMENT) {
                Some(Attr::S(comment)) => Some(comment),
                _ => None,
            },
            created_at: match take(attr::CREATED_AT) {
                Some(Attr::N(n)) => n.parse().ok(),
                _ => None,
            },
            labels: Vec::new(),
            document,
        })
    }

    /// Whether this is a label document rather than a version
    /// (`docs/FORMAT.md` §7).
    pub fn is_label_document(&self) -> bool {
        self.sort_key == crate::format::labels::SORT_KEY
            && self
                .format
                .starts_with(crate::format::labels::FORMAT_PREFIX)
    }
}

/// Sort summaries by name, then by version number (legacy unpadded versions
/// included), then by raw sort key for versions that are not numbers.
///
/// A listing reads a secret's versions together (a scan or query returns a
/// partition's items one after another), so this sorts the runs of one name by
/// name and then each name's versions, rather than every version by name: on
/// 10,000 secrets x 5 versions comparing names was a sixth of `list`'s CPU,
/// all of it after the last page came in. Any order is sorted; one already
/// grouped is sorted fastest.
pub(crate) fn sort_summaries(items: &mut [ItemSummary]) {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    for run in items.chunk_by(|a, b| a.name == b.name) {
        runs.push(start..start + run.len());
        start += run.len();
    }
    runs.sort_by(|a, b| items[a.start].name.cmp(&items[b.start].name));
    permute(items, runs.into_iter().flatten().collect());
    // Every name's versions are together now (two runs of one name next to each
    // other, in their first order): sort each name's.
    for versions in items.chunk_by_mut(|a, b| a.name == b.name) {
        versions.sort_by(|a, b| {
            a.version
                .cmp(&b.version)
                .then_with(|| a.sort_key.cmp(&b.sort_key))
        });
    }
}

/// Reorder `items` so that position `i` holds what was at `order[i]` (a
/// permutation), in place: what [`slice::sort_by_cached_key`] does with its
/// sorted indices.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for i in 0..items.len() {
        // Where the item wanted here went, if an earlier swap moved it.
        let mut from = order[i];
        while from < i {
            from = order[from];
        }
        order[i] = from;
        items.swap(i, from);
    }
}

/// A table of versioned items.
#[async_trait]
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// Store a new item; fails with [`crate::Error::VersionExists`] if its
    /// (name, version) exists. Never overwrites.
    async fn put_new(&self, item: &Attributes) -> Result<()>;

    /// The item with the highest numeric version of `name`, if any.
    async fn get_latest(&self, name: &SecretName) -> Result<Option<Attributes>>;

    /// The highest numeric version of `name` and that item's format, without its
    /// ciphertext (what `put` needs; a label document when the secret has one).
    /// The default reads the whole latest item.
    async fn latest_version(&self, name: &SecretName) -> Result<Option<ItemSummary>> {
        Ok(self
            .get_latest(name)
            .await?
            .as_ref()
            .and_then(ItemSummary::from_attributes))
    }

    /// The first `limit` items of `name` in descending sort-key order, summarised
    /// (a label document first when there is one). The default reads the whole
    /// history.
    async fn top_versions(&self, name: &SecretName, limit: usize) -> Result<Vec<ItemSummary>> {
        let mut all = self.history(name).await?;
        all.sort_by(|a, b| b.sort_key.cmp(&a.sort_key));
        all.truncate(limit);
        Ok(all)
    }

    /// The item for `version` of `name` (padded or legacy unpadded sort key).
    async fn get_version(&self, name: &SecretName, version: Version) -> Result<Option<Attributes>>;

    /// Several pinned versions at once, in order (`None` where missing). The
    /// default fetches them one by one; DynamoDB uses `BatchGetItem`.
    async fn get_versions(
        &self,
        keys: &[(SecretName, Version)],
    ) -> Result<Vec<Option<Attributes>>> {
        let mut out = Vec::with_capacity(keys.len());
        for (name, version) in keys {
            out.push(self.get_version(name, *version).await?);
        }
        Ok(out)
    }

    /// Every version of `name`, summarised, in version order.
    async fn history(&self, name: &SecretName) -> Result<Vec<ItemSummary>>;

    /// Every item in the table, summarised, sorted by name then version.
    async fn list(&self) -> Result<Vec<ItemSummary>>;

    /// Delete one item by its stored sort key. Returns whether it existed.
    async fn delete(&self, name: &SecretName, sort_key: &str) -> Result<bool>;

    /// Create the table (credstash's key schema) with `record` and `tags` as its
    /// tags, and wait until it can be used. An existing table is left as it is.
    async fn setup(&self, record: &TableRecord, tags: &[(String, String)]) -> Result<SetupOutcome>;

    /// What the table records about itself (its lockbox tags).
    async fn table_record(&self) -> Result<TableRecord>;

    /// Record what `record` holds (tags it), leaving its `None` fields as they are.
    async fn update_record(&self, record: &TableRecord) -> Result<()>;

    /// The table's name, for messages.
    fn table(&self) -> &str;

    /// One page of a consistent scan of the whole table, every attribute as
    /// stored (or only the keys). The default does not support it.
    async fn scan_page(&self, request: &ScanRequest) -> Result<ScanPage> {
        let _ = request;
        Err(admin::unsupported(crate::Service::DynamoDb, "scans"))
    }

    /// The item stored under exactly this partition and sort key, with no
    /// validation of either (old tables hold names and versions lockbox would
    /// not write). The default does not support it.
    async fn get_item(&self, name: &str, sort_key: &str) -> Result<Option<Attributes>> {
        let _ = (name, sort_key);
        Err(admin::unsupported(crate::Service::DynamoDb, "raw reads"))
    }

    /// Store `item` as it is unless an item with its key exists: `true` when
    /// written, `false` when one was there (nothing is overwritten). The default
    /// goes through [`SecretStore::put_new`], which needs a valid name and version.
    async fn put_if_absent(&self, item: &Attributes) -> Result<bool> {
        match self.put_new(item).await {
            Ok(()) => Ok(true),
            Err(crate::Error::VersionExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Set the `key` attribute (the wrapped data key) of one item to `new`, only
    /// if it is still `old` (a conditional update that touches nothing else):
    /// `true` when replaced, `false` when the item is gone or its key changed.
    /// The default does not support it.
    async fn replace_key(
        &self,
        name: &str,
        sort_key: &str,
        old: &Attr,
        new: &Attr,
    ) -> Result<bool> {
        let _ = (name, sort_key, old, new);
        Err(admin::unsupported(
            crate::Service::DynamoDb,
            "conditional key updates",
        ))
    }

    /// Store the label document `item` only if the stored one has revision
    /// `expected` (its `rev` attribute), or, with `None`, only if there is none:
    /// `true` when written, `false` when the condition failed (another writer
    /// moved a label first). One conditional write of one item, so a move is
    /// atomic. The default does not support it (no labels).
    async fn put_revision(&self, item: &Attributes, expected: Option<u64>) -> Result<bool> {
        let _ = (item, expected);
        Err(admin::unsupported(
            crate::Service::DynamoDb,
            "version labels",
        ))
    }

    /// Delete one item by its stored sort key, returning it as it was (`None`
    /// when there was none), so that a delete found to be wrong afterwards can
    /// be undone. The default reads it first.
    async fn delete_returning(
        &self,
        name: &SecretName,
        sort_key: &str,
    ) -> Result<Option<Attributes>> {
        let item = self.get_item(name.as_str(), sort_key).await?;
        self.delete(name, sort_key).await?;
        Ok(item)
    }

    /// The store that keeps the labels of a table shared with credstash clients,
    /// who read every item of the table itself: a companion table of the same
    /// key schema (`TABLE.lockbox-labels` on DynamoDB). `None` (the default):
    /// such a table cannot have labels.
    fn label_store(&self) -> Option<std::sync::Arc<dyn SecretStore>> {
        None
    }

    /// The store over several regions this is, if it is one: a read that must
    /// come whole from one replica (a scan of the table) fails over through
    /// [`RegionalSecretStore::read_whole`]. `None` (the default): one region.
    fn regional(&self) -> Option<&RegionalSecretStore> {
        None
    }

    /// Make the table a global table with a replica in each of `regions` it has
    /// none in yet (`strong`: multi-Region strong consistency, which needs exactly
    /// three regions and an empty table), and wait until every replica is
    /// active. Nothing to add is a success. The default does not support it.
    async fn add_replicas(&self, regions: &[String], strong: bool) -> Result<()> {
        let _ = (regions, strong);
        Err(admin::unsupported(
            crate::Service::DynamoDb,
            "table replicas",
        ))
    }

    /// The table's settings: status, billing, recovery, protection, replicas.
    /// The default does not support it.
    async fn describe_table(&self) -> Result<TableDescription> {
        Err(admin::unsupported(
            crate::Service::DynamoDb,
            "describing the table",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn summary(name: &str, sort_key: &str) -> ItemSummary {
        ItemSummary {
            name: name.to_owned(),
            sort_key: sort_key.to_owned(),
            version: Version::from_sort_key(sort_key).ok(),
            format: "credstash".to_owned(),
            comment: None,
            created_at: None,
            labels: Vec::new(),
            document: None,
        }
    }

    fn keys(items: &[ItemSummary]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|i| (i.name.clone(), i.sort_key.clone()))
            .collect()
    }

    /// The order `sort_summaries` promises, by the plain comparison.
    fn reference(items: &mut [ItemSummary]) {
        items.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| a.version.cmp(&b.version))
                .then_with(|| a.sort_key.cmp(&b.sort_key))
        });
    }

    #[test]
    fn a_listing_is_sorted_by_name_then_version_number() {
        // Versions of a name split across the listing, a legacy unpadded
        // version, a sort key that is not a number, names given out of order.
        let mut items = vec![
            summary("b", "0000000000000000002"),
            summary("b", "0000000000000000010"),
            summary("a", "labels"),
            summary("a", "0000000000000000003"),
            summary("c", "0000000000000000001"),
            summary("b", "9"),
            summary("a", "0000000000000000001"),
        ];
        sort_summaries(&mut items);
        let got: Vec<(&str, &str)> = items
            .iter()
            .map(|i| (i.name.as_str(), i.sort_key.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "labels"),
                ("a", "0000000000000000001"),
                ("a", "0000000000000000003"),
                ("b", "0000000000000000002"),
                ("b", "9"),
                ("b", "0000000000000000010"),
                ("c", "0000000000000000001"),
            ]
        );
    }

    proptest! {
        /// Any order, grouped by name or not, sorts as the plain comparison does.
        #[test]
        fn sorting_summaries_agrees_with_the_plain_comparison(
            keys_in in proptest::collection::vec(
                (0u8..12, prop_oneof![
                    (1u64..40).prop_map(|v| format!("{v:019}")),
                    (1u64..40).prop_map(|v| v.to_string()),
                    Just("labels".to_owned()),
                ]),
                0..80,
            ),
        ) {
            let mut items: Vec<ItemSummary> = keys_in
                .iter()
                .map(|(n, k)| summary(&format!("secret/{n}"), k))
                .collect();
            let mut want = keys_in
                .iter()
                .map(|(n, k)| summary(&format!("secret/{n}"), k))
                .collect::<Vec<_>>();
            reference(&mut want);
            sort_summaries(&mut items);
            prop_assert_eq!(keys(&items), keys(&want));
        }
    }
}
