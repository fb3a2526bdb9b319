//! The process model: lockbox becomes the child (`execve`), or, when files must be
//! removed afterwards or rotation followed, stays as a small supervisor that
//! forwards signals, reaps zombies when it is PID 1, follows `--watch`, and exits
//! with the child's status.

use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use anyhow::Result;
use lockbox::Lockbox;
use rand::Rng as _;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use tokio::signal::unix::SignalKind;
use tokio::time::Instant;

use super::env::{child_env, EnvPolicy};
use super::files::Files;
use super::resolve::{resolve, Failed, Resolved, LOG};
use super::spec::{Spec, Target};
use super::trampoline;
use crate::exit::Coded;
use crate::values::{OnChange, SIGNALS};

/// How long a child has to exit after SIGTERM before it gets SIGKILL (restart).
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the supervisor checks on the child besides SIGCHLD.
const POLL: Duration = Duration::from_millis(200);

/// The command to run and the environment it starts from.
#[derive(Debug)]
pub struct Launch {
    /// The program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// lockbox's environment, read once.
    pub inherited: Vec<(OsString, OsString)>,
    /// What of it the child gets.
    pub policy: EnvPolicy,
    /// `--allow-disk`: files may go on a disk-backed filesystem.
    pub allow_disk: bool,
}

impl Launch {
    /// The program's name, for messages.
    pub fn label(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// The child's command with its environment built from scratch. The program
    /// is looked up in lockbox's own `PATH` first, so a `PATH` given to the child
    /// (a secret) never chooses what runs; `argv[0]` stays as given.
    pub fn command(&self, resolved: &Resolved) -> std::io::Result<std::process::Command> {
        let mut c = std::process::Command::new(self.program_path()?);
        c.arg0(&self.program)
            .args(&self.args)
            .env_clear()
            .envs(child_env(&self.inherited, self.policy, resolved));
        Ok(c)
    }

    /// [`Launch::command`] for a supervised child: started through lockbox's own
    /// binary as a [`trampoline`], which asks for SIGTERM when
    /// the supervisor dies before it becomes the command. Without `/proc`, the
    /// command is started directly (and lockbox warns that it would outlive a
    /// supervisor killed outright).
    pub fn supervised_command(
        &self,
        resolved: &Resolved,
    ) -> std::io::Result<std::process::Command> {
        if !Path::new(trampoline::SELF_EXE).exists() {
            tracing::warn!(
                "{} is missing, so {} cannot be given a parent-death signal: it would keep \
                 running if lockbox were killed with SIGKILL",
                trampoline::SELF_EXE,
                self.label()
            );
            return self.command(resolved);
        }
        let program = self.program_path()?;
        let mut c = std::process::Command::new(trampoline::SELF_EXE);
        c.arg0("lockbox")
            .args(trampoline::args(
                std::process::id(),
                program.as_os_str(),
                &self.program,
            ))
            .args(&self.args)
            .env_clear()
            .envs(child_env(&self.inherited, self.policy, resolved));
        Ok(c)
    }

    /// The program's file, found in lockbox's own `PATH`.
    fn program_path(&self) -> std::io::Result<PathBuf> {
        let lockbox_path = self
            .inherited
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_os_str());
        find_program(&self.program, lockbox_path)
    }

    /// Why the program could not be started: 127 when it is not found, else 126
    /// (the shell's codes).
    pub fn start_error(&self, e: &std::io::Error) -> anyhow::Error {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        Coded {
            code,
            message: format!("cannot start {}: {e}", self.label()),
        }
        .into()
    }
}

/// execvp's search path when `PATH` is unset (glibc's `_CS_PATH`).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The file `program` names: itself when it holds a `/` (checked to be an
/// executable file, so both process models fail alike before starting), else the first
/// executable regular file of that name in `path`'s directories (an empty entry
/// is the current directory), as execvp searches them. Not found: `NotFound`;
/// found but none executable: `PermissionDenied`.
fn find_program(program: &OsStr, path: Option<&OsStr>) -> std::io::Result<PathBuf> {
    let executable = |p: &Path| -> std::io::Result<()> {
        if !std::fs::metadata(p)?.is_file() {
            return Err(rustix::io::Errno::ACCESS.into());
        }
        Ok(rustix::fs::access(p, rustix::fs::Access::EXEC_OK)?)
    };
    if program.as_bytes().contains(&b'/') {
        let program = PathBuf::from(program);
        executable(&program)?;
        return Ok(program);
    }
    let mut denied = None;
    if !program.is_empty() {
        let path = path.unwrap_or(OsStr::new(DEFAULT_PATH));
        for dir in path.as_bytes().split(|b| *b == b':') {
            let dir = if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(OsStr::from_bytes(dir))
            };
            let candidate = dir.join(program);
            match executable(&candidate) {
                Ok(()) => return Ok(candidate),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied = Some(e),
                Err(_) => {}
            }
        }
    }
    Err(denied.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not found in lockbox's own PATH (the command's PATH is not used to find it)",
        )
    }))
}

