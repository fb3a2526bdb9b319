//! Least-privilege IAM policies for readers and writers of a name pattern.
//!
//! The policies lean on what the sealed format binds: every KMS call carries the
//! secret's name as the encryption-context pair `lockbox-name`, so a KMS
//! condition on it limits which secrets an identity can decrypt or write, and
//! `dynamodb:LeadingKeys` limits which items it can touch. They therefore fit
//! sealed-mode tables; credstash-format items carry no name in their context and
//! would be refused by the KMS condition.

use serde_json::{json, Value};

use crate::format::sealed::CONTEXT_NAME;

/// Where the policies apply: the table's ARN and the KMS key's ARN (not an
/// alias: IAM evaluates KMS permissions against the key ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyScope {
    /// `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`.
    pub table_arn: String,
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    pub key_arn: String,
}

fn leading_keys(pattern: &str) -> Value {
    json!({ "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [pattern] } })
}

fn name_context(pattern: &str) -> Value {
    json!({ "StringLike": { format!("kms:EncryptionContext:{CONTEXT_NAME}"): pattern } })
}

/// May read (latest and pinned versions, history) the secrets whose names match
/// `pattern` (IAM `StringLike`: `*` and `?` wildcards).
pub fn reader_policy(pattern: &str, scope: &PolicyScope) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LockboxReadItems",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
                "Resource": scope.table_arn,
                "Condition": leading_keys(pattern),
            },
            {
                "Sid": "LockboxDecrypt",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": scope.key_arn,
                "Condition": name_context(pattern),
            },
        ],
    })
}

/// May write new versions of the secrets whose names match `pattern` (and read
/// the table's mode and the latest version number, which `put` needs), but not
/// decrypt them.
pub fn writer_policy(pattern: &str, scope: &PolicyScope) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LockboxWriteItems",
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"],
                "Resource": scope.table_arn,
                "Condition": leading_keys(pattern),
            },
            {
                "Sid": "LockboxTableMode",
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"],
                "Resource": scope.table_arn,
            },
            {
                "Sid": "LockboxGenerateDataKey",
                "Effect": "Allow",
                "Action": "kms:GenerateDataKey",
                "Resource": scope.key_arn,
                "Condition": name_context(pattern),
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> PolicyScope {
        PolicyScope {
            table_arn: "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store".into(),
            key_arn: "arn:aws:kms:us-east-1:000000000000:key/k".into(),
        }
    }

    #[test]
    fn reader_is_limited_by_name_in_both_services() {
        let p = reader_policy("app1/*", &scope());
        let s = &p["Statement"];
        assert_eq!(
            s[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"][0],
            "app1/*"
        );
        assert_eq!(s[1]["Action"], "kms:Decrypt");
        assert_eq!(
            s[1]["Condition"]["StringLike"]["kms:EncryptionContext:lockbox-name"],
            "app1/*"
        );
        assert!(
            !p.to_string().contains("Scan"),
            "no Scan: it has no leading keys to limit"
        );
        assert!(!p.to_string().contains("GenerateDataKey"));
    }

    #[test]
    fn writer_cannot_decrypt() {
        let p = writer_policy("app1/*", &scope()).to_string();
        assert!(p.contains("kms:GenerateDataKey"));
        assert!(!p.contains("kms:Decrypt"));
        assert!(p.contains("dynamodb:PutItem"));
    }
}
