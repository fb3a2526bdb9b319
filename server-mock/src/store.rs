//! Durability: services record every acknowledged state change through a [`Journal`].
//!
//! A service calls [`Journal::append`] *before* it acknowledges a write; when it
//! returns `Ok`, the record is durable (fsync'd) if the emulator runs with a data dir.
//! At start-up the emulator replays each service's records in order through the
//! service's own `restore` function.

use crate::error::AwsError;

/// Where a service writes its state changes. Implementations are cheap to clone.
pub trait Journal: Send + Sync + std::fmt::Debug {
    /// Durably record one state change of `service` (`"kms"`, `"dynamodb"`, ...).
    fn append(&self, service: &str, record: &serde_json::Value) -> Result<(), AwsError>;
}

/// A journal for in-memory mode: records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn append(&self, _service: &str, _record: &serde_json::Value) -> Result<(), AwsError> {
        Ok(())
    }
}
