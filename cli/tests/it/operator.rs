//! The operator-experience review (shared/reviews/operator-ux-review.md), one
//! test per finding, named after its id: what the operator ran, and what lockbox
//! must do instead of a silent wrong result or a misleading error. Run against
//! another build with `LOCKBOX_TEST_BIN=PATH` (how each was seen failing first).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{create_key, http, run_with_stdin, stderr, Local, Remote};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// U1: `exec --prefix prod/app` (no trailing `/`) gives `$DB_PASSWORD`, and never
/// takes `prod/apple/*`.
#[test]
fn u1_exec_prefix_matches_at_a_segment_boundary() {
    let l = Local::new();
    l.put("prod/app/db.password", b"pw1", &[]);
    l.put("prod/apple/token", b"other", &[]);
    let env = l.ok_text(&[
        "exec",
        "--prefix",
        "prod/app",
        "--pristine",
        "--no-path",
        "--no-home",
        "--",
        "/usr/bin/env",
    ]);
    assert_eq!(env, "DB_PASSWORD=pw1\n");
    // `env` names them the same way.
    assert_eq!(
        l.ok_text(&["env", "prod/app"]),
        "export DB_PASSWORD='pw1'\n"
    );
}

/// U2: an empty value is refused (a failed producer in a pipeline), unless
/// `--allow-empty`.
#[test]
fn u2_empty_values_are_refused_unless_allowed() {
    let l = Local::new();
    l.put("db.pw", b"live", &[]);
    let out = l.run_stdin(&["put", "db.pw", "-"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-empty"), "{}", stderr(&out));
    assert_eq!(l.ok_text(&["get", "db.pw"]), "live\n");
    let out = l.run_stdin(&["import", "-", "-f", "json"], br#"{"a": "x", "b": ""}"#);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(l.ok_text(&["keys"]), "db.pw\n", "nothing was imported");
    let out = l.run_stdin(&["putall", "-"], br#"{"c": ""}"#);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    l.put("db.pw", b"", &["--allow-empty"]);
    assert_eq!(l.ok_text(&["get", "db.pw"]), "\n");
}

/// U3: `-f yaml` reads back as the same strings in PyYAML (YAML 1.1) for the
/// review's values, as keys and as values.
#[test]
fn u3_yaml_is_safe_for_yaml_1_1_readers() {
    let Some(venv) = common::venv() else { return };
    let l = Local::new();
    let values = [
        "yes",
        "on",
        "no",
        "off",
        "Yes",
        "NO",
        "2001-12-14",
        "12:30:45",
        "1:20",
        "1_000",
        "<<",
        "=",
    ];
    for v in values {
        l.put(&format!("k.{v}"), v.as_bytes(), &[]);
        l.put(v, b"plain", &[]);
    }
    let yaml = l.path().join("out.yaml");
    std::fs::write(&yaml, l.ok(&["export", "-f", "yaml"])).unwrap();
    let out = Command::new(venv.join("bin").join("python"))
        .args([
            "-c",
            "import json, sys, yaml\nd = yaml.safe_load(open(sys.argv[1]))\n\
             print(json.dumps({str(k): [type(k).__name__, type(v).__name__, str(v)] for k, v in d.items()}))",
        ])
        .arg(&yaml)
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got: BTreeMap<String, (String, String, String)> =
        serde_json::from_slice(&out.stdout).unwrap();
    for v in values {
        let key = format!("k.{v}");
        assert_eq!(got[&key], ("str".into(), "str".into(), v.to_owned()), "{v}");
        assert_eq!(got[v], ("str".into(), "str".into(), "plain".into()), "{v}");
    }
}

/// U4: the binary-value hint does not corrupt the file, and `get --out FILE`
/// writes the exact bytes, mode 0600, refusing to overwrite unless --force.
#[test]
fn u4_binary_values_go_to_a_private_file_exactly() {
    use std::os::unix::fs::PermissionsExt as _;
    let l = Local::new();
    let bytes = [0u8, 0xff, 0xfe, b'\n', 7];
    l.put("tls.key", &bytes, &[]);
    let out = l.run(&["export"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("lockbox get tls.key --out FILE") && !stderr(&out).contains("> FILE"),
        "{}",
        stderr(&out)
    );
    let file = l.path().join("tls.key");
    let path = file.display().to_string();
    l.ok(&["get", "tls.key", "--out", &path]);
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = l.run(&["get", "tls.key", "--out", &path]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    l.ok(&["get", "tls.key", "--out", &path, "--force"]);
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
}

/// U5: `put NAME -` typed at a terminal is not echoed and stores no newline;
/// E1: `prune` asks like `delete`.
#[test]
fn u5_e1_terminal_put_and_prune_confirmation() {
    let l = Local::new();
    let Some((code, screen)) = common::on_terminal(&l, "put tty.stdin -", &["abc", "abc"]) else {
        return;
    };
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("abc"), "echoed: {screen}");
    assert_eq!(l.ok(&["get", "-n", "tty.stdin"]), b"abc");
    for v in ["1", "2", "3"] {
        l.put("pr.x", v.as_bytes(), &[]);
    }
    let (code, screen) = common::on_terminal(&l, "prune pr.x --keep 1", &["n"]).unwrap();
    assert_eq!(code, 1, "{screen}");
    assert!(
        screen.contains("Delete 2 of 3 versions of pr.x"),
        "{screen}"
    );
    assert_eq!(l.ok_text(&["history", "pr.x"]).lines().count(), 3);
    l.ok(&["prune", "pr.x", "--keep", "1", "--yes"]);
    assert_eq!(l.ok_text(&["history", "pr.x"]).lines().count(), 1);
}

/// U6: a wrong region is reported as such (the key lives elsewhere), not as an
/// encryption-context mismatch.
#[test]
fn u6_wrong_region_is_not_a_context_error() {
    let l = Local::new();
    l.put("svc/token", b"t", &[]);
    // Tables are per region, as in AWS: eu-west-1 gets an empty one, and says so.
    let out = l.run(&["-r", "eu-west-1", "get", "svc/token"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("encryption context does not match"), "{err}");
    assert!(
        err.contains("created table credential-store in eu-west-1")
            && err.contains("holds none of us-east-1's secrets"),
        "{err}"
    );
    // KMS called in another region than the table's key (--kms-region): the key's
    // region is named, not the context.
    let r = Remote::start();
    assert!(r.run(&["setup"], b"").status.success());
    assert!(r.run(&["put", "svc/token", "-"], b"t").status.success());
    // alias/credstash exists in eu-west-1 too, naming a key of its own.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kms = lockbox_testkit::aws::kms_client_in(&r.endpoint, "eu-west-1");
        let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
        kms.create_alias()
            .alias_name("alias/credstash")
            .target_key_id(key.key_id)
            .send()
            .await
            .unwrap();
    });
    let out = r.run(&["--kms-region", "eu-west-1", "get", "svc/token"], b"");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(!err.contains("encryption context does not match"), "{err}");
    assert!(
        err.contains("the table's KMS key is in region us-east-1")
            && err.contains("--kms-region us-east-1"),
        "{err}"
    );
}

/// U7: a refused signature or an expired token points at the credentials, not
/// at IAM policies.
#[test]
fn u7_bad_credentials_get_a_credentials_hint() {
    let r = Remote::start();
    r.run(&["setup"], b"");
    let rule = serde_json::json!({"target": "*", "error": "ExpiredTokenException"});
    let (status, body) = http(&r.endpoint, "/_mock/faults", None, &rule.to_string());
    assert_eq!(status, 201, "{body}");
    let out = r.run(&["get", "x"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("credentials are wrong or expired") && !stderr(&out).contains("IAM"),
        "{}",
        stderr(&out)
    );
}

/// U8: hints repeat the flags in use and suggest the closest names.
#[test]
fn u8_hints_carry_the_flags_and_the_closest_names() {
    let l = Local::new();
    l.ok(&["-t", "cs-table", "setup"]);
    l.put("db.password", b"x", &["-t", "cs-table"]);
    l.put("/prod/app/x", b"x", &["-t", "cs-table"]);
    for (typo, meant) in [
        ("db.pasword", "db.password"),
        ("DB.PASSWORD", "db.password"),
        ("prod/app/x", "/prod/app/x"),
    ] {
        let out = l.run(&["-t", "cs-table", "get", typo]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("did you mean `{meant}`?")), "{err}");
        let flags = format!("`lockbox --local={} -t cs-table keys`", l.state().display());
        assert!(err.contains(&flags), "{err}");
    }
}

/// Waits (up to a minute) until `done` holds; the bound only stops a hung test.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("gave up waiting for {what}");
}

/// U9: several `--local` commands at once against one state directory all
/// succeed, and while an `exec --watch` runs on it a rotation goes through at
/// once and reaches the supervised command.
#[test]
fn u9_local_state_serves_several_processes_at_once() {
    let l = Local::new();
    l.put("prod/api/token", b"tok1", &[]);
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut args = vec!["get", "prod/api/token"];
            if i % 2 == 1 {
                // Writers too: each stores a version of its own.
                args = vec!["put", "prod/api/other", "-"];
            }
            let mut child = l
                .cmd(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"x").unwrap();
            (args[0], child)
        })
        .collect();
    for (command, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{command}: {}", stderr(&out));
        if command == "get" {
            assert_eq!(out.stdout, b"tok1\n");
        }
    }
    let history = l.ok_text(&["history", "prod/api/other"]);
    assert_eq!(history.lines().count(), 2, "both writes kept: {history}");

    // A supervised command holding its secret: the store stays usable, so a
    // rotation can be tried while it runs.
    let seen = l.path().join("seen");
    let script = format!("echo \"$T\" >> {}; exec sleep 60", seen.display());
    let mut watch = l
        .cmd(&[
            "exec",
            "--watch",
            "300ms",
            "--env",
            "T=prod/api/token",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ])
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    wait_for("the supervised command", || read(&seen) == "tok1\n");
    let out = l.run_stdin(&["put", "prod/api/token", "-"], b"tok2");
    let rotated = out.status.success();
    if rotated {
        wait_for("the restart with the new value", || {
            read(&seen) == "tok1\ntok2\n"
        });
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        rotated,
        "the state is locked while exec runs: {}",
        stderr(&out)
    );
    assert_eq!(l.ok_text(&["get", "prod/api/token"]), "tok2\n");
}

/// U9: a state directory held by a standalone emulator is refused in
/// `--local`'s words, not the emulator's `--data-dir`.
#[test]
fn u9_a_directory_held_by_lockbox_mock_names_local() {
    let l = Local::new();
    l.put("x", b"1", &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder().data_dir(l.state()),
        ))
        .unwrap();
    let out = l.run(&["get", "x"]);
    rt.block_on(mock.shutdown());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("held by a lockbox-mock server"), "{err}");
    assert!(
        err.contains("--local=DIR") && !err.contains("--data-dir"),
        "{err}"
    );
}

