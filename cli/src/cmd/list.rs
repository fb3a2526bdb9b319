//! `list`: every stored version, without decrypting anything.

use anyhow::{Context as _, Result};
use lockbox::backend::ItemSummary;
use lockbox::escape_untrusted;

use super::label::Labelled as _;
use super::Ctx;
use crate::args::OutputMode;
use crate::output;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let items = ctx
        .lockbox
        .list_labelled()
        .await
        .with_context(|| format!("cannot list the secrets in table {}", ctx.table))?;
    print_items(ctx, &items)
}

/// Print summaries: credstash's `NAME -- version V -- comment C` line, then the
/// format, creation time and labels where known. Every field but the time is whatever a
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
                if !i.labels.is_empty() {
                    let labels: Vec<&str> = i.labels.iter().map(|l| l.as_str()).collect();
                    out.push_str(&format!(" -- labels {}", labels.join(", ")));
                }
                out.push('\n');
            }
            output::write_stdout(out.as_bytes())
        }
    }
}
