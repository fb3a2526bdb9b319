//! `history`: every version of one secret, oldest first.

use anyhow::{Context as _, Result};

use super::label::Labelled as _;
use super::Ctx;
use crate::args::HistoryArgs;

pub async fn run(ctx: &Ctx, args: &HistoryArgs) -> Result<()> {
    let name = &args.name;
    let items = ctx
        .lockbox
        .history_labelled(name)
        .await
        .with_context(|| format!("cannot read the history of {name} in table {}", ctx.table))?;
    super::list::print_items(ctx, &items)
}
