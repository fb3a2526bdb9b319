//! What a table records about itself at `setup`, and the rules readers and writers
//! follow from it.
//!
//! A table records three things as DynamoDB tags, which only a principal allowed
//! `dynamodb:TagResource` can change (a writer of items cannot):
//! - its **mode** (`lockbox:format`): `sealed` (every item is sealed; a reader
//!   never serves a credstash-format item from it) or `credstash` (items are
//!   written in credstash's format so credstash clients keep reading the table);
//! - its **store identity** (`lockbox:store`): a logical name bound into every
//!   `lockbox-sealed-2` item, so an item sealed for another table never opens here,
//!   while a global-table replica, a DR copy or a restored backup (which keep the
//!   identity) stay readable;
//! - its **key** (`lockbox:kms-key`): the ARN of the KMS key new items are wrapped
//!   under, so a repointed alias is noticed;
//! - where its **labels** live when it is shared with credstash (`lockbox:labels`):
//!   the companion table created by [`Lockbox::setup_labels`](crate::Lockbox::setup_labels).
//!   A sealed table keeps labels in the secrets' own partitions and records nothing.
//!
//! A client may also pin what it expects ([`Expect`]); a table that records
//! something else is refused.

use std::fmt;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt as _, Shared};

use crate::backend::SecretStore;
use crate::format::sealed;
use crate::{Error, ErrorKind, Result};

/// The mode a table records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableMode {
    /// Created by lockbox for sealed items: credstash-format items are refused.
    Sealed,
    /// Shared with credstash clients: items are written in credstash's format.
    Credstash,
}

impl TableMode {
    /// The tag key that records the mode.
    pub const TAG: &'static str = TAG_MODE;

    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            TableMode::Sealed => "sealed",
            TableMode::Credstash => "credstash",
        }
    }

    /// Parse a tag value: exactly `sealed` or `credstash`.
    pub fn from_tag(value: &str) -> Option<Self> {
        match value {
            "sealed" => Some(TableMode::Sealed),
            "credstash" => Some(TableMode::Credstash),
            _ => None,
        }
    }
}

impl fmt::Display for TableMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TableMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TableMode::from_tag(s).ok_or_else(|| Error::InvalidValue {
            reason: format!(
                "{:?} is not a table mode: use `sealed` or `credstash`",
                crate::escape_untrusted(s)
            ),
        })
    }
}

/// Tag key of the table's mode.
pub const TAG_MODE: &str = "lockbox:format";
/// Tag key of the table's store identity.
pub const TAG_STORE: &str = "lockbox:store";
/// Tag key of the ARN of the KMS key the table is pinned to.
pub const TAG_KEY: &str = "lockbox:kms-key";
/// Tag key of the companion table holding the labels of a table shared with
/// credstash.
pub const TAG_LABELS: &str = "lockbox:labels";

/// What a table records, as stored (each `None` when the tag is absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableRecord {
    /// The `lockbox:format` tag.
    pub mode: Option<String>,
    /// The `lockbox:store` tag.
    pub store: Option<String>,
    /// The `lockbox:kms-key` tag.
    pub key_arn: Option<String>,
    /// The `lockbox:labels` tag.
    pub labels: Option<String>,
}

impl TableRecord {
    /// A record of `mode`, `store` and `key_arn`.
    pub fn new(mode: TableMode, store: Option<String>, key_arn: Option<String>) -> Self {
        Self {
            mode: Some(mode.as_str().to_owned()),
            store,
            key_arn,
            labels: None,
        }
    }

