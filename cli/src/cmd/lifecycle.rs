//! What `doctor`, `migrate`, `rewrap` and `sync` share: their options, other
//! tables' and keys' lockboxes, progress on a terminal, and reports.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lockbox::lifecycle::{Contexts, ItemRef, NamePattern, Progress, RunOptions};
use lockbox::{AwsOptions, Lockbox};

use super::{Ctx, Reading};
use crate::args::Selection;

pub use crate::exit::INCOMPLETE;

/// Items listed per group in text output; JSON lists them all.
const SHOWN: usize = 20;

/// The common options: the names and contexts asked for, the concurrency, and a
/// progress bar on stderr when it is a terminal.
pub fn run_options(
    ctx: &Ctx,
    select: Option<&Selection>,
    names: Option<&str>,
    dry_run: bool,
) -> Result<RunOptions> {
    let mut contexts = Contexts::new();
    if let Some(select) = select {
        if let Some(path) = &select.contexts {
            let text = std::fs::read_to_string(path).map_err(|e| {
                crate::exit::usage(format!(
                    "cannot read the contexts file {}: {e}; check the path",
                    path.display()
                ))
            })?;
            contexts = Contexts::from_json(&text)
                .map_err(|e| crate::exit::usage(format!("{}: {e}", path.display())))?;
        }
        contexts = contexts.with_default(super::context(&select.context)?);
    }
    let names = select.and_then(|s| s.names.as_deref()).or(names);
    Ok(RunOptions {
        concurrency: ctx.concurrency,
        names: names.map(NamePattern::new),
        contexts,
        dry_run,
        progress: Arc::new(Bar::new()),
        ..RunOptions::default()
    })
}

/// A lockbox on `table` with the key `kms_key`, reached as the command's own is
/// (same credentials, endpoint and region unless `region` says otherwise),
/// reading as `reading` says.
pub async fn lockbox_for(
    ctx: &Ctx,
    table: &str,
    kms_key: &str,
    region: Option<&str>,
    kms_region: Option<&str>,
    reading: &Reading,
) -> Result<Lockbox> {
    let options = AwsOptions {
        table: table.to_owned(),
        kms_key: kms_key.to_owned(),
        region: region.map(str::to_owned).or_else(|| ctx.aws.region.clone()),
        kms_region: match (region, kms_region) {
            (_, Some(r)) => Some(r.to_owned()),
            // Another region: its own KMS, unless told otherwise.
            (Some(_), None) => None,
            (None, None) => ctx.aws.kms_region.clone(),
        },
        // One region named: that region alone, not the regions read.
        regions: match region {
            Some(_) => Vec::new(),
            None => ctx.aws.regions.clone(),
        },
        write_region: match region {
            Some(_) => None,
            None => ctx.aws.write_region.clone(),
        },
        ..ctx.aws.clone()
    };
    let mut builder = Lockbox::from_env(&options)
        .await
        .context("cannot load the AWS configuration")?
        .concurrency(ctx.concurrency)
        .require_sealed(reading.require_sealed)
        .accept_credstash_items(reading.accept_credstash_items)
        .accept_sealed_v1(reading.accept_sealed_v1);
    if let Some(mode) = reading.table_mode {
        builder = builder.table_mode(mode);
    }
    Ok(builder.build()?)
}

/// The region of an ARN (`arn:PARTITION:SERVICE:REGION:...`).
pub fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(5, ':');
    (parts.next()? == "arn").then_some(())?;
    let region = parts.nth(2)?;
    (!region.is_empty()).then_some(region)
}

/// The ARN of the same key in `region`: a multi-region key (`mrk-...`) has a
/// replica under the same id there; any other key does not.
pub fn key_in_region(arn: &str, region: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "kms" {
        return None;
    }
    if parts[3] == region {
        return Some(arn.to_owned());
    }
    parts[5]
        .strip_prefix("key/mrk-")
        .map(|_| format!("arn:{}:kms:{region}:{}:{}", parts[1], parts[4], parts[5]))
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Self(bar)
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        let style = match total {
            Some(_) => ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec})"),
            None => ProgressStyle::with_template("{msg} {spinner} {pos} items ({per_sec})"),
        }
        .expect("a valid template");
        self.0.set_style(style);
        self.0.set_message(name.to_owned());
        self.0.set_length(total.unwrap_or(0));
        self.0.set_position(0);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Print a group of items with a heading, at most [`SHOWN`] of them.
pub fn print_group<T>(heading: &str, items: &[T], show: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    println!("{heading} ({}):", items.len());
    for item in items.iter().take(SHOWN) {
        println!("  {}", show(item));
    }
    if items.len() > SHOWN {
        println!(
            "  ... and {} more (-o json lists them all)",
            items.len() - SHOWN
        );
    }
}

/// How an item needing a context is shown.
pub fn needs_context_line(r: &ItemRef, keys: &Option<Vec<String>>) -> String {
    match keys {
        Some(keys) if !keys.is_empty() => format!(
            "{r} (stored with context keys {})",
            keys.iter()
                .map(|k| lockbox::escape_untrusted(k).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!("{r}"),
    }
}

/// `reason`, escaped (reasons quote item attributes).
pub fn reason_line(r: &ItemRef, why: &str) -> String {
    format!("{r}: {}", lockbox::escape_untrusted(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_other_regions() {
        let mrk = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd";
        assert_eq!(
            key_in_region(mrk, "eu-west-1").as_deref(),
            Some("arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd")
        );
        assert_eq!(key_in_region(mrk, "us-east-1").as_deref(), Some(mrk));
        let single = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-0000";
        assert_eq!(key_in_region(single, "eu-west-1"), None);
        assert_eq!(key_in_region("alias/credstash", "eu-west-1"), None);
        assert_eq!(arn_region(mrk), Some("us-east-1"));
        assert_eq!(arn_region("alias/x"), None);
    }
}
