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
    let store = admin.table_record().await.unwrap().store.expect("a store");
    for n in ["app1/db", "app1/api", "app2/db"] {
        admin
            .put(&name(n), &n.into(), &PutOptions::default())
            .await
            .unwrap();
    }
    mock.shutdown().await;

    // The generated policies, unchanged, for a reader and a writer of app1/*.
    let scope = PolicyScope::new(
        format!("arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}"),
        key.arn.clone().expect("key ARN"),
        store,
    );
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
            ..
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
            ..
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

async fn lockbox_on(endpoint: &str, table: &str, key: &str, secret: &str) -> Lockbox {
    let options = AwsOptions {
        table: table.into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        credentials: Some(Credentials::new(key, secret, None, None, "test")),
        max_attempts: 2,
        ..AwsOptions::default()
    };
    Lockbox::from_env(&options).await.unwrap().build().unwrap()
}

fn kms_as(endpoint: &str, key: &str, secret: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .credentials_provider(Credentials::new(key, secret, None, None, "t"))
            .endpoint_url(endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build(),
    )
}

/// Two tables on one KMS key (credstash's default: one `alias/credstash` per
/// account and region). The generated reader of `app1/*` in `staging`, with the
/// DynamoDB read access of AWS's `AmazonDynamoDBReadOnlyAccess` on every table,
/// reads staging's `app1/db` and is refused prod's by KMS: the store binding. A
/// writer's `GenerateDataKey` with a second, differently cased `LOCKBOX-NAME` in
/// its context is refused too: only lockbox's context keys are allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_policy_works_only_on_its_own_table_and_context_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = |iam: String| {
        lockbox_mock::Config::builder()
            .data_dir(dir.path())
            .iam_json(iam)
    };
    let mock = lockbox_mock::start_with(config(identities(json!([]))))
        .await
        .unwrap();
    let endpoint = mock.endpoint_url();
    let kms = kms_as(&endpoint, "AKIAADMIN", "admin-secret");
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/credstash")
        .target_key_id(&key.key_id)
        .send()
        .await
        .unwrap();
    let mut stores = Vec::new();
    for (table, value) in [
        ("credential-store", "PROD-app1-db"),
        ("staging", "staging-app1"),
    ] {
        let admin = lockbox_on(&endpoint, table, "AKIAADMIN", "admin-secret").await;
        admin.setup(TableMode::Sealed, &[]).await.unwrap();
        admin
            .put(&name("app1/db"), &value.into(), &PutOptions::default())
            .await
            .unwrap();
        stores.push(admin.table_record().await.unwrap().store.unwrap());
    }
    assert_ne!(stores[0], stores[1]);
    mock.shutdown().await;

    let scope = |table: &str, store: &str| {
        PolicyScope::new(
            format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}"),
            key.arn.clone().expect("key ARN"),
            store.to_owned(),
        )
    };
    let read_only_access = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "LikeAmazonDynamoDBReadOnlyAccess", "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
                   "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"],
        "Resource": "*"}]});
    let iam = identities(json!([
        {"name": "dev-reader", "access_key_id": "AKIADEV", "secret_access_key": "dev-secret",
         "policies": [reader_policy("app1/*", &scope("staging", &stores[1])), read_only_access]},
        {"name": "writer", "access_key_id": "AKIAWRITER", "secret_access_key": "writer-secret",
         "policies": [writer_policy("app1/*", &scope("credential-store", &stores[0]))]},
    ]));
    let mock = lockbox_mock::start_with(config(iam)).await.unwrap();
    let endpoint = mock.endpoint_url();
    let none = EncryptionContext::new();

    let staging = lockbox_on(&endpoint, "staging", "AKIADEV", "dev-secret").await;
    let got = staging.get(&name("app1/db"), &none).await.unwrap();
    assert_eq!(got.value.expose_str().unwrap(), "staging-app1");
    let prod = lockbox_on(&endpoint, "credential-store", "AKIADEV", "dev-secret").await;
    match prod.get(&name("app1/db"), &none).await {
        Err(Error::AccessDenied {
            service: Service::Kms,
            message,
            ..
        }) => assert!(message.contains("kms:Decrypt"), "{message}"),
        other => panic!("the staging reader read prod: {other:?}"),
    }

    // The writer of app1/* asks for a data key for app2/db, smuggling an allowed
    // name in a second, upper-case key: refused by the context-key condition.
    let writer_kms = kms_as(&endpoint, "AKIAWRITER", "writer-secret");
    let context = |extra: Option<(&str, &str)>| {
        let mut c = std::collections::HashMap::from([
            ("lockbox-format".to_owned(), "lockbox-sealed-2".to_owned()),
            ("lockbox-name".to_owned(), "app2/db".to_owned()),
            ("lockbox-store".to_owned(), stores[0].clone()),
            ("lockbox-version".to_owned(), "1".to_owned()),
        ]);
        if let Some((k, v)) = extra {
            c.insert(k.to_owned(), v.to_owned());
        }
        c
    };
    for extra in [Some(("LOCKBOX-NAME", "app1/x")), None] {
        let err = writer_kms
            .generate_data_key()
            .key_id(key.arn.clone().unwrap())
            .number_of_bytes(32)
            .set_encryption_context(Some(context(extra)))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
            Some("AccessDeniedException"),
            "{extra:?}: {err:?}"
        );
    }
    // Its own names, in its own store, are allowed.
    let writer = lockbox_on(&endpoint, "credential-store", "AKIAWRITER", "writer-secret").await;
    writer
        .put(&name("app1/new"), &"v".into(), &PutOptions::default())
        .await
        .unwrap();
    mock.shutdown().await;
}
