//! Helpers for the CLI's end-to-end tests: the `lockbox` binary run hermetically
//! (no inherited environment, loopback only), and raw calls to the emulator.
#![allow(dead_code)] // each test file uses a different subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[allow(unused_imports)] // each test file uses a different subset
pub use lockbox_testkit::http::call as http;
#[allow(unused_imports)]
pub use lockbox_testkit::{venv, wait_for, Reaped};

pub const BIN: &str = env!("CARGO_BIN_EXE_lockbox");

/// The binary under test: `LOCKBOX_TEST_BIN` when set (to run a suite against
/// another build, such as the one before a fix), else this package's.
pub fn bin() -> PathBuf {
    std::env::var_os("LOCKBOX_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(BIN))
}

/// A scratch directory with an embedded-emulator state dir inside.
pub struct Local {
    pub dir: tempfile::TempDir,
}

impl Local {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `lockbox --local=STATE args...`, with a clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bare(self.path());
        c.arg(format!("--local={}", self.state().display()));
        c.args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_with_stdin(&mut self.cmd(args), &[])
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with_stdin(&mut self.cmd(args), stdin)
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> Vec<u8> {
        ok(self.run(args), args)
    }

    pub fn ok_text(&self, args: &[&str]) -> String {
        String::from_utf8(self.ok(args)).expect("UTF-8 stdout")
    }

    /// Stores `value` as `name` through stdin.
    pub fn put(&self, name: &str, value: &[u8], extra: &[&str]) {
        let mut args = vec!["put", name, "-"];
        args.extend_from_slice(extra);
        ok(self.run_stdin(&args, value), &args);
    }
}

/// The binary with no inherited environment: nothing can point it at real AWS.
pub fn bare(home: &Path) -> Command {
    let mut c = Command::new(bin());
    // HOME is a fresh tempdir, so there is no ~/.aws either.
    c.env_clear()
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(home);
    c
}

pub fn run_with_stdin(c: &mut Command, stdin: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn lockbox");
    let mut input = child.stdin.take().expect("stdin");
    // A command refused while parsing exits before it reads its input.
    if let Err(e) = input.write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    drop(input);
    child.wait_with_output().expect("wait for lockbox")
}

pub fn ok(out: Output, args: &[&str]) -> Vec<u8> {
    assert!(
        out.status.success(),
        "lockbox {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Creates a KMS key with `alias` in the emulator at `endpoint`.
pub fn create_key(endpoint: &str, alias: &str) {
    let (status, body) = http(endpoint, "/", Some("TrentService.CreateKey"), "{}");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let id = v["KeyMetadata"]["KeyId"].as_str().expect("key id");
    let (status, body) = http(
        endpoint,
        "/",
        Some("TrentService.CreateAlias"),
        &serde_json::json!({"AliasName": alias, "TargetKeyId": id}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
}

/// `lockbox --endpoint-url URL args...` with static test credentials.
pub fn remote(home: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut c = bare(home);
    c.env("AWS_ACCESS_KEY_ID", lockbox_testkit::aws::ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            lockbox_testkit::aws::SECRET_ACCESS_KEY,
        )
        .env("AWS_REGION", "us-east-1")
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(args);
    c
}

/// Fills the emulator state directory `data` in open mode: `alias/credstash`, a
/// sealed table, and each of `names` stored with its own name as the value.
/// Returns the key's ARN (for policies). The emulator is stopped on return, so the
/// same state can be served again, for example in strict mode.
pub fn populated_state(
    rt: &tokio::runtime::Runtime,
    data: &Path,
    home: &Path,
    names: &[&str],
) -> String {
    let open = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder().data_dir(data),
        ))
        .expect("start the emulator");
    let endpoint = open.endpoint_url();
    create_key(&endpoint, "alias/credstash");
    let (_, body) = http(
        &endpoint,
        "/",
        Some("TrentService.DescribeKey"),
        r#"{"KeyId":"alias/credstash"}"#,
    );
    let key: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let key_arn = key["KeyMetadata"]["Arn"]
        .as_str()
        .expect("key ARN")
        .to_owned();
    ok(
        run_with_stdin(&mut remote(home, &endpoint, &["setup"]), b""),
        &["setup"],
    );
    for name in names {
        let args = ["put", name, "-"];
        ok(
            run_with_stdin(&mut remote(home, &endpoint, &args), name.as_bytes()),
            &args,
        );
    }
    rt.block_on(open.shutdown());
    key_arn
}

/// An in-memory emulator with `alias/credstash`, served from a runtime of its
/// own for the life of the value, and a fresh home for the commands run at it.
pub struct Remote {
    pub rt: tokio::runtime::Runtime,
    pub endpoint: String,
    pub home: tempfile::TempDir,
}

impl Remote {
    /// How many calls each fault rule has affected, in the order they were added.
    pub fn fired(&self) -> Vec<u64> {
        let (status, body) =
            lockbox_testkit::http::send_blocking(&self.endpoint, "GET", "/_mock/faults", &[], "")
                .expect("an answer from the emulator");
        assert_eq!(status, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["fired"].as_u64().unwrap())
            .collect()
    }

    /// The emulator, with the key but no table.
    pub fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mock = rt.block_on(lockbox_mock::start()).unwrap();
        let endpoint = mock.endpoint_url();
        // Keep it serving for the life of the runtime.
        rt.spawn(async move {
            let _mock = mock;
            std::future::pending::<()>().await
        });
        create_key(&endpoint, "alias/credstash");
        Self {
            rt,
            endpoint,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The emulator with the default table set up.
    pub fn set_up() -> Self {
        let r = Self::start();
        r.ok(&["setup"], b"");
        r
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `lockbox --endpoint-url URL args...` with static test credentials.
    pub fn cmd(&self, args: &[&str]) -> Command {
        remote(self.home(), &self.endpoint, args)
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with_stdin(&mut self.cmd(args), stdin)
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> String {
        String::from_utf8(ok(self.run(args, stdin), args)).unwrap()
    }

    /// Stores `value` as `name` through stdin.
    pub fn put(&self, name: &str, value: &str, extra: &[&str]) {
        let mut args = vec!["put", name, "-"];
        args.extend_from_slice(extra);
        self.ok(&args, value.as_bytes());
    }

    /// A multi-Region key made in `us-east-1` (replicated to `eu-west-1` when
    /// `replicate`), with global-table copies applied before each write is
    /// answered; its ARN.
    pub fn multi_region_key(&self, replicate: bool) -> String {
        let (status, body) = http(
            &self.endpoint,
            "/",
            Some("TrentService.CreateKey"),
            r#"{"MultiRegion": true}"#,
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let arn = v["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
        if replicate {
            let replicate = serde_json::json!({"KeyId": arn, "ReplicaRegion": "eu-west-1"});
            let (status, body) = http(
                &self.endpoint,
                "/",
                Some("TrentService.ReplicateKey"),
                &replicate.to_string(),
            );
            assert_eq!(status, 200, "{body}");
        }
        self.replication(serde_json::json!({"lag_ms": 0}));
        arn
    }

    /// Changes global-table replication (`lag_ms`, `paused`, `flush`).
    pub fn replication(&self, change: serde_json::Value) {
        let (status, body) = http(
            &self.endpoint,
            "/_mock/replication",
            None,
            &change.to_string(),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// Adds a fault rule to the emulator.
    pub fn fault(&self, rule: serde_json::Value) {
        let (status, body) = http(&self.endpoint, "/_mock/faults", None, &rule.to_string());
        assert_eq!(status, 201, "{body}");
    }
}

/// Runs `lockbox --local=STATE args` on a pseudo-terminal (util-linux `script`),
/// typing `lines` one by one after a pause; returns (exit code, terminal output).
pub fn on_terminal(l: &Local, args: &str, lines: &[&str]) -> Option<(i32, String)> {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipping the terminal part: no /usr/bin/script");
        return None;
    }
    let cmd = format!("{BIN} --local={} {args}", l.state().display());
    let mut child = Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .env_clear()
        .env("HOME", l.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(l.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stdin.write_all(format!("{line}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// `c` started with its output piped, killed on drop (a test that fails
/// half-way leaves nothing behind).
pub fn spawn(mut c: Command) -> Reaped {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Reaped(c.spawn().expect("spawn lockbox"))
}

/// Waits up to `secs` for `g` to exit.
pub fn wait_exit(g: &mut Reaped, secs: u64) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            return s;
        }
        assert!(std::time::Instant::now() < until, "lockbox did not exit");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends `g` SIGTERM.
pub fn term(g: &Reaped) {
    let pid = rustix::process::Pid::from_child(&g.0);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}

/// `KEY=VALUE` lines (single-line values) as a map.
pub fn env_map(stdout: &[u8]) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A directory on tmpfs.
pub fn shm_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lockbox-test")
        .tempdir_in("/dev/shm")
        .expect("a tempdir in /dev/shm")
}
