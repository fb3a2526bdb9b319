//! `setup`: create the table, recording its mode, store identity and key; on a
//! table that exists, check what it records and fill in what it lacks.

use anyhow::{Context as _, Result};
use lockbox::{SetupOptions, SetupResult, TableMode, TableRecord};

use super::Ctx;
use crate::args::{OutputMode, SetupArgs};

pub async fn run(ctx: &Ctx, args: &SetupArgs) -> Result<()> {
    let mode = match args.compat {
        Some(crate::args::Compat::Credstash) => TableMode::Credstash,
        // `setup --labels` on a table shared with credstash that exists: its
        // labels are what is asked for, not another mode.
        None if args.labels => match ctx.lockbox.table_mode().await {
            Ok(Some(TableMode::Credstash)) => TableMode::Credstash,
            _ => TableMode::Sealed,
        },
        None => TableMode::Sealed,
    };
    // credstash saves the region before it sets up the table, whatever happens next.
    let saved = match &args.save_kms_region {
        None => None,
        Some(region) => {
            crate::credstash_file::save_kms_region(region)?;
            if ctx.output == OutputMode::Text {
                println!("KMS region set to {region}");
            }
            Some(region.as_str())
        }
    };
    let mut options = SetupOptions::new(mode);
    options.store = args.store.clone();
    options.tags = args.tags.clone();
    let report = ctx
        .lockbox
        .setup_with(&options)
        .await
        .with_context(|| format!("cannot set up table {}", ctx.table))?;
    let record = &report.record;
    let created = report.result == SetupResult::Created;
    let refused = matches!(report.result, SetupResult::Refused(_));
    let labels = match args.labels && !refused {
        true => Some(setup_labels(ctx, record).await?),
        false => None,
    };
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&crate::output::json::Setup {
            created,
            // The mode new items are written in, whatever the table's age: what
            // it records, else credstash's (a table lockbox did not create).
            format: Some(
                record
                    .mode
                    .as_deref()
                    .unwrap_or(TableMode::Credstash.as_str()),
            ),
            kms_key: record.key_arn.as_deref(),
            labels: labels
                .as_ref()
                .map(|(table, created)| crate::output::json::SetupLabels {
                    created: *created,
                    table: table.as_deref(),
                }),
            mode: record.mode.as_deref(),
            recorded: match &report.result {
                SetupResult::Recorded(tags) => tags,
                _ => &[],
            },
            saved_kms_region: saved,
            result: match &report.result {
                SetupResult::Created => "created",
                SetupResult::Unchanged => "unchanged",
                SetupResult::Recorded(_) => "recorded",
                SetupResult::Refused(_) => "refused",
                _ => "other",
            },
            store: record.store.as_deref(),
            table: &ctx.table,
        })?,
        OutputMode::Text => match &report.result {
            SetupResult::Created => {
                let mut parts = vec![format!("new items in the {} format", mode.as_str())];
                parts.extend(describe(record).into_iter().skip(1));
                println!("Created table {} ({})", ctx.table, parts.join("; "));
                if mode == TableMode::Sealed {
                    // credstash 1.17 reading a sealed item says only `argument
                    // should be a bytes-like object ...`: say it here instead.
                    eprintln!(
                        "lockbox: note: credstash clients cannot read the sealed format; if any \
                         still use this table, it needs `--compat credstash` (a new table)"
                    );
                }
            }
            SetupResult::Unchanged => println!(
                "Credential Store table {} already exists; nothing changed ({})",
                ctx.table,
                describe(record).join("; ")
            ),
            SetupResult::Recorded(tags) => println!(
                "Credential Store table {} already exists; recorded {} ({})",
                ctx.table,
                tags.join(", "),
                describe(record).join("; ")
            ),
            _ => {}
        },
    }
    if let (Some((table, created)), OutputMode::Text) = (&labels, ctx.output) {
        match table {
            Some(t) if *created => println!(
                "Created table {} for the labels and staged rotations of table {} (credstash \
                 clients never read it)",
                lockbox::escape_untrusted(t),
                ctx.table
            ),
            Some(t) => println!(
                "Labels of table {} are kept in table {}, which exists; nothing changed",
                ctx.table,
                lockbox::escape_untrusted(t)
            ),
            None => println!(
                "Table {} is sealed: it keeps labels in each secret's own partition and needs \
                 no other table",
                ctx.table
            ),
        }
    }
    if let SetupResult::Refused(why) = &report.result {
        return Err(crate::exit::coded(crate::exit::OTHER, why.clone()));
    }
    Ok(())
}

/// `mode M`, `store S`, `key K`: what the table records, in that order.
fn describe(record: &TableRecord) -> Vec<String> {
    [
        ("mode", &record.mode),
        ("store", &record.store),
        ("key", &record.key_arn),
    ]
    .into_iter()
    .filter_map(|(what, v)| {
        v.as_deref()
            .map(|v| format!("{what} {}", lockbox::escape_untrusted(v)))
    })
    .collect()
}

/// `--labels`: the companion table of a table shared with credstash, created if
/// it is missing; `(None, false)` for a sealed table, which needs none.
async fn setup_labels(ctx: &Ctx, record: &TableRecord) -> Result<(Option<String>, bool)> {
    if record.mode.as_deref() == Some(TableMode::Sealed.as_str()) {
        return Ok((None, false));
    }
    let outcome = ctx.lockbox.setup_labels().await.with_context(|| {
        format!(
            "cannot set up the labels of table {t}: that creates table {t}.lockbox-labels and \
             records it in a tag of {t}",
            t = ctx.table
        )
    })?;
    let table = ctx
        .lockbox
        .table_record()
        .await
        .with_context(|| format!("cannot read what table {} records", ctx.table))?
        .labels;
    Ok((table, outcome == lockbox::backend::SetupOutcome::Created))
}