/// `--watch`.
#[derive(Debug)]
pub struct Watch<'a> {
    /// The store.
    pub lockbox: &'a Lockbox,
    /// What to re-read.
    pub spec: &'a Spec,
    /// The deadline of each re-read.
    pub deadline: Duration,
    /// The interval (±10% jitter).
    pub interval: Duration,
    /// What to do on a change.
    pub on_change: OnChange,
}

/// The signals forwarded to the child, and SIGCHLD.
struct Signals {
    forwarded: Vec<(Signal, tokio::signal::unix::Signal)>,
    child: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> Result<Self> {
        let mut forwarded = Vec::new();
        for (_, s) in SIGNALS {
            forwarded.push((
                *s,
                tokio::signal::unix::signal(SignalKind::from_raw(s.as_raw()))?,
            ));
        }
        Ok(Self {
            forwarded,
            child: tokio::signal::unix::signal(SignalKind::child())?,
        })
    }

    /// The next signal to forward, or `None` on SIGCHLD.
    async fn recv(&mut self) -> Option<Signal> {
        let futs = self.forwarded.iter_mut().map(|(s, stream)| {
            Box::pin(async move {
                stream.recv().await;
                *s
            })
        });
        tokio::select! {
            (s, _, _) = futures::future::select_all(futs) => Some(s),
            _ = self.child.recv() => None,
        }
    }
}

fn jittered(interval: Duration) -> Instant {
    let factor = rand::thread_rng().gen_range(0.9..=1.1);
    Instant::now() + interval.mul_f64(factor)
}

/// The child's status as an exit code: its own, or 128 + the signal that killed it.
fn exit_code(status: WaitStatus) -> u8 {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => crate::exit::OTHER,
    }
}

