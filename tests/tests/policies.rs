//! The least-privilege policies of `lockbox::policy`, loaded unchanged into the
//! emulator's strict mode: a reader of `app1/*` reads its secrets and is refused
//! every other; a writer can write but not decrypt.

use aws_credential_types::Credentials;
use lockbox::backend::TableMode;
use lockbox::policy::{reader_policy, writer_policy, PolicyScope};
use lockbox::{AwsOptions, EncryptionContext, Error, Lockbox, PutOptions, SecretName, Service};
use serde_json::json;

const TABLE: &str = "credential-store";

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

fn identities(extra_users: serde_json::Value) -> String {
    let mut users = vec![json!({
        "name": "admin", "access_key_id": "AKIAADMIN", "secret_access_key": "admin-secret",
        "policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
    })];
    users.extend(extra_users.as_array().cloned().unwrap_or_default());
    json!({ "users": users, "roles": [] }).to_string()
}

async fn lockbox_as(endpoint: &str, key: &str, secret: &str) -> Lockbox {
    let options = AwsOptions {
        table: TABLE.into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        credentials: Some(Credentials::new(key, secret, None, None, "test")),
        max_attempts: 2,
        ..AwsOptions::default()
    };
    Lockbox::from_env(&options).await.unwrap().build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_policies_confine_readers_and_writers_to_their_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let config = |iam: String| {
        lockbox_mock::Config::builder()
            .data_dir(dir.path())
            .iam_json(iam)
    };

    // As the administrator: the key, the table and secrets under two prefixes.
    let mock = lockbox_mock::start_with(config(identities(json!([]))))
        .await
        .unwrap();
    let endpoint = mock.endpoint_url();
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIAADMIN",
                "admin-secret",
                None,
                None,
                "t",
            ))
            .endpoint_url(&endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build(),
    );
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/credstash")
        .target_key_id(&key.key_id)
        .send()
        .await
        .unwrap();
    let admin = lockbox_as(&endpoint, "AKIAADMIN", "admin-secret").await;
    admin.setup(TableMode::Sealed, &[]).await.unwrap();
    for n in ["app1/db", "app1/api", "app2/db"] {
        admin
            .put(&name(n), &n.into(), &PutOptions::default())
            .await
            .unwrap();
    }
    mock.shutdown().await;

    // The generated policies, unchanged, for a reader and a writer of app1/*.
    let scope = PolicyScope {
        table_arn: format!("arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}"),
        key_arn: key.arn.clone().expect("key ARN"),
    };
    let iam = identities(json!([
        {"name": "reader", "access_key_id": "AKIAREADER", "secret_access_key": "reader-secret",
         "policies": [reader_policy("app1/*", &scope)]},
        {"name": "writer", "access_key_id": "AKIAWRITER", "secret_access_key": "writer-secret",
         "policies": [writer_policy("app1/*", &scope)]},
    ]));
    let mock = lockbox_mock::start_with(config(iam)).await.unwrap();
    let endpoint = mock.endpoint_url();
    let none = EncryptionContext::new();

    let reader = lockbox_as(&endpoint, "AKIAREADER", "reader-secret").await;
    assert_eq!(
        reader
            .get(&name("app1/db"), &none)
            .await
            .unwrap()
            .value
            .expose_str()
            .unwrap(),
        "app1/db"
    );
    assert_eq!(reader.history(&name("app1/api")).await.unwrap().len(), 1);
    match reader.get(&name("app2/db"), &none).await {
        Err(Error::AccessDenied {
            service: Service::DynamoDb,
            message,
        }) => {
            assert!(message.contains("AccessDeniedException"), "{message}");
            assert!(
                message.contains("dynamodb:Query"),
                "names the missing permission: {message}"
            );
        }
        other => panic!("expected AccessDenied, got {other:?}"),
    }
    let err = reader
        .put(&name("app1/db"), &"x".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");

    let writer = lockbox_as(&endpoint, "AKIAWRITER", "writer-secret").await;
    assert_eq!(
        writer
            .put(&name("app1/db"), &"rotated".into(), &PutOptions::default())
            .await
            .unwrap()
            .get(),
        2
    );
    let err = writer
        .put(&name("app2/db"), &"x".into(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
    match writer.get(&name("app1/db"), &none).await {
        Err(Error::AccessDenied {
            service: Service::Kms,
            message,
        }) => {
            assert!(message.contains("kms:Decrypt"), "{message}")
        }
        other => panic!("a writer must not decrypt: {other:?}"),
    }
    assert_eq!(
        reader
            .get(&name("app1/db"), &none)
            .await
            .unwrap()
            .value
            .expose_str()
            .unwrap(),
        "rotated"
    );
    mock.shutdown().await;
}
