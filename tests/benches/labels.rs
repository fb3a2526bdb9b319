//! Reading labelled secrets against unlabelled ones (docs/BENCHMARKS.md,
//! "Version labels"): a fresh `Lockbox` fetches N secrets un-pinned with
//! `get_many`, against one `lockbox-mock` that adds `BENCH_LATENCY_MS` (10) to
//! every call, alternating between N secrets without labels and N secrets with
//! labels (half of them mid-rotation, a `pending` version above `current`; half
//! with a label of the user's), so both sets meet the same machine state.
//! Prints each set's median, quartiles and calls per run, and the ratio of the
//! medians. Run with `scripts/bench-labels`; never a timed assertion.
//!
//! Settings: `BENCH_SECRETS` (100), `BENCH_RUNS` (30 per set),
//! `BENCH_LATENCY_MS` (10). Under `cargo test` it runs a quick check instead
//! (6 secrets, 2 runs, no latency).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lockbox::backend::TableMode;
use lockbox::{
    AwsOptions, EncryptionContext, Label, LabelCondition, Lockbox, PutOptions, RotateOptions,
    SecretName, SecretRef, SecretValue, Version,
};

/// Operations counted (each with the same latency), then a catch-all.
const COUNTED: [&str; 6] = [
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:ListTagsOfResource",
    "dynamodb:DescribeTable",
    "kms:Decrypt",
];

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // without it, as a quick check that it works (a few secrets, no latency).
    let smoke = !std::env::args().any(|a| a == "--bench");
    let secrets = setting("BENCH_SECRETS", if smoke { 6 } else { 100 }) as usize;
    let runs = setting("BENCH_RUNS", if smoke { 2 } else { 30 }) as usize;
    let latency = setting("BENCH_LATENCY_MS", if smoke { 0 } else { 10 });

    let mock = lockbox_mock::start().await.expect("the emulator starts");
    let endpoint = mock.endpoint_url();
    let kms = lockbox_tests::kms_client(&endpoint);
    let key = kms.create_key().send().await.expect("CreateKey");
    kms.create_alias()
        .alias_name("alias/credstash")
        .target_key_id(key.key_metadata.expect("metadata").key_id)
        .send()
        .await
        .expect("CreateAlias");
    let options = AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.clone()),
        credentials: Some(lockbox_tests::test_credentials()),
        // As a deployment gives it: the table's record in one call.
        account_id: Some("000000000000".into()),
        ..AwsOptions::default()
    };
    let writer = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    writer.setup(TableMode::Sealed, &[]).await.unwrap();

    let plain: Vec<SecretName> = (0..secrets)
        .map(|i| SecretName::new(format!("bench/plain/{i:04}")).unwrap())
        .collect();
    let labelled: Vec<SecretName> = (0..secrets)
        .map(|i| SecretName::new(format!("bench/labelled/{i:04}")).unwrap())
        .collect();
    let value = |v: &str| SecretValue::from(format!("{v}-0123456789abcdef0123456789abcdef"));
    for n in &plain {
        for v in ["old", "live"] {
            writer
                .put(n, &value(v), &PutOptions::default())
                .await
                .unwrap();
        }
    }
    let stable = Label::new("stable").unwrap();
    for (i, n) in labelled.iter().enumerate() {
        for v in ["old", "live"] {
            writer
                .put(n, &value(v), &PutOptions::default())
                .await
                .unwrap();
        }
        if i % 2 == 0 {
            writer
                .rotate_start(n, &value("next"), &RotateOptions::default())
                .await
                .unwrap();
        } else {
            writer
                .set_label(n, &stable, Version::FIRST, LabelCondition::Absent)
                .await
                .unwrap();
        }
    }

    for target in COUNTED {
        lockbox_tests::add_fault(
            &endpoint,
            serde_json::json!({"target": target, "latency_ms": latency}),
        )
        .await;
    }
    lockbox_tests::add_fault(
        &endpoint,
        serde_json::json!({"target": "*", "latency_ms": latency}),
    )
    .await;

    println!(
        "## Version labels: {secrets} secrets read un-pinned by a fresh Lockbox, {latency} ms per \
         call, {runs} interleaved runs per set ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut calls: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    // One warm-up of each, not counted.
    read_all(&options, &plain).await;
    read_all(&options, &labelled).await;
    for run in 0..runs {
        let order: [(&str, &Vec<SecretName>); 2] = if run % 2 == 0 {
            [("unlabelled", &plain), ("labelled", &labelled)]
        } else {
            [("labelled", &labelled), ("unlabelled", &plain)]
        };
        for (set, names) in order {
            let before = lockbox_tests::fired(&endpoint).await;
            let took = read_all(&options, names).await;
            let after = lockbox_tests::fired(&endpoint).await;
            times.entry(set).or_default().push(took);
            let per_run: BTreeMap<String, u64> = after
                .iter()
                .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
                .collect();
            let seen = calls.entry(set).or_insert_with(|| per_run.clone());
            assert_eq!(
                *seen, per_run,
                "{set}: the calls of a run are deterministic"
            );
        }
    }

    println!();
    println!("| set | median | p25 | p75 | min | median / latency | calls per run |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut medians = BTreeMap::new();
    for set in ["unlabelled", "labelled"] {
        let mut t = times[set].clone();
        t.sort();
        let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
        let median = at(0.5);
        medians.insert(set, median);
        let shown: Vec<String> = calls[set]
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "| {set} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} | {} |",
            ms(median),
            ms(at(0.25)),
            ms(at(0.75)),
            ms(t[0]),
            ms(median) / latency.max(1) as f64,
            shown.join(", ")
        );
    }
    let ratio = ms(medians["labelled"]) / ms(medians["unlabelled"]);
    println!();
    println!(
        "labelled / unlabelled median: {ratio:.3} (target: at most 1.10); calls per run {}",
        if calls["labelled"] == calls["unlabelled"] {
            "identical"
        } else {
            "DIFFERENT"
        }
    );
    mock.shutdown().await;
}

/// One run: a fresh Lockbox (record unread, nothing cached) fetches `names`.
async fn read_all(options: &AwsOptions, names: &[SecretName]) -> Duration {
    let lockbox = Lockbox::from_env(options)
        .await
        .unwrap()
        .one_shot(true)
        .build()
        .unwrap();
    let refs: Vec<SecretRef> = names.iter().cloned().map(SecretRef::latest).collect();
    let start = Instant::now();
    let got = lockbox
        .get_many(&refs, &EncryptionContext::new())
        .await
        .expect("every secret reads");
    let took = start.elapsed();
    assert_eq!(got.len(), names.len());
    assert!(got
        .iter()
        .all(|s| s.value.expose_str().unwrap().starts_with("live-")));
    took
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
