//! `list`: every stored version, without decrypting anything.

use anyhow::{Context as _, Result};
use lockbox::backend::ItemSummary;

use crate::args::OutputMode;
use crate::output;
use crate::Ctx;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let items = ctx
        .lockbox
        .list()
        .await
        .with_context(|| format!("cannot list the secrets in table {}", ctx.table))?;
    print_items(ctx, &items)
}

/// Print summaries: credstash's `NAME -- version V -- comment C` line, then the
/// format and creation time where known.
pub fn print_items(ctx: &Ctx, items: &[ItemSummary]) -> Result<()> {
    match ctx.output {
        OutputMode::Json => output::print_json(&serde_json::Value::Array(
            items.iter().map(summary_json).collect(),
        )),
        OutputMode::Text => {
            let width = items
                .iter()
                .map(|i| i.name.chars().count())
                .max()
                .unwrap_or(0);
            let mut out = String::new();
            for i in items {
                out.push_str(&format!(
                    "{:width$} -- version {} -- comment {} -- format {}",
                    i.name,
                    i.sort_key,
                    i.comment.as_deref().unwrap_or(""),
                    i.format,
                ));
                if let Some(t) = i.created_at {
                    out.push_str(&format!(" -- created {}", output::rfc3339(t)));
                }
                out.push('\n');
            }
            output::write_stdout(out.as_bytes())
        }
    }
}

/// One summary as JSON.
pub fn summary_json(i: &ItemSummary) -> serde_json::Value {
    serde_json::json!({
        "name": i.name,
        "version": i.version.map(|v| v.get()),
        "sort_key": i.sort_key,
        "comment": i.comment,
        "format": i.format,
        "created_at": i.created_at.map(output::rfc3339),
    })
}
