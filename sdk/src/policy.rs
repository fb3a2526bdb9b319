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
    /// The regions of a global table ([`PolicyScope::in_regions`]): the
    /// policies name the table's ARN in each, and the key's replica there (a
    /// multi-Region key) or the key itself (any other key, which is used in its
    /// own region only). Empty: the regions of `table_arn` and `key_arn` alone.
    pub regions: Vec<String>,
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
            regions: Vec::new(),
        }
    }

    /// The same scope over the regions of a global table, in read order
    /// (`--regions`): names that are no region, or a region named twice, are
    /// refused ([`crate::ErrorKind::Usage`]).
    pub fn in_regions(mut self, regions: &[String]) -> crate::Result<Self> {
        crate::backend::check_regions(regions, None)?;
        self.regions = regions.to_vec();
        Ok(self)
    }

    /// The table's ARN in each region (one `Resource` value, or a list).
    fn table_resource(&self) -> Value {
        self.each_region(&self.table_arn, with_region)
    }

    /// The key's ARN in each region: a multi-Region key's replica, or a
    /// pattern (`key/*`) in each region; a single-Region key is used in its own
    /// region only, so it is named once.
    fn key_resource(&self) -> Value {
        self.each_region(&self.key_arn, |arn, region| {
            if crate::backend::is_multi_region_key(arn) {
                crate::backend::key_in_region(arn, region)
            } else if arn.ends_with(":key/*") {
                with_region(arn, region)
            } else {
                arn.to_owned()
            }
        })
    }

    fn each_region(&self, arn: &str, in_region: impl Fn(&str, &str) -> String) -> Value {
        let mut arns: Vec<String> = Vec::new();
        for region in &self.regions {
            let arn = in_region(arn, region);
            if !arns.contains(&arn) {
                arns.push(arn);
            }
        }
        match arns.len() {
            0 => json!(arn),
            1 => json!(arns[0]),
            _ => json!(arns),
        }
    }
}

/// `arn` with its region (the fourth field) replaced by `region`.
fn with_region(arn: &str, region: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, service, _, account, resource] => {
            format!("arn:{partition}:{service}:{region}:{account}:{resource}")
        }
        _ => arn.to_owned(),
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
        "Resource": scope.table_resource(),
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
            "Resource": scope.table_resource(),
            "Condition": leading_keys(pattern),
        }),
        table_record_statement(scope),
        json!({
            "Sid": "LockboxDecrypt",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": scope.key_resource(),
            "Condition": kms_conditions(pattern, scope),
        }),
    ];
    if scope.allow_list {
        statements.push(json!({
            "Sid": "LockboxListTable",
            "Effect": "Allow",
            "Action": "dynamodb:Scan",
            "Resource": scope.table_resource(),
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
                "Resource": scope.table_resource(),
                "Condition": leading_keys(pattern),
            },
            table_record_statement(scope),
            {
                "Sid": "LockboxGenerateDataKey",
                "Effect": "Allow",
                "Action": "kms:GenerateDataKey",
                "Resource": scope.key_resource(),
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
    fn several_regions_name_the_table_and_the_key_replica_in_each() {
        let regions = ["us-east-1".to_owned(), "eu-west-1".to_owned()];
        let mrk = "arn:aws:kms:us-east-1:000000000000:key/mrk-1234abcd12ab34cd56ef1234567890ab";
        let global = PolicyScope::new(
            "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store".into(),
            mrk.into(),
            "000000000000/credential-store".into(),
        )
        .in_regions(&regions)
        .unwrap();
        for p in [
            reader_policy("app1/*", &global),
            writer_policy("app1/*", &global),
        ] {
            let s = &p["Statement"];
            assert_eq!(
                s[0]["Resource"],
                json!([
                    "arn:aws:dynamodb:us-east-1:000000000000:table/credential-store",
                    "arn:aws:dynamodb:eu-west-1:000000000000:table/credential-store"
                ])
            );
            assert_eq!(s[1]["Resource"], s[0]["Resource"]);
            assert_eq!(
                s[2]["Resource"],
                json!([mrk, mrk.replace("us-east-1", "eu-west-1")])
            );
        }
        // A single-Region key is used in its own region: named once.
        let single = PolicyScope {
            regions: regions.to_vec(),
            ..scope()
        };
        let p = reader_policy("a", &single);
        assert_eq!(
            p["Statement"][2]["Resource"],
            "arn:aws:kms:us-east-1:000000000000:key/k"
        );
        // Any key of the account (an alias): in each region.
        let any = PolicyScope {
            key_arn: "arn:aws:kms:us-east-1:000000000000:key/*".into(),
            ..single
        };
        assert_eq!(
            reader_policy("a", &any)["Statement"][2]["Resource"][1],
            "arn:aws:kms:eu-west-1:000000000000:key/*"
        );
        let err = scope().in_regions(&["us-east-1".into(), "Mars".into()]);
        assert_eq!(err.unwrap_err().kind(), crate::ErrorKind::Usage);
    }

    #[test]
    fn writer_cannot_decrypt() {
        let p = writer_policy("app1/*", &scope()).to_string();
        assert!(p.contains("kms:GenerateDataKey"));
        assert!(!p.contains("kms:Decrypt"));
        assert!(p.contains("dynamodb:PutItem"));
    }
}