    /// The record in a table's tags (other tags are ignored).
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut record = Self::default();
        for (k, v) in tags {
            let slot = match k {
                TAG_MODE => &mut record.mode,
                TAG_STORE => &mut record.store,
                TAG_KEY => &mut record.key_arn,
                TAG_LABELS => &mut record.labels,
                _ => continue,
            };
            *slot = Some(v.to_owned());
        }
        record
    }

    /// The record as tags.
    pub fn to_tags(&self) -> Vec<(String, String)> {
        [
            (TAG_MODE, &self.mode),
            (TAG_STORE, &self.store),
            (TAG_KEY, &self.key_arn),
            (TAG_LABELS, &self.labels),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v.clone()?)))
        .collect()
    }

    /// The recorded mode: `None` when the table records none (a table lockbox did
    /// not create); an error naming the value when it is not one this lockbox knows.
    pub fn table_mode(&self, table: &str) -> Result<Option<TableMode>> {
        match self.mode.as_deref() {
            None => Ok(None),
            Some(v) => TableMode::from_tag(v)
                .map(Some)
                .ok_or_else(|| Error::Table {
                    table: table.to_owned(),
                    kind: ErrorKind::Integrity,
                    reason: format!(
                        "its {TAG_MODE} tag is {:?}, which this lockbox does not know (it knows \
                     `sealed` and `credstash`); nothing is read or written until it says one \
                     of them (`lockbox setup` reports what the table records)",
                        crate::escape_untrusted(v)
                    ),
                }),
        }
    }

    /// The recorded store identity, checked.
    pub fn store_id(&self, table: &str) -> Result<Option<&str>> {
        match self.store.as_deref() {
            None => Ok(None),
            Some(s) => match sealed::check_store(s) {
                Ok(()) => Ok(Some(s)),
                Err(reason) => Err(Error::Table {
                    table: table.to_owned(),
                    kind: ErrorKind::Integrity,
                    reason: format!("its {TAG_STORE} tag is not a store identity: {reason}"),
                }),
            },
        }
    }
}

/// What a client expects of the tables it uses, whatever they record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expect {
    /// The mode the table must record. When its record cannot be read (no
    /// `dynamodb:DescribeTable` or `dynamodb:ListTagsOfResource`), this is taken
    /// instead; when it records another mode, or none while `Sealed` is expected,
    /// every read and write is refused.
    pub mode: Option<TableMode>,
    /// Refuse credstash-format items in every table, whatever its mode.
    pub require_sealed: bool,
    /// Serve credstash-format items from a sealed table too (a migration window).
    pub accept_credstash_items: bool,
    /// Serve `lockbox-sealed-1` items, which bind no store (a migration window).
    pub accept_sealed_v1: bool,
}

/// The default store identity of `table` when its key lives in `account`:
/// `ACCOUNT/TABLE`, with no region, so that every replica of a global table
/// agrees.
pub fn default_store_id(account: Option<&str>, table: &str) -> String {
    match account {
        Some(a) => format!("{a}/{table}"),
        None => table.to_owned(),
    }
}

/// The account of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    let account = parts.nth(3)?;
    (!account.is_empty()).then_some(account)
}

/// Whether `key_id` as KMS reports it (a key ARN) is the pinned key `pin`: the
/// same ARN, or, for a multi-Region key, the replica of the pinned key in
/// another region (the AWS Encryption SDK's match rule: same partition,
/// account and `mrk-` id, any region).
pub(crate) fn same_key(pin: &str, key_id: &str) -> bool {
    crate::backend::same_key_any_region(pin, key_id)
}

/// The table's record, read once per [`Lockbox`](crate::Lockbox) and shared by
/// every read and write that needs it: one lookup in flight at a time, whose
/// outcome every caller waiting for it gets; a success is kept, a failure is not
/// (the next caller tries again).
#[derive(Default)]
pub(crate) struct RecordCell {
    state: Mutex<RecordState>,
}

type Lookup = Shared<BoxFuture<'static, std::result::Result<Arc<TableRecord>, Failure>>>;

#[derive(Default)]
enum RecordState {
    #[default]
    Empty,
    Loading(u64, Lookup),
    Ready(Arc<TableRecord>),
}

/// A failed lookup, as every waiter receives it.
#[derive(Debug, Clone)]
struct Failure {
    kind: ErrorKind,
    not_found: bool,
    message: String,
}

