//! The one shape every emulated JSON service has, so the server, the journal replay
//! and `/_mock/reset` treat them alike.

use serde_json::Value;

use crate::dynamodb::DynamoDb;
use crate::error::AwsError;
use crate::kms::Kms;
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

impl JsonService for Kms {
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        ctx: &RequestContext,
    ) -> Result<Value, AwsError> {
        Kms::handle(self, operation, body, ctx)
    }
    fn restore(&self, record: &Value) -> Result<(), String> {
        Kms::restore(self, record)
    }
    fn reset(&self) {
        Kms::reset(self)
    }
    fn snapshot(&self) -> Vec<Value> {
        Kms::snapshot(self)
    }
}

impl JsonService for DynamoDb {
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        _ctx: &RequestContext,
    ) -> Result<Value, AwsError> {
        DynamoDb::handle(self, operation, body)
    }
    fn restore(&self, record: &Value) -> Result<(), String> {
        DynamoDb::restore(self, record)
    }
    fn reset(&self) {
        DynamoDb::reset(self)
    }
    fn snapshot(&self) -> Vec<Value> {
        DynamoDb::snapshot(self)
    }
}
