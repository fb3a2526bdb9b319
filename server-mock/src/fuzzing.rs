//! Entry points for the fuzz targets in `fuzz/`: the request parsers that are
//! private to the emulator, reached without making them public. Not an API:
//! hidden from the docs and free to change with the targets.

use std::time::SystemTime;

pub use crate::dynamodb::fuzzing::{expression, ExpressionKind};
use crate::error::AwsError;
use crate::identity::{Auth, IamConfig};
use axum::http::{HeaderMap, Uri};

/// The access key id of the one identity [`SigV4`] knows.
pub const ACCESS_KEY_ID: &str = "AKIAFUZZ";
/// Its secret access key.
pub const SECRET_ACCESS_KEY: &str = "fuzz-secret";

/// Strict mode's SigV4 verification, with one user ([`ACCESS_KEY_ID`]).
#[derive(Debug)]
pub struct SigV4(Auth);

impl SigV4 {
    /// A verifier whose identity file has one user and no policies.
    pub fn new() -> Self {
        let iam = IamConfig::from_json(&format!(
            r#"{{"users": [{{"name": "fuzz", "access_key_id": "{ACCESS_KEY_ID}", "secret_access_key": "{SECRET_ACCESS_KEY}"}}]}}"#
        ))
        .expect("a valid identity file");
        Self(Auth::new(iam, "000000000000", None, None).expect("no audit log to open"))
    }

    /// Verifies a request for `service` as strict mode does; the access key id on success.
    pub fn verify(
        &self,
        service: &str,
        method: &str,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<String, AwsError> {
        self.0
            .authenticate(service, method, uri, headers, body, now)
            .map(|(_, akid)| akid)
    }
}

impl Default for SigV4 {
    fn default() -> Self {
        Self::new()
    }
}
