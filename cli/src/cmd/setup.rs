//! `setup`: create the table, tagged with the format new items are written in.

use anyhow::{Context as _, Result};
use lockbox::backend::{SetupOutcome, TableMode};

use crate::args::{OutputMode, SetupArgs};
use crate::Ctx;

pub async fn run(ctx: &Ctx, args: &SetupArgs) -> Result<()> {
    let mode = match args.compat {
        Some(crate::args::Compat::Credstash) => TableMode::Credstash,
        None => TableMode::Sealed,
    };
    let mut tags = Vec::new();
    for t in &args.tags {
        let (k, v) = t
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                crate::exit::usage(format!("--tags {t:?}: a tag is written KEY=VALUE"))
            })?;
        tags.push((k.to_owned(), v.to_owned()));
    }
    let outcome = ctx
        .lockbox
        .setup(mode, &tags)
        .await
        .with_context(|| format!("cannot create table {}", ctx.table))?;
    let created = outcome == SetupOutcome::Created;
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&serde_json::json!({
            "table": ctx.table,
            "created": created,
            "format": if created { Some(mode.as_str()) } else { None },
        })),
        OutputMode::Text => {
            if created {
                println!(
                    "Created table {} (new items in the {} format)",
                    ctx.table,
                    mode.as_str()
                );
            } else {
                println!(
                    "Credential Store table {} already exists; nothing changed",
                    ctx.table
                );
            }
            Ok(())
        }
    }
}
