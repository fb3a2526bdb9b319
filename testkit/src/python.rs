//! The Python venv `scripts/setup-python` builds (credstash 1.17.1, boto3, the
//! lockbox package), and programs from it run hermetically against an emulator.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::aws::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// The venv named by `LOCKBOX_TEST_VENV`. `None` (the test says it skips) when
/// unset, unless `LOCKBOX_REQUIRE_INTEROP=1`, which makes a missing venv a failure.
pub fn venv() -> Option<PathBuf> {
    match std::env::var_os("LOCKBOX_TEST_VENV") {
        Some(dir) => Some(dir.into()),
        None if std::env::var("LOCKBOX_REQUIRE_INTEROP").as_deref() == Ok("1") => {
            panic!("LOCKBOX_REQUIRE_INTEROP=1 but LOCKBOX_TEST_VENV is unset: run scripts/test")
        }
        None => {
            eprintln!("skipping: LOCKBOX_TEST_VENV is unset (scripts/test sets it)");
            None
        }
    }
}

/// `program` with no inherited environment but a HOME of its own (`home`, which
/// holds no AWS config), the test credentials, `us-east-1`, and IMDS off.
fn hermetic(program: &Path, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(home);
    c
}

/// Runs `python -c script` from `venv` aimed at `endpoint`; returns (success,
/// stdout followed by stderr).
pub fn python(venv: &Path, endpoint: &str, script: &str) -> (bool, String) {
    let home = tempfile::tempdir().expect("tempdir");
    let out = hermetic(&venv.join("bin").join("python"), home.path())
        .args(["-c", script])
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The credstash CLI aimed at one emulator and table.
#[derive(Debug)]
pub struct Credstash {
    bin: PathBuf,
    endpoint: String,
    home: tempfile::TempDir,
    table: String,
}

impl Credstash {
    /// credstash from `venv`, talking to `endpoint`, using `table`.
    pub fn new(venv: &Path, endpoint: &str, table: &str) -> Self {
        Self {
            bin: venv.join("bin").join("credstash"),
            endpoint: endpoint.to_owned(),
            home: tempfile::tempdir().expect("tempdir"),
            table: table.to_owned(),
        }
    }

    /// Runs `credstash -t TABLE ARGS...`, with stdin from `input` if given.
    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut child = hermetic(&self.bin, self.home.path())
            .arg("-t")
            .arg(&self.table)
            .args(args)
            .env("AWS_ENDPOINT_URL_KMS", &self.endpoint)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &self.endpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run credstash");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(input) = input {
            stdin.write_all(input).expect("write stdin");
        }
        drop(stdin);
        child.wait_with_output().expect("credstash output")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "credstash {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }
}
