//! `--file`: secrets written to a memory-backed filesystem, mode 0400, replaced
//! atomically, and removed when the child exits.
//!
//! The directory may be shared (`/dev/shm` is world-writable and sticky), so it
//! is opened once per write and everything happens relative to that descriptor:
//! the filesystem check, a temporary file with an unpredictable name created
//! exclusively (never through a symlink), and the rename over the target. A
//! target that exists and is not a regular file of ours is refused, never
//! replaced; temporaries left by one of our runs that was killed are swept.

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use lockbox::ExposeSecret;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::exit::usage;

/// `statfs` magic numbers of memory-backed filesystems (linux/magic.h).
const TMPFS_MAGIC: u64 = 0x0102_1994;
const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// The directory a file goes in.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The directory of `path`, opened, and the file's name in it.
fn open_dir(path: &Path) -> Result<(OwnedFd, &OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| usage(format!("--file {}: not a file path", path.display())))?;
    let dir = parent(path);
    let fd = rustix::fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        usage(format!(
            "--file {}: cannot use the directory {} ({e}); it must exist",
            path.display(),
            dir.display()
        ))
    })?;
    Ok((fd, name))
}

/// Refuse a directory not on tmpfs/ramfs, unless `allow_disk`.
fn check_fs(dir: &OwnedFd, path: &Path, allow_disk: bool) -> Result<()> {
    let fs = rustix::fs::fstatfs(dir).with_context(|| {
        format!(
            "--file {}: cannot read the filesystem of {}",
            path.display(),
            parent(path).display()
        )
    })?;
    #[allow(clippy::unnecessary_cast)] // the field's type differs between targets
    let magic = fs.f_type as u64;
    if magic != TMPFS_MAGIC && magic != RAMFS_MAGIC && !allow_disk {
        return Err(usage(format!(
            "--file {}: {} is not on a memory-backed filesystem, so the secret would be \
             written to disk; use /dev/shm or $XDG_RUNTIME_DIR (tmpfs), or pass --allow-disk",
            path.display(),
            parent(path).display()
        )));
    }
    Ok(())
}

/// Refuse a target that exists and is not a regular file owned by this user:
/// lockbox writes only those, so anything else was put there by someone else
/// (in a shared directory, perhaps to be read or replaced by them).
fn check_target(dir: &OwnedFd, name: &OsStr, path: &Path) -> Result<()> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(usage(format!(
            "--file {}: cannot check the path ({e})",
            path.display()
        ))),
        Ok(st) => {
            let ours = FileType::from_raw_mode(st.st_mode).is_file()
                && st.st_uid == rustix::process::geteuid().as_raw();
            if ours {
                Ok(())
            } else {
                Err(usage(format!(
                    "--file {p}: {p} exists and was not written by this lockbox; remove it \
                     or choose another path",
                    p = path.display()
                )))
            }
        }
    }
}

/// Refuse a path whose directory is missing or not on tmpfs/ramfs (unless
/// `allow_disk`), or that another user's file already takes, before anything
/// is fetched.
pub fn check_path(path: &Path, allow_disk: bool) -> Result<()> {
    let (dir, name) = open_dir(path)?;
    check_fs(&dir, path, allow_disk)?;
    check_target(&dir, name, path)
}

/// The prefix and suffix of the temporaries for `name`:
/// `.NAME.lockbox-PID-RANDOM.tmp`.
fn temp_affixes(name: &OsStr) -> (Vec<u8>, &'static [u8]) {
    let mut prefix = b".".to_vec();
    prefix.extend_from_slice(name.as_bytes());
    prefix.extend_from_slice(b".lockbox-");
    (prefix, b".tmp")
}

/// Remove temporaries for `name` that a run of ours left when it was killed
/// mid-write: regular files of this user whose PID no longer runs.
fn sweep(dir: &OwnedFd, name: &OsStr) {
    let (prefix, suffix) = temp_affixes(name);
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    let me = rustix::process::getpid().as_raw_nonzero().get();
    for entry in entries.flatten() {
        let file = entry.file_name().to_bytes();
        let Some(middle) = file
            .strip_prefix(prefix.as_slice())
            .and_then(|m| m.strip_suffix(suffix))
        else {
            continue;
        };
        let pid = middle.split(|b| *b == b'-').next().unwrap_or_default();
        let Some(pid) = std::str::from_utf8(pid)
            .ok()
            .and_then(|p| p.parse::<i32>().ok())
            .filter(|p| *p != me)
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        // Only a process that no longer exists (not one of another user).
        if rustix::process::test_kill_process(pid) != Err(Errno::SRCH) {
            continue;
        }
        let file = OsStr::from_bytes(file);
        let Ok(st) = rustix::fs::statat(dir, file, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode).is_file()
            && st.st_uid == rustix::process::geteuid().as_raw()
        {
            let _ = rustix::fs::unlinkat(dir, file, AtFlags::empty());
        }
    }
}

/// The files lockbox wrote; removed by [`Files::remove_all`] or on drop.
#[derive(Debug)]
pub struct Files {
    written: Vec<PathBuf>,
    allow_disk: bool,
}

impl Files {
    /// No files yet; `allow_disk` as `--allow-disk`.
    pub fn new(allow_disk: bool) -> Self {
        Self {
            written: Vec::new(),
            allow_disk,
        }
    }

    /// Write `value` to `path` atomically: a 0400 temporary file with a random
    /// name in the same directory, created exclusively, renamed over the target.
    pub fn write(&mut self, path: &Path, value: &lockbox::SecretValue) -> Result<()> {
        let (dir, name) = open_dir(path)?;
        check_fs(&dir, path, self.allow_disk)?;
        let first = !self.written.iter().any(|p| p == path);
        if first {
            sweep(&dir, name);
        }
        check_target(&dir, name, path)?;
        let (mut tmp, suffix) = temp_affixes(name);
        tmp.extend_from_slice(
            format!("{}-{:016x}", std::process::id(), rand::random::<u64>()).as_bytes(),
        );
        tmp.extend_from_slice(suffix);
        let tmp = OsString::from_vec(tmp);
        let result = (|| -> std::io::Result<()> {
            let fd = rustix::fs::openat(
                &dir,
                &tmp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::RUSR,
            )?;
            let mut f = std::fs::File::from(fd);
            f.write_all(value.expose_secret())?;
            f.sync_all()?;
            rustix::fs::renameat(&dir, &tmp, &dir, name)?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = rustix::fs::unlinkat(&dir, &tmp, AtFlags::empty());
            // Someone else's file took the target since the check.
            check_target(&dir, name, path)?;
            return Err(e).with_context(|| format!("cannot write the file {}", path.display()));
        }
        if first {
            self.written.push(path.to_owned());
        }
        Ok(())
    }

    /// Remove every file written.
    pub fn remove_all(&mut self) {
        for p in self.written.drain(..) {
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("cannot remove {}: {e}", p.display());
                }
            }
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        self.remove_all();
    }
}
