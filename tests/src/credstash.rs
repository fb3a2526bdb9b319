//! Running the unmodified credstash 1.17.1 CLI (from the venv `scripts/setup-python`
//! builds) against an emulator, with a clean environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// The credstash CLI aimed at one emulator.
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

    /// Run `credstash -t TABLE ARGS...`, with stdin from `input` if given.
    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        use std::io::Write;
        let home = self.home.path();
        let mut child = Command::new(&self.bin)
            .arg("-t")
            .arg(&self.table)
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_ENDPOINT_URL_KMS", &self.endpoint)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", home.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .current_dir(home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run credstash");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(input) = input {
            stdin.write_all(input).expect("write stdin");
        }
        drop(stdin);
        child.wait_with_output().expect("credstash output")
    }

    /// Run and require success; returns stdout.
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
