//! `label`: a secret's labels. Without a label, every one is listed; `LABEL`
//! shows the version it names; `LABEL=VERSION` sets or moves it; `--remove`
//! removes it. Each change is one conditional write (`Lockbox::set_label`), so
//! of two operators moving one label at once exactly one wins and the other
//! gets exit 8 ([`crate::exit::CONFLICT`]) with nothing changed.
//!
//! Also here: `list` and `history` with every label ([`list_labelled`],
//! [`history_labelled`]), including those a table shared with credstash keeps
//! in its companion table.

use anyhow::{Context as _, Result};
use lockbox::backend::ItemSummary;
use lockbox::{ErrorKind, Label, LabelCondition, LabelMove, Lockbox, SecretName, Version};

use super::Ctx;
use crate::args::{LabelArgs, OutputMode};
use crate::exit::usage;
use crate::output::{self, json};
use crate::values::{LabelFrom, LabelTo};

pub async fn run(ctx: &Ctx, args: &LabelArgs) -> Result<()> {
    let name = &args.name;
    let Some(spec) = &args.label else {
        return list(ctx, name).await;
    };
    let condition = match args.from {
        None => LabelCondition::AsFound,
        Some(LabelFrom::Version(v)) => LabelCondition::At(v),
        Some(LabelFrom::Absent) => LabelCondition::Absent,
    };
    match (&spec.to, args.remove) {
        (Some(_), true) => Err(usage(format!(
            "--remove takes the label alone (`lockbox label {name} {} --remove`)",
            spec.label
        ))),
        (None, false) if args.from.is_some() => Err(usage(
            "--from goes with a change: LABEL=VERSION, or LABEL --remove",
        )),
        (None, false) => show(ctx, name, &spec.label).await,
        (None, true) => {
            let change = ctx
                .lockbox
                .remove_label(name, &spec.label, condition)
                .await
                .with_context(|| failed(name, &format!("remove label {}", spec.label)))?;
            print_change(ctx, &change, &spec.label)
        }
        (Some(to), false) => {
            let version = target(ctx, name, to).await?;
            let change = ctx
                .lockbox
                .set_label(name, &spec.label, version, condition)
                .await
                .with_context(|| {
                    failed(
                        name,
                        &format!("move label {} to version {version}", spec.label),
                    )
                })?;
            print_change(ctx, &change, &spec.label)
        }
    }
}

/// The context of a failed change: what was asked, and where to look.
fn failed(name: &SecretName, what: &str) -> String {
    format!("cannot {what} of {name} (`lockbox label {name}` shows where its labels are now)")
}

/// The version `to` names: a number, or where another label is now.
async fn target(ctx: &Ctx, name: &SecretName, to: &LabelTo) -> Result<Version> {
    match to {
        LabelTo::Version(v) => Ok(*v),
        LabelTo::Label(other) => {
            let labels = ctx
                .lockbox
                .labels(name)
                .await
                .with_context(|| format!("cannot read the labels of {name}"))?;
            labels
                .get(other)
                .ok_or_else(|| no_label(name, other).into())
        }
    }
}

/// "NAME has no label L" (class not found: exit 3).
fn no_label(name: &SecretName, label: &Label) -> lockbox::Error {
    lockbox::Error::Label {
        name: name.clone(),
        kind: ErrorKind::NotFound,
        reason: format!("it has no label {label}"),
    }
}

/// Every label of `name`, and the rotation it records.
async fn list(ctx: &Ctx, name: &SecretName) -> Result<()> {
    let labels = ctx
        .lockbox
        .labels(name)
        .await
        .with_context(|| format!("cannot read the labels of {name} in table {}", ctx.table))?;
    if labels.is_empty() && ctx.lockbox.highest_version(name).await?.is_none() {
        return Err(lockbox::Error::NotFound {
            name: name.clone(),
            version: None,
        }
        .into());
    }
    if ctx.output == OutputMode::Json {
        return output::print_json(&json::LabelList::of(&labels));
    }
    if labels.is_empty() {
        println!("{name} has no labels: un-pinned reads get its highest version");
        return Ok(());
    }
    let width = labels
        .labels
        .keys()
        .map(|l| l.as_str().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, version) in &labels.labels {
        out.push_str(&format!("{:width$}  {version}\n", label.as_str()));
    }
    if let Some(r) = &labels.rotation {
        out.push_str(&format!(
            "(rotation {}: {})\n",
            lockbox::escape_untrusted(&r.token),
            r.state
        ));
    }
    if labels.derived {
        out.push_str(
            "(current and previous follow the versions: the table is shared with credstash)\n",
        );
    }
    output::write_stdout(out.as_bytes())
}

/// The version `label` names: the number alone in text, for scripts.
async fn show(ctx: &Ctx, name: &SecretName, label: &Label) -> Result<()> {
    let labels = ctx
        .lockbox
        .labels(name)
        .await
        .with_context(|| format!("cannot read the labels of {name} in table {}", ctx.table))?;
    let version = labels.get(label).ok_or_else(|| no_label(name, label))?;
    match ctx.output {
        OutputMode::Json => output::print_json(&json::LabelShown {
            label: label.as_str(),
            name: name.as_str(),
            version: version.get(),
        }),
        OutputMode::Text => {
            println!("{version}");
            Ok(())
        }
    }
}

/// What a change did: each label that moved, or that nothing had to.
fn print_change(ctx: &Ctx, change: &LabelMove, asked: &Label) -> Result<()> {
    if ctx.output == OutputMode::Json {
        return output::print_json(&json::LabelChanged::of(change));
    }
    let name = &change.labels.name;
    if !change.changed() {
        match change.labels.get(asked) {
            Some(v) => println!("{name}: label {asked} already names version {v}; nothing changed"),
            None => println!("{name} has no label {asked}; nothing changed"),
        }
        return Ok(());
    }
    for (label, from, to) in &change.moved {
        let was = match from {
            Some(v) => format!("it named version {v}"),
            None => "it was not set".to_owned(),
        };
        match to {
            Some(v) => println!("{name}: label {label} now names version {v} ({was})"),
            None => println!("{name}: label {label} removed ({was})"),
        }
    }
    Ok(())
}

/// Every stored version with its labels: [`Lockbox::list_labelled`], which reads
/// the labels a table shared with credstash keeps in its companion table
/// alongside the versions. When the companion table cannot be read, the
/// versions are listed without its labels, with a warning.
pub(crate) async fn list_labelled(lockbox: &Lockbox) -> lockbox::Result<Vec<ItemSummary>> {
    let (items, filled) = lockbox.list_labelled().await?;
    warn_unfilled(filled);
    Ok(items)
}

/// Every version of `name` with its labels, as [`list_labelled`].
pub(crate) async fn history_labelled(
    lockbox: &Lockbox,
    name: &SecretName,
) -> lockbox::Result<Vec<ItemSummary>> {
    let (items, filled) = lockbox.history_labelled(name).await?;
    warn_unfilled(filled);
    Ok(items)
}

fn warn_unfilled(filled: lockbox::Result<()>) {
    if let Err(e) = filled {
        eprintln!(
            "lockbox: warning: the labels this table keeps in its companion table could not be \
             read ({}); the versions are listed without them",
            lockbox::escape_untrusted(&e.to_string())
        );
    }
}
