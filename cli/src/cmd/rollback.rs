//! `rollback`: go back to an older value. With `--to N`, version N's value is
//! stored as a new latest version. Without it, `current` moves back to
//! `previous` when the secret has labels (no version is written); in a table
//! shared with credstash, where `current` is always the highest version, the
//! value of `previous` (the version below it) is stored as a new version.

use anyhow::{Context as _, Result};
use lockbox::{LabelCondition, Version};

use super::Ctx;
use crate::args::{OutputMode, RollbackArgs};
use crate::output::json;

pub async fn run(ctx: &Ctx, args: &RollbackArgs) -> Result<()> {
    let name = &args.name;
    let context = super::context(&args.context)?;
    let to = match args.to {
        Some(to) => to,
        None => {
            let labels = ctx
                .lockbox
                .labels(name)
                .await
                .with_context(|| format!("cannot read the labels of {name}"))?;
            match (labels.derived, labels.previous()) {
                // `current` is the highest version there: write `previous` anew.
                (true, Some(previous)) => previous,
                (false, Some(_)) => return move_current_back(ctx, args).await,
                (_, None) => {
                    if ctx.lockbox.highest_version(name).await?.is_none() {
                        return Err(lockbox::Error::NotFound {
                            name: name.clone(),
                            version: None,
                        }
                        .into());
                    }
                    return Err(crate::exit::usage(format!(
                        "{name} has no `previous` version to go back to{}; give the version \
                         whose value to store anew with --to N (`lockbox history {name}` lists \
                         them)",
                        if labels.is_empty() {
                            " (it has no labels)"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
    };
    let version = ctx
        .lockbox
        .rollback(name, to, &context)
        .await
        .with_context(|| format!("cannot roll {name} back to version {to}"))?;
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&json::RolledBack {
            from: to.get(),
            labels: None,
            name: name.as_str(),
            new_version: true,
            version: version.get(),
        }),
        OutputMode::Text => {
            println!("{name} has been stored as version {version} (the value of version {to})");
            Ok(())
        }
    }
}

/// Move `current` back to `previous` (one conditional write: `previous` becomes
/// the version `current` left).
async fn move_current_back(ctx: &Ctx, args: &RollbackArgs) -> Result<()> {
    let name = &args.name;
    let change = ctx
        .lockbox
        .rollback_current(name, LabelCondition::AsFound)
        .await
        .with_context(|| {
            format!(
                "cannot move the label current of {name} back to previous (see where the labels \
                 are now with `lockbox label {name}`)"
            )
        })?;
    let now = change.labels.current().map_or(0, Version::get);
    let left = change.labels.previous().map_or(0, Version::get);
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&json::RolledBack {
            from: now,
            labels: Some(json::label_map(&change.labels)),
            name: name.as_str(),
            new_version: false,
            version: now,
        }),
        OutputMode::Text => {
            println!(
                "{name}: current moved back to version {now} (previous is now version {left}); \
                 no version was written"
            );
            Ok(())
        }
    }
}
