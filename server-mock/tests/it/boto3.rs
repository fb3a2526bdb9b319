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

/// boto3 parses the emulator's global tables, replication, multi-Region keys and
/// region outages as AWS's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_reads_global_tables_and_multi_region_keys() {
    let Some(venv) = venv() else { return };
    let mock = lockbox_mock::start().await.unwrap();
    let url = mock.endpoint_url();
    let script = r#"
import json, urllib.request, os
import boto3, botocore
from botocore.config import Config
url = os.environ["AWS_ENDPOINT_URL"]
def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    return json.loads(urllib.request.urlopen(req).read() or b"{}")
fast = Config(retries={"max_attempts": 1})
east = boto3.client("dynamodb", region_name="us-east-1", config=fast)
west = boto3.client("dynamodb", region_name="eu-west-1", config=fast)
east.create_table(TableName="credential-store", BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}])
out = east.update_table(TableName="credential-store",
    ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
assert out["TableDescription"]["TableStatus"] == "UPDATING", out
t = west.describe_table(TableName="credential-store")["Table"]
assert t["GlobalTableVersion"] == "2019.11.21", t
assert t["MultiRegionConsistency"] == "EVENTUAL", t
assert sorted(r["RegionName"] for r in t["Replicas"]) == ["eu-west-1", "us-east-1"], t
try:
    east.update_table(TableName="credential-store",
        ReplicaUpdates=[{"Create": {"RegionName": "us-east-1"}}])
    raise SystemExit("a replica in its own region was accepted")
except east.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
post("/_mock/replication", {"paused": True})
east.put_item(TableName="credential-store", Item={"name": {"S": "a"}})
assert "Item" not in west.get_item(TableName="credential-store", Key={"name": {"S": "a"}}, ConsistentRead=True)
assert post("/_mock/replication", {"paused": False, "flush": True})["pending"] == 0
assert "Item" in west.get_item(TableName="credential-store", Key={"name": {"S": "a"}}, ConsistentRead=True)
post("/_mock/faults", {"target": "*", "region": "eu-west-1", "error": "ServiceUnavailable"})
t = east.describe_table(TableName="credential-store")["Table"]
assert {r["RegionName"]: r["ReplicaStatus"] for r in t["Replicas"]}["eu-west-1"] == "REGION_DISABLED", t
try:
    west.get_item(TableName="credential-store", Key={"name": {"S": "a"}})
    raise SystemExit("a region that is down answered")
except botocore.exceptions.ClientError as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.response
kms_east = boto3.client("kms", region_name="us-east-1")
kms_west = boto3.client("kms", region_name="eu-central-1")
key = kms_east.create_key(MultiRegion=True)["KeyMetadata"]
assert key["KeyId"].startswith("mrk-") and key["MultiRegion"], key
assert key["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY", key
replica = kms_east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="eu-central-1")
assert replica["ReplicaKeyMetadata"]["Arn"].startswith("arn:aws:kms:eu-central-1:"), replica
blob = kms_east.encrypt(KeyId=key["Arn"], Plaintext=b"hi", EncryptionContext={"a": "b"})["CiphertextBlob"]
out = kms_west.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
assert out["Plaintext"] == b"hi" and out["KeyId"] == replica["ReplicaKeyMetadata"]["Arn"], out
try:
    kms_east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="eu-central-1")
    raise SystemExit("a second replica was accepted")
except kms_east.exceptions.AlreadyExistsException:
    pass
print("ok")
"#;
    let (ok, output) = tokio::task::spawn_blocking(move || python(&venv, &url, script))
        .await
        .unwrap();
    assert!(ok, "{output}");
}
