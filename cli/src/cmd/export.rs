//! `export`: the latest value of every secret, as a map `import` reads back.

use anyhow::Result;

use super::Ctx;
use crate::args::ExportArgs;

pub async fn run(ctx: &Ctx, args: &ExportArgs) -> Result<()> {
    let context = super::context(&args.context)?;
    super::get_all::print_all(ctx, &context, None, args.format, &args.out).await
}
