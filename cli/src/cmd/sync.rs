//! `sync --to-table T [--to-region R]`: items copied as stored into another table
//! or region, never overwritten.

use anyhow::{Context as _, Result};
use lockbox::lifecycle::sync::{SyncOptions, SyncReport};
use lockbox::{Error, Lockbox};

use super::lifecycle::{self, arn_region, key_in_region, print_group, reason_line, INCOMPLETE};
use super::{Ctx, Reading};
use crate::args::{OutputMode, SyncArgs};

pub async fn run(ctx: &Ctx, args: &SyncArgs) -> Result<()> {
    let options = lifecycle::run_options(ctx, None, args.names.as_deref(), args.dry_run)?;
    let target_table = args.to_table.clone().unwrap_or_else(|| ctx.table.clone());
    let record = ctx
        .lockbox
        .table_record()
        .await
        .with_context(|| format!("cannot read table {}", ctx.table))?;
    let source_key = match record.key_arn {
        Some(pin) => pin,
        None => ctx
            .lockbox
            .key_service()
            .writer_key_arn()
            .await
            .context("cannot resolve the table's KMS key")?,
    };
    let target = target_lockbox(ctx, args, &target_table, &source_key).await?;
    let sync = SyncOptions::default();
    let report = ctx
        .lockbox
        .sync_to(&target, &sync, &options)
        .await
        .with_context(|| format!("cannot sync table {} to {target_table}", ctx.table))?;
    drop(options);
    let place = match &args.to_region {
        Some(r) => format!("{target_table} in {r}"),
        None => target_table.clone(),
    };
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&crate::output::json::Synced::of(
            &ctx.table,
            &target_table,
            args.to_region.as_deref(),
            &report,
        ))?,
        OutputMode::Text => print_text(ctx, &place, &report),
    }
    if report.is_complete() {
        return Ok(());
    }
    Err(crate::exit::coded(
        INCOMPLETE,
        format!(
            "{} items differ between {} and {place} or could not be copied (listed above); they \
             were left alone",
            report.conflicts.len() + report.failed.len(),
            ctx.table
        ),
    ))
}

/// The target's lockbox: in the target region with the key readers there use
/// (the table's own key in its region; a multi-region key's replica in another).
/// A key with no replica there is refused, unless `--copy-anyway`: then the
/// target is read with this region's KMS.
async fn target_lockbox(
    ctx: &Ctx,
    args: &SyncArgs,
    table: &str,
    source_key: &str,
) -> Result<Lockbox> {
    let reading = Reading::default();
    let key_region = arn_region(source_key);
    let Some(region) = args
        .to_region
        .as_deref()
        .filter(|r| key_region.is_some_and(|k| k != *r))
    else {
        return lifecycle::lockbox_for(
            ctx,
            table,
            source_key,
            args.to_region.as_deref(),
            None,
            &reading,
        )
        .await;
    };
    let why = match key_in_region(source_key, region) {
        Some(replica) => {
            let target =
                lifecycle::lockbox_for(ctx, table, &replica, Some(region), None, &reading).await?;
            match target.key_service().describe_key().await {
                Ok(key) if key.enabled => return Ok(target),
                Ok(key) => format!(
                    "its replica {} there is {}",
                    key.arn,
                    key.state.unwrap_or_default()
                ),
                Err(e) => format!("its replica {replica} cannot be used there: {e}"),
            }
        }
        None => "it is a single-region key (a multi-region key, mrk-..., has replicas)".into(),
    };
    if !args.copy_anyway {
        return Err(Error::KeyUnavailable {
            key: source_key.to_owned(),
            reason: format!(
                "readers in {region} could not decrypt the copied items: {why}. Replicate the key \
                 to {region} (a multi-region key), or copy anyway with --copy-anyway (readers \
                 there then use KMS in {}: --kms-region); nothing was copied",
                key_region.unwrap_or("the source's region")
            ),
            source: None,
        }
        .into());
    }
    lifecycle::lockbox_for(ctx, table, source_key, Some(region), key_region, &reading).await
}

fn print_text(ctx: &Ctx, place: &str, report: &SyncReport) {
    let store = report
        .store
        .as_deref()
        .map(|s| format!(" (store {})", lockbox::escape_untrusted(s)))
        .unwrap_or_default();
    if report.dry_run {
        println!(
            "Dry run: syncing {} to {place}{store} would {}copy {} items and compare {}",
            ctx.table,
            if report.created_target {
                "create the target table, "
            } else {
                ""
            },
            report.to_copy.len(),
            report.to_check.len()
        );
        print_group("Would copy", &report.to_copy, ToString::to_string);
        return;
    }
    if report.created_target {
        println!(
            "Created {place} with the mode and store identity of {}.",
            ctx.table
        );
    }
    println!(
        "Synced {} to {place}{store}: {} items copied, {} unchanged, {} conflicts, {} failed (of {})",
        ctx.table,
        report.copied.len(),
        report.unchanged.len(),
        report.conflicts.len(),
        report.failed.len(),
        report.considered
    );
    print_group("Conflicts (left alone)", &report.conflicts, |(r, why)| {
        reason_line(r, why)
    });
    print_group("Not copied", &report.failed, |(r, why)| reason_line(r, why));
}
