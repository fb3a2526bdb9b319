//! Version labels, staged rotation and JSON fields end to end against the
//! emulator: a JSON secret read field by field through `get` and every `exec`
//! input, `--env-json` fan-out, `label`, `rotate`, `rollback` with labels, two
//! operators moving one label at once, `pending` never read un-pinned (and
//! `exec --watch` following `rotate finish`), and names holding `@` and `#`.

use crate::common;

use common::{env_map, run_with_stdin, spawn, stderr, term, wait_exit, wait_for, Remote};

impl Remote {
    fn fails(&self, args: &[&str], stdin: &[u8], code: i32) -> String {
        let out = self.run(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: stdout {:?}, stderr {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        stderr(&out)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        self.json_stdin(args, b"")
    }

    fn json_stdin(&self, args: &[&str], stdin: &[u8]) -> serde_json::Value {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.ok(&full, stdin)).expect("one JSON document")
    }
}

const DB: &str = r#"{
  "host": "db.internal", "port": 5432, "user": "app",
  "password": "p\"w \u00e9",
  "opts": {"ssl": true, "mode": "verify-full"},
  "a/b": "slash",
  "tags": [1, "two"]
}"#;

#[test]
fn a_json_secret_is_read_field_by_field_through_get_and_every_exec_input() {
    let r = Remote::set_up();
    r.put("prod/db", DB, &["--json"]);
    for (args, want) in [
        (&["get", "lockbox://prod/db#/user"][..], "app\n"),
        (&["get", "prod/db", "--field", "/port"], "5432\n"),
        (&["get", "-n", "prod/db", "--field", "/password"], "p\"w é"),
        (
            &["get", "lockbox://prod/db@1#/opts"],
            "{\"ssl\":true,\"mode\":\"verify-full\"}\n",
        ),
        (&["get", "lockbox://prod/db#/a~1b"], "slash\n"),
        (&["get", "lockbox://prod/db#/a%7E1b"], "slash\n"),
        (&["get", "lockbox://prod/db#/tags/1"], "two\n"),
        (
            &["get", "prod/db", "--label", "current", "--field", "/user"],
            "app\n",
        ),
    ] {
        assert_eq!(r.ok(args, b""), want, "{args:?}");
    }
    assert_eq!(
        r.json(&["get", "lockbox://prod/db#/user"]),
        serde_json::json!({"field": "/user", "label": null, "name": "prod/db",
                           "value": "app", "version": 1,
                           "region": "us-east-1", "kms_region": "us-east-1"})
    );
    // A version or field given twice is refused.
    r.fails(
        &["get", "lockbox://prod/db#/user", "--field", "/host"],
        b"",
        2,
    );
    r.fails(
        &["get", "lockbox://prod/db@1", "--label", "current"],
        b"",
        2,
    );
    r.fails(&["get", "prod/*", "--field", "/user"], b"", 2);

    // Every exec input: --env, an inherited reference, --file, the manifest,
    // and the explicit fan-out.
    let shm = common::shm_dir();
    let file = shm.path().join("port");
    let manifest = r.home().join("lockbox.toml");
    std::fs::write(
        &manifest,
        "refs = [\"R\"]\n[env]\nH = \"prod/db#/host\"\n[env_json]\nM_ = \"prod/db#/opts\"\n",
    )
    .unwrap();
    let file_decl = format!("{}=prod/db#/port", file.display());
    let script = format!("env; echo FILE=$(cat {})", file.display());
    let out = r.run(
        &[
            "exec",
            "--manifest",
            manifest.to_str().unwrap(),
            "--env",
            "P=prod/db#/password",
            "--env",
            "U=lockbox://prod/db@current#/user",
            "--file",
            &file_decl,
            "--env-json",
            "DB_=prod/db",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let env = env_map(&out.stdout);
    for (var, want) in [
        ("P", "p\"w é"),
        ("U", "app"),
        ("H", "db.internal"),
        ("M_SSL", "true"),
        ("M_MODE", "verify-full"),
        ("FILE", "5432"),
        ("DB_HOST", "db.internal"),
        ("DB_PORT", "5432"),
        ("DB_USER", "app"),
        ("DB_PASSWORD", "p\"w é"),
        ("DB_OPTS_SSL", "true"),
        ("DB_OPTS_MODE", "verify-full"),
        ("DB_A_B", "slash"),
        ("DB_TAGS", "[1,\"two\"]"),
    ] {
        assert_eq!(env.get(var).map(String::as_str), Some(want), "${var}");
    }
    assert!(!env.contains_key("R"), "R was not set, so it stays unset");
    assert!(!file.exists(), "the file is removed when the command exits");

    // An inherited reference, resolved because --env-ref names it.
    let out = run_with_stdin(
        r.cmd(&[
            "exec",
            "--env-ref",
            "R",
            "--",
            "/bin/sh",
            "-c",
            "echo \"$R\"",
        ])
        .env("R", "lockbox://prod/db#/user"),
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "app\n");
}

#[test]
fn put_json_checks_the_value_and_stores_nothing_that_is_not_json() {
    let r = Remote::set_up();
    let err = r.fails(&["put", "cfg", "-", "--json"], b"{\"a\": 1,", 2);
    assert!(
        err.contains("not JSON") && err.contains("nothing was stored"),
        "{err}"
    );
    r.fails(&["put", "cfg", "-", "--json"], b"\xff\xfe", 2);
    r.fails(&["get", "cfg"], b"", 3);
    r.ok(&["put", "cfg", "-", "--json"], b"[1, 2]");
    assert_eq!(r.ok(&["get", "cfg"], b""), "[1, 2]\n");
}

#[test]
fn labels_are_set_moved_listed_and_removed_and_rollback_moves_current_back() {
    let r = Remote::set_up();
    for v in ["one", "two", "three"] {
        r.put("app/key", v, &[]);
    }
    assert_eq!(
        r.ok(&["label", "app/key"], b""),
        "app/key has no labels: un-pinned reads get its highest version\n"
    );
    let set = r.json(&["label", "app/key", "stable=1"]);
    assert_eq!(set["changed"], true);
    // The first label records where `current` is: the highest version.
    assert_eq!(
        set["labels"],
        serde_json::json!({"current": 3, "stable": 1})
    );
    assert_eq!(
        set["moved"],
        serde_json::json!([
            {"from": null, "label": "current", "to": 3},
            {"from": null, "label": "stable", "to": 1}
        ])
    );
    // Again: nothing to do, and it says so.
    let again = r.ok(&["label", "app/key", "stable=1"], b"");
    assert!(again.contains("nothing changed"), "{again}");
    assert_eq!(r.json(&["label", "app/key", "stable=1"])["changed"], false);
    assert_eq!(r.ok(&["label", "app/key", "stable"], b""), "1\n");
    assert_eq!(r.ok(&["get", "app/key", "--label", "stable"], b""), "one\n");
    assert_eq!(r.ok(&["get", "lockbox://app/key@stable"], b""), "one\n");

    // current moves; previous follows; un-pinned reads follow current.
    r.ok(&["label", "app/key", "current=3"], b"");
    let moved = r.json(&["label", "app/key", "current=2"]);
    assert_eq!(
        moved["labels"],
        serde_json::json!({"current": 2, "previous": 3, "stable": 1})
    );
    assert_eq!(r.ok(&["get", "app/key"], b""), "two\n");
    let history = r.json(&["history", "app/key"]);
    let labels: Vec<&serde_json::Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["labels"])
        .collect();
    assert_eq!(
        labels,
        [
            &serde_json::json!(["stable"]),
            &serde_json::json!(["current"]),
            &serde_json::json!(["previous"])
        ]
    );
    let list = r.ok(&["list"], b"");
    assert!(list.contains("-- labels current\n"), "{list}");

    // rollback: current back to previous, no version written.
    let back = r.json(&["rollback", "app/key"]);
    assert_eq!(back["new_version"], false);
    assert_eq!(back["version"], 3);
    assert_eq!(r.ok(&["get", "app/key"], b""), "three\n");
    assert_eq!(r.json(&["history", "app/key"]).as_array().unwrap().len(), 3);
    // --to N still writes a new version.
    let to = r.json(&["rollback", "app/key", "--to", "1"]);
    assert_eq!(
        (to["new_version"].clone(), to["version"].clone()),
        (true.into(), 4.into())
    );

    // Conditions, removal, and what cannot be done.
    let err = r.fails(&["label", "app/key", "stable=2", "--from", "3"], b"", 8);
    assert!(err.contains("nothing was changed"), "{err}");
    r.ok(&["label", "app/key", "stable=2", "--from", "1"], b"");
    r.ok(&["label", "app/key", "stable", "--remove"], b"");
    r.fails(&["label", "app/key", "stable"], b"", 3);
    r.fails(&["label", "app/key", "current", "--remove"], b"", 2);
    r.fails(&["label", "app/key", "stable=9"], b"", 3);
    r.fails(&["label", "app/key", "Current=1"], b"", 2);
    r.fails(&["label", "nothing/here"], b"", 3);
}

#[test]
fn two_operators_moving_one_label_at_once_exactly_one_wins() {
    let r = Remote::set_up();
    for v in ["one", "two", "three"] {
        r.put("app/key", v, &[]);
    }
    for round in 0..4 {
        r.ok(&["label", "app/key", "stable=1"], b"");
        // Both read the label on version 1 and move it only from there.
        let mut a = spawn(r.cmd(&["label", "app/key", "stable=2", "--from", "1"]));
        let mut b = spawn(r.cmd(&["label", "app/key", "stable=3", "--from", "1"]));
        let (sa, sb) = (wait_exit(&mut a, 60), wait_exit(&mut b, 60));
        let mut codes = [sa.code(), sb.code()];
        codes.sort();
        assert_eq!(codes, [Some(0), Some(8)], "round {round}");
        let (winner, loser) = if sa.success() {
            (2, &mut b)
        } else {
            (3, &mut a)
        };
        let mut err = String::new();
        std::io::Read::read_to_string(loser.0.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(
            err.contains("label stable") && err.contains("nothing was changed"),
            "round {round}: {err}"
        );
        // The label names the winner's version, which exists.
        assert_eq!(
            r.ok(&["label", "app/key", "stable"], b""),
            format!("{winner}\n")
        );
        let value = r.ok(&["get", "app/key", "--label", "stable"], b"");
        assert_eq!(value, if winner == 2 { "two\n" } else { "three\n" });
    }
}

#[test]
fn pending_is_never_read_unpinned_until_rotate_finish_and_watch_restarts_the_child() {
    let r = Remote::set_up();
    r.put("app/key", "v1", &[]);
    r.put("app/other", "o1", &[]);
    let seen = r.home().join("seen");
    let script = format!("echo \"$K $O\" >> {}; exec sleep 60", seen.display());
    let mut g = spawn(r.cmd(&[
        "exec",
        "-vv",
        "--watch",
        "200ms",
        "--env",
        "K=app/key",
        "--env",
        "O=app/other",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]));
    let lines = |want: &str| std::fs::read_to_string(&seen).is_ok_and(|s| s == want);
    wait_for(30, "the child", || lines("v1 o1\n"));

    let started = r.json_stdin(
        &["rotate", "start", "app/key", "-", "--token", "t-1"],
        b"v2",
    );
    assert_eq!(started["state"], "pending");
    assert_eq!(started["version"], 2);
    assert_eq!(started["changed"], true);
    // Started again with its token: nothing more.
    let again = r.ok(
        &["rotate", "start", "app/key", "-", "--token", "t-1"],
        b"v2",
    );
    assert!(again.contains("nothing changed"), "{again}");
    // Another rotation while this one is pending: a conflict.
    r.fails(
        &["rotate", "start", "app/key", "-", "--token", "t-2"],
        b"v3",
        8,
    );

    // Un-pinned reads: get, exec, getall, export all get current.
    assert_eq!(r.ok(&["get", "app/key"], b""), "v1\n");
    let out = r.run(
        &[
            "exec",
            "--env",
            "K=app/key",
            "--",
            "/bin/sh",
            "-c",
            "echo $K",
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1\n");
    let all: serde_json::Value =
        serde_json::from_str(&r.ok(&["getall", "-f", "json"], b"")).unwrap();
    assert_eq!(all["app/key"], "v1");
    // Pinned reads get pending.
    assert_eq!(r.ok(&["get", "app/key", "--label", "pending"], b""), "v2\n");
    assert_eq!(r.ok(&["get", "app/key", "-v", "2"], b""), "v2\n");

    // The watcher restarts for another secret and still hands over current.
    r.put("app/other", "o2", &[]);
    wait_for(30, "the restart for app/other", || lines("v1 o1\nv1 o2\n"));

    let finished = r.json(&["rotate", "finish", "app/key"]);
    assert_eq!(finished["changed"], true);
    assert_eq!(finished["state"], "finished");
    assert_eq!(finished["labels"]["current"], 2);
    assert_eq!(finished["labels"]["previous"], 1);
    assert_eq!(r.ok(&["get", "app/key"], b""), "v2\n");
    wait_for(30, "the restart for rotate finish", || {
        lines("v1 o1\nv1 o2\nv2 o2\n")
    });
    // Finishing twice is a no-op that says so.
    let twice = r.ok(&["rotate", "finish", "app/key"], b"");
    assert!(
        twice.contains("finished already") && twice.contains("nothing changed"),
        "{twice}"
    );
    assert_eq!(r.json(&["rotate", "finish", "app/key"])["changed"], false);
    term(&g);
    assert_eq!(wait_exit(&mut g, 20).code(), Some(143));
    assert!(std::fs::read_to_string(&seen).unwrap().ends_with("v2 o2\n"));

    // abort: pending dropped, current stays; twice says so.
    r.ok(
        &["rotate", "start", "app/key", "-", "--token", "t-3"],
        b"v3",
    );
    let aborted = r.json(&["rotate", "abort", "app/key"]);
    assert_eq!(
        (aborted["changed"].clone(), aborted["state"].clone()),
        (true.into(), "aborted".into())
    );
    assert_eq!(r.ok(&["get", "app/key"], b""), "v2\n");
    r.fails(&["get", "app/key", "--label", "pending"], b"", 3);
    let again = r.ok(&["rotate", "abort", "app/key"], b"");
    assert!(again.contains("nothing changed"), "{again}");
}

#[test]
fn names_holding_at_and_hash_stay_readable() {
    let r = Remote::set_up();
    r.put("deploy", "labelled", &[]);
    r.ok(&["label", "deploy", "stable=1"], b"");
    r.put("deploy@stable", "literal", &[]);
    r.put("a#b", "hash", &[]);
    r.put("user@example.com", "mail", &[]);
    // get: a name is a name; the scheme makes a reference.
    assert_eq!(r.ok(&["get", "deploy@stable"], b""), "literal\n");
    assert_eq!(r.ok(&["get", "lockbox://deploy@stable"], b""), "labelled\n");
    assert_eq!(
        r.ok(&["get", "lockbox://deploy%40stable"], b""),
        "literal\n"
    );
    assert_eq!(r.ok(&["get", "a#b"], b""), "hash\n");
    assert_eq!(r.ok(&["get", "lockbox://a%23b"], b""), "hash\n");
    assert_eq!(r.ok(&["get", "user@example.com"], b""), "mail\n");
    // A missing name that reads as a reference says how to write one.
    let err = r.fails(&["get", "deploy@prod"], b"", 3);
    assert!(err.contains("lockbox://deploy@prod"), "{err}");

    // exec: the existing secret of that name, with a warning; with the scheme,
    // the reference.
    let echo = |decl: &str| {
        let out = r.run(
            &["exec", "--env", decl, "--", "/bin/sh", "-c", "echo $X"],
            b"",
        );
        assert!(out.status.success(), "{decl}: {}", stderr(&out));
        let err = stderr(&out);
        (String::from_utf8(out.stdout).unwrap(), err)
    };
    let (value, err) = echo("X=deploy@stable");
    assert_eq!(value, "literal\n");
    assert!(
        err.contains("deploy%40stable") && err.contains("not as label stable of deploy"),
        "{err}"
    );
    assert_eq!(echo("X=lockbox://deploy@stable").0, "labelled\n");
    assert_eq!(echo("X=a#b").0, "hash\n");
    assert_eq!(echo("X=user@example.com").0, "mail\n");
    let (value, err) = echo("X=deploy@1");
    assert_eq!(value, "labelled\n");
    assert!(!err.contains("WARN"), "{err}");
}

#[test]
fn fan_out_collisions_and_bad_fields_start_nothing() {
    let r = Remote::set_up();
    r.put("prod/db", r#"{"user":"app","USER":"x"}"#, &[]);
    r.put("prod/svc", r#"{"host":"h","user":"u"}"#, &[]);
    r.put("prod/text", "not json", &[]);
    let marker = r.home().join("started");
    let script = format!("touch {}", marker.display());
    for (decls, code, words) in [
        (
            &["--env-json", "P_=prod/db"][..],
            2,
            "both become variable P_USER",
        ),
        (
            &["--env-json", "A_=prod/svc", "--env", "A_USER=prod/text"],
            2,
            "collision",
        ),
        (
            &["--env-json", "=prod/svc", "--env-json", "=prod/svc"],
            2,
            "collision",
        ),
        (&["--env-json", "T_=prod/text"], 3, "not JSON"),
        (&["--env", "X=prod/svc#/nope"], 3, "no member \"nope\""),
        (&["--env", "X=prod/text#/a"], 3, "not JSON"),
        (&["--env-json", "1X=prod/svc"], 2, "prefix"),
        (&["--env", "X=lockbox://prod/svc#nope"], 2, "JSON pointer"),
    ] {
        let mut args = vec!["exec"];
        args.extend_from_slice(decls);
        args.extend_from_slice(&["--", "/bin/sh", "-c", &script]);
        let err = r.fails(&args, b"", code);
        assert!(err.contains(words), "{decls:?}: {err}");
        assert!(!marker.exists(), "{decls:?} started the command");
    }
}

#[test]
fn setup_labels_readies_a_table_shared_with_credstash() {
    let r = Remote::set_up();
    r.ok(&["-t", "shared", "setup", "--compat", "credstash"], b"");
    r.ok(&["-t", "shared", "put", "a", "-"], b"one");
    r.ok(&["-t", "shared", "put", "a", "-"], b"two");
    // Without the companion table, labels say how to make it.
    let err = r.fails(&["-t", "shared", "label", "a", "stable=1"], b"", 2);
    assert!(err.contains("setup --labels"), "{err}");
    let setup = r.json(&["-t", "shared", "setup", "--labels"]);
    assert_eq!(
        setup["labels"],
        serde_json::json!({"created": true, "table": "shared.lockbox-labels"})
    );
    assert_eq!(setup["mode"], "credstash");
    let again = r.json(&["-t", "shared", "setup", "--labels"]);
    assert_eq!(again["labels"]["created"], false);
    r.ok(&["-t", "shared", "label", "a", "stable=1"], b"");
    let labels = r.json(&["-t", "shared", "label", "a"]);
    assert_eq!(labels["derived"], true);
    let list = r.ok(&["-t", "shared", "list"], b"");
    assert!(list.contains("-- labels previous, stable\n"), "{list}");
    assert!(list.contains("-- labels current\n"), "{list}");
    assert_eq!(
        labels["labels"],
        serde_json::json!({"current": 2, "previous": 1, "stable": 1})
    );
    // A sealed table needs no other table.
    let sealed = r.json(&["setup", "--labels"]);
    assert_eq!(
        sealed["labels"],
        serde_json::json!({"created": false, "table": null})
    );
}

#[test]
fn get_out_list_long_and_rotate_start_take_labels_and_fields_as_they_take_the_rest() {
    let r = Remote::set_up();
    r.put("db", r#"{"password":"pw"}"#, &[]);
    r.put("db", r#"{"password":"pw2"}"#, &[]);
    let out = r.home().join("pw");
    let path = out.to_str().unwrap();
    // --out: the field's bytes, no newline, never on stdout.
    assert_eq!(
        r.ok(&["get", "lockbox://db@1#/password", "--out", path], b""),
        ""
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "pw");
    let stored = r.json(&[
        "get",
        "db",
        "--field",
        "/password",
        "--out",
        path,
        "--force",
    ]);
    assert_eq!(stored, serde_json::json!({"name": "db", "version": 2}));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "pw2");
    // list -l: a LABELS column only once some version has labels.
    assert!(!r.ok(&["list", "-l"], b"").contains("LABELS"));
    r.ok(&["label", "db", "stable=1"], b"");
    let long = r.ok(&["list", "-l"], b"");
    let lines: Vec<&str> = long.lines().collect();
    assert!(lines[0].contains("FORMAT  LABELS  "), "{long}");
    assert!(lines[1].ends_with(" stable"), "{long}");
    assert!(lines[2].ends_with(" current"), "{long}");
    // rotate start refuses an empty value, as put does.
    let err = r.fails(&["rotate", "start", "db", "-"], b"", 2);
    assert!(err.contains("empty"), "{err}");
    r.fails(&["get", "db", "--label", "pending"], b"", 3);
}
