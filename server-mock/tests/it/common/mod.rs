//! Helpers shared by the emulator's integration tests: SDK clients pointed at an
//! emulator, a tiny raw HTTP client for `/_mock`, and a guard for spawned binaries.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub use lockbox_testkit::aws::{
    create_credstash_table, ddb_client, ddb_client_in, kms_client, kms_client_in,
};
pub use lockbox_testkit::faults::{add_fault, faults};
pub use lockbox_testkit::http::send as http;
pub use lockbox_testkit::python::{python, venv};

/// A spawned `lockbox-mock` that is killed (SIGKILL) when dropped.
pub struct MockProcess {
    pub child: Child,
    pub endpoint: String,
}

impl MockProcess {
    /// Starts the binary on a free port with `args`, waiting for its URL line.
    pub fn spawn(args: &[&std::ffi::OsStr]) -> Result<MockProcess, String> {
        Self::spawn_logging(args, "warn")
    }

    /// Like [`MockProcess::spawn`], logging at `level` to its (piped) stderr.
    pub fn spawn_logging(args: &[&std::ffi::OsStr], level: &str) -> Result<MockProcess, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lockbox-mock"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .env_clear()
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if !line.starts_with("http://") {
            let output = child.wait_with_output().map_err(|e| e.to_string())?;
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(MockProcess {
            child,
            endpoint: line.trim().to_owned(),
        })
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `UpdateTable`'s `ReplicaUpdates` entry that adds a replica in `region`.
pub fn replica_create(region: &str) -> aws_sdk_dynamodb::types::ReplicationGroupUpdate {
    use aws_sdk_dynamodb::types::{CreateReplicationGroupMemberAction, ReplicationGroupUpdate};
    ReplicationGroupUpdate::builder()
        .create(
            CreateReplicationGroupMemberAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

/// `UpdateTable`'s `ReplicaUpdates` entry that removes the replica in `region`.
pub fn replica_delete(region: &str) -> aws_sdk_dynamodb::types::ReplicationGroupUpdate {
    use aws_sdk_dynamodb::types::{DeleteReplicationGroupMemberAction, ReplicationGroupUpdate};
    ReplicationGroupUpdate::builder()
        .delete(
            DeleteReplicationGroupMemberAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}
