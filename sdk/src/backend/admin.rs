//! What the table lifecycle operations (`doctor`, `migrate`, `rewrap`, `sync`:
//! [`crate::lifecycle`]) need from a backend beyond reading and writing secrets:
//! a table scanned page by page, items read, written and re-keyed as they are
//! stored, the table and the key described, and a wrapped key moved to another
//! master key without its plaintext leaving the key service.

use crate::format::Attributes;

/// Where a scan resumes: the primary key of the last item a page evaluated
/// (DynamoDB's `LastEvaluatedKey`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The partition key (`name`), as stored.
    pub name: String,
    /// The sort key (`version`), as stored.
    pub sort_key: String,
}

/// One page of a table scan to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanRequest {
    /// A parallel scan's segment and segment count (`Segment`, `TotalSegments`):
    /// every item belongs to exactly one of the segments.
    pub segment: Option<(u32, u32)>,
    /// Resume after this key (the previous page's [`ScanPage::next`]).
    pub start: Option<PageKey>,
    /// Evaluate at most this many items (the backend may stop sooner: DynamoDB
    /// ends a page after 1 MB).
    pub limit: Option<u32>,
    /// Return only the keys (`name`, `version`) of each item.
    pub keys_only: bool,
}

/// One page of a table scan.
#[derive(Debug, Clone, Default)]
pub struct ScanPage {
    /// The items, every attribute as stored (or only the keys).
    pub items: Vec<Attributes>,
    /// Where the next page starts; `None` when the scan (of this segment) is done.
    pub next: Option<PageKey>,
}

/// A replica of a global table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaDescription {
    /// The replica's region.
    pub region: String,
    /// Its status (`ACTIVE`, `CREATING`, ...), as the service reports it.
    pub status: Option<String>,
}

/// What a table's settings are, as far as a lifecycle check cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableDescription {
    /// The table's ARN (`None` for stores that have none, such as memory).
    pub arn: Option<String>,
    /// `ACTIVE`, `UPDATING`, ...
    pub status: Option<String>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: Option<String>,
    /// Provisioned read capacity units, when provisioned.
    pub read_capacity: Option<i64>,
    /// Provisioned write capacity units, when provisioned.
    pub write_capacity: Option<i64>,
    /// Whether deletion protection is on.
    pub deletion_protection: Option<bool>,
    /// Whether point-in-time recovery is on (`None`: it could not be read).
    pub point_in_time_recovery: Option<bool>,
    /// Why point-in-time recovery could not be read, when it could not.
    pub point_in_time_recovery_note: Option<String>,
    /// The replicas of a global table (its own region included, as DynamoDB lists it).
    pub replicas: Vec<ReplicaDescription>,
    /// `EVENTUAL` or `STRONG` for a global table.
    pub multi_region_consistency: Option<String>,
    /// The approximate item count (DynamoDB updates it every few hours).
    pub item_count: Option<i64>,
    /// The region of the client that described it.
    pub region: Option<String>,
}

/// A KMS key as `DescribeKey` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyDescription {
    /// The key's ARN.
    pub arn: String,
    /// Its state (`Enabled`, `Disabled`, `PendingDeletion`, ...).
    pub state: Option<String>,
    /// Whether it can be used for cryptographic operations.
    pub enabled: bool,
    /// Whether it is a multi-region key.
    pub multi_region: Option<bool>,
}

impl KeyDescription {
    /// A key described by its ARN and whether it is enabled.
    pub fn new(arn: impl Into<String>, enabled: bool) -> Self {
        Self {
            arn: arn.into(),
            state: Some(if enabled { "Enabled" } else { "Disabled" }.to_owned()),
            enabled,
            multi_region: None,
        }
    }
}

/// A data key moved to another master key by [`KeyService::re_encrypt`](super::KeyService::re_encrypt).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReEncrypted {
    /// The data key wrapped under the destination key (KMS `CiphertextBlob`).
    pub wrapped: Vec<u8>,
    /// The key it was wrapped under before (KMS `SourceKeyId`: an ARN).
    pub source_key_id: Option<String>,
    /// The key it is wrapped under now (KMS `KeyId`: an ARN).
    pub key_id: Option<String>,
}

impl ReEncrypted {
    /// A re-encryption result.
    pub fn new(wrapped: Vec<u8>, source_key_id: Option<String>, key_id: Option<String>) -> Self {
        Self {
            wrapped,
            source_key_id,
            key_id,
        }
    }
}

/// The error of a default trait method a backend does not implement.
pub(crate) fn unsupported(service: crate::Service, what: &str) -> crate::Error {
    crate::Error::Backend {
        service,
        message: format!("this backend does not support {what}"),
        source: None,
    }
}
