//! `policy reader|writer PATTERN`: least-privilege IAM policy JSON, from
//! `lockbox::policy`. Works offline: the ARNs are built from the table, key,
//! region and account given.

use anyhow::{bail, Result};
use lockbox::policy::{reader_policy, writer_policy, PolicyScope};

use crate::args::{PolicyArgs, PolicyRole};
use crate::output;

/// The region when `-r` is not given (credstash's default).
const DEFAULT_REGION: &str = "us-east-1";

pub fn run(args: &PolicyArgs, table: &str, key: &str, region: Option<&str>) -> Result<()> {
    let region = region.unwrap_or(DEFAULT_REGION);
    if args.pattern.is_empty() {
        bail!("the name pattern is empty; give one such as 'app1/*'");
    }
    let account = &args.account;
    let key_arn = match &args.key_arn {
        Some(arn) => arn.clone(),
        None if key.starts_with("arn:aws:kms:") && key.contains(":key/") => key.to_owned(),
        None if !key.starts_with("alias/") && !key.starts_with("arn:") => {
            format!("arn:aws:kms:{region}:{account}:key/{key}")
        }
        None => {
            eprintln!(
                "lockbox: note: {key} is an alias and IAM checks KMS permissions against key ARNs; \
                 the policy allows any key in account {account} (pass --key-arn to pin it)"
            );
            format!("arn:aws:kms:{region}:{account}:key/*")
        }
    };
    let scope = PolicyScope {
        table_arn: format!("arn:aws:dynamodb:{region}:{account}:table/{table}"),
        key_arn,
    };
    let policy = match args.role {
        PolicyRole::Reader => reader_policy(&args.pattern, &scope),
        PolicyRole::Writer => writer_policy(&args.pattern, &scope),
    };
    output::print_json(&policy)
}
