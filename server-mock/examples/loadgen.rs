//! Request-rate load generator for `scripts/bench-emulator`: drives GetItem, Query
//! and Decrypt with the real AWS SDK clients and concurrent tasks against any
//! endpoint (lockbox-mock or moto), and prints requests per second for each.
//!
//! `cargo run --release -p lockbox-mock --example loadgen -- ENDPOINT [SECONDS] [CONCURRENCY]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType,
};
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_sdk_kms::primitives::Blob;

const TABLE: &str = "bench-credential-store";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .ok_or("usage: loadgen ENDPOINT [SECONDS] [CONCURRENCY]")?;
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let concurrency: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(16);

    let creds = Credentials::new("AKIDBENCH", "bench-secret", None, None, "bench");
    let http = aws_smithy_http_client::Builder::new().build_http();
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(creds.clone())
            .endpoint_url(&endpoint)
            .http_client(http.clone())
            .build(),
    );
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(&endpoint)
            .http_client(http)
            .build(),
    );

    // Fixture: a credstash-shaped table with 100 names × 3 versions, one KMS blob.
    let _ = ddb.delete_table().table_name(TABLE).send().await;
    ddb.create_table()
        .table_name(TABLE)
        .key_schema(key("name", KeyType::Hash)?)
        .key_schema(key("version", KeyType::Range)?)
        .attribute_definitions(attr("name")?)
        .attribute_definitions(attr("version")?)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()?,
        )
        .send()
        .await?;
    for n in 0..100 {
        for v in 1..=3 {
            ddb.put_item()
                .table_name(TABLE)
                .item("name", AttributeValue::S(format!("secret-{n}")))
                .item("version", AttributeValue::S(format!("{v:019}")))
                .item("contents", AttributeValue::S("x".repeat(64)))
                .send()
                .await?;
        }
    }
    let key_id = kms
        .create_key()
        .send()
        .await?
        .key_metadata
        .ok_or("no key")?
        .key_id;
    let blob = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(64)
        .send()
        .await?
        .ciphertext_blob
        .ok_or("no blob")?;

    println!("endpoint {endpoint}, {concurrency} concurrent clients, {seconds} s per operation");
    let duration = Duration::from_secs(seconds);
    let get_item = {
        let ddb = ddb.clone();
        run(concurrency, duration, move |i| {
            let ddb = ddb.clone();
            async move {
                ddb.get_item()
                    .table_name(TABLE)
                    .key("name", AttributeValue::S(format!("secret-{}", i % 100)))
                    .key("version", AttributeValue::S(format!("{:019}", 3)))
                    .send()
                    .await
                    .is_ok()
            }
        })
        .await
    };
    let query = {
        let ddb = ddb.clone();
        run(concurrency, duration, move |i| {
            let ddb = ddb.clone();
            async move {
                ddb.query()
                    .table_name(TABLE)
                    .key_condition_expression("#n = :n")
                    .expression_attribute_names("#n", "name")
                    .expression_attribute_values(
                        ":n",
                        AttributeValue::S(format!("secret-{}", i % 100)),
                    )
                    .scan_index_forward(false)
                    .limit(1)
                    .consistent_read(true)
                    .send()
                    .await
                    .is_ok()
            }
        })
        .await
    };
    let decrypt = run(concurrency, duration, move |_| {
        let kms = kms.clone();
        let blob: Blob = blob.clone();
        async move { kms.decrypt().ciphertext_blob(blob).send().await.is_ok() }
    })
    .await;
    println!("| operation | requests/s | errors |");
    println!("|---|---:|---:|");
    for (name, (rps, errors)) in [
        ("GetItem", get_item),
        ("Query", query),
        ("Decrypt", decrypt),
    ] {
        println!("| {name} | {rps:.0} | {errors} |");
    }
    Ok(())
}

/// Runs `call` from `concurrency` tasks for `duration`; (successes per second, errors).
async fn run<F, Fut>(concurrency: usize, duration: Duration, call: F) -> (f64, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency as u64)
        .map(|t| {
            let (call, ok, failed) = (call.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let mut i = t;
                while started.elapsed() < duration {
                    let counter = if call(i).await { &ok } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    i += concurrency as u64;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let secs = started.elapsed().as_secs_f64();
    (
        ok.load(Ordering::Relaxed) as f64 / secs,
        failed.load(Ordering::Relaxed),
    )
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, Box<dyn std::error::Error>> {
    Ok(KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()?)
}

fn attr(name: &str) -> Result<AttributeDefinition, Box<dyn std::error::Error>> {
    Ok(AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()?)
}
