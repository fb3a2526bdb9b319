//! `rollback`: store an old version's value as the new latest version.

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::args::{OutputMode, RollbackArgs};

pub async fn run(ctx: &Ctx, args: &RollbackArgs) -> Result<()> {
    let name = &args.name;
    let to = args.to;
    let context = super::context(&args.context)?;
    let version = ctx
        .lockbox
        .rollback(name, to, &context)
        .await
        .with_context(|| format!("cannot roll {name} back to version {to}"))?;
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&crate::output::json::RolledBack {
            from: to.get(),
            name: name.as_str(),
            version: version.get(),
        }),
        OutputMode::Text => {
            println!("{name} has been stored as version {version} (the value of version {to})");
            Ok(())
        }
    }
}
