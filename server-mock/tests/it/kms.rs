//! KMS conformance: the real `aws-sdk-kms` client against the emulator.

use std::collections::HashMap;

use crate::common::{http, kms_client, kms_client_in};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState};
use aws_sdk_kms::Client;
use lockbox_mock::RunningMock;

async fn setup() -> (RunningMock, Client) {
    let mock = lockbox_mock::start().await.expect("start");
    let client = kms_client(&mock.endpoint_url());
    (mock, client)
}

async fn new_key(client: &Client) -> String {
    client
        .create_key()
        .description("test key")
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("metadata")
        .key_id
}

fn code<E: ProvideErrorMetadata>(result: Result<impl std::fmt::Debug, E>) -> String {
    let err = result.expect_err("expected an error");
    err.code().unwrap_or("<no code>").to_owned()
}

fn ctx(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn create_describe_and_list_keys_with_pagination() {
    let (_mock, client) = setup().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(new_key(&client).await);
    }
    let described = client.describe_key().key_id(&ids[0]).send().await.unwrap();
    let meta = described.key_metadata.unwrap();
    assert_eq!(meta.key_id, ids[0]);
    assert_eq!(
        meta.arn.as_deref(),
        Some(format!("arn:aws:kms:us-east-1:000000000000:key/{}", ids[0]).as_str())
    );
    assert_eq!(meta.key_state, Some(KeyState::Enabled));
    assert_eq!(meta.description.as_deref(), Some("test key"));

    let first = client.list_keys().limit(2).send().await.unwrap();
    assert_eq!(first.keys().len(), 2);
    assert!(first.truncated);
    let marker = first.next_marker.clone().expect("marker");
    let second = client
        .list_keys()
        .limit(2)
        .marker(marker)
        .send()
        .await
        .unwrap();
    assert_eq!(second.keys().len(), 1);
    assert!(!second.truncated);
    let mut seen: Vec<String> = first
        .keys()
        .iter()
        .chain(second.keys())
        .map(|k| k.key_id.clone().unwrap())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    assert_eq!(
        code(client.list_keys().marker("garbage").send().await),
        "InvalidMarkerException"
    );
    assert_eq!(
        code(client.list_keys().limit(0).send().await),
        "ValidationException"
    );
}

#[tokio::test]
async fn every_key_id_form_resolves_and_aliases_are_managed() {
    let (_mock, client) = setup().await;
    let key = new_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/credstash")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:kms:us-east-1:000000000000:key/{key}");
    for form in [
        key.clone(),
        arn.clone(),
        "alias/credstash".to_owned(),
        "arn:aws:kms:us-east-1:000000000000:alias/credstash".to_owned(),
    ] {
        let meta = client.describe_key().key_id(&form).send().await.unwrap();
        assert_eq!(meta.key_metadata.unwrap().key_id, key, "{form}");
        let blob = client
            .encrypt()
            .key_id(&form)
            .plaintext(Blob::new("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(blob.key_id.as_deref(), Some(arn.as_str()));
    }
    // CreateAlias again: AlreadyExists. Bad names and alias targets are refused.
    let again = client
        .create_alias()
        .alias_name("alias/credstash")
        .target_key_id(&key)
        .send()
        .await;
    assert_eq!(code(again), "AlreadyExistsException");
    let bad = client
        .create_alias()
        .alias_name("credstash")
        .target_key_id(&key)
        .send()
        .await;
    assert_eq!(code(bad), "InvalidAliasNameException");
    let via_alias = client
        .create_alias()
        .alias_name("alias/other")
        .target_key_id("alias/credstash")
        .send()
        .await;
    assert_eq!(code(via_alias), "NotFoundException");

    let listed = client.list_aliases().send().await.unwrap();
    let aliases = listed.aliases();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].alias_name.as_deref(), Some("alias/credstash"));
    assert_eq!(aliases[0].target_key_id.as_deref(), Some(key.as_str()));
    let filtered = client.list_aliases().key_id(&arn).send().await.unwrap();
    assert_eq!(filtered.aliases().len(), 1);

    for name in ["alias/b", "alias/c"] {
        client
            .create_alias()
            .alias_name(name)
            .target_key_id(&key)
            .send()
            .await
            .unwrap();
    }
    let page = client.list_aliases().limit(2).send().await.unwrap();
    assert!(page.truncated);
    let rest = client
        .list_aliases()
        .limit(2)
        .marker(page.next_marker.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert!(!rest.truncated);
    let names: Vec<_> = page
        .aliases()
        .iter()
        .chain(rest.aliases())
        .filter_map(|a| a.alias_name.clone())
        .collect();
    assert_eq!(names, ["alias/b", "alias/c", "alias/credstash"]);

    client
        .delete_alias()
        .alias_name("alias/credstash")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(client.describe_key().key_id("alias/credstash").send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(
            client
                .delete_alias()
                .alias_name("alias/credstash")
                .send()
                .await
        ),
        "NotFoundException"
    );
}

