//! The AWS code path against an emulator given with `--endpoint-url` (static test
//! credentials on the child process): exit codes for missing tables, credentials,
//! denied calls, tampered items and unavailable services.

use crate::common;

use std::process::Output;

use common::{http, remote, run_with_stdin, stderr, Remote};

#[test]
fn missing_table_is_exit_3_and_says_to_run_setup() {
    let r = Remote::start();
    let out = r.run(&["get", "x"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // Default table and region: a store not set up yet. The hint's command
    // repeats the flags in use, so it sets up the store that was asked for.
    let endpoint = format!("`lockbox --endpoint-url {} setup`", r.endpoint);
    assert!(stderr(&out).contains(&endpoint), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("table credential-store does not exist in region us-east-1"),
        "{}",
        stderr(&out)
    );
    // A table named with -t is probably a typo: no `setup` advice, which would
    // create a second, empty store.
    let out = r.run(&["-t", "credential-stor", "get", "x"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("check the table name (-t credential-stor)")
            && !stderr(&out).contains("setup"),
        "{}",
        stderr(&out)
    );
    r.ok(&["setup"], b"");
    let out = r.run(&["get", "x"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[test]
fn no_credentials_is_exit_4() {
    let r = Remote::start();
    let mut c = common::bare(r.home.path());
    c.env("AWS_REGION", "us-east-1")
        .args(["--endpoint-url", &r.endpoint, "keys"]);
    let out = run_with_stdin(&mut c, b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("credentials"), "{}", stderr(&out));
}

#[test]
fn access_denied_is_exit_4_and_shows_no_value() {
    let r = Remote::start();
    r.ok(&["setup"], b"");
    r.ok(&["put", "canary", "-"], b"CANARY-VALUE-4711");
    r.fault(serde_json::json!({"target": "kms:Decrypt", "error": "AccessDeniedException"}));
    let out = r.run(&["get", "canary"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("access denied"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("CANARY"));
    assert!(out.stdout.is_empty());
}

#[test]
fn copied_item_is_exit_5() {
    let r = Remote::start();
    r.ok(&["setup"], b"");
    r.ok(&["put", "real", "-"], b"CANARY-VALUE-5");
    // Copy the item under another name: the sealed format binds the name.
    let key = serde_json::json!({
        "TableName": "credential-store",
        "Key": {"name": {"S": "real"}, "version": {"S": "0000000000000000001"}}
    });
    let (status, body) = http(
        &r.endpoint,
        "/",
        Some("DynamoDB_20120810.GetItem"),
        &key.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let mut item: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut item = item["Item"].take();
    item["name"] = serde_json::json!({"S": "copy"});
    let put = serde_json::json!({"TableName": "credential-store", "Item": item});
    let (status, body) = http(
        &r.endpoint,
        "/",
        Some("DynamoDB_20120810.PutItem"),
        &put.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let out = r.run(&["get", "copy"], b"");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(!stderr(&out).contains("CANARY"));
    assert!(out.stdout.is_empty());
}

#[test]
fn throttling_is_exit_6() {
    let r = Remote::start();
    r.ok(&["setup"], b"");
    r.fault(serde_json::json!({"target": "dynamodb:Query", "error": "ProvisionedThroughputExceededException"}));
    let out = r.run(&["get", "x"], b"");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("retry later"), "{}", stderr(&out));
    // What helps with throttling (review M#10), not only the network.
    assert!(
        stderr(&out).contains("lower --concurrency"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreachable_endpoint_is_exit_6() {
    let home = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = run_with_stdin(&mut remote(home.path(), &endpoint, &["keys"]), b"");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}

#[test]
fn credstash_compat_table_gets_legacy_items() {
    let r = Remote::start();
    let setup = r.ok(
        &[
            "-o",
            "json",
            "setup",
            "--compat",
            "credstash",
            "--tags",
            "team=core",
        ],
        b"",
    );
    let setup: serde_json::Value = serde_json::from_str(&setup).unwrap();
    assert_eq!(setup["format"], "credstash");
    r.ok(&["put", "n", "-"], b"v");
    let list = r.ok(&["list"], b"");
    assert!(list.contains("-- format credstash"), "{list}");
    // A value credstash could not read is refused in such a table.
    let out = r.run(&["put", "bin", "-"], &[0xff, 0x00]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// The attack of a writer of items with no KMS permission: a credstash-format
/// item from an older table on the same key, copied into a sealed table under a
/// secret's name as its newest version. Every read path refuses it with exit 5,
/// prints nothing of it, and never asks KMS to unwrap it.
#[test]
fn a_credstash_item_copied_into_a_sealed_table_fails_every_read_path_with_exit_5() {
    let r = Remote::start();
    r.ok(&["-t", "sealed-store", "setup"], b"");
    r.ok(&["-t", "sealed-store", "put", "app/a", "-"], b"genuine");
    r.ok(
        &["-t", "legacy-store", "setup", "--compat", "credstash"],
        b"",
    );
    r.ok(
        &["-t", "legacy-store", "put", "other/thing", "-"],
        b"attacker-chosen",
    );
    // GetItem from the credstash table, PutItem into the sealed one (DynamoDB only).
    let key = |name: &str| serde_json::json!({"name": {"S": name}, "version": {"S": "0000000000000000001"}});
    let (status, body) = http(
        &r.endpoint,
        "/",
        Some("DynamoDB_20120810.GetItem"),
        &serde_json::json!({"TableName": "legacy-store", "Key": key("other/thing")}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let mut item: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut item = item["Item"].take();
    item["name"] = serde_json::json!({"S": "app/a"});
    item["version"] = serde_json::json!({"S": "0000000000000000002"});
    let (status, body) = http(
        &r.endpoint,
        "/",
        Some("DynamoDB_20120810.PutItem"),
        &serde_json::json!({"TableName": "sealed-store", "Item": item}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    // Counts KMS Decrypt calls from here on, changing nothing.
    r.fault(serde_json::json!({"target": "kms:Decrypt", "latency_ms": 0}));
    let manifest = r.home.path().join("lockbox.toml");
    std::fs::write(&manifest, "[env]\nX = \"app/a\"\n").unwrap();
    let manifest = manifest.display().to_string();
    let paths: Vec<Vec<&str>> = vec![
        vec!["get", "app/a"],
        vec!["get", "app/a", "-v", "2"],
        vec!["get", "app/*"],
        vec!["getall"],
        vec!["get-all", "-f", "env"],
        vec!["export"],
        vec!["rollback", "app/a", "--to", "2"],
        vec!["exec", "--env", "X=app/a", "--", "true"],
        vec!["exec", "--env", "X=app/a@2", "--", "true"],
        vec!["exec", "--prefix", "app/", "--", "true"],
        vec!["exec", "--manifest", &manifest, "--", "true"],
        vec!["exec", "--watch", "1s", "--env", "X=app/a", "--", "true"],
    ];
    for path in paths {
        let mut args = vec!["-t", "sealed-store"];
        args.extend(&path);
        let out = r.run(&args, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(5), "{path:?}: {err}");
        assert!(out.stdout.is_empty(), "{path:?} printed something");
        assert!(!err.contains("attacker-chosen"), "{path:?}: {err}");
        assert!(
            err.contains("credstash's format") && err.contains("whose mode is sealed"),
            "{path:?}: {err}"
        );
    }
    let fired = {
        use std::io::{Read, Write};
        let addr = r.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /_mock/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["rules"][0]["fired"].as_u64().unwrap()
    };
    assert_eq!(fired, 0, "no KMS Decrypt for the refused item");
    // rollback wrote nothing; the genuine version is still readable.
    assert_eq!(
        r.ok(&["-t", "sealed-store", "get", "app/a", "-v", "1"], b""),
        "genuine\n"
    );
    let history = r.ok(&["-t", "sealed-store", "history", "app/a"], b"");
    assert_eq!(history.lines().count(), 2, "{history}");
    // The same copy in the credstash table reads: nothing there binds a name.
    assert_eq!(
        r.ok(&["-t", "legacy-store", "get", "other/thing"], b""),
        "attacker-chosen\n"
    );
    // --accept-credstash-items serves it (a migration window), --require-sealed
    // refuses credstash items even in the credstash table.
    assert_eq!(
        r.ok(
            &[
                "-t",
                "sealed-store",
                "--accept-credstash-items",
                "get",
                "app/a"
            ],
            b""
        ),
        "attacker-chosen\n"
    );
    let out = r.run(
        &[
            "-t",
            "legacy-store",
            "get",
            "other/thing",
            "--require-sealed",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let mut env_on = remote(
        r.home.path(),
        &r.endpoint,
        &["-t", "legacy-store", "get", "other/thing"],
    );
    env_on.env("LOCKBOX_REQUIRE_SEALED", "1");
    let out = run_with_stdin(&mut env_on, b"");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

/// With the table's account known (AWS_ACCOUNT_ID, or a key ARN), the table's
/// record is read with one call (ListTagsOfResource on the ARN), so a cold read
/// of a credstash-mode table costs no more round trips than a sealed one; a wrong
/// account falls back to DescribeTable and still reads.
#[test]
fn a_known_account_reads_the_table_record_in_one_call() {
    let r = Remote::start();
    r.ok(&["setup", "--compat", "credstash"], b"");
    r.ok(&["put", "k", "-"], b"v");
    r.fault(serde_json::json!({"target": "dynamodb:DescribeTable", "latency_ms": 0}));
    r.fault(serde_json::json!({"target": "dynamodb:ListTagsOfResource", "latency_ms": 0}));
    let with_account = |account: &str| {
        let mut c = remote(r.home.path(), &r.endpoint, &["get", "k"]);
        c.env("AWS_ACCOUNT_ID", account);
        run_with_stdin(&mut c, b"")
    };
    let out = with_account("000000000000");
    assert_eq!(common::ok(out, &["get"]), b"v\n");
    assert_eq!(
        r.fired(),
        [0, 1],
        "no DescribeTable, one ListTagsOfResource"
    );
    let out = with_account("111122223333");
    assert_eq!(common::ok(out, &["get"]), b"v\n");
    assert_eq!(
        r.fired(),
        [1, 3],
        "the wrong guess, then DescribeTable and the right ARN"
    );
    let out = r.run(&["get", "k"], b"");
    assert_eq!(common::ok(out, &["get"]), b"v\n");
    assert_eq!(r.fired(), [2, 4], "no account: DescribeTable first");
}

#[test]
fn a_named_profile_that_does_not_exist_is_exit_4_whatever_credentials_are_set() {
    let r = Remote::start();
    r.ok(&["setup"], b"");
    let config = r.home.path().join("aws-config");
    std::fs::write(&config, "[profile dev]\nregion = us-east-1\n").unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 4] = [
        // remote() sets static credentials in the environment.
        (&["-p", "nosuchprofile", "keys"], &[]),
        (&["keys"], &[("AWS_PROFILE", "nosuchprofile")]),
        (
            &["--profile", "nosuchprofile", "keys"],
            &[("AWS_CONFIG_FILE", "CONFIG")],
        ),
        // The profile --arn starts from.
        (
            &["--arn", "arn:aws:iam::000000000000:role/r", "keys"],
            &[("AWS_PROFILE", "nosuchprofile")],
        ),
    ];
    for (args, vars) in cases {
        let mut c = remote(r.home.path(), &r.endpoint, args);
        for (k, v) in vars {
            c.env(
                k,
                if *v == "CONFIG" {
                    config.as_os_str()
                } else {
                    v.as_ref()
                },
            );
        }
        let out = run_with_stdin(&mut c, b"");
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("the config profile (nosuchprofile) could not be found"),
            "{err}"
        );
        assert!(
            err.contains(".aws/credentials") || err.contains("AWS_SHARED"),
            "{err}"
        );
        let file = if vars.is_empty() || vars[0].0 == "AWS_PROFILE" {
            r.home.path().join(".aws/config").display().to_string()
        } else {
            format!("{} (AWS_CONFIG_FILE)", config.display())
        };
        assert!(err.contains(&file), "{err}");
        assert!(out.stdout.is_empty());
    }
    // Without credentials anywhere: the same answer, not "no credentials".
    let mut c = common::bare(r.home.path());
    c.env("AWS_REGION", "us-east-1").args([
        "--endpoint-url",
        &r.endpoint,
        "-p",
        "nosuchprofile",
        "keys",
    ]);
    let out = run_with_stdin(&mut c, b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("(nosuchprofile)"), "{}", stderr(&out));
    // A profile that exists is used.
    let mut c = remote(r.home.path(), &r.endpoint, &["-p", "dev", "keys"]);
    c.env("AWS_CONFIG_FILE", &config);
    let out = run_with_stdin(&mut c, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_kms_region_comes_from_the_flag_then_dot_credstash_then_the_region() {
    let r = Remote::start();
    r.ok(&["setup"], b"");
    r.ok(&["put", "n", "-"], b"v");
    let dot = r.home.path().join(".credstash");
    // The key lives in us-east-1: a saved region without it is used, and KMS
    // there cannot decrypt.
    std::fs::write(&dot, r#"{"kms-region": "eu-west-1", "other": 1}"#).unwrap();
    let out = r.run(&["get", "n"], b"");
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    // --kms-region wins over the file.
    assert_eq!(r.ok(&["--kms-region", "us-east-1", "get", "n"], b""), "v\n");
    // setup --save-kms-region rewrites it as credstash does, keeping other keys,
    // and the setup itself already uses it.
    let out = r.ok(&["setup", "--save-kms-region", "us-east-1"], b"");
    assert!(out.starts_with("KMS region set to us-east-1\n"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&dot).unwrap(),
        r#"{"kms-region": "us-east-1", "other": 1}"#
    );
    assert_eq!(r.ok(&["get", "n"], b""), "v\n");
    let out = r.ok(
        &["-o", "json", "setup", "--save-kms-region", "us-east-1"],
        b"",
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["saved_kms_region"], "us-east-1");
    // A file that is not credstash's settings is an error naming it, not ignored.
    std::fs::write(&dot, "kms-region: eu-west-1").unwrap();
    let out = r.run(&["get", "n"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(".credstash is not a JSON object"),
        "{}",
        stderr(&out)
    );
    let out = r.run(&["setup", "--save-kms-region", "Not A Region"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// An emulator serving TLS from its own thread, with `alias/credstash`, and its
/// CA's certificate in `ca.pem` of a fresh home.
struct TlsRemote {
    mock: lockbox_mock::BackgroundMock,
    home: tempfile::TempDir,
    ca: std::path::PathBuf,
}

impl TlsRemote {
    fn start(config: lockbox_mock::Config) -> Self {
        let mock = lockbox_mock::spawn_thread(config).unwrap();
        mock.ensure_alias("alias/credstash").unwrap();
        let home = tempfile::tempdir().unwrap();
        let ca = home.path().join("ca.pem");
        std::fs::write(&ca, mock.ca_pem().unwrap()).unwrap();
        Self { mock, home, ca }
    }

    fn ca(&self) -> String {
        self.ca.display().to_string()
    }

    /// `lockbox ARGS` with test credentials, `vars`, and `stdin`; with
    /// `--endpoint-url` when `endpoint`.
    fn run(&self, endpoint: bool, vars: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Output {
        let mut c = common::bare(self.home.path());
        c.env("AWS_ACCESS_KEY_ID", "AKIDLOCKBOXTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_REGION", "us-east-1")
            .envs(vars.iter().copied());
        if endpoint {
            c.arg("--endpoint-url").arg(self.mock.endpoint_url());
        }
        c.args(args);
        run_with_stdin(&mut c, stdin)
    }

    /// `setup`, `put NAME` and `get NAME`, each successful.
    fn round_trip(&self, endpoint: bool, vars: &[(&str, &str)], name: &str) {
        for (args, stdin) in [
            (vec!["setup"], &b""[..]),
            (vec!["put", name, "-"], b"tls-value"),
            (vec!["get", name], b""),
        ] {
            let out = self.run(endpoint, vars, &args, stdin);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            if args[0] == "get" {
                assert_eq!(out.stdout, b"tls-value\n");
            }
        }
    }
}

#[test]
fn tls_needs_the_ca_from_aws_ca_bundle_or_the_profile() {
    let r = TlsRemote::start(lockbox_mock::Config::default().tls());
    // An unknown CA: refused, exit 4, naming AWS_CA_BUNDLE, and not retried.
    let out = r.run(true, &[], &["get", "x"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("AWS_CA_BUNDLE"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(text.contains("certificate"), "{text}");

    let ca = r.ca();
    r.round_trip(true, &[("AWS_CA_BUNDLE", &ca)], "tls/env");

    // The shared config file's ca_bundle, in the selected profile.
    let aws = r.home.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("config"),
        format!("[profile ops]\nca_bundle = {ca}\nregion = us-east-1\n"),
    )
    .unwrap();
    let out = r.run(true, &[("AWS_PROFILE", "ops")], &["get", "tls/env"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    // The default profile has none.
    let out = r.run(true, &[], &["get", "tls/env"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // A bundle that cannot be used is a usage error naming where it was set.
    let missing = r.home.path().join("missing.pem");
    let missing = missing.display().to_string();
    let out = r.run(true, &[("AWS_CA_BUNDLE", &missing)], &["get", "x"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("AWS_CA_BUNDLE"), "{}", stderr(&out));
    let out = r.run(true, &[("AWS_CA_BUNDLE", "/dev/null")], &["get", "x"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("holds no PEM certificate"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let r = TlsRemote::start(lockbox_mock::Config::default().tls_hosts(["wrong.example"]));
    let ca = r.ca();
    let out = r.run(true, &[("AWS_CA_BUNDLE", &ca)], &["get", "x"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("NotValidForName"), "{}", stderr(&out));
}

#[test]
fn https_goes_through_the_proxy_with_its_credentials_unless_no_proxy_says_not() {
    use lockbox_mock::netmodel::{RecordingProxy, RecordingProxyConfig};
    let r = TlsRemote::start(lockbox_mock::Config::default().tls());
    let proxy = RecordingProxy::start(RecordingProxyConfig {
        require: Some("proxyuser:proxy-pass".into()),
        redirect_to: None,
    })
    .unwrap();
    let with_auth = proxy
        .url()
        .replace("http://", "http://proxyuser:proxy-pass@");
    let ca = r.ca();
    let target = r.mock.local_addr().to_string();
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let before = proxy.requests().len();
        r.round_trip(
            true,
            &[("AWS_CA_BUNDLE", &ca), (var, &with_auth)],
            &format!("proxy/{var}"),
        );
        let requests = &proxy.requests()[before..];
        assert!(
            !requests.is_empty(),
            "{var}: nothing went through the proxy"
        );
        for request in requests {
            assert_eq!(request.method, "CONNECT", "{var}: {request:?}");
            assert_eq!(request.target, target, "{var}: {request:?}");
            assert_eq!(
                request.credentials.as_deref(),
                Some("proxyuser:proxy-pass"),
                "{var}"
            );
        }
    }
    // Wrong credentials: the proxy refuses, and lockbox fails without a value.
    let wrong = proxy.url().replace("http://", "http://proxyuser:nope@");
    let out = r.run(
        true,
        &[("AWS_CA_BUNDLE", &ca), ("HTTPS_PROXY", &wrong)],
        &["get", "proxy/HTTPS_PROXY"],
        b"",
    );
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("tls-value"));
    assert!(!stderr(&out).contains("nope"), "{}", stderr(&out));

    // NO_PROXY (either case) sends it direct.
    for var in ["NO_PROXY", "no_proxy"] {
        let before = proxy.requests().len();
        let out = r.run(
            true,
            &[
                ("AWS_CA_BUNDLE", &ca),
                ("HTTPS_PROXY", &with_auth),
                (var, "127.0.0.1"),
            ],
            &["get", "proxy/HTTPS_PROXY"],
            b"",
        );
        assert!(out.status.success(), "{var}: {}", stderr(&out));
        assert_eq!(
            proxy.requests().len(),
            before,
            "{var}: went through the proxy"
        );
    }
}

#[test]
fn the_container_credential_endpoint_goes_through_http_proxy_unless_no_proxy_says_not() {
    use lockbox_mock::netmodel::{RecordingProxy, RecordingProxyConfig};
    let r = TlsRemote::start(lockbox_mock::Config::default().tls());
    let proxy = RecordingProxy::start(RecordingProxyConfig::default()).unwrap();
    let ca = r.ca();
    // The open emulator has no roles: the credentials are refused either way;
    // what matters is the path the request took.
    let credentials_url = format!(
        "http://{}/_mock/container-credentials/app",
        r.mock.local_addr()
    );
    let run = |no_proxy: Option<&str>| {
        let mut vars = vec![
            ("AWS_CA_BUNDLE", ca.clone()),
            ("HTTP_PROXY", proxy.url()),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                credentials_url.clone(),
            ),
        ];
        if let Some(n) = no_proxy {
            vars.push(("NO_PROXY", n.to_owned()));
        }
        let mut c = common::bare(r.home.path());
        c.env("AWS_REGION", "us-east-1")
            .envs(vars)
            .arg("--endpoint-url")
            .arg(r.mock.endpoint_url())
            .args(["get", "x"]);
        run_with_stdin(&mut c, b"")
    };
    let out = run(None);
    assert!(!out.status.success());
    assert!(
        proxy
            .requests()
            .iter()
            .any(|q| q.method == "GET" && q.target == credentials_url),
        "{:?}",
        proxy.requests()
    );
    let before = proxy.requests().len();
    let out = run(Some("localhost,127.0.0.1,169.254.169.254,169.254.170.2"));
    assert!(!out.status.success());
    assert_eq!(proxy.requests().len(), before, "{:?}", proxy.requests());
}

#[test]
fn fips_and_dual_stack_endpoints_are_the_ones_aws_documents() {
    use lockbox_mock::netmodel::{RecordingProxy, RecordingProxyConfig};
    // A certificate for AWS's names, and a proxy that takes every tunnel to the
    // emulator: the client resolves its endpoints as against AWS, no network.
    let r = TlsRemote::start(lockbox_mock::Config::default().tls_hosts([
        "*.us-east-1.amazonaws.com",
        "*.us-east-1.api.aws",
        "*.ddb.us-east-1.amazonaws.com",
        "*.ddb.us-east-1.api.aws",
    ]));
    let proxy = RecordingProxy::start(RecordingProxyConfig {
        require: None,
        redirect_to: Some(r.mock.local_addr()),
    })
    .unwrap();
    let ca = r.ca();
    let url = proxy.url();
    // DynamoDB's account-based endpoints (`ACCOUNT.ddb.REGION...`) serve the
    // calls the SDK knows the account for, except with FIPS.
    let cases = [
        (
            "fips",
            "true",
            "false",
            "kms-fips.us-east-1.amazonaws.com:443",
            &["dynamodb-fips.us-east-1.amazonaws.com:443"][..],
        ),
        (
            "dualstack",
            "false",
            "true",
            "kms.us-east-1.api.aws:443",
            &[
                "dynamodb.us-east-1.api.aws:443",
                "000000000000.ddb.us-east-1.api.aws:443",
            ][..],
        ),
        (
            "both",
            "true",
            "true",
            "kms-fips.us-east-1.api.aws:443",
            &["dynamodb-fips.us-east-1.api.aws:443"][..],
        ),
        (
            "neither",
            "false",
            "false",
            "kms.us-east-1.amazonaws.com:443",
            &[
                "dynamodb.us-east-1.amazonaws.com:443",
                "000000000000.ddb.us-east-1.amazonaws.com:443",
            ][..],
        ),
    ];
    for (what, fips, dualstack, kms, dynamodb) in cases {
        let before = proxy.requests().len();
        r.round_trip(
            false,
            &[
                ("AWS_CA_BUNDLE", &ca),
                ("HTTPS_PROXY", &url),
                ("AWS_USE_FIPS_ENDPOINT", fips),
                ("AWS_USE_DUALSTACK_ENDPOINT", dualstack),
            ],
            &format!("endpoints/{what}"),
        );
        let targets: Vec<String> = proxy.requests()[before..]
            .iter()
            .map(|q| q.target.clone())
            .collect();
        assert!(targets.iter().any(|t| t == kms), "{what}: {targets:?}");
        assert!(
            targets.iter().any(|t| t == dynamodb[0]),
            "{what}: {targets:?}"
        );
        for t in &targets {
            assert!(
                t == kms || dynamodb.contains(&t.as_str()),
                "{what}: unexpected {t} in {targets:?}"
            );
        }
    }
}

#[test]
fn with_the_home_region_down_reads_fail_over_and_writes_fail_closed() {
    let r = Remote::start();
    let key = r.multi_region_key(true);
    let regions = ["--regions", "us-east-1,eu-west-1", "-k", key.as_str()];
    let with = |args: &[&str]| -> Vec<String> {
        regions.iter().chain(args).map(|s| s.to_string()).collect()
    };
    let run = |args: &[&str], stdin: &[u8]| {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        r.run(&args, stdin)
    };
    let out = run(&["setup"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["put", "db", "-"], b"v1");
    assert!(out.status.success(), "{}", stderr(&out));
    r.fault(serde_json::json!({
        "target": "*", "region": "us-east-1", "error": "ServiceUnavailable"
    }));
    let out = run(&["get", "db"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "v1");
    let out = run(&["put", "db", "-"], b"v2");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("unavailable"), "{}", stderr(&out));
    // Writes in the other region are a manual failover, named explicitly.
    let out = run(&["--write-region", "eu-west-1", "put", "db", "-"], b"v2");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["get", "db"], b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "v2");
}

#[test]
fn denied_in_the_home_region_is_exit_4_without_failover() {
    let r = Remote::start();
    let key = r.multi_region_key(true);
    let base = ["--regions", "us-east-1,eu-west-1", "-k", key.as_str()];
    let args = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |extra: &[&str], stdin: &[u8]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        r.run(&a, stdin)
    };
    assert!(run(&["setup"], b"").status.success());
    assert!(run(&["put", "db", "-"], b"v1").status.success());
    r.fault(serde_json::json!({
        "target": "dynamodb:*", "region": "us-east-1", "error": "AccessDeniedException"
    }));
    let out = run(&["get", "db"], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    // A write region outside the regions read is a usage error.
    let out = run(&["--write-region", "ap-south-1", "get", "db"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--regions"), "{}", stderr(&out));
}

#[test]
fn strong_consistency_with_two_regions_is_a_usage_error() {
    let r = Remote::start();
    let out = r.run(
        &[
            "--regions",
            "us-east-1,eu-west-1",
            "setup",
            "--consistency",
            "strong",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exactly three regions"),
        "{}",
        stderr(&out)
    );
    let out = r.run(&["setup", "--consistency", "strong"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--regions"), "{}", stderr(&out));
    // Nothing was created.
    let out = r.run(&["get", "x"], b"");
    assert!(
        stderr(&out).contains("table credential-store does not exist"),
        "{}",
        stderr(&out)
    );
}
