//! One backoff schedule per client for the throttled calls of deadline-bound
//! batch reads (`exec`, [`Lockbox::get_each_until`](crate::Lockbox::get_each_until)).
//!
//! The AWS SDK's standard retry mode backs off each throttled call on its own
//! (full jitter, doubling from 1 s): a process whose 40 calls are throttled at
//! once sends its retries in 40 independent schedules, most of which are
//! throttled again, so a fleet started at once needs three or four retries per
//! secret to drain. Here the throttled calls of one client share one schedule
//! instead: each is given the next slot, spaced by the rate the service has been
//! granting this client since it was first throttled (at least one call a
//! second), so a process retries at about its share of the quota and each retry
//! mostly succeeds. A slot that would fall past most of what remains of the
//! deadline is drawn at random within it instead, so the schedule never makes
//! a read miss a deadline it could have met.
//!
//! Only the delay changes: whether to retry, and how many times, is still the
//! SDK's decision (its retry classifiers, `max_attempts` and retry quota). Calls
//! outside a deadline-bound batch keep the SDK's own backoff.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_types::retry::ErrorKind;
use rand::Rng;

/// The slowest rate a throttled client is paced at (one call a second): below
/// it, a client that was granted nothing lately would wait on its own silence.
const MIN_RATE: f64 = 1.0;
/// The fastest (one call per 10 ms).
const MAX_RATE: f64 = 100.0;
/// The span over which the granted rate is measured.
const WINDOW: Duration = Duration::from_secs(1);
/// The share of the time left before the deadline that slots may use.
const DEADLINE_SHARE: f64 = 0.8;
/// The share of the granted rate a client is paced at: a little below it, so
/// that the jitter between slots does not empty the service's bucket.
const RATE_SHARE: f64 = 0.9;

/// One client's schedule for its throttled calls.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the calls answered without throttling in the last [`WINDOW`] were
    /// answered (at most [`MAX_RATE`] of them: more would not change the pace).
    granted: VecDeque<Instant>,
    /// The last slot given out.
    next: Option<Instant>,
}

impl Pacer {
    /// Note a call answered without throttling.
    pub(crate) fn granted(&self, now: Instant) {
        let mut state = self
            .state
            .lock()
            .expect("the pacer's lock is never poisoned");
        state.forget_before(now);
        if state.granted.len() >= MAX_RATE as usize {
            state.granted.pop_front();
        }
        state.granted.push_back(now);
    }

    /// The delay before retrying a call throttled at `now`, of a read that must
    /// finish by `until`; `unit` is a random draw in `[0, 1)`.
    pub(crate) fn throttled(&self, now: Instant, until: Instant, unit: f64) -> Duration {
        let mut state = self
            .state
            .lock()
            .expect("the pacer's lock is never poisoned");
        state.forget_before(now);
        let granted = state.granted.len() as f64 / WINDOW.as_secs_f64();
        let rate = (RATE_SHARE * granted).clamp(MIN_RATE, MAX_RATE);
        // Jittered by ±25% so that clients paced alike do not fall in step.
        let gap = Duration::from_secs_f64((0.75 + unit / 2.0) / rate);
        let start = state.next.map_or(now, |next| next.max(now));
        let budget = until.saturating_duration_since(now).mul_f64(DEADLINE_SHARE);
        let delay = (start + gap).duration_since(now);
        if delay <= budget {
            state.next = Some(now + delay);
            delay
        } else {
            budget.mul_f64(unit)
        }
    }
}

impl State {
    fn forget_before(&mut self, now: Instant) {
        while self
            .granted
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) > WINDOW)
        {
            self.granted.pop_front();
        }
    }
}

/// Gives the throttled calls of deadline-bound reads their slot in the
/// client's schedule: it runs after the SDK's own classifiers and refines
/// their "throttled, retry" verdict with an explicit delay.
#[derive(Debug, Clone, Default)]
pub(crate) struct PaceThrottled {
    pacer: Arc<Pacer>,
}

impl ClassifyRetry for PaceThrottled {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        let Some(until) = crate::throttle::deadline() else {
            return RetryAction::NoActionIndicated;
        };
        let now = Instant::now();
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            }) => {
                let unit = rand::thread_rng().gen::<f64>();
                RetryAction::retryable_error_with_explicit_delay(
                    ErrorKind::ThrottlingError,
                    self.pacer.throttled(now, until, unit),
                )
            }
            _ => {
                if !ctx.is_failed() {
                    self.pacer.granted(now);
                }
                RetryAction::NoActionIndicated
            }
        }
    }

    fn name(&self) -> &'static str {
        "PaceThrottled"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_micros(10)
    }

    #[test]
    fn throttled_calls_take_consecutive_slots_below_the_granted_rate() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let until = t0 + 30 * SECOND;
        // A burst: 4 calls granted, then 8 throttled.
        for _ in 0..4 {
            pacer.granted(t0);
        }
        let delays: Vec<Duration> = (0..8).map(|_| pacer.throttled(t0, until, 0.5)).collect();
        // Four granted in the last second: a slot every 1 / (0.9 × 4) s.
        let gap = SECOND.div_f64(RATE_SHARE * 4.0);
        for (k, delay) in (1..).zip(&delays) {
            assert!(close(*delay, gap * k), "{delays:?}");
        }
        // Grants older than a second no longer count.
        let later = t0 + 10 * SECOND;
        assert_eq!(pacer.throttled(later, later + 30 * SECOND, 0.5), SECOND);
    }

    #[test]
    fn a_client_granted_nothing_still_retries_once_a_second() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let until = t0 + 60 * SECOND;
        let delays: Vec<Duration> = (0..3).map(|_| pacer.throttled(t0, until, 0.5)).collect();
        assert_eq!(delays, vec![SECOND, 2 * SECOND, 3 * SECOND]);
    }

    #[test]
    fn slots_past_the_deadline_budget_are_drawn_within_it() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let until = t0 + 4 * SECOND;
        let delays: Vec<Duration> = (0..6).map(|_| pacer.throttled(t0, until, 0.5)).collect();
        // Slots at 1, 2 and 3 s fit in 80% of 4 s; the others are drawn within
        // it (here at its middle), and do not push the schedule further.
        let budget = (4 * SECOND).mul_f64(DEADLINE_SHARE);
        assert_eq!(
            delays,
            vec![
                SECOND,
                2 * SECOND,
                3 * SECOND,
                budget / 2,
                budget / 2,
                budget / 2
            ]
        );
        assert_eq!(pacer.throttled(t0, t0, 0.5), Duration::ZERO);
    }

    #[test]
    fn a_schedule_past_its_last_slot_starts_again_from_now() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let until = t0 + 60 * SECOND;
        assert_eq!(pacer.throttled(t0, until, 0.5), SECOND);
        assert_eq!(pacer.throttled(t0, until, 0.5), 2 * SECOND);
        let later = t0 + 20 * SECOND;
        assert_eq!(pacer.throttled(later, until, 0.5), SECOND);
    }

    #[test]
    fn jitter_spreads_a_slot_by_a_quarter_of_its_gap_either_way() {
        let t0 = Instant::now();
        let until = t0 + 60 * SECOND;
        let low = Pacer::default().throttled(t0, until, 0.0);
        let high = Pacer::default().throttled(t0, until, 0.999);
        assert!(close(low, SECOND * 3 / 4), "{low:?}");
        assert!(high > SECOND * 5 / 4 - Duration::from_millis(2) && high < SECOND * 5 / 4);
    }
}
