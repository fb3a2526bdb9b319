//! Parity with credstash 1.17.1 (from the venv `scripts/setup-python` builds): the
//! same scripted session through both tools against one emulator gives the same
//! values, and each reads the other's secrets.
//!
//! Then the whole of credstash 1.17.1's command line, as its own `-h` lists it:
//! every command and every flag, each run through both tools, so a credstash
//! invocation lockbox does not take fails this suite rather than a user's script.
//!
//! Runs when `LOCKBOX_TEST_VENV` names the venv; otherwise it says so and passes,
//! unless `LOCKBOX_REQUIRE_INTEROP=1` demands it.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{create_key, remote, run_with_stdin, stderr, venv};

/// Either tool, run against `endpoint` with a clean environment.
struct Tool<'a> {
    credstash: Option<&'a Path>,
    endpoint: &'a str,
    home: &'a Path,
    table: &'a str,
}

impl Tool<'_> {
    fn run(&self, args: &[&str]) -> Output {
        match self.credstash {
            Some(bin) => Command::new(bin)
                .arg("-t")
                .arg(self.table)
                .args(args)
                .env_clear()
                .env("HOME", self.home)
                .env("AWS_ENDPOINT_URL_KMS", self.endpoint)
                .env("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint)
                .env("AWS_ENDPOINT_URL_STS", self.endpoint)
                .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
                .env("AWS_SECRET_ACCESS_KEY", "test-secret")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .current_dir(self.home)
                .output()
                .expect("run credstash"),
            None => run_with_stdin(
                remote(self.home, self.endpoint, &["-t", self.table]).args(args),
                b"",
            ),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let who = if self.credstash.is_some() {
            "credstash"
        } else {
            "lockbox"
        };
        assert!(
            out.status.success(),
            "{who} {args:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }
}

/// The session a credstash user runs; returns what each step printed that a
/// script would read.
fn session(t: &Tool<'_>, setup: &[&str]) -> Vec<String> {
    let mut seen = Vec::new();
    t.ok(setup);
    t.ok(&["put", "db.password", "s3cret-1"]);
    t.ok(&["put", "-a", "db.password", "s3cret-2"]);
    t.ok(&["put", "-c", "api", "api.key", "é \"q\" a=b 'x'"]);
    t.ok(&[
        "put",
        "-k",
        "alias/credstash",
        "-d",
        "SHA512",
        "legacy",
        "digest",
    ]);
    // A version that exists is refused by both.
    assert!(!t
        .run(&["put", "-v", "1", "db.password", "x"])
        .status
        .success());
    seen.push(t.ok(&["get", "db.password"]));
    seen.push(t.ok(&["get", "-v", "1", "db.password"]));
    seen.push(t.ok(&["get", "-n", "api.key"]));
    seen.push(t.ok(&["getall", "-f", "json"]));
    seen.push(t.ok(&["get", "db.*", "-f", "json"]));
    seen.push(t.ok(&["keys"]));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_session_same_values_and_each_reads_the_other() {
    let Some(venv) = venv() else { return };
    let credstash_bin = venv.join("bin").join("credstash");
    let mock = lockbox_mock::start().await.unwrap();
    let endpoint = mock.endpoint_url();
    let home = tempfile::tempdir().unwrap();
    let (cs_out, lb_out, cs, lb) = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        let home = home.path().to_owned();
        move || {
            create_key(&endpoint, "alias/credstash");
            let cs = Tool {
                credstash: Some(&credstash_bin),
                endpoint: &endpoint,
                home: &home,
                table: "cs-table",
            };
            let lb = Tool {
                credstash: None,
                endpoint: &endpoint,
                home: &home,
                table: "lb-table",
            };
            let cs_out = session(&cs, &["setup"]);
            let lb_out = session(&lb, &["setup", "--compat", "credstash"]);

            // list: lockbox's line starts with credstash's and adds the format.
            let cs_list = cs.ok(&["list"]);
            let lb_list = lb.ok(&["list"]);
            assert_eq!(cs_list.lines().count(), lb_list.lines().count());
            for (c, l) in cs_list.lines().zip(lb_list.lines()) {
                assert!(l.starts_with(c.trim_end()), "{c:?} vs {l:?}");
                assert!(l.contains("-- format credstash"), "{l}");
            }
            assert!(cs_list.contains("-- comment api"), "{cs_list}");

            // Each reads the other's table.
            let cross = |reader: &Tool<'_>, table: &str| {
                let t = Tool { table, ..*reader };
                (
                    t.ok(&["get", "api.key"]),
                    t.ok(&["get", "legacy"]),
                    t.ok(&["getall", "-f", "json"]),
                )
            };
            let from_cs = cross(&lb, "cs-table");
            let from_lb = cross(&cs, "lb-table");
            assert_eq!(from_cs, from_lb);
            assert_eq!(from_cs.0, "é \"q\" a=b 'x'\n");
            assert_eq!(from_cs.1, "digest\n");

            // delete: the same lines, then both tables hold the same names.
            let cs_del = cs.ok(&["delete", "db.password"]);
            let lb_del = lb.ok(&["delete", "db.password"]);
            assert_eq!(cs_del, lb_del);
            assert_eq!(
                lb_del,
                "Deleting db.password -- version 0000000000000000001\n\
                 Deleting db.password -- version 0000000000000000002\n"
            );
            assert_eq!(cs.ok(&["keys"]), lb.ok(&["keys"]));
            (cs_out, lb_out, cs.ok(&["getall"]), lb.ok(&["getall"]))
        }
    })
    .await
    .unwrap();
    // Byte for byte: credstash's JSON (escaped non-ASCII, 4-space indent) included.
    assert_eq!(cs_out, lb_out);
    assert_eq!(cs_out[0], "s3cret-2\n");
    assert_eq!(cs_out[1], "s3cret-1\n");
    assert_eq!(cs, lb);
    mock.shutdown().await;
}

/// credstash's command line as its `-h` prints it: each command ("" for the
/// global options) with every flag spelling it lists.
fn surface(credstash: &Path, home: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let help = |args: &[&str]| {
        let out = Command::new(credstash)
            .args(args)
            .env_clear()
            .env("HOME", home)
            .output()
            .expect("run credstash -h");
        assert!(out.status.success(), "credstash {args:?} -h failed");
        String::from_utf8(out.stdout).expect("UTF-8 help")
    };
    // Each option line of a help text: `  -r REGION, --region REGION`.
    let flags = |text: &str| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut in_options = false;
        for line in text.lines() {
            if line.ends_with(':') && !line.starts_with(' ') {
                in_options = line == "options:" || line == "optional arguments:";
                continue;
            }
            let trimmed = line.trim_start();
            if !in_options || !trimmed.starts_with('-') || line.len() - trimmed.len() > 4 {
                continue;
            }
            for spelling in trimmed.split(", ") {
                let flag = spelling.split_whitespace().next().unwrap_or_default();
                if flag.starts_with('-') {
                    out.insert(flag.to_owned());
                }
            }
        }
        out
    };
    let top = help(&["-h"]);
    let commands = top
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix('{').and_then(|l| l.strip_suffix('}'))
        })
        .expect("credstash -h lists its commands in {...}");
    let mut surface = BTreeMap::new();
    surface.insert(String::new(), flags(&top));
    for command in commands.split(',') {
        surface.insert(command.to_owned(), flags(&help(&[command, "-h"])));
    }
    surface
}

