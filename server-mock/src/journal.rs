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
//! # Sharing a data dir between processes
//!
//! A data dir is normally held by one emulator for its life (`DIR/lock`, an
//! exclusive `flock`). With [`crate::Config::shared`] several emulators, each in
//! its own process, serve one data dir at once, the journal being the state they
//! share: each holds `DIR/lock` shared for its life, and every operation takes
//! `DIR/write.lock` exclusively, first applies the records the others appended
//! since ([`FileJournal::catch_up`]), then runs and appends its own, so every
//! process sees one history, in one order. The journal is compacted only by an
//! emulator that finds itself alone when it opens the dir; an emulator holding
//! it exclusively and shared ones exclude each other (`InUse`).
//!
//! Only the last line can be half-written by a crash, and that write was never
//! acknowledged: a final line without its newline is dropped with a warning. A bad
//! line anywhere else, or a complete line with a wrong checksum, is corruption and
//! stops the start-up with the file name and line number — never a silent empty store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// emulators never interleave writes (a shared one in shared mode). The
    /// kernel drops it when the process dies.
    lock: File,
    /// In shared mode: the lock every operation takes, and this process's turn.
    shared: Option<Shared>,
}

/// What a journal shared with other processes needs besides the file.
#[derive(Debug)]
struct Shared {
    /// `DIR/write.lock`: held exclusively for each operation, across processes.
    write_lock: File,
    /// One operation at a time within this process (a `flock` is per open file
    /// description, so threads of one process do not exclude each other by it).
    turn: Mutex<()>,
    /// Whether a [`Turn`] is held: an append outside one would land between
    /// other processes' records unseen, so it is refused.
    in_turn: AtomicBool,
    /// Whether no other emulator had the dir open when this one opened it.
    alone: bool,
}

