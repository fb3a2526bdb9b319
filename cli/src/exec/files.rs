//! `--file`: secrets written to a memory-backed filesystem, mode 0400, replaced
//! atomically, and removed when the child exits.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use lockbox::ExposeSecret;

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

/// Refuse a path whose directory is missing or not on tmpfs/ramfs (unless
/// `allow_disk`), before anything is fetched.
pub fn check_path(path: &Path, allow_disk: bool) -> Result<()> {
    if path.file_name().is_none() {
        return Err(usage(format!("--file {}: not a file path", path.display())));
    }
    let dir = parent(path);
    let fs = rustix::fs::statfs(dir).map_err(|e| {
        usage(format!(
            "--file {}: cannot use the directory {} ({e}); it must exist",
            path.display(),
            dir.display()
        ))
    })?;
    #[allow(clippy::unnecessary_cast)] // the field's type differs between targets
    let magic = fs.f_type as u64;
    if magic != TMPFS_MAGIC && magic != RAMFS_MAGIC && !allow_disk {
        return Err(usage(format!(
            "--file {}: {} is not on a memory-backed filesystem, so the secret would be \
             written to disk; use /dev/shm or $XDG_RUNTIME_DIR (tmpfs), or pass --allow-disk",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// The files lockbox wrote; removed by [`Files::remove_all`] or on drop.
#[derive(Debug, Default)]
pub struct Files {
    written: Vec<PathBuf>,
}

impl Files {
    /// Write `value` to `path` atomically: a 0400 temporary file in the same
    /// directory, renamed over the target.
    pub fn write(&mut self, path: &Path, value: &lockbox::SecretValue) -> Result<()> {
        let name = path.file_name().context("not a file path")?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".lockbox-{}.tmp", std::process::id()));
        let tmp = parent(path).join(tmp_name);
        let _ = std::fs::remove_file(&tmp);
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&tmp)?;
            f.write_all(value.expose_secret())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("cannot write the file {}", path.display()));
        }
        if !self.written.iter().any(|p| p == path) {
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
