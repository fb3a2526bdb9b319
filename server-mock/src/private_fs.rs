//! Files and directories for the owner only: the data dir holds unencrypted key
//! material, and the audit log and web identity tokens are credentials. Public so
//! that the CLI's `--local` mode prepares its state directory the same way.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` if it is missing, with its parents; on Unix `dir` itself is
/// created 0700 (parents as the umask says): the journal holds key material.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Options that create a file readable and writable by its owner only (0600 on
/// Unix); an existing file keeps its mode.
pub fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// The permission bits of `dir` when group or others have any access to it.
pub fn shared_mode(dir: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}
