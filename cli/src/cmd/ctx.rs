//! What every command that talks to the store gets ([`Ctx`]), and how it is
//! made: AWS options from the global flags, the embedded emulator for
//! `--local`, the process hardened before any credential is read, and the
//! emulator stopped whatever the command did.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use lockbox::{AwsOptions, Lockbox};

use crate::args::{Cli, Command, GlobalArgs, OutputMode};
use crate::local;

/// Everything a command needs.
#[derive(Debug)]
pub struct Ctx {
    /// The store.
    pub lockbox: Lockbox,
    /// Text or JSON.
    pub output: OutputMode,
    /// The table (for messages).
    pub table: String,
    /// How the store was reached (commands that use other tables or keys start
    /// from these).
    pub aws: AwsOptions,
    /// The reading options the global flags set.
    pub reading: Reading,
    /// Calls in flight at most.
    pub concurrency: usize,
}

/// The global flags that decide what a reader accepts.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub table_mode: Option<lockbox::TableMode>,
    pub require_sealed: bool,
    pub accept_credstash_items: bool,
    pub accept_sealed_v1: bool,
}

impl Reading {
    fn of(g: &GlobalArgs) -> Self {
        Self {
            table_mode: g.table_mode,
            require_sealed: g.require_sealed,
            accept_credstash_items: g.accept_credstash_items,
            accept_sealed_v1: g.accept_sealed_v1,
        }
    }
}

/// The default state directory's name.
const DEFAULT_LOCAL: &str = ".lockbox";

/// `--local[=DIR]`, else `LOCKBOX_LOCAL` (a directory, or `1`/`true`/`yes`/`on`
/// for the default; `0`/`false`/`no`/`off` or empty for off). The default,
/// `.lockbox`, is looked for in the working directory and then in each parent,
/// as git looks for `.git`, so a command run in a subdirectory of a project
/// uses the project's state rather than starting an empty one.
pub(super) fn local_dir(global: &GlobalArgs) -> Option<PathBuf> {
    let dir = match &global.local {
        Some(dir) => dir.clone(),
        None => match std::env::var("LOCKBOX_LOCAL").ok()?.as_str() {
            "" | "0" | "false" | "no" | "off" => return None,
            "1" | "true" | "yes" | "on" => PathBuf::from(DEFAULT_LOCAL),
            dir => PathBuf::from(dir),
        },
    };
    if dir != std::path::Path::new(DEFAULT_LOCAL) {
        return Some(dir);
    }
    Some(find_upwards().unwrap_or(dir))
}

/// The nearest `.lockbox` state directory of this user in the working
/// directory or a parent; one owned by another user is never taken (it could
/// hold keys someone else chose).
fn find_upwards() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;
    let cwd = std::env::current_dir().ok()?;
    let uid = rustix::process::getuid().as_raw();
    for dir in cwd.ancestors() {
        let candidate = dir.join(DEFAULT_LOCAL);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.is_dir() && m.uid() == uid => {
                return Some(if dir == cwd {
                    PathBuf::from(DEFAULT_LOCAL)
                } else {
                    candidate
                });
            }
            _ => {}
        }
    }
    None
}

/// Attempts per AWS call for `exec` (first try plus retries), within its deadline.
const EXEC_MAX_ATTEMPTS: u32 = 10;

