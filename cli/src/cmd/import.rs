//! `import`: store every secret of a file, `--concurrency` at a time. Resumable:
//! a secret whose latest value already equals the file's is skipped, so a run
//! that failed half-way can simply be repeated. Each secret is stored whole or
//! not at all; every failure is reported, in the file's order, and the exit
//! status is non-zero if any failed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context as _, Result};
use futures::StreamExt as _;
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
    let mut entries = read_entries(&args.file, args.format)?;
    if let Some(prefix) = &args.prefix {
        entries = entries
            .into_iter()
            .map(|(name, value)| (format!("{prefix}{name}"), value))
            .collect();
    }
    // Checked whole before anything is stored: an empty value is usually a
    // mistake (a variable that was not set when the file was written).
    let empty: Vec<String> = entries
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| format!("\n  {}", escape_untrusted(n)))
        .collect();
    if !empty.is_empty() && !args.allow_empty {
        bail!(crate::exit::usage(format!(
            "nothing was imported: {} secret{} would be stored empty (pass --allow-empty to \
             store empty values):{}",
            empty.len(),
            if empty.len() == 1 { "" } else { "s" },
            empty.concat()
        )));
    }
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
    // Cleared once KMS refuses to decrypt a current value (a writer's role, as
    // `lockbox policy writer` makes it): from then on nothing is compared.
    let compare = AtomicBool::new(true);
    // The file's secrets are independent (one entry per name): imported
    // concurrently, reported in the file's order.
    let mut results = futures::stream::iter(&entries)
        .map(|(name, value)| {
            let compare = &compare;
            let context = &context;
            async move {
                let result = import_one(
                    ctx,
                    name,
                    value,
                    context,
                    args.comment.as_deref(),
                    compare.load(Ordering::Relaxed),
                )
                .await;
                (name, result)
            }
        })
        .buffered(ctx.concurrency);
    while let Some((name, result)) = results.next().await {
        // The file's names may come from anywhere: shown as text, they are escaped.
        let shown = escape_untrusted(name);
        bar.set_message(shown.clone().into_owned());
        match result {
            Ok(Imported::Stored(v)) => stored.push((name.clone(), v.get())),
            Ok(Imported::StoredUncompared(v)) => {
                if compare.swap(false, Ordering::Relaxed) {
                    bar.suspend(|| {
                        eprintln!(
                            "lockbox: warning: KMS refuses to decrypt the current values \
                             (kms:Decrypt, which a writer's role lacks), so they cannot be \
                             compared: every secret of the file is stored as a new version"
                        )
                    });
                }
                stored.push((name.clone(), v.get()));
            }
            Ok(Imported::Unchanged(v)) => unchanged.push((name.clone(), v.get())),
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
    drop(results);
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
            unchanged: unchanged
                .iter()
                .map(|(name, version)| json::Stored {
                    name,
                    version: *version,
                })
                .collect(),
        })?,
        OutputMode::Text => println!(
            "Imported {} secret{}: {} stored, {} unchanged, {} failed",
            entries.len(),
            if entries.len() == 1 { "" } else { "s" },
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

/// What became of one secret of the file.
enum Imported {
    /// Stored as this version.
    Stored(lockbox::Version),
    /// Its latest version, which already held the file's value.
    Unchanged(lockbox::Version),
    /// Stored as this version, without comparing: KMS refused to decrypt the
    /// current value.
    StoredUncompared(lockbox::Version),
}

/// Store one secret unless (when `compare`) its latest value is the same.
async fn import_one(
    ctx: &Ctx,
    name: &str,
    value: &str,
    context: &lockbox::EncryptionContext,
    comment: Option<&str>,
    compare: bool,
) -> Result<Imported> {
    let name = lockbox::SecretName::new(name).context("the secret name is not usable")?;
    let value = SecretValue::from(value);
    let mut uncompared = false;
    if compare {
        match ctx.lockbox.get(&name, context).await {
            Ok(current) if current.value == value => {
                return Ok(Imported::Unchanged(current.version))
            }
            Ok(_) | Err(Error::NotFound { .. } | Error::NotReplicated { .. }) => {}
            // A writer may store without reading: store, and say it was not compared.
            Err(Error::AccessDenied {
                service: lockbox::Service::Kms,
                ..
            }) => uncompared = true,
            Err(e) => {
                return Err(
                    anyhow::Error::from(e).context("cannot read its current value to compare")
                )
            }
        }
    }
    let options = PutOptions {
        context: context.clone(),
        comment: comment.map(str::to_owned),
        ..PutOptions::default()
    };
    let version = ctx.lockbox.put(&name, &value, &options).await?;
    Ok(if uncompared {
        Imported::StoredUncompared(version)
    } else {
        Imported::Stored(version)
    })
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
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let format = format.or(match ext.as_deref() {
        Some("json") => Some(ImportFormat::Json),
        Some("yaml" | "yml") => Some(ImportFormat::Yaml),
        Some("csv") => Some(ImportFormat::Csv),
        Some("env") => Some(ImportFormat::Dotenv),
        _ if file_name == ".env" || file_name.starts_with(".env.") => Some(ImportFormat::Dotenv),
        _ => None,
    });
    let what = if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let what = escape_untrusted(&what);
    match format {
        Some(ImportFormat::Json) => parse_json(&bytes).with_context(|| format!("{what} is not a flat JSON object of names to string values")),
        Some(ImportFormat::Yaml) => parse_yaml(&bytes).with_context(|| format!("{what} is not a flat YAML mapping of names to string values")),
        Some(ImportFormat::Csv) => parse_csv(&bytes).with_context(|| format!("{what} is not CSV with name,value rows")),
        Some(ImportFormat::Dotenv) => parse_dotenv(&bytes).with_context(|| format!("{what} is not a .env file of NAME=value lines")),
        None => match parse_json(&bytes) {
            // Valid JSON but for a name set twice: that is what is wrong with it.
            Err(e) if e.to_string().contains(" is set twice (line ") => {
                Err(e.context(format!("{what} is not a flat JSON object of names to string values")))
            }
            parsed => parsed.or_else(|_| parse_yaml(&bytes)).with_context(|| {
                format!("{what} is neither a flat JSON object nor a flat YAML mapping of names to string values; pass -f to say which it is (json, yaml, csv or dotenv)")
            }),
        },
    }
    .map_err(|e| crate::exit::usage(format!("{e:#}")))
}

/// A JSON object whose keys are all different: serde_json keeps the last of
/// two equal keys, and a file that names a secret twice is a mistake.
struct UniqueKeys(BTreeMap<String, serde_json::Value>);

/// The start of the error [`UniqueKeys`] gives: it names a key, never a value.
const SET_TWICE: &str = "set twice: ";

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((k, v)) = access.next_entry::<String, serde_json::Value>()? {
                    if map.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "{SET_TWICE}{}",
                            escape_untrusted(&k)
                        )));
                    }
                    map.insert(k, v);
                }
                Ok(UniqueKeys(map))
            }
        }
        d.deserialize_map(Visitor)
    }
}