impl RecordCell {
    /// The record: the kept one, the lookup in flight, or a new lookup.
    pub(crate) async fn get(&self, store: &Arc<dyn SecretStore>) -> Result<Arc<TableRecord>> {
        let (attempt, lookup) = {
            let mut state = self.state.lock().expect("record lock");
            match &*state {
                RecordState::Ready(record) => return Ok(record.clone()),
                RecordState::Loading(attempt, lookup) => (*attempt, lookup.clone()),
                RecordState::Empty => {
                    let store = store.clone();
                    let lookup: Lookup = async move {
                        store
                            .table_record()
                            .await
                            .map(Arc::new)
                            .map_err(|e| Failure {
                                kind: e.kind(),
                                not_found: matches!(e, Error::TableNotFound { .. }),
                                message: e.to_string(),
                            })
                    }
                    .boxed()
                    .shared();
                    let attempt = rand::random();
                    *state = RecordState::Loading(attempt, lookup.clone());
                    (attempt, lookup)
                }
            }
        };
        let outcome = lookup.await;
        let mut state = self.state.lock().expect("record lock");
        if matches!(&*state, RecordState::Loading(a, _) if *a == attempt) {
            *state = match &outcome {
                Ok(record) => RecordState::Ready(record.clone()),
                Err(_) => RecordState::Empty,
            };
        }
        drop(state);
        outcome.map_err(|f| lookup_error(store.table(), f))
    }

    /// Forget the record (after `setup` changed it).
    pub(crate) fn forget(&self) {
        *self.state.lock().expect("record lock") = RecordState::Empty;
    }
}

impl fmt::Debug for RecordCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().expect("record lock");
        match &*state {
            RecordState::Ready(record) => f.debug_tuple("RecordCell").field(record).finish(),
            RecordState::Loading(..) => f.write_str("RecordCell(loading)"),
            RecordState::Empty => f.write_str("RecordCell(empty)"),
        }
    }
}

fn lookup_error(table: &str, failure: Failure) -> Error {
    if failure.not_found {
        return Error::TableNotFound {
            table: table.to_owned(),
            source: None,
        };
    }
    let reason = match failure.kind {
        ErrorKind::Denied => format!(
            "cannot read its lockbox settings ({}): grant dynamodb:DescribeTable and \
             dynamodb:ListTagsOfResource on the table (`lockbox policy reader` includes them), \
             or, for a table shared with credstash, say so with --table-mode credstash \
             (LOCKBOX_TABLE_MODE=credstash)",
            failure.message
        ),
        _ => format!("cannot read its lockbox settings: {}", failure.message),
    };
    Error::Table {
        table: table.to_owned(),
        kind: failure.kind,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_tags_and_ignore_others() {
        let record = TableRecord::new(
            TableMode::Sealed,
            Some("111122223333/credential-store".into()),
            Some("arn:aws:kms:us-east-1:111122223333:key/k".into()),
        );
        let mut tags = record.to_tags();
        tags.push(("Name".into(), "credstash".into()));
        let back = TableRecord::from_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back, record);
        assert_eq!(back.table_mode("t").unwrap(), Some(TableMode::Sealed));
        assert_eq!(TableRecord::default().table_mode("t").unwrap(), None);
    }

    #[test]
    fn an_unknown_mode_or_a_bad_store_is_an_error_naming_it() {
        let record = TableRecord {
            mode: Some("Sealed".into()),
            store: Some("a b".into()),
            key_arn: None,
            labels: None,
        };
        let err = record.table_mode("t").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity);
        assert!(err.to_string().contains("\"Sealed\""), "{err}");
        assert!(record.store_id("t").is_err());
    }

    #[test]
    fn default_store_ids_and_arn_accounts() {
        assert_eq!(
            arn_account("arn:aws:kms:us-east-1:111122223333:key/abc"),
            Some("111122223333")
        );
        assert_eq!(arn_account("alias/credstash"), None);
        assert_eq!(arn_account("arn:aws:kms:us-east-1::key/abc"), None);
        assert_eq!(
            default_store_id(Some("111122223333"), "credential-store"),
            "111122223333/credential-store"
        );
        assert_eq!(default_store_id(None, "t"), "t");
    }
}
