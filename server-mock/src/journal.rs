//! Durability: services record every acknowledged state change through a [`Journal`].
//!
//! A service calls [`Journal::append`] *before* it acknowledges a write; when it
//! returns `Ok`, the record is durable (fsync'd) if the emulator runs with a data dir.
//! At start-up the emulator replays each service's records in order through the
//! service's own `restore` function, then compacts the journal to a snapshot.
//!
//! # On-disk format
//!
//! `DATA_DIR/journal.log` is text, one record per line:
//!
//! ```text
//! lockbox-mock journal v1
//! 3f2a9c0d11e4b7a2 {"s":"kms","r":{...}}
//! ```
//!
//! Each record line is a checksum (the first 8 bytes of SHA-256 of the JSON, in hex),
//! one space, and the JSON `{"s": service, "r": record}`. A line is written with one
//! `write` and made durable with `fdatasync` before the write is acknowledged.
//!
//! Only the last line can be half-written by a crash, and that write was never
//! acknowledged: a final line without its newline is dropped with a warning. A bad
//! line anywhere else, or a complete line with a wrong checksum, is corruption and
//! stops the start-up with the file name and line number — never a silent empty store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::AwsError;
use crate::private_fs::{create_private_dir, private_file, shared_mode};

/// Where a service writes its state changes. Implementations are cheap to clone.
pub trait Journal: Send + Sync + std::fmt::Debug {
    /// Durably record one state change of `service` (`"kms"`, `"dynamodb"`, ...).
    fn append(&self, service: &str, record: &serde_json::Value) -> Result<(), AwsError>;
}

/// A journal for in-memory mode: records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn append(&self, _service: &str, _record: &serde_json::Value) -> Result<(), AwsError> {
        Ok(())
    }
}

/// The pseudo-service of a record that empties every service (`POST /_mock/reset`).
pub const RESET_SERVICE: &str = "*";

const MAGIC: &str = "lockbox-mock journal v1";
const FILE_NAME: &str = "journal.log";

/// Why a data dir could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system refused an operation.
    #[error("{what} {path}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Another emulator holds the data dir.
    #[error(
        "{path} is in use by another lockbox-mock; stop it, or give this one another --data-dir"
    )]
    InUse {
        /// The data dir.
        path: PathBuf,
    },
    /// The journal is damaged: a line other than a torn last one does not check out.
    #[error(
        "{path} is damaged at line {line}: {reason}. Refusing to start with partial \
         state; restore the file from a backup, or move it away to start empty"
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// One replayed record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The service that wrote it, or [`RESET_SERVICE`].
    pub service: String,
    /// The service's own record.
    pub record: serde_json::Value,
    /// 1-based line number in the journal, for error messages.
    pub line: usize,
}

/// An append-only, fsync'd journal in a data directory.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    dir: PathBuf,
    inner: Mutex<Writer>,
    /// Holds an exclusive `flock` on `DIR/lock` while the journal is open, so two
    /// emulators never interleave writes. The kernel drops it when the process dies.
    _lock: File,
}

#[derive(Debug)]
struct Writer {
    file: File,
    /// Length of the file up to the last acknowledged record.
    len: u64,
    /// Set when a failed write could not be rolled back: the file may end with a
    /// partial line, so nothing may be appended after it.
    broken: bool,
}

