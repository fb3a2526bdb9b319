//! Rendering: maps of secrets in credstash's formats (fixed where credstash is
//! wrong), JSON for scripts, and times.
//!
//! Every buffer that holds secret values is a `Zeroizing<String>`, wiped on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{Context as _, Result};
use lockbox::Secret;
use zeroize::Zeroizing;

use crate::args::MapFormat;

pub mod json;
pub mod shell;

pub use shell::shell_var;

/// Name/value pairs with text values, sorted by name.
pub type TextMap<'a> = BTreeMap<&'a str, &'a str>;

/// The secrets as a text map; a binary value cannot go in a text format.
pub fn text_map(secrets: &[Secret]) -> Result<TextMap<'_>> {
    let mut map = TextMap::new();
    for s in secrets {
        let value = s.value.expose_str().map_err(|_| {
            crate::exit::usage(format!(
                "secret {} holds binary (non-UTF-8) data, which a text map format cannot carry; \
                 read it on its own with `lockbox get {} --out FILE` (or `get -n`, which adds no newline)",
                s.name, s.name
            ))
        })?;
        map.insert(s.name.as_str(), value);
    }
    Ok(map)
}

/// Render `map` in `format`, ending with a newline.
pub fn render_map(map: &TextMap<'_>, format: MapFormat) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::new());
    match format {
        MapFormat::Json => {
            python_json(map, &mut out);
            out.push('\n');
        }
        MapFormat::Yaml => {
            let yaml = Zeroizing::new(crate::yaml::to_string(map).context("rendering YAML")?);
            out.push_str(&yaml);
        }
        MapFormat::Csv => {
            let mut bytes = Zeroizing::new(Vec::new());
            {
                let mut w = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_writer(&mut *bytes);
                for (k, v) in map {
                    w.write_record([k, v]).context("rendering CSV")?;
                }
                w.flush().context("rendering CSV")?;
            }
            out.push_str(std::str::from_utf8(&bytes).expect("CSV of UTF-8 fields is UTF-8"));
        }
        MapFormat::Dotenv | MapFormat::Env => {
            crate::envnames::check_map(map)?;
            shell::render(map, format == MapFormat::Env, &mut out)
                .map_err(|c| crate::exit::usage(c.to_string()))?;
        }
    }
    Ok(out)
}

/// JSON exactly as credstash writes it: Python's `json.dumps(sort_keys=True,
/// indent=4, separators=(',', ': '))`, which escapes everything outside ASCII.
pub fn python_json(map: &TextMap<'_>, out: &mut String) {
    if map.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str("    ");
        python_json_string(k, out);
        out.push_str(": ");
        python_json_string(v, out);
    }
    out.push_str("\n}");
}

fn python_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Write `doc` to stdout as JSON (pretty, with a newline). The buffer is wiped
/// on drop: a document may hold a value (`get -o json`).
pub fn print_json(doc: &impl serde::Serialize) -> Result<()> {
    let mut text = Zeroizing::new(Vec::new());
    serde_json::to_writer_pretty(&mut *text, doc).context("rendering JSON")?;
    text.push(b'\n');
    write_stdout(&text)
}

/// Write bytes to stdout and flush; a closed pipe is not an error worth a trace.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}

/// The map formats' choice under `-o`: `-o json` prints the map as every JSON
/// document is printed (2-space indent); a text format asked for with it is a
/// usage error, so a script never gets another format than it asked for.
pub fn map_format(
    output: crate::args::OutputMode,
    format: Option<MapFormat>,
) -> Result<Option<MapFormat>> {
    match (output, format) {
        (crate::args::OutputMode::Json, None | Some(MapFormat::Json)) => Ok(None),
        (crate::args::OutputMode::Json, Some(f)) => Err(crate::exit::usage(format!(
            "-o json prints JSON, and -f {} asks for another format; leave out one of them",
            format_name(f)
        ))),
        (crate::args::OutputMode::Text, f) => Ok(Some(f.unwrap_or(MapFormat::Json))),
    }
}

