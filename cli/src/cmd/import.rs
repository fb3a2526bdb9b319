//! `import`: store every secret of a file. Resumable: a secret whose latest value
//! already equals the file's is skipped, so a run that failed half-way can simply
//! be repeated. Each secret is stored whole or not at all; every failure is
//! reported, and the exit status is non-zero if any failed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lockbox::{escape_untrusted, Error, PutOptions, SecretValue};
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{ImportArgs, ImportFormat, OutputMode};
use crate::output::json;

/// Name -> value, as read from the file.
type Entries = BTreeMap<String, Zeroizing<String>>;

pub async fn run(ctx: &Ctx, args: &ImportArgs) -> Result<()> {
    let context = super::context(&args.context)?;
    let entries = read_entries(&args.file, args.format)?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(entries.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("a valid template"),
    );
    let (mut stored, mut unchanged, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let mut first_error: Option<anyhow::Error> = None;
    for (name, value) in &entries {
        // The file's names may come from anywhere: shown as text, they are escaped.
        let shown = escape_untrusted(name);
        bar.set_message(shown.clone().into_owned());
        match import_one(ctx, name, value, &context, args.comment.as_deref()).await {
            Ok(Some(v)) => stored.push((name.clone(), v.get())),
            Ok(None) => unchanged.push(name.clone()),
            Err(e) => {
                let why = format!("{e:#}");
                let why = escape_untrusted(&why);
                bar.suspend(|| eprintln!("lockbox: {shown}: not imported: {why}"));
                failed.push((name.clone(), format!("{e:#}")));
                first_error.get_or_insert(e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&json::Imported {
            failed: failed
                .iter()
                .map(|(name, error)| json::Failure { error, name })
                .collect(),
            stored: stored
                .iter()
                .map(|(name, version)| json::Stored {
                    name,
                    version: *version,
                })
                .collect(),
            unchanged: unchanged.iter().map(String::as_str).collect(),
        })?,
        OutputMode::Text => println!(
            "Imported {} secrets: {} stored, {} unchanged, {} failed",
            entries.len(),
            stored.len(),
            unchanged.len(),
            failed.len()
        ),
    }
    match first_error {
        None => Ok(()),
        Some(e) => Err(e.context(format!(
            "{} of {} secrets were not imported (listed above); fix them and run the same \
             import again: secrets already stored are skipped",
            failed.len(),
            entries.len()
        ))),
    }
}

/// Store one secret unless its latest value is the same; the version stored, if any.
async fn import_one(
    ctx: &Ctx,
    name: &str,
    value: &str,
    context: &lockbox::EncryptionContext,
    comment: Option<&str>,
) -> Result<Option<lockbox::Version>> {
    let name = lockbox::SecretName::new(name).context("the secret name is not usable")?;
    let value = SecretValue::from(value);
    match ctx.lockbox.get(&name, context).await {
        Ok(current) if current.value == value => return Ok(None),
        Ok(_) | Err(Error::NotFound { .. }) => {}
        Err(e) => {
            return Err(anyhow::Error::from(e).context("cannot read its current value to compare"))
        }
    }
    let options = PutOptions {
        context: context.clone(),
        comment: comment.map(str::to_owned),
        ..PutOptions::default()
    };
    Ok(Some(ctx.lockbox.put(&name, &value, &options).await?))
}

fn read_entries(path: &Path, format: Option<ImportFormat>) -> Result<Entries> {
    let mut bytes = Zeroizing::new(Vec::new());
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        *bytes = std::fs::read(path)
            .with_context(|| format!("cannot read {}; check the path", path.display()))?;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = format.or(match ext.as_deref() {
        Some("json") => Some(ImportFormat::Json),
        Some("yaml" | "yml") => Some(ImportFormat::Yaml),
        Some("csv") => Some(ImportFormat::Csv),
        _ => None,
    });
    let what = path.display().to_string();
    let what = escape_untrusted(&what);
    match format {
        Some(ImportFormat::Json) => parse_json(&bytes).with_context(|| format!("{what} is not a flat JSON object of names to string values")),
        Some(ImportFormat::Yaml) => parse_yaml(&bytes).with_context(|| format!("{what} is not a flat YAML mapping of names to string values")),
        Some(ImportFormat::Csv) => parse_csv(&bytes).with_context(|| format!("{what} is not CSV with name,value rows")),
        None => parse_json(&bytes).or_else(|_| parse_yaml(&bytes)).with_context(|| {
            format!("{what} is neither a flat JSON object nor a flat YAML mapping of names to string values; pass -f to say which it is")
        }),
    }
    .map_err(|e| crate::exit::usage(format!("{e:#}")))
}

fn parse_json(bytes: &[u8]) -> Result<Entries> {
    // serde_json's message quotes a mismatched scalar (`invalid type: string
    // "s3cret", expected a map`): keep the position only, as for YAML.
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => anyhow::anyhow!(
                "not a JSON object of names to values (line {} column {})",
                e.line(),
                e.column()
            ),
            _ => anyhow::anyhow!("invalid JSON at line {} column {}", e.line(), e.column()),
        })?;
    let mut out = Entries::new();
    for (k, v) in map {
        match v {
            serde_json::Value::String(s) => {
                out.insert(k, Zeroizing::new(s));
            }
            _ => bail!("the value of {k:?} is not a string; quote it"),
        }
    }
    Ok(out)
}

fn parse_yaml(bytes: &[u8]) -> Result<Entries> {
    // The file's scalars are secret values: errors give the position only.
    let map: BTreeMap<String, serde_json::Value> = crate::yaml::from_slice(
        bytes,
        crate::yaml::IMPORT_LIMIT,
        crate::yaml::Detail::PositionOnly,
    )?;
    let mut out = Entries::new();
    for (k, v) in map {
        match v {
            serde_json::Value::String(s) => {
                out.insert(k, Zeroizing::new(s));
            }
            _ => bail!("the value of {k:?} is not a string; quote it"),
        }
    }
    Ok(out)
}

fn parse_csv(bytes: &[u8]) -> Result<Entries> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut out = Entries::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|_| anyhow::anyhow!("row {} is not valid CSV", i + 1))?;
        if record.len() != 2 {
            bail!(
                "row {} has {} fields; each row is name,value",
                i + 1,
                record.len()
            );
        }
        out.insert(record[0].to_owned(), Zeroizing::new(record[1].to_owned()));
    }
    Ok(out)
}