#[tokio::test]
async fn generate_data_key_honours_size_and_validates() {
    let (_mock, client) = setup().await;
    let key = new_key(&client).await;
    let out = client
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(64)
        .encryption_context("name", "db")
        .send()
        .await
        .unwrap();
    let plaintext = out.plaintext.unwrap();
    assert_eq!(plaintext.as_ref().len(), 64);
    let back = client
        .decrypt()
        .ciphertext_blob(out.ciphertext_blob.unwrap())
        .encryption_context("name", "db")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext.unwrap().as_ref(), plaintext.as_ref());

    for (spec, len) in [(DataKeySpec::Aes128, 16), (DataKeySpec::Aes256, 32)] {
        let out = client
            .generate_data_key()
            .key_id(&key)
            .key_spec(spec)
            .send()
            .await
            .unwrap();
        assert_eq!(out.plaintext.unwrap().as_ref().len(), len);
    }
    for n in [0, 1025] {
        let r = client
            .generate_data_key()
            .key_id(&key)
            .number_of_bytes(n)
            .send()
            .await;
        assert_eq!(code(r), "ValidationException", "NumberOfBytes {n}");
    }
    let neither = client.generate_data_key().key_id(&key).send().await;
    assert_eq!(code(neither), "ValidationException");
    let both = client
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await;
    assert_eq!(code(both), "ValidationException");

    let without = client
        .generate_data_key_without_plaintext()
        .key_id(&key)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let back = client
        .decrypt()
        .ciphertext_blob(without.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext.unwrap().as_ref().len(), 32);
}

#[tokio::test]
async fn encryption_context_is_bound_unambiguously() {
    let (_mock, client) = setup().await;
    let key = new_key(&client).await;
    let encrypt = |context: HashMap<String, String>| {
        client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new("secret"))
            .set_encryption_context(Some(context))
            .send()
    };
    let decrypt = |blob: Blob, context: Option<HashMap<String, String>>| {
        client
            .decrypt()
            .ciphertext_blob(blob)
            .set_encryption_context(context)
            .send()
    };

    let blob = encrypt(ctx(&[("ab", "c")]))
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    assert_eq!(
        code(decrypt(blob.clone(), Some(ctx(&[("a", "bc")]))).await),
        "InvalidCiphertextException"
    );
    assert_eq!(
        code(decrypt(blob.clone(), None).await),
        "InvalidCiphertextException"
    );
    let ok = decrypt(blob, Some(ctx(&[("ab", "c")]))).await.unwrap();
    assert_eq!(ok.plaintext.unwrap().as_ref(), b"secret");

    // `{}` is the same as no context, both ways.
    let blob = encrypt(HashMap::new())
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    decrypt(blob, None).await.unwrap();
    let blob = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("s"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    decrypt(blob, Some(HashMap::new())).await.unwrap();

    let garbage = decrypt(Blob::new(vec![1u8; 80]), None).await;
    assert_eq!(code(garbage), "InvalidCiphertextException");
}

#[tokio::test]
async fn encrypt_limits_and_decrypt_key_checks() {
    let (_mock, client) = setup().await;
    let key = new_key(&client).await;
    let other = new_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/main")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();

    let max = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(vec![7u8; 4096]))
        .send()
        .await;
    let blob = max.unwrap().ciphertext_blob.unwrap();
    let too_big = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(vec![7u8; 4097]))
        .send()
        .await;
    assert_eq!(code(too_big), "ValidationException");

    let right = client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .key_id("alias/main")
        .send()
        .await;
    assert_eq!(
        right.unwrap().plaintext.unwrap().as_ref(),
        vec![7u8; 4096].as_slice()
    );
    let wrong = client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .key_id(&other)
        .send()
        .await;
    assert_eq!(code(wrong), "IncorrectKeyException");
    let unknown = client
        .decrypt()
        .ciphertext_blob(blob)
        .key_id("alias/nope")
        .send()
        .await;
    assert_eq!(code(unknown), "NotFoundException");
    let missing_key = client
        .describe_key()
        .key_id("11111111-2222-3333-4444-555555555555")
        .send()
        .await;
    assert_eq!(code(missing_key), "NotFoundException");
}

