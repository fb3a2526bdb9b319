//! A read in one region of several, as its AWS client sees it: when another
//! region can serve the read, a region that does not answer is not waited on
//! again. The regional failover (`backend/region.rs`) sets a task-local around
//! each call it makes in a region; a retry classifier on the clients of a
//! multi-region lockbox reads it and stops the AWS SDK from retrying in place:
//!
//! - a timeout or a connection failure is not retried: the next region is the
//!   retry, so a hanging region costs one attempt timeout, not `max_attempts`;
//! - a 5xx answer is retried once (a lone 5xx is often a blip) and then left
//!   to the next region, so a region answering 5xx costs one backoff (under a
//!   second), not four;
//! - throttling keeps the SDK's retries (and lockbox's pacing): a throttled
//!   region is busy, not down, and its quota is the client's own.
//!
//! Outside such a scope (writes, one region, the last region that can serve)
//! the clients retry as configured.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

tokio::task_local! {
    static CALL: Arc<RegionCall>;
}

/// One call in one region, made while another region could serve it.
#[derive(Debug, Default)]
pub(crate) struct RegionCall {
    /// Attempts the AWS SDK has started for its current operation (a call may
    /// make several operations: pages, unprocessed keys).
    attempts: AtomicU32,
}

/// Runs `call` as a call in one region of several; `elsewhere` says whether
/// another region can serve it if this one fails (without one, the call is left
/// to the SDK's retries).
pub(crate) async fn in_region<F: std::future::Future>(elsewhere: bool, call: F) -> F::Output {
    if elsewhere {
        CALL.scope(Arc::new(RegionCall::default()), call).await
    } else {
        call.await
    }
}

/// The attempts made so far by the current call, if another region can serve it.
fn attempts() -> Option<u32> {
    CALL.try_with(|c| c.attempts.load(Ordering::Relaxed)).ok()
}

/// Counts the attempts of each operation of a call made in a region while
/// another can serve it.
#[derive(Debug)]
pub(crate) struct CountAttempts;

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = CALL.try_with(|c| c.attempts.store(0, Ordering::Relaxed));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = CALL.try_with(|c| c.attempts.fetch_add(1, Ordering::Relaxed));
        Ok(())
    }
}

/// How many 5xx answers a region gives a call before the call moves on.
const SERVER_ERRORS_IN_PLACE: u32 = 2;

/// Forbids retrying in place what another region should retry (the module's
/// rules). Runs before the SDK's own classifiers, so its verdict stands.
#[derive(Debug)]
pub(crate) struct RetryElsewhere;

impl ClassifyRetry for RetryElsewhere {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(attempts) = attempts() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        if err.is_timeout_error()
            || err
                .as_connector_error()
                .is_some_and(|c| c.is_timeout() || c.is_io())
        {
            return RetryAction::RetryForbidden;
        }
        let server_error = ctx.response().is_some_and(|r| {
            r.status().is_server_error()
                && !r
                    .body()
                    .bytes()
                    .is_some_and(|b| crate::throttle::is_throttling(r.status().as_u16(), b))
        });
        if server_error && attempts >= SERVER_ERRORS_IN_PLACE {
            return RetryAction::RetryForbidden;
        }
        RetryAction::NoActionIndicated
    }

    fn name(&self) -> &'static str {
        "retry in the next region"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_before(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_call_another_region_can_serve_is_counted() {
        assert_eq!(attempts(), None);
        assert_eq!(in_region(false, async { attempts() }).await, None);
        let counted = in_region(true, async {
            let _ = CALL.try_with(|c| c.attempts.fetch_add(1, Ordering::Relaxed));
            attempts()
        })
        .await;
        assert_eq!(counted, Some(1));
        // Each call has its own count.
        assert_eq!(in_region(true, async { attempts() }).await, Some(0));
    }
}
