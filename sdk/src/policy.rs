//! Least-privilege IAM policies for readers and writers of a name pattern.
//!
//! The policies lean on what the sealed format binds: every KMS call carries the
//! secret's name and the table's store identity as the encryption-context pairs
//! `lockbox-name` and `lockbox-store`, so KMS conditions on them limit which
//! secrets, of which table, an identity can decrypt or write, and
//! `dynamodb:LeadingKeys` limits which items it can touch. A condition on
//! `kms:EncryptionContextKeys` also refuses any context key but the ones listed,
//! so a context with a second, differently cased `LOCKBOX-NAME` cannot satisfy
//! the name condition. They therefore fit sealed-mode tables; credstash-format
//! items carry no name in their context and are refused by the KMS condition.

use serde_json::{json, Value};

use crate::format::sealed::{CONTEXT_FORMAT, CONTEXT_NAME, CONTEXT_STORE, CONTEXT_VERSION};

/// Where the policies apply: the table's ARN, the KMS key's ARN (not an alias:
/// IAM evaluates KMS permissions against the key ARN) and the table's store
/// identity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyScope {
    /// `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`.
    pub table_arn: String,
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    pub key_arn: String,
    /// The store identity the table records (`lockbox:store`).
    pub store: String,
    /// The user encryption-context keys the secrets are stored with (credstash's
    /// `KEY=VALUE` pairs), allowed besides lockbox's own.
    pub context_keys: Vec<String>,
    /// Readers may also list the table (`dynamodb:Scan`, which `list`, `keys`,
    /// wildcard `get`, `getall` and `exec --prefix` need). A scan has no leading
    /// keys to limit, so it shows every item's name, version, metadata and
    /// ciphertext; values stay protected by the KMS conditions.
    pub allow_list: bool,
}

impl PolicyScope {
    /// The scope of the table `table_arn`, key `key_arn` and store `store`.
    pub fn new(table_arn: String, key_arn: String, store: String) -> Self {
        Self {
            table_arn,
            key_arn,
            store,
            context_keys: Vec::new(),
            allow_list: false,
        }
    }
}

fn leading_keys(pattern: &str) -> Value {
    json!({ "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [pattern] } })
}

/// The KMS conditions: the name matches, the store is this table's, and no context
/// key but lockbox's and the listed ones is present.
fn kms_conditions(pattern: &str, scope: &PolicyScope) -> Value {
    let mut keys: Vec<&str> = vec![CONTEXT_FORMAT, CONTEXT_NAME, CONTEXT_STORE, CONTEXT_VERSION];
    keys.extend(scope.context_keys.iter().map(String::as_str));
    json!({
        "StringLike": { format!("kms:EncryptionContext:{CONTEXT_NAME}"): pattern },
        "StringEquals": { format!("kms:EncryptionContext:{CONTEXT_STORE}"): scope.store },
        "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": keys },
    })
}

/// Reading the table's record (its mode, store identity and key, as tags), which
/// every reader and writer checks.
fn table_record_statement(scope: &PolicyScope) -> Value {
    json!({
        "Sid": "LockboxTableRecord",
        "Effect": "Allow",
        "Action": ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"],
        "Resource": scope.table_arn,
    })
}

/// May read (latest and pinned versions, history) the secrets whose names match
/// `pattern` (IAM `StringLike`: `*` and `?` wildcards) in the scope's table.
pub fn reader_policy(pattern: &str, scope: &PolicyScope) -> Value {
    let mut statements = vec![
        json!({
            "Sid": "LockboxReadItems",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
            "Resource": scope.table_arn,
            "Condition": leading_keys(pattern),
        }),
        table_record_statement(scope),
        json!({
            "Sid": "LockboxDecrypt",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": scope.key_arn,
            "Condition": kms_conditions(pattern, scope),
        }),
    ];
    if scope.allow_list {
        statements.push(json!({
            "Sid": "LockboxListTable",
            "Effect": "Allow",
            "Action": "dynamodb:Scan",
            "Resource": scope.table_arn,
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// May write new versions of the secrets whose names match `pattern` (and read
/// the table's record and the latest version number, which `put` needs), but not
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
            table_record_statement(scope),
            {
                "Sid": "LockboxGenerateDataKey",
                "Effect": "Allow",
                "Action": "kms:GenerateDataKey",
                "Resource": scope.key_arn,
                "Condition": kms_conditions(pattern, scope),
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> PolicyScope {
        PolicyScope::new(
            "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store".into(),
            "arn:aws:kms:us-east-1:000000000000:key/k".into(),
            "000000000000/credential-store".into(),
        )
    }

    #[test]
    fn reader_is_limited_by_name_in_both_services() {
        let p = reader_policy("app1/*", &scope());
        let s = &p["Statement"];
        assert_eq!(
            s[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"][0],
            "app1/*"
        );
        assert_eq!(s[2]["Action"], "kms:Decrypt");
        assert_eq!(
            s[2]["Condition"]["StringLike"]["kms:EncryptionContext:lockbox-name"],
            "app1/*"
        );
        assert_eq!(
            s[2]["Condition"]["StringEquals"]["kms:EncryptionContext:lockbox-store"],
            "000000000000/credential-store"
        );
        assert_eq!(
            s[2]["Condition"]["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"],
            json!([
                "lockbox-format",
                "lockbox-name",
                "lockbox-store",
                "lockbox-version"
            ])
        );
        assert_eq!(
            s[1]["Action"],
            json!(["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"])
        );
        assert!(
            !p.to_string().contains("Scan"),
            "no Scan: it has no leading keys to limit"
        );
        assert!(!p.to_string().contains("GenerateDataKey"));
        let listing = PolicyScope {
            allow_list: true,
            context_keys: vec!["env".into()],
            ..scope()
        };
        let p = reader_policy("app1/*", &listing);
        assert_eq!(p["Statement"][3]["Action"], "dynamodb:Scan");
        assert!(p["Statement"][3].get("Condition").is_none());
        assert_eq!(
            p["Statement"][2]["Condition"]["ForAllValues:StringEquals"]
                ["kms:EncryptionContextKeys"][4],
            "env"
        );
    }

    #[test]
    fn writer_cannot_decrypt() {
        let p = writer_policy("app1/*", &scope()).to_string();
        assert!(p.contains("kms:GenerateDataKey"));
        assert!(!p.contains("kms:Decrypt"));
        assert!(p.contains("dynamodb:PutItem"));
    }
}
