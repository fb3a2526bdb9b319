//! What the CLI finds out once a command has failed, so the error points the
//! right way: the closest existing names for one that was not found, where the
//! table's KMS key really is when KMS refused to decrypt, and whether a missing
//! table is probably a mistyped `-t` or region. Runs only on failure, while the
//! store is still reachable; a look-up that fails itself adds nothing.

use lockbox::Error;

use crate::args::{Cli, Command};
use crate::cmd::ctx::Ctx;
use crate::exit::{lockbox_cmd, Advice};

/// Advice for `err`, if there is any to give.
pub async fn diagnose(cli: &Cli, ctx: &Ctx, err: &anyhow::Error) -> Option<Advice> {
    if err.downcast_ref::<Advice>().is_some() {
        return None;
    }
    match err.chain().find_map(|c| c.downcast_ref::<Error>())? {
        Error::NotFound {
            name,
            version: None,
        } => not_found(ctx, name.as_str()).await,
        Error::TableNotFound { table, .. } => Some(table_not_found(cli, table)),
        Error::ContextMismatch { name, stored_keys } => {
            context_mismatch(cli, ctx, name.as_str(), stored_keys.as_deref()).await
        }
        // The reader's key is the alias resolved in another region than the
        // table's key: the region is the cause, not a foreign writer.
        Error::UntrustedKey { name, .. } => wrong_kms_region(cli, ctx, name).await,
        _ => None,
    }
}

/// "did you mean", from the table's names (when it may be listed).
async fn not_found(ctx: &Ctx, name: &str) -> Option<Advice> {
    let names = crate::output::unique_names(&ctx.lockbox.list().await.ok()?);
    let close = crate::names::closest(name, names.iter().map(String::as_str));
    let mut hints: Vec<String> = crate::names::did_you_mean(&close).into_iter().collect();
    hints.push(format!("see every name with {}", lockbox_cmd("keys")));
    Some(Advice {
        hints,
        ..Advice::default()
    })
}

/// The region the AWS calls go to, as far as it is known without a network call.
fn region(cli: &Cli) -> Option<String> {
    cli.global
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .or_else(|| {
            cli.global
                .local
                .as_ref()
                .map(|_| lockbox::DEFAULT_REGION.to_owned())
        })
}

/// A missing table: with the default table and region, a store not set up yet;
/// with either given, more likely a typo, for which `setup` would be the wrong
/// advice (it would create a second, empty store).
fn table_not_found(cli: &Cli, table: &str) -> Advice {
    let g = &cli.global;
    let region = region(cli);
    let place = match (&g.local, &region) {
        (Some(dir), _) => format!("in the local state {}", dir.display()),
        (None, Some(r)) => format!("in region {r}"),
        (None, None) => "in the configured region".to_owned(),
    };
    let chosen = g.table.is_some() || g.region.is_some();
    let hint = if chosen {
        let mut what = Vec::new();
        if g.table.is_some() {
            what.push(format!("the table name (-t {table})"));
        }
        if g.region.is_some() {
            what.push("the region (-r)".to_owned());
        }
        format!(
            "check {}: no table of that name is {place}",
            what.join(" and ")
        )
    } else {
        format!(
            "lockbox has not been set up {place}: create the table with {}",
            lockbox_cmd("setup")
        )
    };
    Advice {
        message: Some(format!("table {table} does not exist {place}")),
        hints: vec![hint],
        ..Advice::default()
    }
}

/// The context keys the failed command was given.
fn given_context_keys(cli: &Cli) -> Option<Vec<String>> {
    let pairs = match &cli.command {
        Command::Get(a) => &a.context,
        Command::GetAll(a) => &a.context,
        Command::Export(a) => &a.context,
        Command::Rollback(a) => &a.context,
        Command::Env(a) => &a.context,
        Command::Find(a) => &a.context,
        _ => return None,
    };
    let mut keys: Vec<String> = pairs.iter().map(|p| p.key.clone()).collect();
    keys.sort();
    Some(keys)
}

/// KMS refused to decrypt a data key. When the table's key lives in another
/// region than the one KMS was called in, that is the cause, not the context.
/// When the context given has exactly the keys the item records, the context
/// keys are not the cause either, and the message says so.
async fn context_mismatch(
    cli: &Cli,
    ctx: &Ctx,
    name: &str,
    stored: Option<&[String]>,
) -> Option<Advice> {
    if let Some(advice) = wrong_kms_region(cli, ctx, name).await {
        return Some(advice);
    }
    let kms_region = kms_region(cli, ctx);
    let given = given_context_keys(cli)?;
    let mut stored: Vec<String> = stored?.to_vec();
    stored.sort();
    if stored != given {
        return None;
    }
    let keys = if given.is_empty() {
        "none".to_owned()
    } else {
        given.join(", ")
    };
    Some(Advice {
        message: Some(format!(
            "{name}: KMS could not decrypt its data key, although the context given has the \
             keys it was stored with ({keys})"
        )),
        hints: vec![format!(
            "check the region ({}) and --kms-region, and --endpoint-url: KMS refuses a data key \
             from another region or account; if they are right, a context value differs or the \
             item was altered ({})",
            kms_region.as_deref().unwrap_or("the configured one"),
            lockbox_cmd("doctor --verify")
        )],
        ..Advice::default()
    })
}

/// The region KMS is called in.
fn kms_region(cli: &Cli, ctx: &Ctx) -> Option<String> {
    if cli.global.local.is_some() {
        region(cli)
    } else {
        ctx.aws.kms_region.clone().or_else(|| region(cli))
    }
}

/// KMS called in another region than the one of the key the table records.
async fn wrong_kms_region(cli: &Cli, ctx: &Ctx, name: &str) -> Option<Advice> {
    let kms_region = kms_region(cli, ctx)?;
    let record = ctx.lockbox.table_record().await.ok()?;
    let key_region = record.key_arn.as_deref()?.split(':').nth(3)?.to_owned();
    if key_region == kms_region {
        return None;
    }
    let flag = if cli.global.local.is_some() || ctx.aws.kms_region.is_none() {
        format!("-r {key_region}")
    } else {
        format!("--kms-region {key_region}")
    };
    Some(Advice {
        message: Some(format!(
            "{name}: KMS in region {kms_region} cannot decrypt its data key: the table's KMS \
             key is in region {key_region}"
        )),
        code: Some(crate::exit::ACCESS),
        hints: vec![format!(
            "call KMS in the key's region: {flag} (the encryption context is not the cause)"
        )],
    })
}
