//! `list`: every stored version, without decrypting anything.

use anyhow::{Context as _, Result};
use lockbox::backend::ItemSummary;
use lockbox::escape_untrusted;

use super::Ctx;
use crate::args::{ListArgs, OutputMode};
use crate::output;

pub async fn run(ctx: &Ctx, args: &ListArgs) -> Result<()> {
    let mut items = super::label::list_labelled(&ctx.lockbox)
        .await
        .with_context(|| format!("cannot list the secrets in table {}", ctx.table))?;
    if let Some(filter) = &args.pattern {
        items.retain(|i| crate::names::selects(filter, &i.name));
    }
    let printed = if args.long && ctx.output == OutputMode::Text {
        output::write_stdout(table(&items).as_bytes())
    } else {
        print_items(ctx, &items)
    };
    // The process ends once this returns, and a big table's listing is
    // hundreds of thousands of strings (three per version): left to the exit
    // rather than freed one by one, which took a few milliseconds of a
    // 10,000-secret listing. Nothing in it is secret.
    std::mem::forget(items);
    printed
}

/// `list -l`: aligned columns with a header, the version as a number (the sort
/// key as stored when it is not one), `-` where nothing is known, and a LABELS
/// column when some version has labels. Every field a table writer stored is
/// escaped.
fn table(items: &[ItemSummary]) -> String {
    let labelled = items.iter().any(|i| !i.labels.is_empty());
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let mut row = vec![
                escape_untrusted(&i.name).into_owned(),
                i.version.map_or_else(
                    || escape_untrusted(&i.sort_key).into_owned(),
                    |v| v.get().to_string(),
                ),
                i.created_at.map_or_else(|| "-".to_owned(), output::rfc3339),
                escape_untrusted(&i.format).into_owned(),
            ];
            if labelled {
                let labels: Vec<&str> = i.labels.iter().map(|l| l.as_str()).collect();
                row.push(if labels.is_empty() {
                    "-".to_owned()
                } else {
                    labels.join(",")
                });
            }
            row.push(escape_untrusted(i.comment.as_deref().unwrap_or("")).into_owned());
            row
        })
        .collect();
    let mut header: Vec<String> = ["NAME", "VERSION", "CREATED", "FORMAT"]
        .map(str::to_owned)
        .to_vec();
    if labelled {
        header.push("LABELS".to_owned());
    }
    header.push("COMMENT".to_owned());
    let mut width = vec![0usize; header.len() - 1];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&width) {
            line.push_str(&format!("{cell:w$}  "));
        }
        line.push_str(row.last().expect("a comment column"));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
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
            let names: Vec<_> = items
                .iter()
                .map(|i| {
                    let name = escape_untrusted(&i.name);
                    let chars = name.chars().count();
                    (name, chars)
                })
                .collect();
            let width = names.iter().map(|(_, chars)| *chars).max().unwrap_or(0);
            // Written in place, a piece at a time: a table of 50,000 versions
            // prints 50,000 lines, and `format!` machinery per line was a
            // tenth of such a listing's time.
            let mut out = String::with_capacity(items.len() * (width + 64));
            for (i, (name, chars)) in items.iter().zip(&names) {
                out.push_str(name);
                out.extend(std::iter::repeat_n(' ', width - chars));
                out.push_str(" -- version ");
                out.push_str(&escape_untrusted(&i.sort_key));
                out.push_str(" -- comment ");
                out.push_str(&escape_untrusted(i.comment.as_deref().unwrap_or("")));
                out.push_str(" -- format ");
                out.push_str(&escape_untrusted(&i.format));
                if let Some(t) = i.created_at {
                    out.push_str(" -- created ");
                    out.push_str(&output::rfc3339(t));
                }
                if !i.labels.is_empty() {
                    out.push_str(" -- labels ");
                    for (n, label) in i.labels.iter().enumerate() {
                        if n > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(label.as_str());
                    }
                }
                out.push('\n');
            }
            output::write_stdout(out.as_bytes())
        }
    }
}