/// How a step's results are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Check {
    /// Both succeed and print the same bytes.
    Same,
    /// Both succeed; each line lockbox prints starts with credstash's (lockbox
    /// adds the version stored, or the format and creation time).
    Prefix,
    /// Both succeed; the outputs differ by design (docs/CLI.md says how).
    Success,
    /// credstash swallows the failure and exits 0; lockbox names it and exits 1.
    LockboxReportsFailure,
    /// `put -P` without a terminal: lockbox takes the flag and says it needs a
    /// terminal (the prompt itself is tested on a pseudo-terminal in commands.rs).
    PromptNeedsTerminal,
}

/// One invocation of credstash's, run by both tools. `T:NAME` is a table, which
/// each tool has its own of; without `-t`/`--table`, `-t T:main` comes first.
struct Step {
    args: &'static [&'static str],
    stdin: &'static str,
    check: Check,
}

const fn step(args: &'static [&'static str], check: Check) -> Step {
    Step {
        args,
        stdin: "",
        check,
    }
}

/// The walk, in order: every credstash command and flag at least once, in each
/// spelling. The tables `T:main`, `T:ctx` and `T:ver` exist beforehand (a
/// credstash-mode table for lockbox, as a credstash user's table is).
const WALK: &[Step] = &[
    step(&["-h"], Check::Success),
    step(&["--help"], Check::Success),
    step(
        &["-t", "T:setup1", "setup", "--tags", "Env=walk", "Team=x"],
        Check::Success,
    ),
    step(
        &[
            "--table",
            "T:setup2",
            "setup",
            "--save-kms-region",
            "us-east-1",
        ],
        Check::Success,
    ),
    step(&["setup", "-h"], Check::Success),
    step(&["setup", "--help"], Check::Success),
    // put: every flag and value source.
    step(&["put", "a.one", "v1"], Check::Prefix),
    step(&["put", "-v", "2", "a.one", "v1b"], Check::Prefix),
    step(&["put", "-a", "a.one", "v1c"], Check::Prefix),
    step(&["put", "--autoversion", "a.one", "v1d"], Check::Prefix),
    step(&["put", "--version", "5", "a.one", "v1e"], Check::Prefix),
    step(
        &["put", "-k", "alias/credstash", "a.two", "v2"],
        Check::Prefix,
    ),
    step(
        &[
            "put",
            "--key",
            "alias/credstash",
            "-c",
            "note",
            "a.three",
            "v3",
        ],
        Check::Prefix,
    ),
    step(
        &["put", "--comment", "note 2", "a.four", "v4"],
        Check::Prefix,
    ),
    step(&["put", "-d", "SHA512", "a.five", "v5"], Check::Prefix),
    Step {
        args: &["put", "--digest", "SHA384", "a.six", "-"],
        stdin: "v6 from stdin\n",
        check: Check::Prefix,
    },
    step(&["put", "a.seven", "@value.txt"], Check::Prefix),
    step(
        &["-t", "T:ctx", "put", "c.one", "vc", "ctxk=ctxv", "app=walk"],
        Check::Prefix,
    ),
    step(&["put", "-P", "a.eight"], Check::PromptNeedsTerminal),
    step(&["put", "--prompt", "a.eight"], Check::PromptNeedsTerminal),
    step(&["list"], Check::Prefix),
    step(&["put", "-h"], Check::Success),
    step(&["put", "--help"], Check::Success),
    // putall: the JSON itself, @FILE and stdin, every flag, context pairs.
    step(
        &["putall", r#"{"p.one": "1", "p.two": "zwei \u00e9"}"#],
        Check::Prefix,
    ),
    step(&["putall", "-a", r#"{"p.one": "1b"}"#], Check::Prefix),
    step(
        &[
            "putall",
            "--autoversion",
            "-k",
            "alias/credstash",
            "-c",
            "note",
            r#"{"p.three": "3"}"#,
        ],
        Check::Prefix,
    ),
    step(
        &[
            "putall",
            "-v",
            "7",
            "--key",
            "alias/credstash",
            "--comment",
            "x",
            "-d",
            "SHA512",
            "@secrets.json",
        ],
        Check::Prefix,
    ),
    step(
        &["putall", "-v", "7", r#"{"p.four": "again"}"#],
        Check::LockboxReportsFailure,
    ),
    Step {
        args: &[
            "-t",
            "T:ctx",
            "putall",
            "--version",
            "8",
            "--digest",
            "SHA384",
            "-",
            "ctxk=ctxv",
            "app=walk",
        ],
        stdin: r#"{"c.two": "from stdin"}"#,
        check: Check::Prefix,
    },
    step(&["putall", "-h"], Check::Success),
    step(&["putall", "--help"], Check::Success),
    // get.
    step(&["get", "a.one"], Check::Same),
    step(&["get", "-n", "a.one"], Check::Same),
    step(&["get", "--noline", "a.six"], Check::Same),
    step(&["get", "-v", "1", "a.one"], Check::Same),
    step(
        &["get", "--version", "0000000000000000002", "a.one"],
        Check::Same,
    ),
    step(&["get", "-f", "json", "a.*"], Check::Same),
    step(&["get", "--format", "csv", "p.*"], Check::Same),
    step(&["get", "-f", "dotenv", "a.*"], Check::Success),
    step(&["get", "-f", "yaml", "p.*"], Check::Success),
    step(&["get", "p.two"], Check::Same),
    step(&["get", "-v", "7", "p.four"], Check::Same),
    step(
        &["-t", "T:ctx", "get", "c.one", "ctxk=ctxv", "app=walk"],
        Check::Same,
    ),
    step(
        &["-t", "T:ctx", "get", "c.two", "app=walk", "ctxk=ctxv"],
        Check::Same,
    ),
    step(&["get", "-h"], Check::Success),
    step(&["get", "--help"], Check::Success),
    // getall.
    step(&["getall"], Check::Same),
    // Rows sorted by name, without the blank line credstash's print adds.
    step(&["getall", "-f", "csv"], Check::Success),
    step(&["getall", "--format", "dotenv"], Check::Success),
    step(&["getall", "-f", "yaml"], Check::Success),
    step(
        &["-t", "T:ctx", "getall", "ctxk=ctxv", "app=walk"],
        Check::Same,
    ),
    step(&["-t", "T:ver", "getall", "-v", "1"], Check::Same),
    step(
        &["-t", "T:ver", "getall", "--version", "1", "-f", "json"],
        Check::Same,
    ),
    step(&["getall", "-h"], Check::Success),
    step(&["getall", "--help"], Check::Success),
    // list (after put-all its versions and comments differ by design), keys, delete.
    step(&["list", "-h"], Check::Success),
    step(&["list", "--help"], Check::Success),
    step(&["keys"], Check::Same),
    step(&["keys", "-h"], Check::Success),
    step(&["keys", "--help"], Check::Success),
    step(&["delete", "a.two"], Check::Same),
    step(&["delete", "-h"], Check::Success),
    step(&["delete", "--help"], Check::Success),
    // The global options.
    step(&["-r", "us-east-1", "keys"], Check::Same),
    step(&["--region", "us-east-1", "get", "a.one"], Check::Same),
    step(&["--kms-region", "us-east-1", "get", "a.one"], Check::Same),
    step(&["--table", "T:main", "keys"], Check::Same),
    step(
        &[
            "--log-level",
            "DEBUG",
            "--log-file",
            "walk.log",
            "get",
            "a.one",
        ],
        Check::Same,
    ),
    step(&["--log-level", "ERROR", "keys"], Check::Same),
    step(&["--log-file", "other.log", "keys"], Check::Same),
    step(&["-p", "walk", "get", "a.one"], Check::Same),
    step(&["--profile", "walk", "keys"], Check::Same),
];

/// Runs `args` through credstash (`Some(bin)`) or lockbox against `endpoint`.
fn run_tool(
    credstash: Option<&Path>,
    endpoint: &str,
    home: &Path,
    args: &[String],
    stdin: &str,
) -> Output {
    let mut c = match credstash {
        Some(bin) => {
            let mut c = Command::new(bin);
            c.env_clear()
                .env("HOME", home)
                .env("AWS_ENDPOINT_URL_KMS", endpoint)
                .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
                .env("AWS_ENDPOINT_URL_STS", endpoint)
                .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
                .env("AWS_SECRET_ACCESS_KEY", "test-secret")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .current_dir(home)
                .args(args);
            c
        }
        None => {
            let mut c = remote(home, endpoint, &[]);
            c.args(args);
            c
        }
    };
    run_with_stdin(&mut c, stdin.as_bytes())
}

/// `args` with `T:NAME` as `prefix-NAME`, and `-t T:main` first when no table is named.
fn tables(args: &[&str], prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if !args.iter().any(|a| *a == "-t" || *a == "--table") {
        out.extend(["-t".to_owned(), format!("{prefix}-main")]);
    }
    out.extend(args.iter().map(|a| match a.strip_prefix("T:") {
        Some(name) => format!("{prefix}-{name}"),
        None => (*a).to_owned(),
    }));
    out
}

/// The flags `args` uses, by command ("" for the global ones).
fn flags_used(
    args: &[&str],
    commands: &BTreeSet<String>,
    into: &mut BTreeMap<String, BTreeSet<String>>,
) {
    let mut command = String::new();
    for a in args {
        if command.is_empty() && commands.contains(*a) {
            command = (*a).to_owned();
        } else if a.starts_with('-') && a.len() > 1 {
            let flag = a.split('=').next().unwrap_or(a);
            into.entry(command.clone())
                .or_default()
                .insert(flag.to_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_credstash_command_and_flag_runs_through_lockbox() {
    let Some(venv) = venv() else { return };
    let credstash = venv.join("bin").join("credstash");
    let mock = lockbox_mock::start().await.unwrap();
    let endpoint = mock.endpoint_url();
    let home = tempfile::tempdir().unwrap();
    let failures = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        let home = home.path().to_owned();
        move || walk(&credstash, &endpoint, &home)
    })
    .await
    .unwrap();
    mock.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs the walk; returns what went wrong, every step's problem at once.
fn walk(credstash: &Path, endpoint: &str, home: &Path) -> Vec<String> {
    create_key(endpoint, "alias/credstash");
    std::fs::write(home.join("value.txt"), "v7 from a file").unwrap();
    std::fs::write(
        home.join("secrets.json"),
        r#"{"p.four": "4", "p.five": "f\u00fcnf"}"#,
    )
    .unwrap();
    // A named profile, with the same test identity, for -p/--profile.
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "[walk]\naws_access_key_id = AKIDLOCKBOXTEST\naws_secret_access_key = test-secret\n",
    )
    .unwrap();
    let run = |tool: Option<&Path>, args: &[String], stdin: &str| {
        run_tool(tool, endpoint, home, args, stdin)
    };
    // The tables a credstash user has: created by credstash, and for lockbox in
    // credstash mode, each with what the walk reads.
    for table in ["main", "ctx", "ver"] {
        let cs = run(
            Some(credstash),
            &tables(&["-t", &format!("T:{table}"), "setup"], "cs"),
            "",
        );
        assert!(cs.status.success(), "credstash setup: {}", stderr(&cs));
        let lb = run(
            None,
            &tables(
                &[
                    "-t",
                    &format!("T:{table}"),
                    "setup",
                    "--compat",
                    "credstash",
                ],
                "lb",
            ),
            "",
        );
        assert!(lb.status.success(), "lockbox setup: {}", stderr(&lb));
    }
    for (tool, prefix) in [(Some(credstash), "cs"), (None, "lb")] {
        for (name, value) in [("x", "1"), ("y", "2")] {
            let out = run(
                tool,
                &tables(&["-t", "T:ver", "put", name, value], prefix),
                "",
            );
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }

    let mut failures = Vec::new();
    for s in WALK {
        let cs_args = tables(s.args, "cs");
        let lb_args = tables(s.args, "lb");
        if s.check == Check::PromptNeedsTerminal {
            let lb = prompt_without_terminal(endpoint, home, &lb_args);
            // A usage error (docs/CLI.md: `--prompt` without a terminal is exit 2).
            if lb.status.code() != Some(2) || !stderr(&lb).contains("needs a terminal") {
                failures.push(format!(
                    "lockbox {:?}: {:?}\n{}",
                    s.args,
                    lb.status,
                    stderr(&lb)
                ));
            }
            continue;
        }
        let cs = run(Some(credstash), &cs_args, s.stdin);
        let lb = run(None, &lb_args, s.stdin);
        let (cs_out, lb_out) = (
            String::from_utf8_lossy(&cs.stdout).into_owned(),
            String::from_utf8_lossy(&lb.stdout).into_owned(),
        );
        let problem = match s.check {
            _ if !cs.status.success() => Some(format!("credstash failed: {}", stderr(&cs))),
            Check::LockboxReportsFailure => (lb.status.code() != Some(1)
                || !stderr(&lb).contains("not stored"))
            .then(|| format!("lockbox did not report the failure: {:?}\n{}", lb.status, stderr(&lb))),
            _ if !lb.status.success() => {
                Some(format!("lockbox failed ({:?}): {}", lb.status.code(), stderr(&lb)))
            }
            Check::Same => (cs_out != lb_out)
                .then(|| format!("outputs differ:\ncredstash {cs_out:?}\nlockbox   {lb_out:?}")),
            Check::Prefix => (cs_out.lines().count() != lb_out.lines().count()
                || cs_out
                    .lines()
                    .zip(lb_out.lines())
                    .any(|(c, l)| !l.starts_with(c.trim_end())))
            .then(|| format!("lockbox's lines do not extend credstash's:\ncredstash {cs_out:?}\nlockbox   {lb_out:?}")),
            _ => None,
        };
        if let Some(problem) = problem {
            failures.push(format!("{:?}: {problem}", s.args));
        }
    }

    // setup --save-kms-region wrote credstash's file, as credstash writes it.
    let saved = std::fs::read_to_string(home.join(".credstash")).unwrap_or_default();
    if saved != r#"{"kms-region": "us-east-1"}"# {
        failures.push(format!(
            "~/.credstash after setup --save-kms-region: {saved:?}"
        ));
    }
    // What lockbox's putall stored (credstash-mode table), credstash reads the same.
    for args in [&["getall", "-f", "json"][..], &["get", "-v", "7", "p.five"]] {
        let args = tables(args, "lb");
        let (cs, lb) = (run(Some(credstash), &args, ""), run(None, &args, ""));
        if !cs.status.success() || cs.stdout != lb.stdout {
            failures.push(format!(
                "credstash reads lockbox's table differently ({args:?}):\n{}\n{:?} vs {:?}",
                stderr(&cs),
                String::from_utf8_lossy(&cs.stdout),
                String::from_utf8_lossy(&lb.stdout)
            ));
        }
    }

    // Every command and flag credstash's help lists is in the walk (-n/--arn,
    // which needs an identity to assume, is walked in strict mode below).
    let surface = surface(credstash, home);
    // The help was read (an empty parse would pass vacuously).
    assert!(
        surface.len() == 9
            && surface[""].contains("--log-file")
            && surface["put"].contains("-P")
            && surface["setup"].contains("--save-kms-region"),
        "credstash's help did not parse: {surface:?}"
    );
    let commands: BTreeSet<String> = surface.keys().filter(|c| !c.is_empty()).cloned().collect();
    let mut used = BTreeMap::new();
    for s in WALK {
        flags_used(s.args, &commands, &mut used);
        if let Some(c) = s.args.iter().find(|a| commands.contains(**a)) {
            used.entry((*c).to_owned()).or_insert_with(BTreeSet::new);
        }
    }
    for flag in ["-n", "--arn"] {
        used.entry(String::new())
            .or_default()
            .insert(flag.to_owned());
    }
    for (command, flags) in &surface {
        let Some(walked) = used.get(command) else {
            failures.push(format!(
                "credstash's command {command:?} is not in the walk"
            ));
            continue;
        };
        for flag in flags.difference(walked) {
            failures.push(format!(
                "credstash's {command:?} flag {flag} is not in the walk"
            ));
        }
    }
    failures
}

/// lockbox with no controlling terminal (`setsid`), so `--prompt` cannot ask.
fn prompt_without_terminal(endpoint: &str, home: &Path, args: &[String]) -> Output {
    let mut c = Command::new("/usr/bin/setsid");
    c.arg("-w")
        .arg(common::BIN)
        .args(["--endpoint-url", endpoint])
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    c.output().expect("run lockbox under setsid")
}

/// credstash's `-n ARN` (lockbox: `-n` before the command, or `--arn`): both
/// tools assume the role through STS and use its credentials.
#[test]
fn the_assume_role_flag_runs_through_both_tools() {
    let Some(venv) = venv() else { return };
    let credstash = venv.join("bin").join("credstash");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    common::populated_state(&rt, data.path(), home.path(), &["walk/one"]);
    let everything = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:*", "dynamodb:*"], "Resource": "*"}]});
    let iam = serde_json::json!({
        "users": [{"name": "walker", "access_key_id": "AKIDLOCKBOXTEST",
                   "secret_access_key": "test-secret", "policies": []}],
        "roles": [{"name": "walk", "trust": {"users": ["walker"]}, "policies": [everything]}]
    });
    let iam_file = home.path().join("iam.json");
    std::fs::write(&iam_file, iam.to_string()).unwrap();
    let strict = rt
        .block_on(lockbox_mock::start_with(
            lockbox_mock::Config::builder()
                .data_dir(data.path())
                .iam(&iam_file),
        ))
        .unwrap();
    let endpoint = strict.endpoint_url();
    let role = "arn:aws:iam::000000000000:role/walk";
    let args = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    // The user alone may do nothing: only the assumed role reads.
    let direct = run_tool(None, &endpoint, home.path(), &args(&["keys"]), "");
    assert_eq!(direct.status.code(), Some(4), "{}", stderr(&direct));
    for tool in [Some(credstash.as_path()), None] {
        for flags in [&["-n", role][..], &["--arn", role]] {
            let mut a = args(flags);
            a.push("keys".into());
            let out = run_tool(tool, &endpoint, home.path(), &a, "");
            assert!(
                out.status.success(),
                "{} {a:?}: {}",
                if tool.is_some() {
                    "credstash"
                } else {
                    "lockbox"
                },
                stderr(&out)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), "walk/one\n");
        }
    }
    rt.block_on(strict.shutdown());
}

/// What a credstash user's scripts read of table `t`.
fn credstash_view(cs: &Tool<'_>) -> Vec<String> {
    vec![
        cs.ok(&["getall", "-f", "json"]),
        cs.ok(&["getall"]),
        cs.ok(&["list"]),
        cs.ok(&["keys"]),
        cs.ok(&["get", "app.key"]),
        cs.ok(&["get", "db.conf"]),
        cs.ok(&["get", "-v", "1", "app.key"]),
        cs.ok(&["get", "app.*", "-f", "json"]),
    ]
}

/// Labels, a staged rotation and JSON fields in a table shared with credstash:
/// credstash 1.17.1's getall, list and get print exactly what they printed
/// before any label existed, until a rotation finishes (which writes the new
/// value as the next version, as `put` would); then credstash and lockbox read
/// the same value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_in_a_credstash_table_change_nothing_credstash_reads() {
    let Some(venv) = venv() else { return };
    let credstash_bin = venv.join("bin").join("credstash");
    let mock = lockbox_mock::start().await.unwrap();
    let endpoint = mock.endpoint_url();
    let home = tempfile::tempdir().unwrap();
    tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        let home = home.path().to_owned();
        move || {
            create_key(&endpoint, "alias/credstash");
            let cs = Tool {
                credstash: Some(&credstash_bin),
                endpoint: &endpoint,
                home: &home,
                table: "shared",
            };
            let lb = Tool {
                credstash: None,
                ..cs
            };
            cs.ok(&["setup"]);
            cs.ok(&["put", "app.key", "k-1"]);
            cs.ok(&["put", "-a", "app.key", "k-2"]);
            cs.ok(&["put", "db.conf", r#"{"user":"app","password":"pw"}"#]);
            let before = credstash_view(&cs);

            let value = home.join("new-value");
            std::fs::write(&value, "k-3").unwrap();
            let at_value = format!("@{}", value.display());
            lb.ok(&["setup", "--compat", "credstash", "--labels"]);
            lb.ok(&["label", "app.key", "stable=1"]);
            lb.ok(&["label", "db.conf", "mine=1"]);
            lb.ok(&["rotate", "start", "app.key", &at_value, "--token", "r1"]);
            assert_eq!(lb.ok(&["get", "app.key", "--label", "pending"]), "k-3\n");
            assert_eq!(lb.ok(&["get", "lockbox://db.conf#/user"]), "app\n");
            assert_eq!(credstash_view(&cs), before, "labels and a pending version");
            // lockbox's un-pinned reads agree with credstash's.
            assert_eq!(lb.ok(&["get", "app.key"]), cs.ok(&["get", "app.key"]));
            assert_eq!(
                lb.ok(&["getall", "-f", "json"]),
                cs.ok(&["getall", "-f", "json"])
            );
            lb.ok(&["rotate", "abort", "app.key"]);
            assert_eq!(credstash_view(&cs), before, "an aborted rotation");

            lb.ok(&["rotate", "start", "app.key", &at_value, "--token", "r2"]);
            assert_eq!(credstash_view(&cs), before, "a second pending version");
            lb.ok(&["rotate", "finish", "app.key"]);
            assert_eq!(cs.ok(&["get", "app.key"]), "k-3\n");
            assert_eq!(lb.ok(&["get", "app.key"]), "k-3\n");
            assert_eq!(
                lb.ok(&["getall", "-f", "json"]),
                cs.ok(&["getall", "-f", "json"])
            );
            let after = credstash_view(&cs);
            lb.ok(&["rotate", "finish", "app.key"]);
            lb.ok(&["label", "app.key", "stable=2"]);
            assert_eq!(credstash_view(&cs), after, "finishing twice, a label moved");
        }
    })
    .await
    .unwrap();
    mock.shutdown().await;
}
