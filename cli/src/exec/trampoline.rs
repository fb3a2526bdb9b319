//! The supervised child's first moments: a parent-death signal, without `unsafe`.
//!
//! A supervised child must not outlive a supervisor killed outright (SIGKILL,
//! the OOM killer): nothing would forward signals, reap it or remove its files.
//! Linux's `PR_SET_PDEATHSIG` asks for a signal when the parent dies, but it is
//! set by the child itself, between fork and exec, which std allows only in an
//! `unsafe` `pre_exec` hook (the workspace forbids `unsafe`). So the supervisor
//! starts its own binary (`/proc/self/exe`) with [`MARKER`] as `argv[1]`; that
//! process, before anything else in `main`, sets the signal (SIGTERM), checks
//! that its parent is still the supervisor, and replaces itself with the
//! command (`execve` keeps the setting). Its environment is already the
//! command's; it reads nothing else and logs nothing.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::process::ExitCode;

/// `argv[1]` that makes `lockbox` this trampoline (not a command anyone types).
pub const MARKER: &str = "__lockbox-exec-child";

/// Where the supervisor finds its own binary (in the forked child, still lockbox).
pub const SELF_EXE: &str = "/proc/self/exe";

/// The arguments after [`MARKER`]: the supervisor's PID, the program's path,
/// the command's `argv[0]`, then its arguments.
pub fn args(supervisor: u32, program: &OsStr, argv0: &OsStr) -> [OsString; 4] {
    [
        MARKER.into(),
        supervisor.to_string().into(),
        program.into(),
        argv0.into(),
    ]
}

/// When `argv[1]` is [`MARKER`]: arm the signal and exec the command; returns
/// only the exit code of a failure. `None` otherwise (a normal `lockbox` run).
pub fn run_if_asked() -> Option<ExitCode> {
    let mut argv = std::env::args_os().skip(1);
    if argv.next().as_deref() != Some(OsStr::new(MARKER)) {
        return None;
    }
    Some(ExitCode::from(run(argv)))
}

fn run(mut argv: impl Iterator<Item = OsString>) -> u8 {
    let (Some(supervisor), Some(program), Some(argv0)) = (argv.next(), argv.next(), argv.next())
    else {
        eprintln!("lockbox: error: {MARKER} is lockbox exec's own, not a command");
        return crate::exit::USAGE;
    };
    let Some(supervisor) = supervisor.to_str().and_then(|s| s.parse::<i32>().ok()) else {
        eprintln!("lockbox: error: {MARKER} is lockbox exec's own, not a command");
        return crate::exit::USAGE;
    };
    if let Err(e) =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
    {
        eprintln!(
            "lockbox: error: cannot start {}: cannot ask for a signal when the supervisor \
             dies (prctl PR_SET_PDEATHSIG: {e})",
            argv0.to_string_lossy()
        );
        return 126;
    }
    // The supervisor may have died before the signal was armed: then this
    // process was re-parented, and ends as the signal would have ended it.
    if rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) != Some(supervisor) {
        return 128 + 15;
    }
    let e = std::process::Command::new(&program)
        .arg0(&argv0)
        .args(argv)
        .exec();
    eprintln!(
        "lockbox: error: cannot start {}: {e}",
        argv0.to_string_lossy()
    );
    if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}
