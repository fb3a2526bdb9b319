//! One module per command; [`run`] dispatches every command, building the async
//! runtime and the store ([`Ctx`]) only for the commands that use them.

pub mod completions;
pub(crate) mod ctx;
pub mod delete;
pub mod doctor;
pub mod env;
pub mod exec;
pub mod export;
pub mod find;
pub mod get;
pub mod get_all;
pub mod get_ref;
pub mod history;
pub mod import;
pub mod keys;
pub mod label;
pub mod lifecycle;
pub mod list;
pub mod man;
pub mod migrate;
pub mod policy;
pub mod prune;
pub mod put;
pub mod put_all;
pub mod rewrap;
pub mod rollback;
pub mod rotate;
pub mod setup;
pub mod sync;

use anyhow::{Context as _, Result};
use lockbox::{SecretName, Version};

pub use self::ctx::{Ctx, Reading};
use crate::args::{Cli, Command};

/// How a command ends.
#[derive(Debug)]
pub enum Done {
    /// Exit with this code.
    Exit(u8),
    /// Replace lockbox with this command (`exec`), once everything else is shut down.
    Exec(Box<(std::process::Command, crate::exec::supervise::Launch)>),
}

/// Success.
fn success(_: ()) -> Done {
    Done::Exit(crate::exit::OK)
}

/// Run the command `cli` names.
pub fn run(cli: &Cli) -> Result<Done> {
    match &cli.command {
        Command::Completions(a) => {
            not_json(cli, "completions", "a shell script")?;
            completions::run(a).map(success)
        }
        Command::Man(a) => {
            not_json(cli, "man", "roff")?;
            man::run(a).map(success)
        }
        Command::Policy(a) => policy::run(a, &cli.global).map(success),
        Command::Setup(a) => with_store(cli, async |ctx| setup::run(ctx, a).await.map(success)),
        Command::Put(a) => with_store(cli, async |ctx| put::run(ctx, a).await.map(success)),
        Command::PutAll(a) => with_store(cli, async |ctx| put_all::run(ctx, a).await.map(success)),
        Command::Get(a) => with_store(cli, async |ctx| get::run(ctx, a).await.map(success)),
        Command::GetAll(a) => with_store(cli, async |ctx| get_all::run(ctx, a).await.map(success)),
        Command::List(a) => with_store(cli, async |ctx| list::run(ctx, a).await.map(success)),
        Command::Keys(a) => with_store(cli, async |ctx| keys::run(ctx, a).await.map(success)),
        Command::Find(a) => with_store(cli, async |ctx| find::run(ctx, a).await.map(success)),
        Command::Env(a) => with_store(cli, async |ctx| env::run(ctx, a).await.map(success)),
        Command::History(a) => with_store(cli, async |ctx| history::run(ctx, a).await.map(success)),
        Command::Delete(a) => with_store(cli, async |ctx| delete::run(ctx, a).await.map(success)),
        Command::Prune(a) => with_store(cli, async |ctx| prune::run(ctx, a).await.map(success)),
        Command::Rollback(a) => {
            with_store(cli, async |ctx| rollback::run(ctx, a).await.map(success))
        }
        Command::Label(a) => with_store(cli, async |ctx| label::run(ctx, a).await.map(success)),
        Command::Rotate(a) => with_store(cli, async |ctx| rotate::run(ctx, a).await.map(success)),
        Command::Import(a) => with_store(cli, async |ctx| import::run(ctx, a).await.map(success)),
        Command::Export(a) => with_store(cli, async |ctx| export::run(ctx, a).await.map(success)),
        Command::Doctor(a) => with_store(cli, async |ctx| doctor::run(ctx, a).await.map(success)),
        Command::Migrate(a) => with_store(cli, async |ctx| migrate::run(ctx, a).await.map(success)),
        Command::Rewrap(a) => with_store(cli, async |ctx| rewrap::run(ctx, a).await.map(success)),
        Command::Sync(a) => with_store(cli, async |ctx| sync::run(ctx, a).await.map(success)),
        Command::Exec(a) => with_store(cli, async |ctx| exec::run(ctx, a).await),
    }
}

/// `-o json` asks for what `command` cannot print (it prints `what`): a usage
/// error, rather than output the script did not ask for.
fn not_json(cli: &Cli, command: &str, what: &str) -> Result<()> {
    if cli.global.output == crate::args::OutputMode::Json {
        return Err(crate::exit::usage(format!(
            "`lockbox {command}` prints {what}, not JSON; leave out -o json"
        )));
    }
    Ok(())
}

/// The encryption context of the `KEY=VALUE` arguments.
pub fn context<'a>(
    pairs: impl IntoIterator<Item = &'a crate::values::ContextPair>,
) -> Result<lockbox::EncryptionContext> {
    crate::values::context(pairs)
        .context("the encryption context is given as KEY=VALUE arguments after the name")
}

/// Names of every secret in the table, sorted and unique.
pub async fn all_names(ctx: &Ctx) -> Result<Vec<String>> {
    ctx.lockbox
        .names()
        .await
        .with_context(|| format!("cannot list the secrets in table {}", ctx.table))
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
        let local = match ctx::local_dir(&cli.global) {
            None => None,
            Some(dir) => Some(crate::local::Local::start(&dir).await?),
        };
        // Run, then stop the emulator whatever happened, so its state dir is released.
        let result = async {
            let ctx = ctx::open(cli, local.as_ref()).await?;
            match command(&ctx).await {
                Ok(done) => Ok(done),
                // What can be found out now that it failed (the closest names,
                // the key's region), while the store is still reachable.
                Err(e) => Err(match crate::advice::diagnose(cli, &ctx, &e).await {
                    Some(advice) => e.context(advice),
                    None => e,
                }),
            }
        }
        .await;
        if let Some(local) = local {
            local.shutdown().await;
        }
        result
    })
}
