//! `get-all` (credstash's `getall`): the latest of every secret, all or nothing.

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::args::{GetAllArgs, MapFormat, OutFile};
use crate::output;

pub async fn run(ctx: &Ctx, args: &GetAllArgs) -> Result<()> {
    let context = super::context(&args.context)?;
    print_all(ctx, &context, args.version, args.format, &args.out).await
}

/// Fetch every secret (at `version`, or the latest) and print them as a map
/// (`-f`, or JSON under `-o json`), to stdout or `--out`'s file.
pub async fn print_all(
    ctx: &Ctx,
    context: &lockbox::EncryptionContext,
    version: Option<lockbox::Version>,
    format: Option<MapFormat>,
    out: &OutFile,
) -> Result<()> {
    let format = output::map_format(ctx.output, format)?;
    // One scan of the table and one unwrap per secret (`Lockbox::get_all`).
    let mut options = lockbox::AllOptions::new();
    if let Some(v) = version {
        options = options.version(v);
    }
    let secrets = ctx
        .lockbox
        .get_all(&options, context)
        .await
        .with_context(|| {
            format!(
                "cannot read every secret in table {}; nothing was printed",
                ctx.table
            )
        })?;
    let map = output::text_map(&secrets)?;
    let text = match format {
        None => output::json_map(&map)?,
        Some(format) => output::render_map(&map, format)?,
    };
    output::emit(out, text.as_bytes())
}
