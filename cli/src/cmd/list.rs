//! `list`: every stored version, without decrypting anything.

use anyhow::{Context as _, Result};
use lockbox::backend::ItemSummary;
use lockbox::escape_untrusted;

use super::Ctx;
use crate::args::{ListArgs, OutputMode};
use crate::output;

pub async fn run(ctx: &Ctx, args: &ListArgs) -> Result<()> {
    let mut items = ctx
        .lockbox
        .list()
        .await
        .with_context(|| format!("cannot list the secrets in table {}", ctx.table))?;
    if let Some(filter) = &args.pattern {
        items.retain(|i| crate::names::selects(filter, &i.name));
    }
    print_items(ctx, &items)
}

/// Print summaries: credstash's `NAME -- version V -- comment C` line, then the
/// format and creation time where known. Every field but the time is whatever a
/// table writer stored, so each goes through [`escape_untrusted`] (the JSON output
/// escapes control characters itself).
pub fn print_items(ctx: &Ctx, items: &[ItemSummary]) -> Result<()> {
    match ctx.output {
        OutputMode::Json => output::print_json(
            &items
                .iter()
                .map(output::json::Summary::of)
                .collect::<Vec<_>>(),
        ),
        OutputMode::Text => {
            let names: Vec<_> = items.iter().map(|i| escape_untrusted(&i.name)).collect();
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            let mut out = String::new();
            for (i, name) in items.iter().zip(&names) {
                out.push_str(&format!(
                    "{name:width$} -- version {} -- comment {} -- format {}",
                    escape_untrusted(&i.sort_key),
                    escape_untrusted(i.comment.as_deref().unwrap_or("")),
                    escape_untrusted(&i.format),
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
