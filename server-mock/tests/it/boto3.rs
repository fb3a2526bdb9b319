//! botocore (through boto3) sees the emulator's errors as it sees AWS's: it
//! retries throttling and does not retry client errors, and its modelled
//! exceptions match the `__type` codes.

use crate::common::{add_fault, faults, python, venv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_classifies_and_retries_like_aws() {
    let Some(venv) = venv() else { return };
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    add_fault(
        &url,
        r#"{"target":"kms:Decrypt","error":"ThrottlingException","count":2}"#,
    )
    .await;
    let script = r#"
import boto3
kms = boto3.client("kms")
key = kms.create_key()["KeyMetadata"]["KeyId"]
blob = kms.encrypt(KeyId=key, Plaintext=b"hi", EncryptionContext={"a": "b"})["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"hi"
try:
    kms.decrypt(CiphertextBlob=blob)
    raise SystemExit("decrypt without context succeeded")
except kms.exceptions.InvalidCiphertextException as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.response["ResponseMetadata"]["RetryAttempts"] == 0
try:
    kms.describe_key(KeyId="alias/none")
    raise SystemExit("describe of a missing alias succeeded")
except kms.exceptions.NotFoundException:
    pass
print("ok")
"#;
    let url2 = url.clone();
    let (ok, output) = tokio::task::spawn_blocking(move || python(&venv, &url2, script))
        .await
        .unwrap();
    assert!(ok, "{output}");
    assert_eq!(faults(&url).await["rules"][0]["fired"], 2);
}
