//! The SDK under injected faults: retries succeed within budget, persistent
//! failures end in a typed error, and a dropped answer never duplicates a write.

use lockbox::backend::TableMode;
use lockbox::{EncryptionContext, Error, Lockbox, PutOptions, SecretName, SecretRef, SecretValue};
use lockbox_tests::{add_fault, EmulatorFixture, Fixture};
use serde_json::json;

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

async fn ready() -> (EmulatorFixture, Lockbox) {
    let fx = EmulatorFixture::start().await;
    let lb = fx.lockbox().await.build().unwrap();
    lb.setup(TableMode::Sealed, &[]).await.unwrap();
    (fx, lb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_of_the_first_calls_is_retried() {
    let (fx, lb) = ready().await;
    let endpoint = fx.mock.endpoint_url();
    lb.put(&name("t"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    add_fault(
        &endpoint,
        json!({"target": "kms:Decrypt", "error": "ThrottlingException", "count": 2}),
    )
    .await;
    add_fault(&endpoint, json!({"target": "dynamodb:Query", "error": "ProvisionedThroughputExceededException", "count": 2})).await;
    let got = lb.get(&name("t"), &EncryptionContext::new()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_is_a_clean_typed_error() {
    let (fx, lb) = ready().await;
    let endpoint = fx.mock.endpoint_url();
    for i in 0..5 {
        let n = format!("p/{i}");
        lb.put(
            &name(&n),
            &SecretValue::from(n.clone()),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    }
    add_fault(
        &endpoint,
        json!({"target": "kms:Decrypt", "error": "ThrottlingException"}),
    )
    .await;
    let refs: Vec<SecretRef> = (0..5)
        .map(|i| SecretRef::latest(name(&format!("p/{i}"))))
        .collect();
    let err = lb
        .get_many(&refs, &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let (fx, lb) = ready().await;
    add_fault(&fx.mock.endpoint_url(), json!({"target": "dynamodb:PutItem", "error": "InternalServerError", "status": 500, "count": 2})).await;
    let v = lb
        .put(&name("five"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(v.get(), 1);
    assert_eq!(lb.history(&name("five")).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_answer_to_an_applied_put_makes_exactly_one_version() {
    let (fx, lb) = ready().await;
    lb.put(&name("d"), &"v1".into(), &PutOptions::default())
        .await
        .unwrap();
    add_fault(
        &fx.mock.endpoint_url(),
        json!({"target": "dynamodb:PutItem", "drop_response": true, "count": 1}),
    )
    .await;
    let v = lb
        .put(&name("d"), &"v2".into(), &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(v.get(), 2, "the applied write is recognised as ours");
    let history = lb.history(&name("d")).await.unwrap();
    assert_eq!(history.len(), 2, "no duplicate version");
    let got = lb.get(&name("d"), &EncryptionContext::new()).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_named() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let options = lockbox::AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.clone()),
        credentials: Some(lockbox_tests::test_credentials()),
        max_attempts: 2,
        ..lockbox::AwsOptions::default()
    };
    let lb = Lockbox::from_env(&options).await.unwrap().build().unwrap();
    let err = lb
        .get(&name("x"), &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&endpoint), "{err}");
}
