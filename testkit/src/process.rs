//! Child processes that cannot outlive a failed test, and waiting for a condition.

use std::process::Child;
use std::time::{Duration, Instant};

/// A child process killed and reaped on drop, so a failed assertion leaves
/// nothing running.
#[derive(Debug)]
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `cond`, up to `secs`; fails the test naming `what` when it times out.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
