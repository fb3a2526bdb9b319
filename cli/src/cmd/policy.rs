//! `policy reader|writer PATTERN`: least-privilege IAM policy JSON, from
//! `lockbox::policy`. Works offline: the ARNs are built from the table, key,
//! region and account given.

use anyhow::{bail, Result};
use lockbox::policy::{reader_policy, writer_policy, PolicyScope};

use crate::args::{GlobalArgs, PolicyArgs, PolicyRole};
use crate::output;

/// The account when `--account` is not given: the emulator's.
const PLACEHOLDER_ACCOUNT: &str = crate::local::ACCOUNT;

pub fn run(args: &PolicyArgs, global: &GlobalArgs) -> Result<()> {
    let table = &global.table();
    let key = global.key.as_str();
    let region = global.region.as_deref().unwrap_or(lockbox::DEFAULT_REGION);
    if args.pattern.is_empty() {
        bail!("the name pattern is empty; give one such as 'app1/*'");
    }
    let account = match &args.account {
        Some(a) => a.as_str(),
        None => {
            eprintln!(
                "lockbox: warning: no --account given; the policy names the placeholder account \
                 {PLACEHOLDER_ACCOUNT} (the emulator's), which matches nothing in AWS"
            );
            PLACEHOLDER_ACCOUNT
        }
    };
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
    let store = match &args.store {
        Some(s) => {
            lockbox::check_store(s)
                .map_err(|e| crate::exit::usage(format!("--store {s:?}: {e}")))?;
            s.clone()
        }
        None => lockbox::default_store_id(Some(account), table),
    };
    let mut scope = PolicyScope::new(
        format!("arn:aws:dynamodb:{region}:{account}:table/{table}"),
        key_arn,
        store,
    );
    scope.context_keys = args.context_keys.clone();
    scope.allow_list = args.allow_list;
    if args.allow_list && args.role == PolicyRole::Reader {
        eprintln!(
            "lockbox: note: --allow-list adds dynamodb:Scan, which has no leading keys to limit: \
             the reader sees every item's name, version, comment and ciphertext in {table} \
             (values stay protected by the KMS conditions)"
        );
    }
    let policy = match args.role {
        PolicyRole::Reader => reader_policy(&args.pattern, &scope),
        PolicyRole::Writer => writer_policy(&args.pattern, &scope),
    };
    output::print_json(&policy)
}
