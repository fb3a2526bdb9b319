//! Backing off while throttled, for as long as progress is made.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;

use crate::{Error, Result};

/// Failed attempts of one call in a row, with no call of the run succeeding
/// meanwhile, before the call gives up.
const IDLE_ATTEMPTS: u32 = 8;

/// The first pause after a failed attempt; it doubles with each further one.
const FIRST_PAUSE_MS: u64 = 100;

/// The longest pause between two attempts.
const MAX_PAUSE_MS: u64 = 10_000;

/// Retries calls that failed for a transient reason (throttled, timed out,
/// unavailable) after an exponential backoff with full jitter, on top of the AWS
/// SDK's own retries. A call gives up only after 8 failures in a
/// row during which no call of the same run succeeded: while the run as a whole
/// makes progress, a throttled call waits its turn instead of failing the run.
#[derive(Debug)]
pub struct Pacer {
    successes: AtomicU64,
    first_pause_ms: u64,
    max_pause_ms: u64,
    /// Whether timeouts and unavailability are retried too, not only throttling.
    unavailable: bool,
}

impl Default for Pacer {
    fn default() -> Self {
        Self {
            successes: AtomicU64::new(0),
            first_pause_ms: FIRST_PAUSE_MS,
            max_pause_ms: MAX_PAUSE_MS,
            unavailable: true,
        }
    }
}

impl Pacer {
    /// A pacer for one run.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pacer that retries throttled calls only: a timeout or an unavailable
    /// service ends the run at once (for a read another region can serve).
    pub(crate) fn throttling_only() -> Self {
        Self {
            unavailable: false,
            ..Self::default()
        }
    }

    /// A pacer with shorter pauses (tests).
    #[cfg(test)]
    pub(crate) fn quick() -> Self {
        Self {
            first_pause_ms: 1,
            max_pause_ms: 4,
            ..Self::default()
        }
    }

    /// Run `call` until it succeeds, fails for a reason that is not transient, or
    /// keeps failing while nothing else succeeds.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut idle = 0u32;
        let mut seen = self.successes.load(Ordering::Relaxed);
        loop {
            match call().await {
                Ok(v) => {
                    self.successes.fetch_add(1, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) if retryable(&e) && (self.unavailable || is_throttled(&e)) => {
                    let now = self.successes.load(Ordering::Relaxed);
                    if now != seen {
                        seen = now;
                        idle = 0;
                    }
                    idle += 1;
                    if idle >= IDLE_ATTEMPTS {
                        return Err(e);
                    }
                    let cap = (self.first_pause_ms << idle.min(10)).min(self.max_pause_ms);
                    let ms = rand::thread_rng().gen_range(cap / 2..=cap);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_throttled(e: &Error) -> bool {
    e.kind() == crate::ErrorKind::Throttled
}

/// Throttling, timeouts and unavailability; not write contention (a conditional
/// write that lost is an answer, handled by the caller).
fn retryable(e: &Error) -> bool {
    use crate::ErrorKind as K;
    matches!(e.kind(), K::Throttled | K::Timeout | K::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn throttled() -> Error {
        Error::Throttled {
            service: crate::Service::DynamoDb,
            message: "slow down".into(),
            source: None,
        }
    }

    #[tokio::test]
    async fn retries_transient_failures_and_gives_up_without_progress() {
        let pacer = Pacer::quick();
        let calls = AtomicU32::new(0);
        let out = pacer
            .run(|| async {
                if calls.fetch_add(1, Ordering::Relaxed) < 3 {
                    Err(throttled())
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(out, 7);
        let calls = AtomicU32::new(0);
        let err = pacer
            .run(|| async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>(throttled())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Throttled { .. }));
        assert_eq!(calls.load(Ordering::Relaxed), IDLE_ATTEMPTS);
        // Not transient: no retry.
        let calls = AtomicU32::new(0);
        let _ = pacer
            .run(|| async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>(Error::InvalidValue { reason: "x".into() })
            })
            .await;
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_throttling_only_pacer_leaves_an_unavailable_service_at_once() {
        let pacer = Pacer {
            first_pause_ms: 1,
            max_pause_ms: 4,
            ..Pacer::throttling_only()
        };
        let calls = AtomicU32::new(0);
        let err = pacer
            .run(|| async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>(Error::Unavailable {
                    service: crate::Service::DynamoDb,
                    message: "503".into(),
                    source: None,
                })
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unavailable);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        // Throttling is still waited out.
        let calls = AtomicU32::new(0);
        let out = pacer
            .run(|| async {
                if calls.fetch_add(1, Ordering::Relaxed) < 2 {
                    Err(throttled())
                } else {
                    Ok(1)
                }
            })
            .await
            .unwrap();
        assert_eq!(out, 1);
    }

    #[tokio::test]
    async fn keeps_waiting_while_other_calls_make_progress() {
        let pacer = std::sync::Arc::new(Pacer::quick());
        let calls = std::sync::Arc::new(AtomicU32::new(0));
        let slow = {
            let (pacer, calls) = (pacer.clone(), calls.clone());
            tokio::spawn(async move {
                pacer
                    .run(|| {
                        let calls = calls.clone();
                        async move {
                            if calls.fetch_add(1, Ordering::Relaxed) < 3 * IDLE_ATTEMPTS {
                                Err(throttled())
                            } else {
                                Ok(())
                            }
                        }
                    })
                    .await
            })
        };
        // Another call of the run succeeds now and then, until the slow one is done.
        while !slow.is_finished() {
            tokio::task::yield_now().await;
            pacer.run(|| async { Ok::<_, Error>(()) }).await.unwrap();
        }
        slow.await.unwrap().unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 3 * IDLE_ATTEMPTS + 1);
    }
}
