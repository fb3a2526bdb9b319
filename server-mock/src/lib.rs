//! lockbox-mock: a local emulator of AWS KMS, DynamoDB, STS and the cloud
//! credential endpoints, speaking the same wire protocols as AWS.
//!
//! In a test:
//!
//! ```no_run
//! # async fn demo() -> Result<(), lockbox_mock::StartError> {
//! let mock = lockbox_mock::start().await?;
//! let endpoint = mock.endpoint_url(); // http://127.0.0.1:NNNN, for `endpoint_url`
//! # drop(endpoint);
//! mock.shutdown().await; // or just drop it
//! # Ok(()) }
//! ```
//!
//! By default requests are not authenticated ("open mode"): any signed or unsigned
//! request is served. With [`Config::iam`] ("strict mode") every request must be
//! SigV4-signed by an identity of the identity file and is authorized against its
//! IAM policies (`identity/`, which also holds STS and the container/IMDS
//! credential endpoints). The crate's README documents the file.

mod config;
mod dates;
mod delay;
mod dynamodb;
mod error;
mod faults;
#[doc(hidden)]
pub mod fuzzing;
mod identity;
mod journal;
mod kms;
pub mod netmodel;
pub mod private_fs;
mod protocol;
mod quotas;
mod running;
mod server;
mod services;
mod state;
mod tls;

use std::time::Duration;

pub use crate::config::{Config, StartError};
pub use crate::dynamodb::{ReplicationStatus, DEFAULT_REPLICATION_LAG, MAX_REPLICATION_LAG};
pub use crate::error::AwsError;
pub use crate::faults::{ArmedRule, FaultRule, Faults, InvalidFaultRule};
pub use crate::journal::StoreError;
pub use crate::quotas::{Quotas, DEFAULT_BURST_SECONDS};
pub use crate::running::{serve, spawn_thread, start, start_with, BackgroundMock, RunningMock};
pub use crate::state::MockState;

/// The emulator's routes, for serving in-process with any axum-compatible server.
///
/// `drop_response` faults need the emulator's own accept loop ([`start`] or the
/// binary); under another server they answer `500 InternalFailure` instead.
pub fn router(state: MockState) -> axum::Router {
    server::router(state)
}

/// A web identity token (JWT, HS256) for `role` from the emulator's issuer, as
/// `lockbox-mock issue-token` writes it; an emulator started with the same identity
/// file accepts it in `AssumeRoleWithWebIdentity`.
pub fn issue_token(
    iam_file: &std::path::Path,
    role: &str,
    subject: &str,
    ttl: Duration,
) -> Result<String, StartError> {
    let iam = identity::IamConfig::load(iam_file).map_err(StartError::Iam)?;
    if iam.role(role).is_none_or(|r| !r.trust.web_identity) {
        return Err(StartError::Iam(format!(
            "role {role} does not exist or does not trust web identities"
        )));
    }
    let key = identity::issuer_key(&iam);
    Ok(identity::issue_jwt(&key, role, subject, ttl))
}