fn format_name(f: MapFormat) -> &'static str {
    match f {
        MapFormat::Json => "json",
        MapFormat::Yaml => "yaml",
        MapFormat::Csv => "csv",
        MapFormat::Dotenv => "dotenv",
        MapFormat::Env => "env",
    }
}

/// `map` as `-o json` prints it: one JSON object, sorted, 2-space indent.
pub fn json_map(map: &TextMap<'_>) -> Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(serde_json::to_string_pretty(map).context("rendering JSON")?);
    text.push('\n');
    Ok(text)
}

/// Write `bytes` to stdout, or to `out`'s file: created with mode 0600, refused
/// if it exists unless `--force` (then replaced whole: written to a 0600
/// temporary file beside it and renamed over it, so it is never seen half
/// written or with looser permissions).
pub fn emit(out: &crate::args::OutFile, bytes: &[u8]) -> Result<()> {
    match &out.path {
        None => write_stdout(bytes),
        Some(path) => write_private_file(path, bytes, out.force),
    }
}

/// See [`emit`].
pub fn write_private_file(path: &std::path::Path, bytes: &[u8], force: bool) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let shown = path.display().to_string();
    let shown = lockbox::escape_untrusted(&shown);
    let open = |p: &std::path::Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
    };
    if !force {
        let mut f = open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                crate::exit::usage(format!(
                    "{shown} exists; pass --force to replace it, or choose another file"
                ))
            } else {
                crate::exit::usage(format!("cannot create {shown}: {e}"))
            }
        })?;
        return f
            .write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {shown}"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.lockbox-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(crate::exit::usage(format!("cannot write {shown}: {e}")));
    }
    Ok(())
}

/// Unix seconds as RFC 3339 UTC (`2026-11-23T10:52:56Z`); seconds past the
/// calendar's end (year 9999) read as its last second.
pub fn rfc3339(secs: u64) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Unique names of the listed items, sorted.
pub fn unique_names(items: &[lockbox::backend::ItemSummary]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The value as text for JSON output, or a usage error naming the secret.
pub fn value_text(s: &Secret) -> Result<&str> {
    s.value.expose_str().map_err(|_| {
        crate::exit::usage(format!(
            "secret {} holds binary (non-UTF-8) data, which JSON output cannot carry; \
             read it with `lockbox get {} --out FILE` (or `get -n > FILE`, which adds no newline)",
            s.name, s.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_python() {
        let mut map = TextMap::new();
        map.insert("b", "é\"\\\n\t\u{1}\u{7f}😀");
        map.insert("a", "x");
        let mut out = String::new();
        python_json(&map, &mut out);
        assert_eq!(
            out,
            "{\n    \"a\": \"x\",\n    \"b\": \"\\u00e9\\\"\\\\\\n\\t\\u0001\\u007f\\ud83d\\ude00\"\n}"
        );
        let mut empty = String::new();
        python_json(&TextMap::new(), &mut empty);
        assert_eq!(empty, "{}");
    }

    #[test]
    fn shell_names_and_quotes() {
        use super::shell::shell_quote;
        assert_eq!(shell_var("db.password"), "DB_PASSWORD");
        assert_eq!(shell_var("app/api-key"), "APP_API_KEY");
        assert_eq!(shell_var("9lives"), "_9LIVES");
        assert_eq!(shell_var("pässwort"), "P_SSWORT");
        let mut q = String::new();
        shell_quote("it's $HOME", &mut q);
        assert_eq!(q, "'it'\\''s $HOME'");
    }

    #[test]
    fn dotenv_refuses_colliding_names() {
        let mut map = TextMap::new();
        map.insert("a.b", "1");
        map.insert("a-b", "2");
        assert!(render_map(&map, MapFormat::Dotenv).is_err());
    }

    #[test]
    fn csv_quotes_like_python() {
        let mut map = TextMap::new();
        map.insert("a", "x,y");
        map.insert("b", "say \"hi\"\nbye");
        map.insert("c", "plain");
        assert_eq!(
            render_map(&map, MapFormat::Csv).unwrap().as_str(),
            "a,\"x,y\"\nb,\"say \"\"hi\"\"\nbye\"\nc,plain\n"
        );
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_258_376), "2026-11-21T10:52:56Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