impl FileJournal {
    /// Opens (creating if needed) the journal in `dir` and reads back every record.
    ///
    /// The caller replays the records, then calls [`FileJournal::compact`].
    pub fn open(dir: &Path) -> Result<(FileJournal, Vec<Entry>), StoreError> {
        create_private_dir(dir).map_err(io_err("cannot create data dir", dir))?;
        warn_if_shared(dir);
        let lock = lock_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let entries = match fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomically(dir, &path, &[])?;
                Vec::new()
            }
            Err(e) => return Err(io_err("cannot read", &path)(e)),
        };
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err("cannot open", &path))?;
        let len = file.metadata().map_err(io_err("cannot stat", &path))?.len();
        let journal = FileJournal {
            path,
            dir: dir.to_owned(),
            inner: Mutex::new(Writer {
                file,
                len,
                broken: false,
            }),
            _lock: lock,
        };
        Ok((journal, entries))
    }

    /// Replaces the journal with `records` (a snapshot of the current state), written
    /// to a temporary file, fsync'd and renamed into place. Drops any torn last line
    /// and every record the snapshot supersedes.
    pub fn compact(&self, records: &[(String, serde_json::Value)]) -> Result<(), StoreError> {
        let mut writer = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let lines: Vec<String> = records.iter().map(|(s, r)| line(s, r)).collect();
        write_atomically(&self.dir, &self.path, &lines)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err("cannot open", &self.path))?;
        writer.len = file
            .metadata()
            .map_err(io_err("cannot stat", &self.path))?
            .len();
        writer.file = file;
        writer.broken = false;
        Ok(())
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Journal for FileJournal {
    fn append(&self, service: &str, record: &serde_json::Value) -> Result<(), AwsError> {
        let line = line(service, record);
        let mut writer = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if writer.broken {
            return Err(AwsError::internal(
                "the emulator's journal failed earlier and is read-only until restart",
            ));
        }
        let result = writer
            .file
            .write_all(line.as_bytes())
            .and_then(|()| writer.file.sync_data());
        match result {
            Ok(()) => {
                writer.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut the partial line off so later records stay readable; if even
                // that fails, refuse further writes rather than corrupt the file.
                let len = writer.len;
                if writer
                    .file
                    .set_len(len)
                    .and_then(|()| writer.file.sync_data())
                    .is_err()
                {
                    writer.broken = true;
                }
                tracing::error!(path = %self.path.display(), error = %e, "journal write failed");
                Err(AwsError::internal(format!(
                    "cannot write the emulator's journal: {e}"
                )))
            }
        }
    }
}

fn warn_if_shared(dir: &Path) {
    if let Some(mode) = shared_mode(dir) {
        tracing::warn!(
            path = %dir.display(),
            mode = format!("{mode:o}"),
            "the data dir is open to other users and holds key material: chmod 700 it"
        );
    }
}

fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join("lock");
    let file = private_file()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("cannot open", &path))?;
    #[cfg(unix)]
    {
        use rustix::fs::{flock, FlockOperation};
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(StoreError::InUse {
                    path: dir.to_owned(),
                })
            }
            Err(e) => return Err(io_err("cannot lock", &path)(e.into())),
        }
    }
    Ok(file)
}

fn line(service: &str, record: &serde_json::Value) -> String {
    let json = serde_json::json!({ "s": service, "r": record }).to_string();
    format!("{} {json}\n", checksum(json.as_bytes()))
}

fn checksum(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Entry>, StoreError> {
    let corrupt = |line: usize, reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // `split` yields an empty last piece after a final newline; any other last
    // piece is a line whose write never finished, so was never acknowledged.
    let tail = lines.pop().unwrap_or_default();
    if !tail.is_empty() {
        tracing::warn!(
            path = %path.display(),
            line = lines.len() + 1,
            bytes = tail.len(),
            "dropping a torn last journal line (a write interrupted by a crash, never acknowledged)"
        );
    }
    let mut lines = lines.into_iter().enumerate().map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, first)) if first == MAGIC.as_bytes() => {}
        Some(_) => return Err(corrupt(1, format!("expected the header {MAGIC:?}"))),
        None if tail.is_empty() => return Err(corrupt(1, "the file is empty".to_owned())),
        // Only a torn header: the file was never fully created.
        None => return Err(corrupt(1, "the header is incomplete".to_owned())),
    }
    let mut entries = Vec::new();
    for (number, raw) in lines {
        let text = std::str::from_utf8(raw).map_err(|_| corrupt(number, "not UTF-8".to_owned()))?;
        let (sum, json) = text
            .split_once(' ')
            .ok_or_else(|| corrupt(number, "no checksum".to_owned()))?;
        if sum != checksum(json.as_bytes()) {
            return Err(corrupt(number, "checksum mismatch".to_owned()));
        }
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| corrupt(number, format!("invalid JSON: {e}")))?;
        let service = value.get("s").and_then(|s| s.as_str());
        let (Some(service), Some(record)) = (service, value.get("r")) else {
            return Err(corrupt(number, "not a journal record".to_owned()));
        };
        entries.push(Entry {
            service: service.to_owned(),
            record: record.clone(),
            line: number,
        });
    }
    Ok(entries)
}