#[tokio::test]
async fn re_encrypt_moves_a_blob_to_another_key_and_context() {
    let (_mock, client) = setup().await;
    let source = new_key(&client).await;
    let target = new_key(&client).await;
    let blob = client
        .encrypt()
        .key_id(&source)
        .plaintext(Blob::new("payload"))
        .encryption_context("a", "1")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let wrong_source = client
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("a", "1")
        .source_key_id(&target)
        .destination_key_id(&target)
        .send()
        .await;
    assert_eq!(code(wrong_source), "IncorrectKeyException");
    let out = client
        .re_encrypt()
        .ciphertext_blob(blob)
        .source_encryption_context("a", "1")
        .destination_key_id(&target)
        .destination_encryption_context("b", "2")
        .send()
        .await
        .unwrap();
    assert!(out.source_key_id.unwrap().ends_with(&source));
    assert!(out.key_id.unwrap().ends_with(&target));
    let back = client
        .decrypt()
        .ciphertext_blob(out.ciphertext_blob.unwrap())
        .encryption_context("b", "2")
        .key_id(&target)
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext.unwrap().as_ref(), b"payload");
}

#[tokio::test]
async fn key_states_gate_cryptographic_operations() {
    let (_mock, client) = setup().await;
    let key = new_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/k")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let blob = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("v"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();

    // EnableKey/DisableKey take a key id or ARN, not an alias.
    assert_eq!(
        code(client.disable_key().key_id("alias/k").send().await),
        "NotFoundException"
    );
    client.disable_key().key_id(&key).send().await.unwrap();
    let decrypt = || client.decrypt().ciphertext_blob(blob.clone()).send();
    assert_eq!(code(decrypt().await), "DisabledException");
    let gdk = client
        .generate_data_key()
        .key_id("alias/k")
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(code(gdk), "DisabledException");
    let meta = client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(
        (meta.key_state, meta.enabled),
        (Some(KeyState::Disabled), false)
    );
    client.enable_key().key_id(&key).send().await.unwrap();
    decrypt().await.unwrap();

    for days in [6, 31] {
        let r = client
            .schedule_key_deletion()
            .key_id(&key)
            .pending_window_in_days(days)
            .send()
            .await;
        assert_eq!(code(r), "ValidationException", "{days} days");
    }
    let scheduled = client
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.key_state, Some(KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days, Some(7));
    assert_eq!(code(decrypt().await), "KMSInvalidStateException");
    assert_eq!(
        code(client.enable_key().key_id(&key).send().await),
        "KMSInvalidStateException"
    );
    let meta = client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_state, Some(KeyState::PendingDeletion));
    assert!(meta.deletion_date.is_some());

    client
        .cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let meta = client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_state, Some(KeyState::Disabled));
    assert_eq!(code(decrypt().await), "DisabledException");
}

#[tokio::test]
async fn region_comes_from_the_signature() {
    let (mock, east) = setup().await;
    let west = kms_client_in(&mock.endpoint_url(), "eu-west-1");
    let key = new_key(&west).await;
    let meta = west
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert!(meta
        .arn
        .unwrap()
        .starts_with("arn:aws:kms:eu-west-1:000000000000:key/"));
    assert_eq!(
        code(east.describe_key().key_id(&key).send().await),
        "NotFoundException"
    );
}

#[tokio::test]
async fn errors_are_framed_like_kms() {
    let (mock, client) = setup().await;
    let _ = new_key(&client).await;
    let url = mock.endpoint_url();
    let headers = [
        ("X-Amz-Target", "TrentService.DescribeKey"),
        ("Content-Type", "application/x-amz-json-1.1"),
    ];
    let (status, body) = http(&url, "POST", "/", &headers, r#"{"KeyId":"alias/none"}"#)
        .await
        .unwrap();
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["__type"], "NotFoundException");
    assert!(body["message"].as_str().unwrap().contains("alias/none"));

    let (status, _) = http(
        &url,
        "POST",
        "/",
        &[("X-Amz-Target", "TrentService.Nope")],
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(status, 400);
    let (status, body) = http(&url, "POST", "/", &headers, "{not json")
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("SerializationException"));
}

#[tokio::test]
async fn health_and_reset() {
    let (mock, client) = setup().await;
    let url = mock.endpoint_url();
    let (status, _) = http(&url, "GET", "/_mock/health", &[], "").await.unwrap();
    assert_eq!(status, 200);
    let _ = new_key(&client).await;
    let (status, _) = http(&url, "POST", "/_mock/reset", &[], "").await.unwrap();
    assert_eq!(status, 204);
    assert!(client.list_keys().send().await.unwrap().keys().is_empty());
}
