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
    // The regions every other command uses: --regions (a global table: the
    // ARNs in each), else -r, else the AWS configuration's (AWS_REGION,
    // AWS_DEFAULT_REGION, the profile's), else us-east-1.
    let regions = super::ctx::regions(global);
    let region = &match regions.first() {
        Some(first) => first.clone(),
        None => configured_region(global),
    };
    if args.pattern.is_empty() {
        bail!("the name pattern is empty; give one such as 'app1/*'");
    }
    if let Some(a) = &args.account {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            bail!(crate::exit::usage(format!(
                "--account {}: an AWS account id is 12 digits",
                lockbox::escape_untrusted(a)
            )));
        }
    }
    if let Some(arn) = &args.key_arn {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "kms"
            && (parts[5].starts_with("key/") || parts[5].starts_with("alias/"));
        if !ok {
            bail!(crate::exit::usage(format!(
                "--key-arn {}: a KMS key ARN reads arn:aws:kms:REGION:ACCOUNT:key/ID",
                lockbox::escape_untrusted(arn)
            )));
        }
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
    if !regions.is_empty() {
        scope = scope
            .in_regions(&regions)
            .map_err(|e| crate::exit::usage(e.to_string()))?;
        let single = !lockbox::backend::is_multi_region_key(&scope.key_arn)
            && !scope.key_arn.ends_with("/*");
        if single && global.kms_region.is_none() {
            eprintln!(
                "lockbox: note: {} is not a multi-Region key (mrk-): the policy names it in its \
                 own region only, and readers in the other regions cannot use it; see \
                 docs/MULTI-REGION.md",
                scope.key_arn
            );
        }
    }
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

/// `-r`, else the region of the AWS configuration (environment, then the
/// profile files), else lockbox's default; read without any network call.
fn configured_region(global: &GlobalArgs) -> String {
    if let Some(r) = global.region.as_deref().filter(|r| !r.is_empty()) {
        return r.to_owned();
    }
    let from_files = async {
        use aws_config::meta::region::ProvideRegion as _;
        let env = aws_config::environment::region::EnvironmentVariableRegionProvider::new();
        if let Some(r) = env.region().await {
            return Some(r);
        }
        let mut profile = aws_config::profile::ProfileFileRegionProvider::builder();
        if let Some(name) = &global.profile {
            profile = profile.profile_name(name);
        }
        profile.build().region().await
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .ok()
        .and_then(|rt| rt.block_on(from_files))
        .map(|r| r.to_string())
        .unwrap_or_else(|| lockbox::DEFAULT_REGION.to_owned())
}