/// U10: the first run without AWS shows lockbox's one error, not the AWS SDK's
/// warnings.
#[test]
fn u10_no_sdk_warnings_without_aws() {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(common::bin());
    c.env_clear()
        .env("HOME", home.path())
        // Instance metadata at a closed loopback port: refused at once.
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .current_dir(home.path())
        .args(["--endpoint-url", "http://127.0.0.1:9", "get", "foo"]);
    let out = run_with_stdin(&mut c, b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("WARN"), "{err}");
    assert!(err.starts_with("lockbox: error:"), "{err}");
    // Not only the last provider's (instance metadata's) error.
    assert!(
        err.contains("no usable AWS credentials: none found (tried: the environment"),
        "{err}"
    );
}

/// U12: `-o json` is honoured with `-f`, has one indentation, one shape for
/// `import`'s lists, and errors are JSON.
#[test]
fn u12_json_output_is_one_contract() {
    let l = Local::new();
    l.put("a", b"1", &[]);
    let out = l.run(&["-o", "json", "getall", "-f", "yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["class"], "usage");
    let map = l.ok_text(&["-o", "json", "getall"]);
    assert_eq!(
        map, "{\n  \"a\": \"1\"\n}\n",
        "2-space indent, as every document"
    );
    let doc: serde_json::Value = serde_json::from_slice(
        &l.run_stdin(
            &["-o", "json", "import", "-", "-f", "json"],
            br#"{"a": "1"}"#,
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(
        doc["unchanged"],
        serde_json::json!([{"name": "a", "version": 1}])
    );
    let out = l.run(&["-o", "json", "get", "missing"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], 3);
    assert_eq!(doc["error"]["class"], "not_found");
    let doc: serde_json::Value = serde_json::from_slice(&l.ok(&["-o", "json", "setup"])).unwrap();
    assert_eq!(doc["format"], "sealed", "setup always reports the mode");
}

/// U13: `lockbox man` is the whole manual, and the pages it names exist.
#[test]
fn u13_man_pages_exist() {
    let l = Local::new();
    let page = l.ok_text(&["man"]);
    assert!(page.contains("LOCKBOX EXEC") && page.contains("EXIT STATUS"));
    assert!(page.contains("LOCKBOX_LOG"));
    let dir = l.path().join("man");
    l.ok(&["man", "--dir", &dir.display().to_string()]);
    let top = std::fs::read_to_string(dir.join("lockbox.1")).unwrap();
    for named in top
        .split(|c: char| c.is_whitespace() || c == '\\' || c == '(')
        .filter(|w| w.starts_with("lockbox\\-") || w.starts_with("lockbox-"))
    {
        let file = format!(
            "{}.1",
            named.replace("\\-", "-").trim_end_matches(['(', '1', ')'])
        );
        assert!(dir.join(&file).is_file(), "{file} is named but missing");
    }
    assert!(dir.join("lockbox-exec.1").is_file());
}

/// U14: `policy` uses the configured region and refuses a malformed account.
#[test]
fn u14_policy_takes_the_configured_region() {
    let home = tempfile::tempdir().unwrap();
    let out = run_with_stdin(
        common::bare(home.path())
            .env("AWS_REGION", "eu-west-1")
            .args(["policy", "reader", "x/*", "--account", "123456789012"]),
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text(&out).contains("arn:aws:dynamodb:eu-west-1:123456789012:table/credential-store"));
    let out = run_with_stdin(
        common::bare(home.path()).args(["policy", "reader", "x/*", "--account", "12"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run_with_stdin(
        common::bare(home.path()).args(["policy", "reader", "x/*"]),
        b"",
    );
    assert!(
        stderr(&out).contains("placeholder account"),
        "{}",
        stderr(&out)
    );
}

/// U15: a wildcard that matches nothing is "not found".
#[test]
fn u15_empty_wildcard_is_not_found() {
    let l = Local::new();
    l.put("/prod/app/x", b"x", &[]);
    let out = l.run(&["get", "prod/app/*", "-f", "env"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

/// U16: `setup --compat credstash` on a sealed table is refused, not "nothing
/// changed" with exit 0.
#[test]
fn u16_setup_reports_a_mode_mismatch() {
    let l = Local::new();
    l.ok(&["setup"]);
    let out = l.run(&["setup", "--compat", "credstash"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("records mode sealed"),
        "{}",
        stderr(&out)
    );
}

/// U19: `--local` in a subdirectory uses the project's `.lockbox`, and a typo in
/// `-t` does not create a table.
#[test]
fn u19_local_finds_the_project_state_from_a_subdirectory() {
    let l = Local::new();
    let project = l.path();
    let out = run_with_stdin(
        common::bare(project).args(["--local", "put", "prod/api/token", "-"]),
        b"tok",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sub = project.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let mut c = common::bare(project);
    c.current_dir(&sub)
        .args(["--local", "get", "prod/api/token"]);
    let out = run_with_stdin(&mut c, b"");
    assert_eq!(out.stdout, b"tok\n", "{}", stderr(&out));
    assert!(!sub.join(".lockbox").exists(), "a second, empty store");
    let mut c = common::bare(project);
    c.current_dir(&sub)
        .args(["--local", "-t", "typo", "get", "prod/api/token"]);
    let out = run_with_stdin(&mut c, b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("table typo does not exist"),
        "{}",
        stderr(&out)
    );
}

/// The review's put -d note: credstash's format is refused in a sealed table.
#[test]
fn put_digest_into_a_sealed_table_is_refused() {
    let l = Local::new();
    let out = l.run_stdin(&["put", "x", "-", "-d", "SHA256"], b"v");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// B3, B6, B7: exit codes follow CLI.md's table.
#[test]
fn b3_b6_b7_usage_errors_are_exit_2() {
    let l = Local::new();
    let out = l.run(&["put", "x", "@missing-file"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let big = l.path().join("big");
    std::fs::write(&big, vec![b'x'; 500_000]).unwrap();
    let out = l.run(&["put", "x", &format!("@{}", big.display())]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("400 KB"), "{}", stderr(&out));
    // B3: --prompt with no terminal.
    let out = l.run(&["put", "x", "--prompt"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // B7: a manifest that cannot be read.
    let out = l.run(&["exec", "--manifest", "missing.toml", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--manifest"), "{}", stderr(&out));
}

/// B5, D1, F2, F3, H3 and chamber's `find`: what chamber users reach for.
#[test]
fn chamber_habits() {
    use std::os::unix::fs::PermissionsExt as _;
    let l = Local::new();
    for (n, v) in [
        ("staging/db", "s1"),
        ("staging/api", "s2"),
        ("staging2/db", "x"),
        ("prod/db", "p"),
    ] {
        l.put(n, v.as_bytes(), &[]);
    }
    // B5: put --skip-unchanged.
    let out = l.ok_text(&["put", "prod/db", "p", "--skip-unchanged"]);
    assert!(out.contains("unchanged at version 1"), "{out}");
    // D1: list and keys take a filter.
    assert_eq!(l.ok_text(&["keys", "staging"]), "staging/api\nstaging/db\n");
    assert_eq!(l.ok_text(&["list", "staging/*"]).lines().count(), 2);
    // find, by name and by value (stdin).
    assert_eq!(
        l.ok_text(&["find", "DB"]),
        "prod/db\nstaging/db\nstaging2/db\n"
    );
    let out = l.run_stdin(&["find", "--by-value"], b"s2");
    assert_eq!(text(&out), "staging/api\n", "{}", stderr(&out));
    // F3: export --out, 0600.
    let file = l.path().join("app.json");
    l.ok(&["export", "--out", &file.display().to_string()]);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // F2: import --prefix and .env input.
    let env = l.path().join("app.env");
    std::fs::write(&env, "# app\nexport A=1\nB='single $x'\nC=\"x $HOME\\n\"\n").unwrap();
    l.ok(&["import", &env.display().to_string(), "--prefix", "imp/"]);
    assert_eq!(l.ok_text(&["get", "imp/A"]), "1\n");
    assert_eq!(l.ok_text(&["get", "-n", "imp/C"]), "x $HOME\n");
    // H3: chamber's `exec SERVICE -- CMD`.
    let out = l.run(&["exec", "staging", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--prefix staging"),
        "{}",
        stderr(&out)
    );
}

/// A6: `--local` says which AWS flags it ignores, rather than ignoring them
/// without a word.
#[test]
fn a6_local_names_the_flags_it_ignores() {
    let l = Local::new();
    l.put("x", b"1", &[]);
    let out = l.run(&["--profile", "prod", "--kms-region", "eu-west-1", "get", "x"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--local ignores --profile, --kms-region"),
        "{}",
        stderr(&out)
    );
    let out = l.run(&["get", "x"]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// H7: `exec` with nothing declared says so instead of running without a word.
#[test]
fn h7_exec_without_declarations_warns() {
    let l = Local::new();
    let out = l
        .cmd(&["exec", "--", "true"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no secrets declared"),
        "{}",
        stderr(&out)
    );
}

/// H8, I3, J3: the help says a bare duration is seconds and what each policy
/// role may do; completions offer credstash's `getall`.
#[test]
fn h8_i3_j3_help_and_completions() {
    let l = Local::new();
    // Help text wraps at the terminal's width: compare word by word.
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let exec_help = flat(&l.ok_text(&["exec", "--help"]));
    assert!(
        exec_help.contains("a bare number is seconds"),
        "{exec_help}"
    );
    let policy_help = flat(&l.ok_text(&["policy", "--help"]));
    for want in [
        "GetItem",
        "DescribeTable",
        "no rollback, delete, prune",
        "Scan",
    ] {
        assert!(policy_help.contains(want), "{want}: {policy_help}");
    }
    let bash = l.ok_text(&["completions", "bash"]);
    assert!(bash.contains("getall"), "getall is not completed");
}

/// F2: a CSV header row is no secret, and a file that names a secret twice
/// (JSON keys, CSV rows) is refused rather than the last one kept.
#[test]
fn f2_import_header_rows_and_names_set_twice() {
    let l = Local::new();
    let out = l.run_stdin(&["import", "-", "-f", "csv"], b"name,value\na,b\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(l.ok_text(&["keys"]), "a\n");
    let out = l.run_stdin(
        &["import", "-"],
        br#"{"dup": "s3cret-1", "dup": "s3cret-2"}"#,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("dup is set twice"), "{err}");
    assert!(!err.contains("s3cret"), "a value in the error: {err}");
    let out = l.run_stdin(&["import", "-", "-f", "csv"], b"c,1\nc,2\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("row 2: c is set twice"),
        "{}",
        stderr(&out)
    );
    assert_eq!(l.ok_text(&["keys"]), "a\n", "nothing more was stored");
}

/// G2: exec's context mismatch says how to give the context, names the secret
/// once, and a comma-joined `--context` is pointed out; E2: a version typed
/// where a context pair goes says where versions go.
#[test]
fn g2_e2_context_and_version_hints() {
    let l = Local::new();
    l.put("ctx.s", b"v", &["env=prod", "team=core"]);
    let out = l
        .cmd(&[
            "exec",
            "--context",
            "env=prod,team=core",
            "--env",
            "DB=ctx.s",
            "--",
            "true",
        ])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("has a value with `,KEY=` in it"), "{err}");
    assert!(
        err.contains("hint: give the context the secrets were stored with: --context"),
        "{err}"
    );
    assert_eq!(err.matches("ctx.s").count(), 1, "the name once: {err}");
    let out = l.run(&["rollback", "ctx.s", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--to 1"), "{}", stderr(&out));
}

/// A2 / mistake 4: a KMS key that cannot be used gets the commands that fix it:
/// a missing alias is created, a disabled key enabled.
#[test]
fn a2_a_missing_or_disabled_key_gets_the_commands_that_fix_it() {
    let r = Remote::start();
    let out = r.run(&["-k", "alias/nope", "setup"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aws kms create-alias --alias-name alias/nope"),
        "{}",
        stderr(&out)
    );
    let (_, body) = http(
        &r.endpoint,
        "/",
        Some("TrentService.DescribeKey"),
        r#"{"KeyId":"alias/credstash"}"#,
    );
    let key: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = key["KeyMetadata"]["KeyId"].as_str().unwrap();
    r.run(&["setup"], b"");
    http(
        &r.endpoint,
        "/",
        Some("TrentService.DisableKey"),
        &format!(r#"{{"KeyId":"{id}"}}"#),
    );
    let out = r.run(&["put", "x", "-"], b"v");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aws kms enable-key"),
        "{}",
        stderr(&out)
    );
}

/// H6: under `exec --watch -v`, a poll that finds nothing new is logged at
/// debug, so info shows what changed, not every unchanged poll.
#[test]
fn h6_unchanged_polls_are_debug() {
    use std::io::BufRead as _;
    let l = Local::new();
    l.put("w", b"1", &[]);
    let mut child = l
        .cmd(&[
            "exec", "-vv", "--watch", "200ms", "--env", "T=w", "--", "sleep", "60",
        ])
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let log = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
    wait_for("an unchanged poll", || {
        log.lock()
            .unwrap()
            .contains("DEBUG $T <- w version 1 from us-east-1 (unchanged)")
    });
    // SIGTERM: the supervisor stops its command, then exits.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    reader.join().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.matches("INFO $T <- w version 1").count(), 1, "{log}");
}

/// H5: a table that does not exist is said once, not counted against every
/// declaration (which were never tried).
#[test]
fn h5_a_missing_table_is_said_once() {
    let l = Local::new();
    let out = l
        .cmd(&[
            "-t", "nosuch", "exec", "--env", "A=x", "--env", "B=y", "--prefix", "p/", "--", "true",
        ])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("true was not started: table nosuch does not exist"),
        "{err}"
    );
    assert!(!err.contains("secrets could not be read"), "{err}");
}

/// H7's manifest half and the JSON section's LOCKBOX_OUTPUT: a manifest's
/// `prefix` may be one string, and LOCKBOX_OUTPUT=json asks for JSON as -o does.
#[test]
fn h7_manifest_prefix_string_and_lockbox_output() {
    let l = Local::new();
    l.put("prod/app/db.user", b"admin", &[]);
    let manifest = l.path().join("m.toml");
    std::fs::write(&manifest, "prefix = \"prod/app\"\n").unwrap();
    let out = l
        .cmd(&[
            "exec",
            "--manifest",
            &manifest.display().to_string(),
            "--",
            "sh",
            "-c",
            "echo \"$DB_USER\"",
        ])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(text(&out), "admin\n");
    let out = l
        .cmd(&["get", "prod/app/db.user"])
        .env("LOCKBOX_OUTPUT", "json")
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["value"], "admin");
}

/// D2: `list -l` is a table for people: a header, the version as a number,
/// columns aligned; the default lines stay credstash's.
#[test]
fn d2_list_long_is_a_table() {
    let l = Local::new();
    l.put("a", b"1", &["-c", "first"]);
    l.put("a-much-longer-name", b"2", &[]);
    let out = l.ok_text(&["list", "-l"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("NAME                VERSION  CREATED"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("a                   1        20"),
        "{out}"
    );
    assert!(lines[1].ends_with("sealed  first"), "{out}");
    assert!(l
        .ok_text(&["list"])
        .contains("-- version 0000000000000000001"));
}

/// J2: an item under a key this reader does not trust gets a hint naming the
/// option that trusts a key (the message's "trusted keys" exist as --trust-key).
#[test]
fn j2_an_untrusted_key_names_trust_key() {
    let r = Remote::start();
    create_key(&r.endpoint, "alias/other");
    // A table lockbox did not create: no key pin, so a writer may use any key.
    let (status, body) = http(
        &r.endpoint,
        "/",
        Some("DynamoDB_20120810.CreateTable"),
        r#"{"TableName": "bare", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"},
                          {"AttributeName": "version", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"},
                                     {"AttributeName": "version", "AttributeType": "S"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let out = r.run(&["-t", "bare", "-k", "alias/other", "put", "u", "-"], b"v");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = r.run(&["-t", "bare", "get", "u"], b"");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--trust-key"), "{}", stderr(&out));
    let out = r.run(
        &["-t", "bare", "--trust-key", "alias/other", "get", "u"],
        b"",
    );
    assert_eq!(text(&out), "v\n", "{}", stderr(&out));
}

/// U19 and A6: new local state is said when it is created (once), and so is a
/// key `-r` makes in another region.
#[test]
fn u19_a6_new_local_state_and_regional_keys_are_said() {
    let l = Local::new();
    let out = l.run(&["keys"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "note: created new local state in {}",
            l.state().display()
        )),
        "{}",
        stderr(&out)
    );
    let out = l.run(&["keys"]);
    assert!(stderr(&out).is_empty(), "said again: {}", stderr(&out));
    let out = l.run(&["-r", "eu-west-1", "keys"]);
    assert!(
        stderr(&out).contains("created KMS key alias/credstash in eu-west-1"),
        "{}",
        stderr(&out)
    );
    let out = l.run(&["-r", "eu-west-1", "keys"]);
    assert!(stderr(&out).is_empty(), "said again: {}", stderr(&out));
}

/// A value typed after the name with --prompt (where context goes) is refused
/// without being repeated, by put and by rotate start.
#[test]
fn a_value_typed_where_prompt_context_goes_is_not_repeated() {
    let l = Local::new();
    for args in [
        &["put", "p.x", "s3cret-typed-here", "--prompt"][..],
        &["rotate", "start", "p.x", "s3cret-typed-here", "--prompt"][..],
    ] {
        let out = l.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(text.contains("encryption context"), "{args:?}: {text}");
        assert!(!text.contains("s3cret-typed-here"), "{args:?}: {text}");
    }
}
