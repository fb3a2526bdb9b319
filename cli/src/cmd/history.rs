//! `history`: every version of one secret, oldest first.

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::args::HistoryArgs;

pub async fn run(ctx: &Ctx, args: &HistoryArgs) -> Result<()> {
    let name = &args.name;
    let items = super::label::history_labelled(&ctx.lockbox, name)
        .await
        .with_context(|| format!("cannot read the history of {name} in table {}", ctx.table))?;
    super::list::print_items(ctx, &items)
}
