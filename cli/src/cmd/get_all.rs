//! `get-all` (credstash's `getall`): the latest of every secret, all or nothing.

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::args::{GetAllArgs, MapFormat};
use crate::output;

pub async fn run(ctx: &Ctx, args: &GetAllArgs) -> Result<()> {
    let context = super::context(&args.context)?;
    let version = args.version;
    print_all(
        ctx,
        &context,
        version,
        args.format.unwrap_or(MapFormat::Json),
    )
    .await
}

/// Fetch every secret (at `version`, or the latest) and print them as a map.
pub async fn print_all(
    ctx: &Ctx,
    context: &lockbox::EncryptionContext,
    version: Option<lockbox::Version>,
    format: MapFormat,
) -> Result<()> {
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
    let text = output::render_map(&map, format)?;
    output::write_stdout(text.as_bytes())
}
