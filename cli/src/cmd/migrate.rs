//! `migrate --to-table T`: every version of this table into a sealed-mode table.

use anyhow::{Context as _, Result};
use lockbox::lifecycle::migrate::MigrateReport;
use lockbox::{Error, ErrorKind};

use super::lifecycle::{self, needs_context_line, print_group, reason_line, INCOMPLETE};
use super::{Ctx, Reading};
use crate::args::{MigrateArgs, OutputMode};

pub async fn run(ctx: &Ctx, args: &MigrateArgs) -> Result<()> {
    let options = lifecycle::run_options(ctx, Some(&args.select), None, args.dry_run)?;
    let key = ctx.aws.kms_key.clone();
    // The source is read under the key it is pinned to; the migration window's
    // settings hold for this reader only.
    let source_key = match ctx.lockbox.table_record().await {
        Ok(record) => record.key_arn.unwrap_or_else(|| key.clone()),
        Err(e) if e.kind() == ErrorKind::Denied => key.clone(),
        Err(e) => return Err(e).with_context(|| format!("cannot read source table {}", ctx.table)),
    };
    let window = Reading {
        table_mode: ctx.reading.table_mode,
        require_sealed: false,
        accept_credstash_items: true,
        accept_sealed_v1: true,
    };
    let source = lifecycle::lockbox_for(ctx, &ctx.table, &source_key, None, None, &window).await?;
    // The target is written under the key it is pinned to.
    let probe =
        lifecycle::lockbox_for(ctx, &args.to_table, &key, None, None, &Reading::default()).await?;
    let target_key = match probe.table_record().await {
        Ok(record) => record.key_arn.unwrap_or(key),
        Err(Error::TableNotFound { .. }) => {
            return Err(crate::exit::coded(
                crate::exit::NOT_FOUND,
                format!(
                    "the target table {} does not exist: create it in sealed mode first \
                     (`lockbox -t {} setup`); nothing was written",
                    args.to_table, args.to_table
                ),
            ))
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read target table {}", args.to_table))
        }
    };
    let target = lifecycle::lockbox_for(
        ctx,
        &args.to_table,
        &target_key,
        None,
        None,
        &Reading::default(),
    )
    .await?;
    let report = source
        .migrate_to(&target, &options)
        .await
        .with_context(|| format!("cannot migrate table {} to {}", ctx.table, args.to_table))?;
    drop(options);
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&crate::output::json::Migrated::of(
            &ctx.table,
            &args.to_table,
            &report,
        ))?,
        OutputMode::Text => print_text(ctx, args, &report),
    }
    if report.dry_run || report.is_complete() {
        return Ok(());
    }
    Err(crate::exit::coded(
        INCOMPLETE,
        format!(
            "the migration is incomplete: {} of {} versions were not migrated (listed above); \
             fix them and run the same command again (what was copied counts as done)",
            report.conflicts.len() + report.needs_context.len() + report.failed.len(),
            report.considered
        ),
    ))
}

fn print_text(ctx: &Ctx, args: &MigrateArgs, report: &MigrateReport) {
    if report.dry_run {
        println!(
            "Dry run: migrating {} to {} (store {}) would copy {} versions and compare {} the \
             target holds already; {} cannot be migrated",
            ctx.table,
            args.to_table,
            report.target_store,
            report.to_copy.len(),
            report.to_check.len(),
            report.failed.len()
        );
        print_group("Would copy", &report.to_copy, ToString::to_string);
        print_group("Would compare", &report.to_check, ToString::to_string);
    } else {
        println!(
            "Migrated {} to {} (store {}): {} versions copied, {} already there, {} conflicts, \
             {} need a context, {} failed (of {})",
            ctx.table,
            args.to_table,
            report.target_store,
            report.copied.len(),
            report.unchanged.len(),
            report.conflicts.len(),
            report.needs_context.len(),
            report.failed.len(),
            report.considered
        );
    }
    print_group(
        "Need the encryption context they were stored with (--contexts FILE or K=V pairs)",
        &report.needs_context,
        |(r, keys)| needs_context_line(r, keys),
    );
    print_group(
        "Conflicts (the target's version is left alone)",
        &report.conflicts,
        |(r, why)| reason_line(r, why),
    );
    print_group("Not migrated", &report.failed, |(r, why)| {
        reason_line(r, why)
    });
}
