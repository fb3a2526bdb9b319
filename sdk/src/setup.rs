//! Setting a table up: creating it with its record (mode, store identity, key),
//! or checking an existing one and filling in what it lacks.

use crate::backend::SetupOutcome;
use crate::table::{self, TableMode, TableRecord};
use crate::{Error, ErrorKind, Lockbox, Result};

/// Options for [`Lockbox::setup_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SetupOptions {
    /// The table's mode.
    pub mode: Option<TableMode>,
    /// The store identity to record (default: `ACCOUNT/TABLE`, the account being
    /// the KMS key's).
    pub store: Option<String>,
    /// More tags for a new table.
    pub tags: Vec<(String, String)>,
}

impl SetupOptions {
    /// Set up a table in `mode`.
    pub fn new(mode: TableMode) -> Self {
        Self {
            mode: Some(mode),
            ..Self::default()
        }
    }
}

/// What [`Lockbox::setup_with`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupResult {
    /// The table was created with this record.
    Created,
    /// The table existed and records what was asked; nothing changed.
    Unchanged,
    /// The table existed in the mode asked for (or recorded none, and held no
    /// item) and what it lacked was recorded: the named tags.
    Recorded(Vec<String>),
    /// The table existed and records something else, or holds items that another
    /// mode would make unreadable; nothing changed. Why, and what to do.
    Refused(String),
}

/// The outcome of [`Lockbox::setup_with`]: what happened and what the table
/// records now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupReport {
    /// What happened.
    pub result: SetupResult,
    /// What the table records now.
    pub record: TableRecord,
}

impl Lockbox {
    /// Create the table (credstash's key schema, on-demand billing) in `mode`,
    /// recording its mode, store identity and key; see [`Lockbox::setup_with`].
    /// `AlreadyExists` whenever the table existed, whatever it records.
    pub async fn setup(&self, mode: TableMode, tags: &[(String, String)]) -> Result<SetupOutcome> {
        let options = SetupOptions {
            tags: tags.to_vec(),
            ..SetupOptions::new(mode)
        };
        Ok(match self.setup_with(&options).await?.result {
            SetupResult::Created => SetupOutcome::Created,
            _ => SetupOutcome::AlreadyExists,
        })
    }

    /// Create the table in `options.mode` (sealed by default), recording the mode,
    /// the store identity and the ARN of the writer's KMS key as its tags. A table
    /// that exists is checked: if it records the same mode, what it lacks is
    /// recorded (an older table gains its store identity and key); if it records
    /// no mode and holds no item, it is adopted; otherwise nothing changes and the
    /// report says why.
    pub async fn setup_with(&self, options: &SetupOptions) -> Result<SetupReport> {
        let mode = options.mode.unwrap_or(TableMode::Sealed);
        let table = self.inner.store.table().to_owned();
        let key_arn = match self.inner.keys.writer_key_arn().await {
            Ok(arn) => Some(arn),
            // A credstash table may be set up before its key exists (credstash's
            // own setup never looks at the key); it is then not pinned to one.
            Err(e) if mode == TableMode::Credstash && e.kind() == ErrorKind::Denied => None,
            Err(e) => return Err(e),
        };
        let store = match &options.store {
            Some(s) => {
                crate::format::sealed::check_store(s)
                    .map_err(|reason| Error::InvalidValue { reason })?;
                s.clone()
            }
            None => {
                table::default_store_id(key_arn.as_deref().and_then(table::arn_account), &table)
            }
        };
        let wanted = TableRecord::new(mode, Some(store), key_arn);
        self.inner.record.forget();
        let outcome = self.inner.store.setup(&wanted, &options.tags).await;
        self.inner.record.forget();
        if outcome? == SetupOutcome::Created {
            return Ok(SetupReport {
                result: SetupResult::Created,
                record: wanted,
            });
        }
        let found = self.inner.store.table_record().await?;
        let recorded = found.table_mode(&table);
        let refuse = |why: String| SetupReport {
            result: SetupResult::Refused(why),
            record: found.clone(),
        };
        let adopt = match recorded {
            Err(e) => return Ok(refuse(e.to_string())),
            Ok(Some(m)) if m != mode => {
                return Ok(refuse(format!(
                    "table {table} records mode {m}, not {mode}; nothing changed (a table \
                     keeps its mode: move its secrets to a new table to change it)"
                )))
            }
            Ok(Some(_)) => false,
            Ok(None) => true,
        };
        if adopt && mode == TableMode::Sealed && !self.inner.store.list().await?.is_empty() {
            return Ok(refuse(format!(
                "table {table} exists, records no mode and holds items (a credstash table?); \
                 nothing changed: a sealed table would refuse its credstash-format items. \
                 Record it as a credstash table with `lockbox setup --compat credstash`, or \
                 set up a new table"
            )));
        }
        // Fill in what is missing, never overwrite what is recorded. An adopted
        // credstash table is not pinned to a key: its items may predate the key
        // the alias names now.
        let missing = TableRecord {
            mode: found.mode.is_none().then(|| mode.as_str().to_owned()),
            store: if found.store.is_none() {
                wanted.store.clone()
            } else {
                None
            },
            key_arn: if found.key_arn.is_none() && !(adopt && mode == TableMode::Credstash) {
                wanted.key_arn.clone()
            } else {
                None
            },
            labels: None,
        };
        let added: Vec<String> = missing.to_tags().into_iter().map(|(k, _)| k).collect();
        if added.is_empty() {
            return Ok(SetupReport {
                result: SetupResult::Unchanged,
                record: found,
            });
        }
        self.inner.store.update_record(&missing).await?;
        self.inner.record.forget();
        let record = self.inner.store.table_record().await?;
        Ok(SetupReport {
            result: SetupResult::Recorded(added),
            record,
        })
    }
}