/// An operation's hold on a shared journal: this process's turn and the
/// cross-process lock, released when dropped.
#[must_use]
#[derive(Debug)]
pub struct Turn<'a> {
    _turn: std::sync::MutexGuard<'a, ()>,
    file: &'a File,
    in_turn: &'a AtomicBool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.in_turn.store(false, Ordering::SeqCst);
        #[cfg(unix)]
        {
            let _ = rustix::fs::flock(self.file, rustix::fs::FlockOperation::Unlock);
        }
    }
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
        Self::open_as(dir, false)
    }

    /// Opens the journal in `dir` to share it with emulators of other processes
    /// (see the module's documentation). Until [`FileJournal::finish_open`], this
    /// opener holds the write lock: the caller replays the records (and compacts
    /// the journal, if [`FileJournal::may_compact`]), then calls it.
    pub fn open_shared(dir: &Path) -> Result<(FileJournal, Vec<Entry>), StoreError> {
        Self::open_as(dir, true)
    }

    /// Whether compacting is safe: no other emulator has the journal open.
    pub fn may_compact(&self) -> bool {
        self.shared.as_ref().is_none_or(|s| s.alone)
    }

    /// After the start-up replay (and compaction) of a shared journal: hold the
    /// data dir shared from now on, so others may open it too, and let them in.
    pub fn finish_open(&self) -> Result<(), StoreError> {
        if let Some(shared) = &self.shared {
            #[cfg(unix)]
            {
                use rustix::fs::{flock, FlockOperation};
                let lock_path = self.dir.join("lock");
                if shared.alone {
                    flock(&self.lock, FlockOperation::LockShared)
                        .map_err(|e| io_err("cannot lock", &lock_path)(e.into()))?;
                }
                let _ = flock(&shared.write_lock, FlockOperation::Unlock);
            }
        }
        Ok(())
    }

    fn open_as(dir: &Path, share: bool) -> Result<(FileJournal, Vec<Entry>), StoreError> {
        create_private_dir(dir).map_err(io_err("cannot create data dir", dir))?;
        warn_if_shared(dir);
        // Openers take the write lock first, so that a shared emulator that
        // found itself alone can compact, then share the dir, before anyone
        // looks at it.
        let write_lock = open_lock_file(dir, "write.lock")?;
        lock_blocking(&write_lock, &dir.join("write.lock"))?;
        let (lock, alone) = lock_dir(dir, share)?;
        let path = dir.join(FILE_NAME);
        let entries = match fs::read(&path) {
            Ok(bytes) => {
                let entries = parse(&path, &bytes)?;
                if share && !alone {
                    // No compaction will drop a torn last line: cut it off, so
                    // the next record starts on a line of its own.
                    let whole = whole_lines(&bytes);
                    if whole < bytes.len() {
                        OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .and_then(|f| f.set_len(whole as u64).and_then(|()| f.sync_data()))
                            .map_err(io_err("cannot truncate", &path))?;
                    }
                }
                entries
            }
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
        let shared = if share {
            Some(Shared {
                write_lock,
                turn: Mutex::new(()),
                in_turn: AtomicBool::new(false),
                alone,
            })
        } else {
            #[cfg(unix)]
            {
                let _ = rustix::fs::flock(&write_lock, rustix::fs::FlockOperation::Unlock);
            }
            None
        };
        let journal = FileJournal {
            path,
            dir: dir.to_owned(),
            inner: Mutex::new(Writer {
                file,
                len,
                broken: false,
            }),
            lock,
            shared,
        };
        Ok((journal, entries))
    }

    /// In shared mode: wait for this operation's turn (in this process, then
    /// across processes) and read the records other emulators appended since
    /// this one last looked, for the caller to apply before it runs the
    /// operation. `None` for a journal this emulator holds alone.
    pub fn catch_up(&self) -> Result<Option<(Turn<'_>, Vec<Entry>)>, AwsError> {
        let Some(shared) = &self.shared else {
            return Ok(None);
        };
        let turn = shared.turn.lock().unwrap_or_else(|p| p.into_inner());
        lock_blocking(&shared.write_lock, &self.dir.join("write.lock"))
            .map_err(|e| AwsError::internal(format!("cannot lock the emulator's journal: {e}")))?;
        shared.in_turn.store(true, Ordering::SeqCst);
        let turn = Turn {
            _turn: turn,
            file: &shared.write_lock,
            in_turn: &shared.in_turn,
        };
        let mut writer = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let failed =
            |e: io::Error| AwsError::internal(format!("cannot read the emulator's journal: {e}"));
        let size = writer.file.metadata().map_err(failed)?.len();
        if size < writer.len {
            return Err(AwsError::internal(
                "the emulator's journal shrank under a running emulator; restart it",
            ));
        }
        if size == writer.len {
            return Ok(Some((turn, Vec::new())));
        }
        let mut bytes = Vec::with_capacity((size - writer.len) as usize);
        {
            use std::io::{Read as _, Seek as _, SeekFrom};
            let mut file = File::open(&self.path).map_err(failed)?;
            file.seek(SeekFrom::Start(writer.len)).map_err(failed)?;
            file.take(size - writer.len)
                .read_to_end(&mut bytes)
                .map_err(failed)?;
        }
        let whole = whole_lines(&bytes);
        if whole < bytes.len() {
            // The writer of this last line died before finishing it (it held
            // the lock we now hold): the record was never acknowledged.
            writer
                .file
                .set_len(writer.len + whole as u64)
                .and_then(|()| writer.file.sync_data())
                .map_err(failed)?;
        }
        let entries = parse_records(&self.path, &bytes[..whole], 0)
            .map_err(|e| AwsError::internal(format!("cannot read the emulator's journal: {e}")))?;
        writer.len += whole as u64;
        Ok(Some((turn, entries)))
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
        if self
            .shared
            .as_ref()
            .is_some_and(|s| !s.in_turn.load(Ordering::SeqCst))
        {
            return Err(AwsError::internal(
                "a write to the shared journal outside an operation's turn (a bug)",
            ));
        }
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

fn open_lock_file(dir: &Path, name: &str) -> Result<File, StoreError> {
    let path = dir.join(name);
    private_file()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("cannot open", &path))
}

/// Waits for an exclusive `flock` on `file`.
fn lock_blocking(file: &File, path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use rustix::fs::{flock, FlockOperation};
        loop {
            match flock(file, FlockOperation::LockExclusive) {
                Ok(()) => break,
                Err(e) if e == rustix::io::Errno::INTR => continue,
                Err(e) => return Err(io_err("cannot lock", path)(e.into())),
            }
        }
    }
    Ok(())
}