/// The store `cli` names, through the embedded emulator when `local` runs.
pub(super) async fn open(cli: &Cli, local: Option<&local::Local>) -> Result<Ctx> {
    let g = &cli.global;
    let table = g.table();
    let mut options = AwsOptions {
        table: table.clone(),
        kms_key: g.key.clone(),
        region: g.region.clone(),
        kms_region: g.kms_region.clone(),
        profile: g.profile.clone(),
        assume_role: g.arn.clone().or_else(|| g.arn_short.clone()),
        endpoint_url: g.endpoint_url.clone(),
        trusted_keys: g.trust_keys.clone(),
        regions: regions(g),
        write_region: g.write_region.clone(),
        ..AwsOptions::default()
    };
    if let Command::Exec(a) = &cli.command {
        // exec's deadline bounds the whole start: a call throttled in a brown-out
        // may keep retrying (with the SDK's jittered backoff) until then, instead
        // of giving up after the default per-call budget while the deadline has
        // time left.
        options.operation_timeout = options.operation_timeout.max(a.deadline);
        // With several regions, a region answering 5xx must fail over once the
        // usual retries are spent, not retry until the deadline has passed.
        if options.regions.len() < 2 {
            options.max_attempts = EXEC_MAX_ATTEMPTS;
        }
    }
    match local {
        // Neither a profile nor ~/.credstash: the emulator is reached as it is.
        Some(local) => use_local(cli, local, &mut options).await?,
        None => {
            crate::aws_profile::check(g.profile.as_deref()).await?;
            if options.kms_region.is_none() {
                options.kms_region = match &cli.command {
                    // The region being saved is the one this setup uses too.
                    Command::Setup(a) if a.save_kms_region.is_some() => a.save_kms_region.clone(),
                    _ => crate::credstash_file::kms_region()?,
                };
            }
        }
    }
    // Every command but `exec --watch` fetches once and exits (or execs).
    let one_shot = !matches!(&cli.command, Command::Exec(a) if a.watch.is_some());
    let mut builder = Lockbox::from_env(&options)
        .await
        .context("cannot load the AWS configuration")?
        .concurrency(g.concurrency)
        .one_shot(one_shot)
        .require_sealed(g.require_sealed)
        .accept_credstash_items(g.accept_credstash_items)
        .accept_sealed_v1(g.accept_sealed_v1);
    if let Some(mode) = g.table_mode {
        builder = builder.table_mode(mode);
    }
    if let Command::Setup(a) = &cli.command {
        if a.consistency.is_some() && options.regions.is_empty() {
            return Err(crate::exit::usage(
                "--consistency is the mode of a global table's replicas: name its regions \
                 with --regions HOME,R2[,R3]",
            ));
        }
        builder =
            builder.strong_consistency(a.consistency == Some(crate::args::Consistency::Strong));
    }
    let lockbox = builder.build()?;
    // First use of a local state dir: a sealed table, as `lockbox setup` makes;
    // only the default table (or LOCKBOX_TABLE's), so a mistyped `-t` is
    // reported as missing rather than created empty.
    let default_table = g.table.is_none() || std::env::var("LOCKBOX_TABLE").ok() == g.table;
    if local.is_some() && default_table && !matches!(cli.command, Command::Setup(_)) {
        let outcome = lockbox
            .setup(lockbox::TableMode::Sealed, &[])
            .await
            .context("cannot create the table in the embedded emulator")?;
        let region = g.region.as_deref().unwrap_or(lockbox::DEFAULT_REGION);
        if outcome == lockbox::backend::SetupOutcome::Created && region != lockbox::DEFAULT_REGION {
            // Tables are per region, as in AWS: -r makes another, empty store.
            eprintln!(
                "lockbox: note: created table {} in {region} in the local state; local \
                 tables are per region, as in AWS, so it holds none of {}'s secrets",
                lockbox::escape_untrusted(&table),
                lockbox::DEFAULT_REGION
            );
        }
    }
    Ok(Ctx {
        lockbox,
        output: g.output,
        table,
        aws: options,
        reading: Reading::of(g),
        concurrency: g.concurrency,
    })
}

/// `--regions` as given, without empty entries (an empty `LOCKBOX_REGIONS` is
/// no list).
pub(crate) fn regions(g: &crate::args::GlobalArgs) -> Vec<String> {
    g.regions
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Point `options` at the embedded emulator, and make the keys the command
/// names there on first use.
async fn use_local(cli: &Cli, local: &local::Local, options: &mut AwsOptions) -> Result<()> {
    let g = &cli.global;
    if !regions(g).is_empty() || g.write_region.is_some() {
        return Err(crate::exit::usage(
            "--regions and --write-region need an AWS endpoint or an emulator (lockbox-mock \
             with --endpoint-url), not the embedded one: docs/MULTI-REGION.md sets one up",
        ));
    }
    let ignored: Vec<&str> = [
        (g.endpoint_url.is_some(), "--endpoint-url"),
        (g.profile.is_some(), "--profile"),
        (g.arn.is_some() || g.arn_short.is_some(), "--arn"),
        (g.kms_region.is_some(), "--kms-region"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect();
    if !ignored.is_empty() {
        eprintln!(
            "lockbox: warning: --local ignores {} (the embedded emulator is the store)",
            ignored.join(", ")
        );
    }
    let region = g
        .region
        .clone()
        .unwrap_or_else(|| lockbox::DEFAULT_REGION.into());
    options.endpoint_url = Some(local.endpoint_url());
    options.region = Some(region.clone());
    options.kms_region = None;
    options.profile = None;
    options.assume_role = None;
    options.credentials = Some(local.credentials());
    options.account_id = Some(local::ACCOUNT.into());
    local.ensure_key(&g.key, &region).await?;
    // A key to move to is made on first use too, like -k's.
    if let Command::Rewrap(a) = &cli.command {
        local.ensure_key(&a.to_key, &region).await?;
    }
    Ok(())
}
