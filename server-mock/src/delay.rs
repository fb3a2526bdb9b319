//! Injected latency, to the deadline rather than to the timer wheel's next tick.
//!
//! tokio's timer has a resolution of 1 ms and its workers park in `epoll_wait`,
//! whose timeout is in whole milliseconds too, so a 10 ms sleep ends 10.5–12 ms
//! later, and a benchmark that injects "10 ms per call" would measure ~11.7 ms
//! calls. Waits are kept instead by one timer thread, which sleeps on a channel
//! with the (nanosecond) timeout of the next deadline and wakes each waiting task
//! through a oneshot channel when its deadline passes.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// Wait until `deadline`.
pub(crate) async fn until(deadline: Instant) {
    if deadline <= Instant::now() {
        return;
    }
    let (wake, woken) = oneshot::channel();
    let queued = timer()
        .map(|t| {
            t.send(Wait {
                deadline: deadline.into_std(),
                wake,
            })
        })
        .is_some_and(|sent| sent.is_ok());
    // Without the timer thread (it could not be started), tokio's timer.
    if !queued || woken.await.is_err() {
        tokio::time::sleep_until(deadline).await;
    }
}

/// One waiting task. Ordered by deadline, earliest first out of a max-heap.
struct Wait {
    deadline: std::time::Instant,
    wake: oneshot::Sender<()>,
}

impl Ord for Wait {
    fn cmp(&self, other: &Self) -> Ordering {
        other.deadline.cmp(&self.deadline)
    }
}

impl PartialOrd for Wait {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Wait {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Wait {}

/// The process's timer thread, started on first use.
fn timer() -> Option<&'static mpsc::Sender<Wait>> {
    static TIMER: OnceLock<Option<mpsc::Sender<Wait>>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("lockbox-mock-delay".into())
                .spawn(move || run(rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

fn run(requests: mpsc::Receiver<Wait>) {
    let mut waits = BinaryHeap::new();
    loop {
        let received = match waits.peek() {
            Some(Wait { deadline, .. }) => {
                requests.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            }
            None => requests.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(wait) => waits.push(wait),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = std::time::Instant::now();
        while waits.peek().is_some_and(|w| w.deadline <= now) {
            if let Some(due) = waits.pop() {
                // The waiting task may be gone (its connection closed): nothing to wake.
                let _ = due.wake.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Fails rather than hangs if a wait never ends.
    async fn bounded<F: std::future::Future>(wait: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the wait ended")
    }

    #[tokio::test]
    async fn waits_at_least_until_the_deadline() {
        for ms in [1, 7, 25] {
            let start = Instant::now();
            bounded(until(start + Duration::from_millis(ms))).await;
            assert!(start.elapsed() >= Duration::from_millis(ms), "{ms} ms");
        }
    }

    #[tokio::test]
    async fn a_deadline_now_or_past_returns() {
        let now = Instant::now();
        bounded(until(now)).await;
        bounded(until(now - Duration::from_millis(5))).await;
    }

    #[tokio::test]
    async fn concurrent_waits_each_end_at_their_own_deadline_in_any_order() {
        let start = Instant::now();
        let mut waits = tokio::task::JoinSet::new();
        for ms in [30u64, 5, 20, 5, 1, 12] {
            waits.spawn(async move {
                until(start + Duration::from_millis(ms)).await;
                (ms, start.elapsed())
            });
        }
        let ended = bounded(waits.join_all()).await;
        assert_eq!(ended.len(), 6);
        for (ms, elapsed) in ended {
            assert!(
                elapsed >= Duration::from_millis(ms),
                "{ms} ms ended after {elapsed:?}"
            );
        }
        assert!(timer().is_some(), "the timer thread runs");
    }

    #[tokio::test]
    async fn a_dropped_wait_does_not_stop_the_timer() {
        let start = Instant::now();
        let dropped = tokio::time::timeout(
            Duration::from_millis(2),
            until(start + Duration::from_millis(50)),
        );
        assert!(dropped.await.is_err());
        bounded(until(Instant::now() + Duration::from_millis(3))).await;
    }
}
