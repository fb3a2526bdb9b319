//! Parity with credstash 1.17.1 (from the venv `scripts/setup-python` builds): the
//! same scripted session through both tools against one emulator gives the same
//! values, and each reads the other's secrets.
//!
//! Runs when `LOCKBOX_TEST_VENV` names the venv; otherwise it says so and passes,
//! unless `LOCKBOX_REQUIRE_INTEROP=1` demands it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

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