/// Locks `DIR/lock`: exclusively, or for `share`, exclusively if no other
/// emulator has it (the second value: alone), else shared. `InUse` when an
/// emulator holds it in the other way.
fn lock_dir(dir: &Path, share: bool) -> Result<(File, bool), StoreError> {
    let path = dir.join("lock");
    let file = open_lock_file(dir, "lock")?;
    #[cfg(unix)]
    {
        use rustix::fs::{flock, FlockOperation};
        let in_use = || StoreError::InUse {
            path: dir.to_owned(),
        };
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok((file, true)),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK && !share => return Err(in_use()),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {}
            Err(e) => return Err(io_err("cannot lock", &path)(e.into())),
        }
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => Ok((file, false)),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(in_use()),
            Err(e) => Err(io_err("cannot lock", &path)(e.into())),
        }
    }
    #[cfg(not(unix))]
    Ok((file, true))
}

/// How many bytes of `bytes` are whole lines (up to and with the last newline).
fn whole_lines(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
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
    let rest: Vec<(usize, &[u8])> = lines.collect();
    parse_lines(path, rest)
}

/// The records of whole lines read past the header, numbered from `first + 1`.
fn parse_records(path: &Path, bytes: &[u8], first: usize) -> Result<Vec<Entry>, StoreError> {
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| (first + i + 1, l))
        .collect();
    parse_lines(path, lines)
}

fn parse_lines(path: &Path, lines: Vec<(usize, &[u8])>) -> Result<Vec<Entry>, StoreError> {
    let corrupt = |line: usize, reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        line,
        reason,
    };
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

    /// Opens `dir` shared, as an emulator of its own process would (a `flock`
    /// belongs to the open file, so two opens in one process exclude each other
    /// as two processes do).
    fn open_shared(dir: &Path) -> FileJournal {
        let (journal, _) = FileJournal::open_shared(dir).unwrap();
        journal.finish_open().unwrap();
        journal
    }

    #[cfg(unix)]
    #[test]
    fn shared_journals_see_each_others_records_in_one_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = open_shared(dir.path());
        let b = open_shared(dir.path());
        assert!(a.may_compact() && !b.may_compact());
        {
            let (_turn, seen) = a.catch_up().unwrap().unwrap();
            assert!(seen.is_empty());
            a.append("kms", &json!({"n": 1})).unwrap();
        }
        {
            let (_turn, seen) = b.catch_up().unwrap().unwrap();
            let got: Vec<_> = seen.iter().map(|e| e.record.clone()).collect();
            assert_eq!(got, vec![json!({"n": 1})]);
            b.append("dynamodb", &json!({"n": 2})).unwrap();
        }
        let (_turn, seen) = a.catch_up().unwrap().unwrap();
        let got: Vec<_> = seen.iter().map(|e| e.record.clone()).collect();
        assert_eq!(got, vec![json!({"n": 2})]);
        drop(_turn);
        drop((a, b));
        assert_eq!(reopen(dir.path()).unwrap().len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_shared_journal_refuses_an_append_outside_a_turn() {
        let dir = tempfile::tempdir().unwrap();
        let a = open_shared(dir.path());
        assert!(a.append("kms", &json!({"n": 1})).is_err());
        drop(a.catch_up().unwrap());
        assert!(a.append("kms", &json!({"n": 1})).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn shared_and_sole_emulators_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let shared = open_shared(dir.path());
        let err = FileJournal::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        drop(shared);
        let (sole, _) = FileJournal::open(dir.path()).unwrap();
        let err = FileJournal::open_shared(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        drop(sole);
    }

    #[cfg(unix)]
    #[test]
    fn a_torn_line_of_another_process_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let a = open_shared(dir.path());
        let b = open_shared(dir.path());
        let mut file = OpenOptions::new().append(true).open(a.path()).unwrap();
        file.write_all(b"0123456789abcdef {\"s\":\"kms\"").unwrap();
        {
            let (_turn, seen) = a.catch_up().unwrap().unwrap();
            assert!(seen.is_empty());
            a.append("kms", &json!({"n": 1})).unwrap();
        }
        let (_turn, seen) = b.catch_up().unwrap().unwrap();
        let got: Vec<_> = seen.iter().map(|e| e.record.clone()).collect();
        assert_eq!(got, vec![json!({"n": 1})]);
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