/// The child's final status, if it has ended. As PID 1, also reaps every other
/// ended process (orphans re-parented to us).
fn reap(child: Pid, pid1: bool) -> Option<WaitStatus> {
    loop {
        let r = if pid1 {
            rustix::process::wait(WaitOptions::NOHANG)
        } else {
            rustix::process::waitpid(Some(child), WaitOptions::NOHANG)
        };
        match r {
            Ok(Some((pid, status))) if pid == child => return Some(status),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

fn spawn(launch: &Launch, resolved: &Resolved) -> Result<Pid> {
    let child = launch
        .supervised_command(resolved)
        .and_then(|mut c| c.spawn())
        .map_err(|e| launch.start_error(&e))?;
    let pid = Pid::from_child(&child);
    tracing::debug!(target: LOG, "started {} as pid {}", launch.label(), pid.as_raw_nonzero());
    Ok(pid)
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`]; returns once the child is gone.
async fn stop(child: Pid, pid1: bool) {
    let _ = rustix::process::kill_process(child, Signal::TERM);
    let until = Instant::now() + STOP_GRACE;
    loop {
        if reap(child, pid1).is_some() {
            return;
        }
        if Instant::now() >= until {
            let _ = rustix::process::kill_process(child, Signal::KILL);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write_files(files: &mut Files, resolved: &Resolved) -> Result<()> {
    for (path, value) in &resolved.files {
        files.write(path, value)?;
    }
    Ok(())
}

type Check<'a> = Pin<Box<dyn Future<Output = Result<Resolved, Failed>> + 'a>>;

/// Run the child under supervision; returns its exit code. Files are removed
/// whatever happens.
pub async fn supervise(
    launch: &Launch,
    mut resolved: Resolved,
    watch: Option<Watch<'_>>,
) -> Result<u8> {
    let mut files = Files::new(launch.allow_disk);
    write_files(&mut files, &resolved)?;
    // Registered before the child exists, so no signal or SIGCHLD is missed.
    let mut signals = Signals::register()?;
    let pid1 = rustix::process::getpid().as_raw_nonzero().get() == 1;
    let mut child = spawn(launch, &resolved)?;
    let mut next_check = watch.as_ref().map(|w| jittered(w.interval));
    let mut check: Option<Check<'_>> = None;
    loop {
        if let Some(status) = reap(child, pid1) {
            files.remove_all();
            return Ok(exit_code(status));
        }
        let wake = next_check.unwrap_or_else(|| Instant::now() + POLL);
        tokio::select! {
            s = signals.recv() => {
                if let Some(sig) = s {
                    tracing::debug!(target: LOG, "forwarding signal {} to the child", sig.as_raw());
                    let _ = rustix::process::kill_process(child, sig);
                }
            }
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::time::sleep_until(wake), if check.is_none() && next_check.is_some() => {
                let w = watch.as_ref().expect("next_check is set only with --watch");
                check = Some(Box::pin(resolve(w.lockbox, w.spec, w.deadline, resolved.reuse())));
            }
            outcome = async { check.as_mut().expect("guarded").await }, if check.is_some() => {
                check = None;
                let w = watch.as_ref().expect("a check runs only with --watch");
                next_check = Some(jittered(w.interval));
                match outcome {
                    Err(failed) => {
                        tracing::warn!(
                            "{}; the running command keeps its current secrets",
                            failed.message("re-check").replacen("re-check was not started: ", "re-check failed: ", 1)
                        );
                    }
                    Ok(new) if new.versions != resolved.versions => {
                        for (target, (name, version)) in &new.versions {
                            if resolved.versions.get(target) != Some(&(name.clone(), *version)) {
                                tracing::info!(target: LOG, "{target} changed: now {name} version {version}");
                            }
                        }
                        // Files first, for either action; if they cannot be written
                        // the child keeps running on what it has.
                        if let Err(e) = write_files(&mut files, &new) {
                            tracing::warn!("{e:#}; the running command keeps its current secrets");
                            continue;
                        }
                        match w.on_change {
                            OnChange::Signal(sig) => {
                                let env_changed: Vec<String> = new
                                    .versions
                                    .iter()
                                    .filter(|(t, v)| {
                                        !matches!(t, Target::File(_)) && resolved.versions.get(t) != Some(v)
                                    })
                                    .map(|(t, _)| t.to_string())
                                    .collect();
                                if !env_changed.is_empty() {
                                    tracing::warn!(
                                        "the secret of {} changed; a signal cannot update a running \
                                         process's environment: use --on-change restart",
                                        env_changed.join(", ")
                                    );
                                }
                                let _ = rustix::process::kill_process(child, sig);
                            }
                            OnChange::Restart => {
                                stop(child, pid1).await;
                                child = spawn(launch, &new)?;
                            }
                        }
                        resolved = new;
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_as_execvp_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let write = |p: &Path, mode| {
            std::fs::write(p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(&a.join("prog"), 0o644);
        write(&b.join("prog"), 0o755);
        std::fs::create_dir(a.join("dir")).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        let find = |p: &str| find_program(OsStr::new(p), Some(&path));
        // Not executable in a: the next one.
        assert_eq!(find("prog").unwrap(), b.join("prog"));
        assert_eq!(
            find("nothing").unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        assert_eq!(find("").unwrap_err().kind(), std::io::ErrorKind::NotFound);
        // A path is taken as it is, if it is an executable file.
        let given = b.join("prog").into_os_string();
        assert_eq!(find_program(&given, None).unwrap(), b.join("prog"));
        assert_eq!(
            find("./x/y").unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        // No PATH: execvp's default.
        assert_eq!(
            find_program(OsStr::new("sh"), None).unwrap().parent(),
            Some(Path::new("/bin"))
        );
        // Only a directory or a non-executable file by that name: 126's class.
        write(&b.join("prog"), 0o644);
        assert_eq!(
            find("prog").unwrap_err().kind(),
            std::io::ErrorKind::PermissionDenied
        );
        assert_eq!(
            find("dir").unwrap_err().kind(),
            std::io::ErrorKind::PermissionDenied
        );
    }
}
