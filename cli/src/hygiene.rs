//! Before any secret is fetched, by every command that talks to AWS (not only
//! `exec`): no core dumps of lockbox (non-dumpable, which also hides
//! /proc/PID/environ and memory from other processes of the same user), and a
//! zero core-size limit that `exec`'s child inherits.

use anyhow::{Context as _, Result};
use rustix::process::{DumpableBehavior, Resource, Rlimit};

/// Make this process non-dumpable and, unless `allow_core_dumps`, set its
/// core-size limit (soft and hard) to 0, which children inherit.
pub fn harden(allow_core_dumps: bool) -> Result<()> {
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .context("cannot make lockbox non-dumpable (prctl PR_SET_DUMPABLE)")?;
    if !allow_core_dumps {
        rustix::process::setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        )
        .context("cannot set the core-size limit to 0 (setrlimit RLIMIT_CORE)")?;
    }
    Ok(())
}
