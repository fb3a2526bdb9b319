//! One module per command; `run` dispatches.

pub mod completions;
pub mod delete;
pub mod doctor;
pub mod exec;
pub mod export;
pub mod get;
pub mod get_all;
pub mod history;
pub mod import;
pub mod keys;
pub mod lifecycle;
pub mod list;
pub mod man;
pub mod migrate;
pub mod policy;
pub mod prune;
pub mod put;
pub mod rewrap;
pub mod rollback;
pub mod setup;
pub mod sync;

use anyhow::{Context as _, Result};
use lockbox::{EncryptionContext, SecretName, Version};

use crate::args::Command;
use crate::Ctx;

/// Run one command that talks to the store.
pub async fn run(ctx: &Ctx, command: &Command) -> Result<()> {
    match command {
        Command::Setup(a) => setup::run(ctx, a).await,
        Command::Put(a) => put::run(ctx, a).await,
        Command::Get(a) => get::run(ctx, a).await,
        Command::GetAll(a) => get_all::run(ctx, a).await,
        Command::List => list::run(ctx).await,
        Command::Keys => keys::run(ctx).await,
        Command::History(a) => history::run(ctx, a).await,
        Command::Delete(a) => delete::run(ctx, a).await,
        Command::Prune(a) => prune::run(ctx, a).await,
        Command::Rollback(a) => rollback::run(ctx, a).await,
        Command::Import(a) => import::run(ctx, a).await,
        Command::Export(a) => export::run(ctx, a).await,
        Command::Doctor(a) => doctor::run(ctx, a).await,
        Command::Migrate(a) => migrate::run(ctx, a).await,
        Command::Rewrap(a) => rewrap::run(ctx, a).await,
        Command::Sync(a) => sync::run(ctx, a).await,
        Command::Exec(_) => unreachable!("main runs exec itself"),
        Command::Completions(a) => completions::run(a),
        Command::Man => man::run(),
        Command::Policy(_) => unreachable!("policy runs without AWS, before the runtime"),
    }
}

/// A secret name from the command line.
pub fn name(text: &str) -> Result<SecretName> {
    SecretName::new(text).context("the secret name is not usable")
}

/// A version from the command line: a number, or credstash's 19-digit padded form.
pub fn version(text: &str) -> Result<Version> {
    text.parse::<Version>()
        .with_context(|| format!("-v {text:?} is not a version number"))
}

/// An optional version from the command line.
pub fn opt_version(text: Option<&str>) -> Result<Option<Version>> {
    text.map(version).transpose()
}

/// `KEY=VALUE` pairs from the command line.
pub fn context(pairs: &[String]) -> Result<EncryptionContext> {
    EncryptionContext::from_pairs(pairs)
        .context("the encryption context is given as KEY=VALUE arguments after the name")
}

/// Names of every secret in the table, sorted and unique.
pub async fn all_names(ctx: &Ctx) -> Result<Vec<String>> {
    let items = ctx
        .lockbox
        .list()
        .await
        .with_context(|| format!("cannot list the secrets in table {}", ctx.table))?;
    Ok(crate::output::unique_names(&items))
}

/// Names as refs to their latest (or `version`).
pub fn refs(names: &[String], version: Option<Version>) -> Result<Vec<lockbox::SecretRef>> {
    names
        .iter()
        .map(|n| {
            let name = SecretName::new(n.as_str())
                .with_context(|| format!("the table holds a name lockbox cannot use: {n:?}"))?;
            Ok(lockbox::SecretRef { name, version })
        })
        .collect()
}
