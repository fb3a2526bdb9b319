//! `rewrap --to-key KEY`: every item's data key moved to a new KMS key, then
//! the table's key pin.

use anyhow::{Context as _, Result};
use lockbox::lifecycle::rewrap::{RewrapOptions, RewrapReport};

use super::lifecycle::{self, needs_context_line, print_group, reason_line, INCOMPLETE};
use super::{Ctx, Reading};
use crate::args::{OutputMode, RewrapArgs};

pub async fn run(ctx: &Ctx, args: &RewrapArgs) -> Result<()> {
    let options = lifecycle::run_options(ctx, Some(&args.select), None, args.dry_run)?;
    let to = lifecycle::lockbox_for(
        ctx,
        &ctx.table,
        &args.to_key,
        None,
        None,
        &Reading::default(),
    )
    .await?;
    let to_keys = to.key_service();
    let new_key = to_keys
        .describe_key()
        .await
        .with_context(|| format!("cannot use the new key {}", args.to_key))?
        .arn;
    let record = ctx
        .lockbox
        .table_record()
        .await
        .with_context(|| format!("cannot read table {}", ctx.table))?;
    let old_key = match &record.key_arn {
        Some(pin) => pin.clone(),
        None => ctx.lockbox.key_service().writer_key_arn().await?,
    };
    let mut rewrap = RewrapOptions::new();
    rewrap.move_pin = !args.keep_pin;
    if !ctx.aws.trusted_keys.is_empty() {
        rewrap.from_keys = std::iter::once(old_key.clone())
            .chain(ctx.aws.trusted_keys.iter().cloned())
            .collect();
    }
    if !args.dry_run && old_key != new_key {
        eprintln!(
            "lockbox: moving the data keys of table {} from {old_key} to {new_key} (KMS \
             ReEncrypt; values, versions and comments do not change).\n  \
             Readers must trust both keys until it finishes: --trust-key {old_key} --trust-key \
             {new_key} (LOCKBOX_TRUST_KEYS).\n  \
             Writers keep the old key until the table's pin moves to the new one at the end; \
             then they must write under the new key (point the alias at it, or change -k).",
            ctx.table
        );
    }
    let report = ctx
        .lockbox
        .rewrap(to_keys.as_ref(), &rewrap, &options)
        .await
        .with_context(|| format!("cannot rewrap table {} to {}", ctx.table, args.to_key))?;
    drop(options);
    match ctx.output {
        OutputMode::Json => {
            crate::output::print_json(&crate::output::json::Rewrapped::of(&ctx.table, &report))?
        }
        OutputMode::Text => print_text(ctx, &report),
    }
    if report.dry_run || report.is_complete() {
        return Ok(());
    }
    Err(crate::exit::coded(
        INCOMPLETE,
        format!(
            "the rewrap is incomplete: {} items were not moved (listed above), so the table's \
             key pin stays; fix them and run the same command again (moved items are left as \
             they are)",
            report.needs_context.len() + report.failed.len()
        ),
    ))
}

fn print_text(ctx: &Ctx, report: &RewrapReport) {
    if report.dry_run {
        println!(
            "Dry run: rewrapping table {} would move (or find already moved) {} items to {}",
            ctx.table,
            report.to_rewrap.len(),
            report.to_key
        );
        print_group("Would move", &report.to_rewrap, ToString::to_string);
        return;
    }
    println!(
        "Rewrapped table {} to {}: {} items moved, {} already under it, {} need a context, {} \
         failed (of {}; {} passes)",
        ctx.table,
        report.to_key,
        report.rewrapped.len(),
        report.unchanged.len(),
        report.needs_context.len(),
        report.failed.len(),
        report.considered,
        report.passes
    );
    match (&report.pin_before, report.pin_moved, &report.pin_kept) {
        (Some(before), true, _) => {
            println!(
                "The table's key pin moved from {before} to {}.",
                report.to_key
            );
            if report.moved_after_pin > 0 {
                println!(
                    "{} items written under the old key while it moved were moved too.",
                    report.moved_after_pin
                );
            }
            println!(
                "Now: writers write under the new key (point the alias at it, or -k {}); \
                 readers may stop trusting the old key once `lockbox doctor --verify` is clean.",
                report.to_key
            );
        }
        (Some(before), false, Some(why)) => {
            println!("The table's key pin stays {before}: {why}.")
        }
        (Some(before), false, None) => println!("The table is pinned to {before} already."),
        (None, _, _) => {
            println!("The table records no key pin; readers that check none read the moved items.")
        }
    }
    print_group(
        "Need the encryption context they were stored with (--contexts FILE or K=V pairs)",
        &report.needs_context,
        |(r, keys)| needs_context_line(r, keys),
    );
    print_group("Not moved", &report.failed, |(r, why)| reason_line(r, why));
}
