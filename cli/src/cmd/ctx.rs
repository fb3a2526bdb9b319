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

/// `--local[=DIR]`, else `LOCKBOX_LOCAL` (a directory, or `1`/`true` for the
/// default; `0`/`false` or empty for off).
fn local_dir(global: &GlobalArgs) -> Option<PathBuf> {
    if let Some(dir) = &global.local {
        return Some(dir.clone());
    }
    match std::env::var("LOCKBOX_LOCAL").ok()?.as_str() {
        "" | "0" | "false" | "no" => None,
        "1" | "true" | "yes" => Some(PathBuf::from(".lockbox")),
        dir => Some(PathBuf::from(dir)),
    }
}

/// Run `command` with a [`Ctx`] for `cli`'s store, on a runtime of its own that
/// is gone when this returns (so `exec` can replace the process).
pub fn with_store<T>(cli: &Cli, command: impl AsyncFnOnce(&Ctx) -> Result<T>) -> Result<T> {
    // Every command that reaches here handles credentials or secrets: before any
    // is in memory, no core dump and no ptrace by other processes of the user.
    // Only exec's --allow-core-dumps keeps the core limit (for its child).
    crate::hygiene::harden(matches!(&cli.command, Command::Exec(a) if a.allow_core_dumps))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let local = match local_dir(&cli.global) {
            None => None,
            Some(dir) => Some(local::Local::start(&dir).await?),
        };
        // Run, then stop the emulator whatever happened, so its state dir is released.
        let result = async {
            let ctx = open(cli, local.as_ref()).await?;
            command(&ctx).await
        }
        .await;
        if let Some(local) = local {
            local.shutdown().await;
        }
        result
    })
}

/// Attempts per AWS call for `exec` (first try plus retries), within its deadline.
const EXEC_MAX_ATTEMPTS: u32 = 10;

/// The store `cli` names, through the embedded emulator when `local` runs.
async fn open(cli: &Cli, local: Option<&local::Local>) -> Result<Ctx> {
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
        options.max_attempts = EXEC_MAX_ATTEMPTS;
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
    if local.is_some() && !matches!(cli.command, Command::Setup(_)) {
        // First use of a local state dir: a sealed table, as `lockbox setup` makes.
        lockbox
            .setup(lockbox::TableMode::Sealed, &[])
            .await
            .context("cannot create the table in the embedded emulator")?;
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
fn regions(g: &crate::args::GlobalArgs) -> Vec<String> {
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