fn parse_json(bytes: &[u8]) -> Result<Entries> {
    // serde_json's message quotes a mismatched scalar (`invalid type: string
    // "s3cret", expected a map`): keep the position only, as for YAML, unless
    // it is ours, which names a key.
    let UniqueKeys(map) = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data if e.to_string().starts_with(SET_TWICE) => {
            let text = e.to_string();
            let name = text[SET_TWICE.len()..]
                .rsplit_once(" at line ")
                .map_or(&text[SET_TWICE.len()..], |(name, _)| name)
                .to_owned();
            anyhow::anyhow!("{name} is set twice (line {})", e.line())
        }
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

/// A `.env` file: `NAME=value` or `export NAME=value` lines, blank lines and
/// `#` comments. A value is single-quoted (taken as written), double-quoted
/// (`\\n`, `\\"`, `\\\\`, `\\$` escapes; it may span lines) or bare (up to a ` #`
/// comment, trimmed). Unlike dotenv libraries, `$VAR` is never expanded: a
/// secret is stored as it is written, and lockbox's own environment never
/// leaks into it. Errors give the line only: the file's values are secrets.
fn parse_dotenv(bytes: &[u8]) -> Result<Entries> {
    let text = std::str::from_utf8(bytes).map_err(|_| anyhow::anyhow!("it is not UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Entries::new();
    let mut rest = text;
    let mut line = 1usize;
    while !rest.is_empty() {
        let (current, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let trimmed = current.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            rest = after;
            line += 1;
            continue;
        }
        let decl = trimmed
            .strip_prefix("export ")
            .unwrap_or(trimmed)
            .trim_start();
        let Some((name, value_start)) = decl.split_once('=') else {
            bail!("line {line} is not NAME=value");
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            bail!("line {line} has no usable name before `=`");
        }
        let value_start = value_start.trim_start();
        // Where this entry's value begins, in the whole remaining text.
        let offset = value_start.as_ptr() as usize - rest.as_ptr() as usize;
        let (value, consumed) =
            dotenv_value(&rest[offset..]).map_err(|why| anyhow::anyhow!("line {line}: {why}"))?;
        let used = &rest[..offset + consumed];
        line += used.matches('\n').count();
        rest = &rest[offset + consumed..];
        // Whatever follows a quoted value on its line must be a comment.
        let (tail, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let tail = tail.trim();
        if !tail.is_empty() && !tail.starts_with('#') {
            bail!("line {line} has text after the closing quote");
        }
        rest = after;
        line += 1;
        if out.insert(name.to_owned(), value).is_some() {
            bail!("{} is set twice", escape_untrusted(name));
        }
    }
    Ok(out)
}

/// One value at the start of `text`, and how many bytes of `text` it took (up to
/// the end of a bare value's line, or past a closing quote).
fn dotenv_value(text: &str) -> std::result::Result<(Zeroizing<String>, usize), &'static str> {
    let mut value = Zeroizing::new(String::new());
    let mut chars = text.char_indices();
    match text.chars().next() {
        Some('\'') => {
            chars.next();
            for (i, c) in chars {
                if c == '\'' {
                    return Ok((value, i + 1));
                }
                value.push(c);
            }
            Err("a single-quoted value is not closed")
        }
        Some('"') => {
            chars.next();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => return Ok((value, i + 1)),
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some(c @ ('"' | '\\' | '$' | '`' | '\'')) => value.push(c),
                        Some(c) => {
                            value.push('\\');
                            value.push(c);
                        }
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            Err("a double-quoted value is not closed")
        }
        _ => {
            let end = text.find('\n').unwrap_or(text.len());
            let bare = &text[..end];
            let bare = match bare.find(" #") {
                Some(i) => &bare[..i],
                None => bare,
            };
            value.push_str(bare.trim_end_matches('\r').trim());
            Ok((value, end))
        }
    }
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
        // A header row, as spreadsheets and other tools write one, is no secret.
        if i == 0
            && record[0].eq_ignore_ascii_case("name")
            && record[1].eq_ignore_ascii_case("value")
        {
            continue;
        }
        if out
            .insert(record[0].to_owned(), Zeroizing::new(record[1].to_owned()))
            .is_some()
        {
            bail!(
                "row {}: {} is set twice",
                i + 1,
                escape_untrusted(&record[0])
            );
        }
    }
    Ok(out)
}
