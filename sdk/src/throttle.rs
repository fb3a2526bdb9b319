//! Which reads of a batch were throttled: an interceptor on the AWS clients notes
//! each throttled answer in the note of the read whose call it was (a task-local
//! set around each read of a batch), so a batch that runs out of its deadline can
//! say which secrets were still being throttled, not only that time ran out. The
//! AWS SDK's retry strategy retries those answers itself; this only watches.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::error::Service;

tokio::task_local! {
    static NOTE: Arc<Note>;
}

/// What one read's calls met.
#[derive(Debug, Default)]
pub(crate) struct Note {
    /// The service of the last attempt: 0 none, 1 KMS, 2 DynamoDB.
    last: AtomicU8,
    /// Throttled answers from KMS.
    kms: AtomicU32,
    /// Throttled answers from DynamoDB.
    dynamodb: AtomicU32,
    /// When the read must be done by, if it has a deadline.
    until: Option<std::time::Instant>,
}

fn code(service: Service) -> u8 {
    match service {
        Service::Kms => 1,
        Service::DynamoDb => 2,
        Service::Credentials => 0,
    }
}

impl Note {
    /// A note for a read that must be done by `until`.
    pub(crate) fn until(until: std::time::Instant) -> Self {
        Note {
            until: Some(until),
            ..Note::default()
        }
    }

    /// The service that throttled this read's calls most recently seen, with how
    /// many throttled answers it gave: DynamoDB first (it is read first).
    pub(crate) fn throttled(&self) -> Option<(Service, u32)> {
        let ddb = self.dynamodb.load(Ordering::Relaxed);
        let kms = self.kms.load(Ordering::Relaxed);
        match (ddb, kms) {
            (0, 0) => None,
            (d, k) if k > d => Some((Service::Kms, k)),
            (d, _) => Some((Service::DynamoDb, d)),
        }
    }

    /// The service of the last call this read made, if any.
    pub(crate) fn last_service(&self) -> Option<Service> {
        match self.last.load(Ordering::Relaxed) {
            1 => Some(Service::Kms),
            2 => Some(Service::DynamoDb),
            _ => None,
        }
    }
}

/// Runs `read` with a fresh note that the interceptor fills.
pub(crate) async fn noted<F: std::future::Future>(note: Arc<Note>, read: F) -> F::Output {
    NOTE.scope(note, read).await
}

/// The deadline of the read the current task is making, if it has one.
pub(crate) fn deadline() -> Option<std::time::Instant> {
    NOTE.try_with(|note| note.until).ok().flatten()
}

/// Whether an answer is a throttling error: one of the codes the backends
/// report as throttling ([`crate::backend::aws::THROTTLING`]), read from the
/// error's `__type`.
pub(crate) fn is_throttling(status: u16, body: &[u8]) -> bool {
    if status != 400 && status != 429 && status != 503 {
        return false;
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let Some(kind) = doc.get("__type").and_then(|t| t.as_str()) else {
        return false;
    };
    let code = kind.rsplit('#').next().unwrap_or(kind);
    crate::backend::aws::THROTTLING.contains(&code)
}

/// Notes each attempt's service, and its throttled answers, in the current read's note.
#[derive(Debug)]
pub(crate) struct NoteThrottling(pub(crate) Service);

impl Intercept for NoteThrottling {
    fn name(&self) -> &'static str {
        "NoteThrottling"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = NOTE.try_with(|note| {
            note.last.store(code(self.0), Ordering::Relaxed);
            let Some(response) = context.response() else {
                return;
            };
            let status = response.status().as_u16();
            let throttled = status != 200
                && response
                    .body()
                    .bytes()
                    .is_some_and(|b| is_throttling(status, b));
            if throttled {
                let counter = match self.0 {
                    Service::Kms => &note.kms,
                    _ => &note.dynamodb,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_answers_are_told_by_their_code() {
        assert!(is_throttling(
            400,
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"x"}"#
        ));
        assert!(is_throttling(
            400,
            br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
        ));
        assert!(!is_throttling(
            400,
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}"#
        ));
        assert!(!is_throttling(200, br#"{"__type":"ThrottlingException"}"#));
        assert!(!is_throttling(400, b"not json"));
    }

    #[test]
    fn a_note_names_the_service_that_throttled_most() {
        let note = Note::default();
        assert_eq!(note.throttled(), None);
        note.dynamodb.fetch_add(1, Ordering::Relaxed);
        assert_eq!(note.throttled(), Some((Service::DynamoDb, 1)));
        note.kms.fetch_add(2, Ordering::Relaxed);
        assert_eq!(note.throttled(), Some((Service::Kms, 2)));
    }
}
