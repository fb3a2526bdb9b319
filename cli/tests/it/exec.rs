//! `lockbox exec` end to end against the emulator: every declaration form, fail
//! closed (the child never starts: a marker file proves it), exit codes, the
//! child's exact environment, files on tmpfs, signals and exit statuses, rotation,
//! hygiene (no values in logs, no config passed on, no core dumps).

use crate::common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{
    create_key, env_map, http, remote, run_with_stdin, spawn, stderr, term, wait_exit, wait_for,
    Reaped, Remote,
};

impl Remote {
    fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        self.run(&full, b"")
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_declaration_form_and_exactly_the_declared_values() {
    let r = Remote::set_up();
    // One encryption context for every secret of one exec, as getall's.
    let ctx = &["env=prod"][..];
    r.put("prod/db/password", "pw-one", ctx);
    r.put("prod/db/password", "pw-two", ctx);
    r.put("prod/app/api-key", "key", ctx);
    r.put("prod/app/db.user", "user", ctx);
    r.put("ctx/token", "tok", ctx);
    r.put("from/manifest", "man", ctx);
    r.put("from/inherited", "inh", ctx);
    r.put("tls/key", "PEM", ctx);
    let shm = common::shm_dir();
    let file = shm.path().join("tls.key");
    let manifest = r.home().join("lockbox.toml");
    std::fs::write(
        &manifest,
        "prefix = [\"prod/app/\"]\n[env]\nMANIFEST = \"from/manifest\"\nTOKEN = \"ctx/token\"\n\
         [context]\nenv = \"prod\"\n",
    )
    .unwrap();
    let file_decl = format!("{}=tls/key", file.display());
    let script = format!(
        "cat {} > /dev/null && echo FILE=$(cat {}) && /usr/bin/env",
        file.display(),
        file.display()
    );
    let mut c = r.cmd(&[
        "exec",
        "--pristine",
        "--manifest",
        manifest.to_str().unwrap(),
        "--env",
        "DB_LATEST=prod/db/password",
        "--env",
        "DB_FIRST=prod/db/password@1",
        "--file",
        &file_decl,
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    c.env("INHERITED", "lockbox://from/inherited")
        .env("OTHER", "not passed with --pristine");
    let out = run_with_stdin(&mut c, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut got = env_map(&out.stdout);
    // sh's own.
    for k in ["PWD", "SHLVL", "_"] {
        got.remove(k);
    }
    assert_eq!(
        got,
        map(&[
            ("FILE", "PEM"),
            ("DB_LATEST", "pw-two"),
            ("DB_FIRST", "pw-one"),
            ("MANIFEST", "man"),
            ("TOKEN", "tok"),
            ("API_KEY", "key"),
            ("DB_USER", "user"),
            ("HOME", r.home().to_str().unwrap()),
        ])
    );
    assert!(!file.exists(), "the file outlived the child");

    // A reference, in a variable named for it (never under --pristine, where
    // INHERITED above was neither resolved nor passed on).
    let mut c = r.cmd(&[
        "exec",
        "--context",
        "env=prod",
        "--env-ref",
        "INHERITED",
        "--",
        "/usr/bin/env",
    ]);
    c.env("INHERITED", "lockbox://from/inherited");
    let out = run_with_stdin(&mut c, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env_map(&out.stdout)["INHERITED"], "inh");

    // YAML and JSON manifests, and --context on the command line.
    let yaml = r.home().join("m.yaml");
    std::fs::write(&yaml, "env:\n  TOKEN: ctx/token\n").unwrap();
    let json = r.home().join("m.json");
    std::fs::write(&json, r#"{"env": {"TOKEN": "ctx/token"}}"#).unwrap();
    for m in [&yaml, &json] {
        let out = r.exec(&[
            "--manifest",
            m.to_str().unwrap(),
            "--context",
            "env=prod",
            "--",
            "/usr/bin/env",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(env_map(&out.stdout)["TOKEN"], "tok");
    }
    // Without the context: a context mismatch, exit 5.
    let out = r.exec(&["--manifest", yaml.to_str().unwrap(), "--", "/usr/bin/env"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("context mismatch"),
        "{}",
        stderr(&out)
    );
}

/// Runs `exec ARGS -- sh -c 'touch MARKER'` and asserts the child never started.
fn assert_not_started(r: &Remote, args: &[&str], code: i32) -> String {
    let marker = r.home().join("started");
    let script = format!("touch {}", marker.display());
    let mut full = args.to_vec();
    full.extend(["--", "/bin/sh", "-c", &script]);
    let out = r.exec(&full);
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    assert!(!marker.exists(), "the child was started");
    assert!(out.stdout.is_empty());
    stderr(&out)
}

#[test]
fn missing_secrets_start_nothing_and_are_all_named() {
    let r = Remote::set_up();
    r.put("present", "CANARY-PRESENT", &[]);
    let err = assert_not_started(
        &r,
        &[
            "--env",
            "A=present",
            "--env",
            "B=missing/one",
            "--env",
            "C=present@7",
            "--prefix",
            "nothing/here/",
        ],
        3,
    );
    assert_says(
        &err,
        &[
            "missing/one ($B): not found",
            "present@7 ($C): not found",
            "prefix nothing/here/: not found",
            "3 of 4",
        ],
    );
    assert!(!err.contains("CANARY"));
}

/// `err` says each of `wants`.
fn assert_says(err: &str, wants: &[&str]) {
    for want in wants {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
}

#[test]
fn unresolved_and_bad_references_are_never_passed_on() {
    let r = Remote::set_up();
    let marker = r.home().join("started");
    let script = format!("touch {}", marker.display());
    for (value, code) in [
        ("lockbox://missing", 3),
        ("lockbox://", 2),
        ("lockbox://a@b@*", 2),
    ] {
        let mut c = r.cmd(&["exec", "--env-ref", "REF", "--", "/bin/sh", "-c", &script]);
        c.env("REF", value);
        let out = run_with_stdin(&mut c, b"");
        assert_eq!(out.status.code(), Some(code), "{value}: {}", stderr(&out));
        assert!(stderr(&out).contains("REF"), "{}", stderr(&out));
        assert!(!marker.exists());
    }
}

#[test]
fn access_denied_is_exit_4_and_beats_not_found() {
    let r = Remote::set_up();
    r.put("a", "CANARY-A", &[]);
    r.put("b", "CANARY-B", &[]);
    r.fault(serde_json::json!({"target": "kms:Decrypt", "error": "AccessDeniedException"}));
    let err = assert_not_started(
        &r,
        &["--env", "A=a", "--env", "B=b", "--env", "M=missing"],
        4,
    );
    assert_says(
        &err,
        &[
            "a ($A): access denied",
            "b ($B): access denied",
            "missing ($M): not found",
        ],
    );
    assert!(!err.contains("CANARY"));
}

#[test]
fn deadline_overrun_starts_nothing_in_bounded_time() {
    let r = Remote::set_up();
    r.put("slow", "v", &[]);
    r.put("slow2", "v", &[]);
    // The decrypts would answer in an hour: only the deadline can end the
    // command (a hang here is the failure).
    r.fault(serde_json::json!({"target": "kms:Decrypt", "latency_ms": 3_600_000}));
    let err = assert_not_started(
        &r,
        &["--deadline", "500ms", "--env", "S=slow", "--env", "T=slow2"],
        6,
    );
    assert!(err.contains("slow ($S): timed out"), "{err}");
    assert!(err.contains("slow2 ($T): timed out"), "{err}");
    assert!(err.contains("500ms"), "{err}");
}

#[test]
fn throttling_on_the_first_attempts_still_succeeds() {
    let r = Remote::set_up();
    r.put("t", "value", &[]);
    r.fault(
        serde_json::json!({"target": "kms:Decrypt", "error": "ThrottlingException", "count": 2}),
    );
    r.fault(serde_json::json!({"target": "dynamodb:Query", "error": "ProvisionedThroughputExceededException", "count": 2}));
    let out = r.exec(&["--env", "T=t", "--", "/usr/bin/env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env_map(&out.stdout)["T"], "value");
}

/// Reads the emulator's fault rules (`GET /_mock/faults`).
fn fault_list(endpoint: &str) -> serde_json::Value {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /_mock/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stream, &mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

/// A table of `n` secrets `prefix/i` (value `value-i`) under `quotas` (`POST
/// /_mock/quotas`), every `Query` attempt counted by fault rule 0; and the
/// `exec` arguments that declare each as `Si` within `deadline` and run
/// `/usr/bin/env`.
fn secrets_under_quota(
    prefix: &str,
    n: usize,
    quotas: &str,
    deadline: &str,
) -> (Remote, Vec<String>) {
    let r = Remote::set_up();
    let mut args = vec!["exec".to_owned(), "--deadline".into(), deadline.into()];
    for i in 0..n {
        let name = format!("{prefix}/{i}");
        r.put(&name, &format!("value-{i}"), &[]);
        args.extend(["--env".to_owned(), format!("S{i}={name}")]);
    }
    args.extend(["--".to_owned(), "/usr/bin/env".into()]);
    let (status, body) = http(&r.endpoint, "/_mock/quotas", None, quotas);
    assert_eq!(status, 200, "{body}");
    r.fault(serde_json::json!({"target": "dynamodb:Query", "latency_ms": 0}));
    (r, args)
}

/// `env`'s output holds each of the `n` secrets of [`secrets_under_quota`].
fn assert_started_with_all(stdout: &[u8], n: usize) {
    let env = env_map(stdout);
    for i in 0..n {
        assert_eq!(
            env.get(&format!("S{i}")).map(String::as_str),
            Some(format!("value-{i}").as_str()),
            "started without S{i}"
        );
    }
}

/// The `Query` attempts fault rule 0 of [`secrets_under_quota`] counted.
fn query_attempts(r: &Remote) -> u64 {
    fault_list(&r.endpoint)["rules"][0]["fired"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_fleet_under_a_quota_starts_whole_or_not_at_all() {
    const PROCESSES: usize = 20;
    const SECRETS: usize = 5;
    // Far below the burst: 100 reads and 100 decrypts against 10 a second each.
    let (r, args) = secrets_under_quota(
        "fleet",
        SECRETS,
        r#"{"kms_rps": 10, "on_demand_read_units": 10}"#,
        "4s",
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let fleet: Vec<Reaped> = (0..PROCESSES)
        .map(|_| {
            let mut c = r.cmd(&args);
            c.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            Reaped(c.spawn().unwrap())
        })
        .collect();
    let (mut started, mut refused) = (0, 0);
    for mut p in fleet {
        let child = std::mem::replace(&mut p.0, Command::new("/bin/true").spawn().unwrap());
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            assert_started_with_all(&out.stdout, SECRETS);
            started += 1;
        } else {
            // Failed closed: nothing started, every unread secret named.
            assert!(out.stdout.is_empty(), "a refused process started its child");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(6), "{err}");
            assert!(err.contains("was not started"), "{err}");
            assert!(err.contains("throttled"), "{err}");
            refused += 1;
        }
    }
    assert_eq!(started + refused, PROCESSES);
    // Each process queries each secret at least once: more is throttling retried.
    let attempts = query_attempts(&r);
    assert!(
        attempts > (PROCESSES * SECRETS) as u64,
        "the quota throttled nothing ({attempts} Query attempts)"
    );
    eprintln!("{started} started, {refused} refused, {attempts} Query attempts");
}

#[test]
fn a_throttled_exec_paces_its_retries_instead_of_repeating_them() {
    const SECRETS: usize = 40;
    // The table grants 5 reads a second (and holds one second of them): the
    // first wave of 40 queries gets about 5 through and 35 throttled.
    let (r, args) = secrets_under_quota("paced", SECRETS, r#"{"on_demand_read_units": 5}"#, "60s");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = r.run(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_started_with_all(&out.stdout, SECRETS);
    let attempts = query_attempts(&r);
    // Retried on a schedule a little below the rate the table grants, the 35
    // throttled queries go through about once more each (some 80 attempts);
    // each on its own doubling backoff, many would be throttled again, and
    // again (some 140 attempts).
    assert!(attempts > SECRETS as u64, "the quota throttled nothing");
    assert!(
        attempts <= 100,
        "{attempts} Query attempts for {SECRETS} secrets"
    );
    eprintln!("{attempts} Query attempts for {SECRETS} secrets");
}

#[test]
fn an_exec_out_of_time_under_throttling_names_the_throttled_secrets() {
    let r = Remote::set_up();
    r.put("hot/a", "CANARY-A", &[]);
    r.put("hot/b", "CANARY-B", &[]);
    // KMS throttles every Decrypt; the SDK keeps retrying until the deadline.
    r.fault(serde_json::json!({"target": "kms:Decrypt", "error": "ThrottlingException", "message": "Rate exceeded"}));
    let err = assert_not_started(
        &r,
        &["--deadline", "1s", "--env", "A=hot/a", "--env", "B=hot/b"],
        6,
    );
    for want in ["hot/a ($A): throttled", "hot/b ($B): throttled", "2 of 2"] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    assert!(!err.contains("CANARY"));
}

#[test]
fn the_standard_aws_retry_variables_are_honoured_and_checked() {
    let r = Remote::set_up();
    r.put("a", "value", &[]);
    for (mode, attempts) in [("adaptive", "3"), ("standard", "10")] {
        let mut c = r.cmd(&["exec", "--env", "A=a", "--", "/usr/bin/env"]);
        c.env("AWS_RETRY_MODE", mode)
            .env("AWS_MAX_ATTEMPTS", attempts);
        let out = run_with_stdin(&mut c, b"");
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        assert_eq!(env_map(&out.stdout)["A"], "value");
    }
    for (var, value) in [("AWS_RETRY_MODE", "sometimes"), ("AWS_MAX_ATTEMPTS", "0")] {
        let mut c = r.cmd(&["exec", "--env", "A=a", "--", "/usr/bin/env"]);
        c.env(var, value);
        let out = run_with_stdin(&mut c, b"");
        assert_eq!(out.status.code(), Some(2), "{var}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert!(stderr(&out).contains(var), "{}", stderr(&out));
    }
}

#[test]
fn exit_status_passes_through_in_both_process_models() {
    let r = Remote::set_up();
    r.put("s", "v", &[]);
    let shm = common::shm_dir();
    let decl = format!("{}=s", shm.path().join("f").display());
    let out = r.exec(&["--env", "S=s", "--", "/bin/sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let out = r.exec(&["--file", &decl, "--", "/bin/sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // A child killed by a signal: 128 + N from the supervisor.
    let out = r.exec(&["--file", &decl, "--", "/bin/sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    // Not found / not executable: the shell's 127 and 126.
    let out = r.exec(&["--env", "S=s", "--", "/no/such/program"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let out = r.exec(&["--file", &decl, "--", "/no/such/program"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(!shm.path().join("f").exists());
}

#[test]
fn sigterm_reaches_the_child_in_both_process_models() {
    let r = Remote::set_up();
    r.put("s", "v", &[]);
    let shm = common::shm_dir();
    let file = shm.path().join("f");
    let decl = format!("{}=s", file.display());
    let ready = r.home().join("ready");
    let script = format!("touch {}; exec sleep 30", ready.display());

    // execve: lockbox *is* the child, so the signal kills it directly.
    let mut g = spawn(r.cmd(&["exec", "--env", "S=s", "--", "/bin/sh", "-c", &script]));
    wait_for(20, "the child", || ready.exists());
    term(&g);
    let status = wait_exit(&mut g, 10);
    assert_eq!(status.signal(), Some(15), "{status:?}");

    // Supervisor: forwards it, exits 128 + 15, removes the file.
    std::fs::remove_file(&ready).unwrap();
    let mut g = spawn(r.cmd(&["exec", "--file", &decl, "--", "/bin/sh", "-c", &script]));
    wait_for(20, "the child", || ready.exists());
    assert!(file.exists());
    term(&g);
    let status = wait_exit(&mut g, 10);
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert!(!file.exists());
}

#[test]
fn files_are_0400_on_tmpfs_and_removed_and_disk_needs_allow_disk() {
    let r = Remote::set_up();
    r.put("cert", "line1\nline2\n", &[]);
    let shm = common::shm_dir();
    let file = shm.path().join("cert.pem");
    let decl = format!("{}=cert", file.display());
    let out_file = r.home().join("seen");
    let script = format!(
        "stat -c %a {f} > {o}; cat {f} >> {o}",
        f = file.display(),
        o = out_file.display()
    );
    let out = r.exec(&["--file", &decl, "--", "/bin/sh", "-c", &script]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "400\nline1\nline2\n"
    );
    assert!(!file.exists());

    // A directory on disk (the test home, unless it happens to be tmpfs).
    let disk = r.home().join("cert.pem");
    let on_tmpfs = rustix::fs::statfs(r.home()).unwrap().f_type as u64 == 0x0102_1994;
    if !on_tmpfs {
        let decl = format!("{}=cert", disk.display());
        let marker = r.home().join("started");
        let touch = format!("touch {}", marker.display());
        let out = r.exec(&["--file", &decl, "--", "/bin/sh", "-c", &touch]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("--allow-disk"), "{}", stderr(&out));
        assert!(!marker.exists());
        let check = format!("test \"$(stat -c %a {})\" = 400", disk.display());
        let out = r.exec(&[
            "--allow-disk",
            "--file",
            &decl,
            "--",
            "/bin/sh",
            "-c",
            &check,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!disk.exists());
    }
}

#[test]
fn watch_signal_mode_rewrites_the_file_then_signals() {
    let r = Remote::set_up();
    r.put("rot", "first", &[]);
    let shm = common::shm_dir();
    let file = shm.path().join("rot");
    let decl = format!("{}=rot", file.display());
    let seen = r.home().join("seen");
    let ready = r.home().join("ready");
    let script = format!(
        "trap 'cat {f} > {s}' HUP; touch {r}; while :; do sleep 0.05; done",
        f = file.display(),
        s = seen.display(),
        r = ready.display()
    );
    let mut g = spawn(r.cmd(&[
        "exec",
        "--watch",
        "300ms",
        "--on-change",
        "signal:SIGHUP",
        "--file",
        &decl,
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]));
    wait_for(20, "the child", || ready.exists());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "first");
    r.put("rot", "second", &[]);
    wait_for(20, "the rotated value", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == "second")
    });
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o400);
    term(&g);
    assert_eq!(wait_exit(&mut g, 10).code(), Some(143));
    assert!(!file.exists());
}

#[test]
fn watch_restart_mode_starts_the_child_again_with_the_new_value() {
    let r = Remote::set_up();
    r.put("rot", "first", &[]);
    r.put("pinned", "fixed", &[]);
    let seen = r.home().join("seen");
    let script = format!("echo \"$V $P\" >> {}; exec sleep 30", seen.display());
    let mut g = spawn(r.cmd(&[
        "exec",
        "-vv",
        "--watch",
        "300ms",
        "--on-change",
        "restart",
        "--env",
        "V=rot",
        "--env",
        "P=pinned@1",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]));
    wait_for(20, "the child", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == "first fixed\n")
    });
    r.put("rot", "second", &[]);
    wait_for(20, "the restarted child", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == "first fixed\nsecond fixed\n")
    });
    term(&g);
    assert_eq!(wait_exit(&mut g, 10).code(), Some(143));
    // The pinned version is read once; re-checks fetch only the latest.
    let mut err = String::new();
    std::io::Read::read_to_string(g.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(err.matches("fetching 2 of 2 secrets").count(), 1, "{err}");
    assert!(err.contains("fetching 1 of 2 secrets"), "{err}");
    assert!(err.contains("$V changed: now rot version 2"), "{err}");
}

/// A table writer deletes the newest version while `--watch` runs: the
/// supervisor never restarts its child onto the older value, and says so.
#[test]
fn watch_never_goes_back_to_an_older_version_when_the_newest_is_deleted() {
    let r = Remote::set_up();
    r.put("signing-key", "old-compromised-key", &[]);
    r.put("signing-key", "new-rotated-key", &[]);
    let seen = r.home().join("seen");
    let script = format!("echo \"$K\" >> {}; exec sleep 30", seen.display());
    let mut g = spawn(r.cmd(&[
        "exec",
        "--watch",
        "300ms",
        "--env",
        "K=signing-key",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]));
    wait_for(20, "the child", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == "new-rotated-key\n")
    });
    // DeleteItem of version 2, as a writer of items with no KMS permission would.
    let (status, body) = http(
        &r.endpoint,
        "/",
        Some("DynamoDB_20120810.DeleteItem"),
        &serde_json::json!({"TableName": "credential-store",
            "Key": {"name": {"S": "signing-key"}, "version": {"S": "0000000000000000002"}}})
        .to_string(),
    );
    assert_eq!(status, 200, "{body}");
    // Several re-checks pass; the child is never restarted.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "new-rotated-key\n",
        "restarted onto the older value"
    );
    term(&g);
    assert_eq!(wait_exit(&mut g, 10).code(), Some(143));
    let mut err = String::new();
    std::io::Read::read_to_string(g.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("older than version 2 read before"), "{err}");
    assert!(err.contains("keeps its current secrets"), "{err}");
    assert!(!err.contains("compromised"), "{err}");
}

#[test]
fn a_canary_never_reaches_lockbox_output_at_the_most_verbose_level() {
    let r = Remote::set_up();
    let canary = "CANARY-qzxv-never-print-me";
    r.put("canary", canary, &[]);
    let shm = common::shm_dir();
    let decl = format!("{}=canary", shm.path().join("c").display());
    for args in [
        &["-vv", "--env", "C=canary", "--", "/bin/true"][..],
        &["-vv", "--file", &decl, "--", "/bin/true"][..],
        &[
            "-vv",
            "--env",
            "C=canary",
            "--env",
            "M=missing",
            "--",
            "/bin/true",
        ][..],
    ] {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        let mut c = r.cmd(&full);
        c.env("LOCKBOX_LOG", "trace");
        let out = run_with_stdin(&mut c, b"");
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!all.contains(canary), "{args:?} leaked the canary");
        assert!(!all.contains("qzxv"), "{args:?} leaked part of the canary");
    }
    // -v names what it resolved, with the version.
    let out = r.exec(&["-v", "--env", "C=canary", "--", "/bin/true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("$C <- canary version 1"),
        "{}",
        stderr(&out)
    );

    // The embedded emulator's logs too.
    let l = common::Local::new();
    l.put("canary", canary.as_bytes(), &[]);
    let mut c = l.cmd(&["exec", "-vv", "--env", "C=canary", "--", "/bin/true"]);
    c.env("LOCKBOX_LOG", "trace");
    let out = run_with_stdin(&mut c, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(canary));
}

#[test]
fn lockbox_configuration_is_not_inherited() {
    let r = Remote::set_up();
    r.put("s", "v", &[]);
    let mut c = r.cmd(&["exec", "--env", "S=s", "--", "/usr/bin/env"]);
    c.env("LOCKBOX_TABLE", "credential-store")
        .env("LOCKBOX_KMS_KEY", "alias/credstash")
        .env("LOCKBOX_LOG", "warn")
        .env("CREDSTASH_DEFAULT_TABLE", "credential-store")
        .env("KEEP_ME", "yes");
    let out = run_with_stdin(&mut c, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let env = env_map(&out.stdout);
    assert_eq!(env["KEEP_ME"], "yes");
    assert_eq!(env["S"], "v");
    let leaked: Vec<_> = env
        .keys()
        .filter(|k| k.starts_with("LOCKBOX_") || *k == "CREDSTASH_DEFAULT_TABLE")
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[test]
fn core_limit_is_zero_in_the_child_unless_allowed() {
    let r = Remote::set_up();
    r.put("s", "v", &[]);
    // Start lockbox with a non-zero soft limit, so "0" is lockbox's doing.
    let run = |extra: &[&str]| {
        let mut args = vec![
            "-c",
            "ulimit -c 1234 2>/dev/null || exit 99; exec \"$@\"",
            "sh",
            common::BIN,
            "--endpoint-url",
            &r.endpoint,
            "exec",
        ];
        args.extend_from_slice(extra);
        args.extend(["--env", "S=s", "--", "/bin/sh", "-c", "ulimit -c"]);
        let mut sh = Command::new("/bin/sh");
        sh.args(&args)
            .env_clear()
            .env("HOME", r.home())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_REGION", "us-east-1");
        run_with_stdin(&mut sh, b"")
    };
    let out = run(&[]);
    if out.status.code() == Some(99) {
        eprintln!("skipping: the hard core limit here is 0");
        return;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    let out = run(&["--allow-core-dumps"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1234");
}

#[test]
fn prefix_collisions_are_refused_unless_allowed_and_the_last_name_wins() {
    let r = Remote::set_up();
    r.put("app/a.b", "dot", &[]);
    r.put("app/a-b", "dash", &[]);
    r.put("app/c", "c", &[]);
    let err = assert_not_started(&r, &["--prefix", "app/"], 2);
    assert!(err.contains("app/a-b, app/a.b"), "{err}");
    assert!(err.contains("$A_B"), "{err}");
    let out = r.exec(&[
        "--prefix",
        "app/",
        "--allow-collisions",
        "--",
        "/usr/bin/env",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let env = env_map(&out.stdout);
    assert_eq!(env["A_B"], "dot");
    assert_eq!(env["C"], "c");
    // An explicit --env takes the variable: no collision.
    let out = r.exec(&[
        "--prefix",
        "app/",
        "--env",
        "A_B=app/c",
        "--",
        "/usr/bin/env",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env_map(&out.stdout)["A_B"], "c");
}

#[test]
fn a_hundred_secrets_all_delivered() {
    let r = Remote::set_up();
    let mut import = serde_json::Map::new();
    for i in 0..100 {
        import.insert(format!("bulk/s{i:03}"), format!("value-{i}").into());
    }
    let file = r.home().join("bulk.json");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(serde_json::Value::Object(import).to_string().as_bytes())
        .unwrap();
    r.ok(&["import", file.to_str().unwrap()], b"");
    // Half by prefix, half declared one by one in a manifest.
    let mut manifest = String::from("[env]\n");
    for i in 50..100 {
        manifest.push_str(&format!("M{i:03} = \"bulk/s{i:03}\"\n"));
    }
    let mpath = r.home().join("m.toml");
    std::fs::write(&mpath, manifest).unwrap();
    let out = r.exec(&[
        "--pristine",
        "--manifest",
        mpath.to_str().unwrap(),
        "--prefix",
        "bulk/",
        "--",
        "/usr/bin/env",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let env = env_map(&out.stdout);
    for i in 0..100 {
        assert_eq!(env[&format!("S{i:03}")], format!("value-{i}"));
    }
    for i in 50..100 {
        assert_eq!(env[&format!("M{i:03}")], format!("value-{i}"));
    }
    assert_eq!(env.len(), 151, "{:?}", env.keys().collect::<Vec<_>>());

    // One denied: none of them, and a non-zero exit naming the failures.
    r.fault(
        serde_json::json!({"target": "kms:Decrypt", "error": "AccessDeniedException", "count": 1}),
    );
    let err = assert_not_started(&r, &["--prefix", "bulk/"], 4);
    assert!(err.contains("1 of 100"), "{err}");
    assert!(err.contains("access denied"), "{err}");
}

#[test]
fn bad_declarations_are_usage_errors() {
    let r = Remote::set_up();
    for args in [
        &["--env", "1BAD=x"][..],
        &["--env", "NOEQUALS"],
        &["--env", "A=x", "--env", "A=y"],
        &["--file", "/no/such/dir/f=x"],
        &["--deadline", "0s", "--env", "A=x"],
        &["--on-change", "restart", "--env", "A=x"],
    ] {
        let mut full = args.to_vec();
        full.extend(["--", "/bin/true"]);
        let out = r.exec(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// The issue's check: a container-style start, whose only AWS configuration is the
/// container credentials endpoint (plus region and endpoint), against the emulator
/// in strict mode (SigV4 and IAM policies): 100 declared secrets all delivered, or,
/// when one is denied by policy, none of them and a non-zero exit naming it.
#[test]
fn container_style_start_with_a_task_role_in_strict_mode() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();

    // Populate in open mode, then restart the same state in strict mode.
    let open = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder().data_dir(data.path()),
        ))
        .unwrap();
    let endpoint = open.endpoint_url();
    create_key(&endpoint, "alias/credstash");
    let admin = |endpoint: &str, args: &[&str], stdin: &[u8]| {
        common::ok(
            run_with_stdin(&mut remote(home.path(), endpoint, args), stdin),
            args,
        )
    };
    admin(&endpoint, &["setup"], b"");
    let mut import = serde_json::Map::new();
    for i in 0..100 {
        import.insert(format!("bulk/s{i:03}"), format!("value-{i}").into());
    }
    admin(
        &endpoint,
        &["import", "-", "-f", "json"],
        serde_json::Value::Object(import).to_string().as_bytes(),
    );
    rt.block_on(open.shutdown());

    let reader = |deny: bool| {
        let mut statements = vec![
            serde_json::json!({"Effect": "Allow",
                "Action": ["dynamodb:Query", "dynamodb:Scan", "dynamodb:GetItem", "dynamodb:BatchGetItem",
                           "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"],
                "Resource": "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store"}),
            serde_json::json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringLike": {"kms:EncryptionContext:lockbox-name": "bulk/*"}}}),
        ];
        if deny {
            statements.push(serde_json::json!({"Effect": "Deny", "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:lockbox-name": "bulk/s042"}}}));
        }
        serde_json::json!([{"Version": "2012-10-17", "Statement": statements}])
    };
    let iam = serde_json::json!({
        "users": [],
        "roles": [
            {"name": "app", "trust": {"container_token": "tok-app"}, "policies": reader(false)},
            {"name": "app-denied", "trust": {"container_token": "tok-denied"}, "policies": reader(true)}
        ]
    });
    let strict = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder()
                .data_dir(data.path())
                .iam_json(iam.to_string()),
        ))
        .unwrap();
    let endpoint = strict.endpoint_url();
    let container = |role: &str, token: &str, script: &str| {
        let mut c = common::bare(home.path());
        c.env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{endpoint}/_mock/container-credentials/{role}"),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .args(["exec", "--prefix", "bulk/", "--", "/bin/sh", "-c", script]);
        run_with_stdin(&mut c, b"")
    };

    let out = container("app", "tok-app", "/usr/bin/env");
    assert!(out.status.success(), "{}", stderr(&out));
    let env = env_map(&out.stdout);
    for i in 0..100 {
        assert_eq!(env[&format!("S{i:03}")], format!("value-{i}"));
    }

    let marker = home.path().join("started");
    let out = container(
        "app-denied",
        "tok-denied",
        &format!("touch {}", marker.display()),
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(!marker.exists(), "the child was started");
    let err = stderr(&out);
    assert!(err.contains("1 of 100"), "{err}");
    assert!(err.contains("bulk/s042 ($S042): access denied"), "{err}");
    rt.block_on(strict.shutdown());
}

/// As PID 1 (a new PID namespace, where available), the supervisor reaps orphans
/// re-parented to it, and still exits with its child's status.
#[test]
fn as_pid_1_the_supervisor_reaps_orphans() {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipping: cannot create a PID namespace here (unshare)");
        return;
    }
    let r = Remote::set_up();
    r.put("s", "v", &[]);
    let shm = common::shm_dir();
    let decl = format!("{}=s", shm.path().join("f").display());
    let seen = r.home().join("seen");
    // The subshell exits at once, orphaning its `sleep`, which PID 1 must reap.
    let script = format!(
        "echo $$ > {s}; (sleep 0.1 &); sleep 0.6; cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ' >> {s}; exit 3",
        s = seen.display()
    );
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", common::BIN])
        .args(["--endpoint-url", &r.endpoint, "exec", "--file", &decl])
        .args(["--", "/bin/sh", "-c", &script])
        .env_clear()
        .env("HOME", r.home())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1");
    let out = run_with_stdin(&mut c, b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let seen = std::fs::read_to_string(&seen).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_ne!(lines[0], "1", "lockbox should be PID 1, its child another");
    assert_eq!(lines[1], "0", "zombies left: {seen}");
}

#[test]
fn a_failed_re_check_keeps_the_child_running_on_what_it_has() {
    let r = Remote::set_up();
    r.put("rot", "first", &[]);
    let seen = r.home().join("seen");
    let script = format!("echo \"$V\" >> {}; exec sleep 30", seen.display());
    let mut g = spawn(r.cmd(&[
        "exec", "--watch", "200ms", "--env", "V=rot", "--", "/bin/sh", "-c", &script,
    ]));
    wait_for(20, "the child", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == "first\n")
    });
    // The next two re-checks are denied; the one after sees the new version.
    r.fault(
        serde_json::json!({"target": "kms:Decrypt", "error": "AccessDeniedException", "count": 2}),
    );
    r.put("rot", "second", &[]);
    wait_for(20, "the restarted child", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == "first\nsecond\n")
    });
    term(&g);
    assert_eq!(wait_exit(&mut g, 10).code(), Some(143));
    let mut err = String::new();
    std::io::Read::read_to_string(g.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("re-check failed"), "{err}");
    assert!(err.contains("rot ($V): access denied"), "{err}");
    assert!(!err.contains("second") && !err.contains("first"), "{err}");
}

// ---------------------------------------------------------------------------
// Hardening: names derived from secret names, the program's lookup, references
// only where asked, files in shared directories, the supervisor's death, values
// an environment variable cannot carry.

/// An executable script at `path`.
fn write_script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `exec` may not let a secret's name choose a variable that changes how the
/// child loads or where it connects: the review's `--prefix app/` case, where
/// bash would have run `BASH_ENV`'s command substitution before the script.
#[test]
fn secret_names_never_choose_a_variable_that_changes_how_programs_load_or_connect() {
    let r = Remote::set_up();
    let pwned = r.home().join("pwned-by-bash-env");
    r.put("app/ld_preload", "/nonexistent/CANARY-evil.so", &[]);
    r.put("app/path", "/nonexistent/CANARY-evilbin", &[]);
    r.put("app/bash_env", &format!("$(id > {})", pwned.display()), &[]);
    r.put("app/lockbox_table", "CANARY-attacker-table", &[]);
    r.put("app/db.user", "user", &[]);
    let marker = r.home().join("started");
    let script = r.home().join("app.sh");
    write_script(
        &script,
        &format!("#!/bin/bash\ntouch {}\n", marker.display()),
    );
    let out = r.exec(&["--prefix", "app/", "--", script.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!marker.exists(), "the child was started");
    assert!(!pwned.exists(), "BASH_ENV ran");
    assert!(out.stdout.is_empty());
    assert_says(
        &err,
        &[
            "app/ld_preload ($LD_PRELOAD): protected variable",
            "app/path ($PATH): protected variable",
            "app/bash_env ($BASH_ENV): protected variable",
            "app/lockbox_table ($LOCKBOX_TABLE): protected variable",
            "--env LD_PRELOAD=app/ld_preload",
            "4 of 5",
        ],
    );
    assert!(!err.contains("CANARY") && !err.contains("id >"), "{err}");

    // Mapped explicitly (flag or manifest), the variable is the operator's choice.
    r.put("ok/path", "/opt/ok/bin", &[]);
    r.put("ok/token", "tok", &[]);
    let out = r.exec(&[
        "--prefix",
        "ok/",
        "--env",
        "PATH=ok/path",
        "--env",
        "LOCKBOX_TABLE=ok/token",
        "--",
        "/usr/bin/env",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let env = env_map(&out.stdout);
    assert_eq!(env["PATH"], "/opt/ok/bin");
    assert_eq!(env["TOKEN"], "tok");
    assert_eq!(env["LOCKBOX_TABLE"], "tok");
    let manifest = r.home().join("ok.toml");
    std::fs::write(&manifest, "prefix = [\"ok/\"]\n[env]\nPATH = \"ok/path\"\n").unwrap();
    let out = r.exec(&[
        "--manifest",
        manifest.to_str().unwrap(),
        "--",
        "/usr/bin/env",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env_map(&out.stdout)["PATH"], "/opt/ok/bin");
}

/// `getall`, `export` and a wildcard `get` in the env formats refuse names that
/// would become such variables, naming each, and print nothing.
#[test]
fn env_formats_refuse_names_that_become_protected_variables() {
    let r = Remote::set_up();
    r.put("path", "/CANARY/evilbin", &[]);
    r.put("ld.preload", "/CANARY/evil.so", &[]);
    r.put("bash-env", "$(id)CANARY", &[]);
    r.put("db.password", "pw", &[]);
    for args in [
        &["getall", "-f", "env"][..],
        &["getall", "-f", "dotenv"],
        &["export", "-f", "env"],
        &["export", "-f", "dotenv"],
        &["get", "*", "-f", "env"],
    ] {
        let out = r.run(args, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: all or nothing");
        for want in [
            "path ($PATH)",
            "ld.preload ($LD_PRELOAD)",
            "bash-env ($BASH_ENV)",
            "nothing was printed",
        ] {
            assert!(err.contains(want), "{args:?}: {want:?} not in:\n{err}");
        }
        assert!(
            !err.contains("CANARY") && !err.contains("db.password"),
            "{err}"
        );
    }
    // Other formats carry names as they are.
    let out = r.ok(&["getall", "-f", "json"], b"");
    assert!(out.contains("\"path\": \"/CANARY/evilbin\""), "{out}");
    let out = r.ok(&["get", "db*", "-f", "env"], b"");
    assert_eq!(out, "export DB_PASSWORD='pw'\n");
}

/// A NUL byte cannot go in a variable: the env formats refuse it with the
/// message `exec` gives, and print nothing.
#[test]
fn env_formats_refuse_a_nul_byte_as_exec_does() {
    let r = Remote::set_up();
    r.put("nul/value", "CANARY\0tail", &[]);
    r.put("plain", "p", &[]);
    let sentence = "holds a NUL byte, which an environment variable cannot carry";
    for args in [
        &["getall", "-f", "env"][..],
        &["getall", "-f", "dotenv"],
        &["export", "-f", "env"],
        &["export", "-f", "dotenv"],
        &["get", "nul*", "-f", "env"],
    ] {
        let out = r.run(args, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(err.contains("nul/value"), "{args:?}: {err}");
        assert!(err.contains(sentence), "{args:?}: {err}");
        assert!(!err.contains("CANARY") && !err.contains("tail"), "{err}");
    }
    let out = r.exec(&["--env", "X=nul/value", "--", "/bin/true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(sentence), "{}", stderr(&out));
    // JSON carries it.
    let out = r.ok(&["getall", "-f", "json"], b"");
    assert!(out.contains("CANARY\\u0000tail"), "{out}");
}

/// A value longer than the kernel's per-string limit (`MAX_ARG_STRLEN`, the
/// `NAME=value` and its NUL) is refused before the start, naming the secret and
/// suggesting --file; one byte less fits.
#[test]
fn a_value_too_long_for_an_environment_variable_fails_closed_naming_it() {
    let r = Remote::set_up();
    let limit = 32 * rustix::param::page_size();
    let big = "x".repeat(140_000.max(limit + 1));
    r.put("app/big", &big, &[]);
    r.put("app/small", "s", &[]);
    let fits = "y".repeat(limit - "FITS=".len() - 1);
    r.put("fits", &fits, &[]);
    r.put("fits-not", &format!("{fits}y"), &[]);
    for (args, want) in [
        (
            &["--env", "BIG=app/big"][..],
            "app/big ($BIG): unusable value",
        ),
        (&["--prefix", "app/"], "app/big ($BIG): unusable value"),
        (
            &["--env", "FITS=fits-not"],
            "fits-not ($FITS): unusable value",
        ),
    ] {
        let err = assert_not_started(&r, args, 2);
        assert!(err.contains(want), "{want:?} not in:\n{err}");
        assert!(err.contains("--file"), "{err}");
        assert!(!err.contains("xxxxxxxx") && !err.contains("yyyyyyyy"));
    }
    let out = r.exec(&[
        "--env",
        "FITS=fits",
        "--",
        "/bin/sh",
        "-c",
        "printf %s \"$FITS\" | wc -c",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        fits.len().to_string()
    );
    // A file carries it.
    let shm = common::shm_dir();
    let file = shm.path().join("big");
    let decl = format!("{}=app/big", file.display());
    let count = format!("wc -c < {}", file.display());
    let out = r.exec(&["--file", &decl, "--", "/bin/sh", "-c", &count]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        big.len().to_string()
    );
}

/// The program is looked up in lockbox's own PATH, never in the PATH a secret
/// gives the child, in both process models; argv[0] stays as given.
#[test]
fn the_program_is_found_with_lockbox_s_own_path_never_a_secret_s() {
    let r = Remote::set_up();
    let real = r.home().join("real");
    let evil = r.home().join("evil");
    std::fs::create_dir(&real).unwrap();
    std::fs::create_dir(&evil).unwrap();
    write_script(&real.join("myserver"), "#!/bin/sh\necho real-server\n");
    write_script(&evil.join("myserver"), "#!/bin/sh\necho evil-server\n");
    write_script(&evil.join("onlyevil"), "#!/bin/sh\necho evil-server\n");
    r.put("app/path", evil.to_str().unwrap(), &[]);
    let shm = common::shm_dir();
    let decl = format!("{}=app/path", shm.path().join("f").display());
    let lockbox_path = format!("{}:/usr/bin:/bin", real.display());
    for model in [&[][..], &["--file", &decl][..]] {
        let run = |program: &[&str]| {
            let mut args = vec!["exec", "--env", "PATH=app/path"];
            args.extend_from_slice(model);
            args.push("--");
            args.extend_from_slice(program);
            let mut c = r.cmd(&args);
            c.env("PATH", &lockbox_path);
            run_with_stdin(&mut c, b"")
        };
        let out = run(&["myserver"]);
        assert!(out.status.success(), "{model:?}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "real-server\n",
            "{model:?}"
        );
        // Only on the secret's PATH: not found, as any missing program.
        let out = run(&["onlyevil"]);
        assert_eq!(out.status.code(), Some(127), "{model:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{model:?}");
        assert!(
            stderr(&out).contains("cannot start onlyevil"),
            "{}",
            stderr(&out)
        );
        // argv[0] as given, the child's PATH the secret's.
        let out = run(&[
            "sh",
            "-c",
            "/usr/bin/tr '\\0' '\\n' < /proc/$$/cmdline | /usr/bin/head -n 1; echo \"$PATH\"",
        ]);
        assert!(out.status.success(), "{model:?}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("sh\n{}\n", evil.display()),
            "{model:?}"
        );
    }
    assert!(!shm.path().join("f").exists());
}

/// A `lockbox://` value is resolved only in a variable the operator names
/// (`--env-ref`, the manifest's `refs`), never under `--pristine`; any other
/// is neither resolved nor passed on (the review's CI variable, whose value an
/// outsider chooses, such as a merge request's title).
#[test]
fn references_are_resolved_only_in_variables_the_operator_names() {
    let r = Remote::set_up();
    r.put("db/password", "CANARY-db-password", &[]);
    r.put("db/url", "postgres://db", &[]);
    for extra in [&[][..], &["--pristine"]] {
        let mut args = vec!["exec", "--env", "S=db/url"];
        args.extend_from_slice(extra);
        args.extend(["--", "/usr/bin/env"]);
        let mut c = r.cmd(&args);
        c.env("CI_MERGE_REQUEST_TITLE", "lockbox://db/password")
            .env("KEEP_ME", "yes");
        let out = run_with_stdin(&mut c, b"");
        let err = stderr(&out);
        assert!(out.status.success(), "{extra:?}: {err}");
        let env = env_map(&out.stdout);
        assert_eq!(env["S"], "postgres://db", "{extra:?}");
        assert!(!env.contains_key("CI_MERGE_REQUEST_TITLE"), "{extra:?}");
        assert_eq!(env.contains_key("KEEP_ME"), extra.is_empty(), "{extra:?}");
        let all = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
        assert!(!all.contains("CANARY"), "{extra:?}: resolved:\n{all}");
        assert!(
            !all.contains("lockbox://db"),
            "{extra:?}: passed on:\n{all}"
        );
        assert!(
            err.contains("CI_MERGE_REQUEST_TITLE"),
            "{extra:?}: no warning:\n{err}"
        );
        assert!(!err.contains("db/password"), "{extra:?}: {err}");
    }

    // Named with --env-ref, or in the manifest's refs: resolved. A named
    // variable with a plain value is passed on as it is.
    let manifest = r.home().join("refs.toml");
    std::fs::write(&manifest, "refs = [\"DB_URL\", \"PLAIN\"]\n").unwrap();
    let m = manifest.to_str().unwrap();
    for args in [
        &["--env-ref", "DB_URL", "--env-ref", "PLAIN"][..],
        &["--manifest", m],
    ] {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        full.extend(["--", "/usr/bin/env"]);
        let mut c = r.cmd(&full);
        c.env("DB_URL", "lockbox://db/url")
            .env("PLAIN", "not-a-reference")
            .env("OTHER", "lockbox://db/password");
        let out = run_with_stdin(&mut c, b"");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let env = env_map(&out.stdout);
        assert_eq!(env["DB_URL"], "postgres://db", "{args:?}");
        assert_eq!(env["PLAIN"], "not-a-reference", "{args:?}");
        assert!(!env.contains_key("OTHER"), "{args:?}");
    }

    // Under --pristine a named reference is refused: declare the secret instead.
    for args in [
        &["--pristine", "--env-ref", "DB_URL"][..],
        &["--pristine", "--manifest", m],
        &["--env-ref", "1BAD"],
    ] {
        let mut full = args.to_vec();
        full.extend(["--", "/bin/true"]);
        let mut c = r.cmd(&[&["exec"][..], &full].concat());
        c.env("DB_URL", "lockbox://db/url");
        let out = run_with_stdin(&mut c, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// Runs `lockbox ARGS` as PID 1 of a new PID namespace (so its PID is known in
/// advance), or `None` where one cannot be created.
fn as_pid_1(r: &Remote, args: &[&str]) -> Option<Output> {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", common::BIN])
        .args(["--endpoint-url", &r.endpoint])
        .args(args)
        .env_clear()
        .env("HOME", r.home())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1");
    Some(run_with_stdin(&mut c, b""))
}

/// `--file` in a shared, sticky directory: another user's planted temporary
/// names cannot block the start, a target planted by someone else is refused
/// with a clear message, and stale temporaries of ours are swept.
#[test]
fn files_in_a_shared_directory_cannot_be_blocked_or_hijacked() {
    let r = Remote::set_up();
    r.put("tls/key", "PEM", &[]);
    let shm = common::shm_dir();
    std::fs::set_permissions(shm.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let target = shm.path().join("tls.key");
    let decl = format!("{}=tls/key", target.display());
    let read = format!("cat {}", target.display());
    let args = ["exec", "--file", &decl, "--", "/bin/sh", "-c", &read];

    // Temporary names a predictable scheme would use (PID 1 in a new namespace,
    // and the next PIDs here), planted as directories no one removes as files.
    let mut pids = vec![1u32];
    if let Ok(last) = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid") {
        let last: u32 = last.trim().parse().unwrap();
        pids.extend(last + 1..last + 400);
    }
    for p in pids {
        let planted = shm.path().join(format!(".tls.key.lockbox-{p}.tmp"));
        std::fs::create_dir(&planted).unwrap();
        std::fs::write(planted.join("x"), "planted").unwrap();
    }
    // A stale temporary of ours, left by a supervisor killed mid-write (no such PID).
    let stale = shm.path().join(".tls.key.lockbox-4999999-0123abcd.tmp");
    std::fs::write(&stale, "stale").unwrap();
    let out = as_pid_1(&r, &args).unwrap_or_else(|| r.run(&args, b""));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PEM");
    assert!(!target.exists());
    assert!(!stale.exists(), "the stale temporary was not swept");

    // A target another user planted: refused before anything is read.
    if rustix::process::geteuid().is_root() {
        std::fs::write(&target, "planted").unwrap();
        std::os::unix::fs::chown(&target, Some(65534), Some(65534)).unwrap();
        let marker = r.home().join("started");
        let touch = format!("touch {}", marker.display());
        let out = r.exec(&["--file", &decl, "--", "/bin/sh", "-c", &touch]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "{} exists and was not written by this lockbox; remove it or choose another path",
                target.display()
            )),
            "{err}"
        );
        assert!(!marker.exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "planted");
    } else {
        eprintln!("skipping the planted-target half: it needs root to plant another user's file");
    }
}

/// Kills the process `pid` on drop, if it still runs.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// When the supervisor is killed outright (SIGKILL, the OOM killer), its child
/// gets SIGTERM instead of running on unsupervised.
#[test]
fn a_supervised_child_gets_sigterm_when_the_supervisor_is_killed() {
    let r = Remote::set_up();
    r.put("s", "v", &[]);
    let shm = common::shm_dir();
    let decl = format!("{}=s", shm.path().join("f").display());
    let ready = r.home().join("ready");
    let termed = r.home().join("termed");
    let script = format!(
        "trap 'touch {t}; exit 0' TERM; echo $$ > {r}.tmp; mv {r}.tmp {r}; while :; do sleep 0.05; done",
        t = termed.display(),
        r = ready.display()
    );
    let mut g = spawn(r.cmd(&["exec", "--file", &decl, "--", "/bin/sh", "-c", &script]));
    wait_for(20, "the child", || ready.exists());
    let child: i32 = std::fs::read_to_string(&ready)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _child = KillOnDrop(child);
    let pid = rustix::process::Pid::from_child(&g.0);
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    assert_eq!(wait_exit(&mut g, 10).signal(), Some(9));
    wait_for(20, "the child's SIGTERM", || termed.exists());
}
