//! `prune`: delete all but the newest N versions of a secret.

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::args::PruneArgs;

pub async fn run(ctx: &Ctx, args: &PruneArgs) -> Result<()> {
    let name = &args.name;
    let keep = usize::try_from(args.keep).unwrap_or(usize::MAX);
    let deleted = ctx
        .lockbox
        .prune(name, keep)
        .await
        .with_context(|| format!("cannot prune {name} in table {}", ctx.table))?;
    super::delete::print_deleted(ctx, name, &deleted, "Deleted")
}