/// Writes the header and `lines` to `path` through a temporary file, so a crash
/// leaves either the old file or the new one.
fn write_atomically(dir: &Path, path: &Path, lines: &[String]) -> Result<(), StoreError> {
    let tmp = path.with_extension("log.tmp");
    let mut body = String::with_capacity(64 + lines.iter().map(String::len).sum::<usize>());
    body.push_str(MAGIC);
    body.push('\n');
    for l in lines {
        body.push_str(l);
    }
    // A stale temporary file from a crash may have another mode: start afresh.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_err("cannot remove", &tmp)(e));
        }
        _ => {}
    }
    let mut file = private_file()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("cannot create", &tmp))?;
    file.write_all(body.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_err("cannot write", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("cannot rename into", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("cannot sync", dir))?;
    Ok(())
}

fn io_err<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StoreError + 'p {
    move |source| StoreError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reopen(dir: &Path) -> Result<Vec<Entry>, StoreError> {
        FileJournal::open(dir).map(|(_, entries)| entries)
    }

    #[test]
    fn records_round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, entries) = FileJournal::open(dir.path()).unwrap();
        assert!(entries.is_empty());
        journal.append("kms", &json!({"n": 1})).unwrap();
        journal.append("dynamodb", &json!({"n": 2})).unwrap();
        drop(journal);
        let entries = reopen(dir.path()).unwrap();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.service.as_str(), e.record.clone()))
            .collect();
        assert_eq!(
            got,
            vec![("kms", json!({"n": 1})), ("dynamodb", json!({"n": 2}))]
        );
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = FileJournal::open(dir.path()).unwrap();
        journal.append("kms", &json!({"n": 1})).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(journal.path())
            .unwrap();
        file.write_all(b"0123456789abcdef {\"s\":\"kms\",\"r\"")
            .unwrap();
        drop(journal);
        assert_eq!(reopen(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn a_damaged_line_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = FileJournal::open(dir.path()).unwrap();
        journal.append("kms", &json!({"n": 1})).unwrap();
        journal.append("kms", &json!({"n": 2})).unwrap();
        let path = journal.path().to_owned();
        drop(journal);
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("\"n\":1", "\"n\":7");
        fs::write(&path, text).unwrap();
        let err = reopen(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { line: 2, .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn the_data_dir_and_every_file_in_it_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a").join("state");
        let (journal, _) = FileJournal::open(&dir).unwrap();
        journal.append("kms", &json!({"n": 1})).unwrap();
        journal.compact(&[("kms".into(), json!({"n": 1}))]).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(shared_mode(&dir), None);
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        assert!(dir.join(FILE_NAME).exists() && dir.join("lock").exists());
        drop(journal);
        // A journal written before with a wider mode is private after the next start.
        let old = parent.path().join("old");
        fs::create_dir(&old).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(shared_mode(&old), Some(0o755));
        fs::write(old.join(FILE_NAME), format!("{MAGIC}\n")).unwrap();
        fs::set_permissions(old.join(FILE_NAME), fs::Permissions::from_mode(0o644)).unwrap();
        let (journal, _) = FileJournal::open(&old).unwrap();
        journal.compact(&[]).unwrap();
        assert_eq!(mode(&old.join(FILE_NAME)), 0o600);
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), "hello\n").unwrap();
        assert!(matches!(
            reopen(dir.path()),
            Err(StoreError::Corrupt { line: 1, .. })
        ));
    }

    #[test]
    fn a_data_dir_has_one_owner_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _) = FileJournal::open(dir.path()).unwrap();
        assert!(matches!(
            FileJournal::open(dir.path()),
            Err(StoreError::InUse { .. })
        ));
        drop(first);
        FileJournal::open(dir.path()).unwrap();
    }

    #[test]
    fn compaction_replaces_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = FileJournal::open(dir.path()).unwrap();
        journal.append("kms", &json!({"n": 1})).unwrap();
        journal
            .compact(&[("kms".to_owned(), json!({"n": 9}))])
            .unwrap();
        journal.append("kms", &json!({"n": 10})).unwrap();
        drop(journal);
        let records: Vec<_> = reopen(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.record)
            .collect();
        assert_eq!(records, vec![json!({"n": 9}), json!({"n": 10})]);
    }
}
