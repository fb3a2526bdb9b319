//! The async runtime under the blocking Python API, how a call waits on it, and
//! what survives a `fork`.
//!
//! - One tokio runtime per process, built on first use (importing the module
//!   starts no thread, so a process that forks before its first call is clean).
//! - A call waits with the GIL released, so other Python threads run meanwhile,
//!   and several threads may wait on the runtime at once.
//! - **Fork.** A forked child has only the thread that forked: the runtime's
//!   workers, and the connections and locks they held, are gone. Every use checks
//!   the process id; in a child the runtime (and each client's lockbox, see
//!   `client.rs`) is rebuilt, and the parent's copies are leaked on purpose:
//!   dropping them would wait for worker threads that no longer exist.
//! - **No lock is held across a fork.** The state here is only touched with the
//!   GIL held and never across a call that releases it; Python forks from a thread
//!   holding the GIL, so no other thread can be inside these locks at that moment.
//! - **Panics.** A panic (a bug) never crosses into the interpreter: every entry
//!   point runs under [`guarded`], which catches it and raises `InternalError`,
//!   and the panic hook prints neither the payload (it may hold data) for threads
//!   doing lockbox work, nor anything at all but a fixed line.

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once};

use pyo3::prelude::*;

use crate::errors;

thread_local! {
    /// Whether this thread is doing lockbox work: an entry point's thread, or one
    /// of the runtime's workers. The panic hook withholds their panics' payloads.
    static IN_LOCKBOX: Cell<bool> = const { Cell::new(false) };
}

/// The runtime of this process, and the process it was built in.
struct Built {
    pid: u32,
    runtime: Arc<tokio::runtime::Runtime>,
}

static RUNTIME: Mutex<Option<Built>> = Mutex::new(None);

/// How many worker threads the runtime has: the SDK drives a batch from one task,
/// so the workers only serve connections; two are plenty.
const WORKERS: usize = 2;

/// This process's runtime, built (or rebuilt after a fork) on demand.
/// Call with the GIL held (see the module's notes on fork).
pub fn runtime(_py: Python<'_>) -> std::io::Result<Arc<tokio::runtime::Runtime>> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if let Some(built) = slot.as_ref() {
        if built.pid == pid {
            return Ok(built.runtime.clone());
        }
    }
    if let Some(stale) = slot.take() {
        // Built in the parent of this forked process: its threads are gone.
        std::mem::forget(stale);
    }
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("lockbox-worker")
            .on_thread_start(|| IN_LOCKBOX.with(|f| f.set(true)))
            .enable_all()
            .build()?,
    );
    *slot = Some(Built {
        pid,
        runtime: runtime.clone(),
    });
    Ok(runtime)
}

/// Run an entry point's body: a panic becomes `InternalError`, with no payload
/// printed or raised.
pub fn guarded<T>(py: Python<'_>, body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    install_panic_hook();
    let was = IN_LOCKBOX.with(|f| f.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(body));
    IN_LOCKBOX.with(|f| f.set(was));
    outcome.unwrap_or_else(|_| Err(errors::internal(py)))
}

/// Wait for the future `make` returns on this process's runtime, with the GIL
/// released; SDK errors become Python exceptions. (The future is made on the
/// waiting thread, so it need not be `Send`: the SDK's batch futures are not
/// provably so.)
pub fn block_on<T, F, M>(py: Python<'_>, make: M) -> PyResult<T>
where
    M: FnOnce() -> F + Send,
    F: Future<Output = lockbox::Result<T>>,
    T: Send,
{
    let runtime = runtime(py).map_err(|e| {
        errors::usage(
            py,
            &format!("cannot start lockbox's async runtime (threads): {e}"),
        )
    })?;
    let outcome = py.detach(move || {
        catch_unwind(AssertUnwindSafe(|| {
            IN_LOCKBOX.with(|f| f.set(true));
            runtime.block_on(make())
        }))
    });
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(errors::to_py(py, &e)),
        Err(_) => Err(errors::internal(py)),
    }
}

/// Replace the process's panic hook, once, by one that keeps the previous hook for
/// other code's threads and prints one fixed line for lockbox's: the location, and
/// the payload only if it is a string literal from the source (it cannot hold
/// run-time data), as the CLI's hook does.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_LOCKBOX.with(Cell::get) {
                return previous(info);
            }
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&'static str>()
                .copied()
                .unwrap_or("(message withheld: it may contain secret data)");
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr().lock(),
                "lockbox: internal error (a bug){location}: {message}"
            );
        }));
    });
}
