//! The one shape every emulated JSON service has, so the server, the journal replay
//! and `/_mock/reset` treat them alike. It sits at the bottom: each service
//! implements it (`kms/`, `dynamodb/`), and nothing here knows them.

use serde_json::Value;

use crate::error::AwsError;
use crate::protocol::RequestContext;

/// An emulated AWS JSON service.
pub(crate) trait JsonService: Send + Sync {
    /// Runs one operation.
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        ctx: &RequestContext,
    ) -> Result<Value, AwsError>;
    /// Applies one journal record (start-up replay).
    fn restore(&self, record: &Value) -> Result<(), String>;
    /// Forgets all state.
    fn reset(&self);
    /// Records that rebuild the current state.
    fn snapshot(&self) -> Vec<Value>;
}
