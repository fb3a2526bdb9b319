//! `put-all` (credstash's `putall`): store every secret of a flat JSON object
//! `{"NAME": "VALUE", ...}`, given as the argument itself, `@FILE` or `-`
//! (stdin). Each is stored as `put` stores it (the table's mode decides the
//! format; `-d` asks for credstash's), as the next version unless `-v`.
//!
//! Better than credstash where credstash is wrong: the whole input is checked
//! before anything is written (a bad name or a value that is not a string stores
//! nothing); every secret that could not be stored is named on stderr (never its
//! value) while the others are still stored, and the exit status is then
//! non-zero; and without `-v` each secret gets its next version, where credstash
//! writes version 0 (`0000000000000000000`) and then fails on the next run.

use std::fmt;

use anyhow::Result;
use futures::StreamExt as _;
use lockbox::{escape_untrusted, SecretName, SecretValue};
use serde::de::{Deserializer, MapAccess, Visitor};
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{OutputMode, PutAllArgs};
use crate::output::json;

pub async fn run(ctx: &Ctx, args: &PutAllArgs) -> Result<()> {
    let entries = read(&args.credentials)?;
    // Checked whole before anything is stored, as the rest of the input.
    for (name, value) in &entries {
        super::put::check_value(name.as_str(), value.as_bytes(), args.write.allow_empty)?;
    }
    let options = args.write.put_options(super::context(&args.context)?);
    // Secrets are independent: stored concurrently, reported in the input's order.
    let results: Vec<_> = futures::stream::iter(&entries)
        .map(|(name, value)| async {
            let value = SecretValue::from(value.as_str());
            ctx.lockbox.put(name, &value, &options).await
        })
        .buffered(ctx.concurrency)
        .collect()
        .await;
    let (mut stored, mut failed) = (Vec::new(), Vec::new());
    let mut first_error = None;
    for ((name, _), result) in entries.iter().zip(results) {
        match result {
            Ok(version) => {
                if ctx.output == OutputMode::Text {
                    println!("{name} has been stored as version {version}");
                }
                stored.push((name, version.get()));
            }
            Err(e) => {
                let why = format!("{e:#}");
                eprintln!(
                    "lockbox: {}: not stored: {}",
                    escape_untrusted(name.as_str()),
                    escape_untrusted(&why)
                );
                failed.push((name, why));
                first_error.get_or_insert(e);
            }
        }
    }
    if ctx.output == OutputMode::Json {
        crate::output::print_json(&json::PutAll {
            failed: failed
                .iter()
                .map(|(name, error)| json::Failure {
                    error,
                    name: name.as_str(),
                })
                .collect(),
            stored: stored
                .iter()
                .map(|(name, version)| json::Stored {
                    name: name.as_str(),
                    version: *version,
                })
                .collect(),
        })?;
    }
    match first_error {
        None => Ok(()),
        Some(e) => Err(anyhow::Error::from(e).context(match stored.len() {
            0 => format!(
                "none of the {} secrets was stored (listed above)",
                entries.len()
            ),
            n => format!(
                "{} of {} secrets were not stored (listed above); the other {n} were stored, \
                 so store only the failed ones again",
                failed.len(),
                entries.len()
            ),
        })),
    }
}

/// The secrets of the argument (`-`, `@FILE` or the JSON itself), in its order,
/// every one checked; a usage error naming every problem otherwise.
fn read(arg: &str) -> Result<Vec<(SecretName, Zeroizing<String>)>> {
    let bytes = match super::put::read_input(arg, "the secrets")? {
        Some(bytes) => bytes,
        None => {
            eprintln!(
                "lockbox: warning: values given as an argument are visible in shell history and \
                 the process list; prefer `-` (stdin) or `@FILE`"
            );
            Zeroizing::new(arg.as_bytes().to_vec())
        }
    };
    let what = match arg {
        "-" => "standard input".to_owned(),
        _ if arg.starts_with('@') => format!("file {}", escape_untrusted(&arg[1..])),
        _ => "the argument".to_owned(),
    };
    parse(&bytes).map_err(|problems| {
        crate::exit::usage(format!(
            "nothing was stored: {what} is not a flat JSON object of secret names to string \
             values ({{\"NAME\": \"VALUE\", ...}}, what `getall -f json` prints):{}",
            problems
                .iter()
                .map(|p| format!("\n  {p}"))
                .collect::<String>()
        ))
    })
}

/// The entries of `bytes`, or every problem found (never quoting a value).
fn parse(bytes: &[u8]) -> Result<Vec<(SecretName, Zeroizing<String>)>, Vec<String>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let entries = (&mut de)
        .deserialize_map(Entries)
        // Nothing but white space may follow the object.
        .and_then(|entries| de.end().map(|()| entries))
        .map_err(|e| {
            vec![match e.classify() {
                serde_json::error::Category::Data => format!(
                    "it is not an object of names to values (line {} column {})",
                    e.line(),
                    e.column()
                ),
                _ => format!("invalid JSON at line {} column {}", e.line(), e.column()),
            }]
        })?;
    let mut problems = Vec::new();
    let mut out: Vec<(SecretName, Zeroizing<String>)> = Vec::with_capacity(entries.len());
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in entries {
        let shown = format!("{:?}", escape_untrusted(&name));
        if !seen.insert(name.clone()) {
            problems.push(format!("{shown} is given more than once"));
            continue;
        }
        let value = match value {
            serde_json::Value::String(v) => Zeroizing::new(v),
            _ => {
                problems.push(format!("the value of {shown} is not a string; quote it"));
                continue;
            }
        };
        match SecretName::new(name.as_str()) {
            Ok(name) => out.push((name, value)),
            Err(e) => problems.push(escape_untrusted(&e.to_string()).into_owned()),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// A JSON object's entries in their order, duplicates kept (so they can be named).
struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(String, serde_json::Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of secret names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
            out.push(entry);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_in_order_and_every_problem_named_without_values() {
        let ok = parse(br#"{"b": "2", "a": "1=x", "c/d": ""}"#).unwrap();
        let names: Vec<&str> = ok.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a", "c/d"]);
        assert_eq!(ok[1].1.as_str(), "1=x");
        assert_eq!(parse(b"{}").unwrap().len(), 0);
        let bad =
            parse(br#"{"a": "s3cret", "a": "x", "n": 5, "bad*": "s3cret", "o": {"k": "s3cret"}}"#)
                .unwrap_err();
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad.iter().all(|p| !p.contains("s3cret")), "{bad:?}");
        for text in [
            &b"\"s3cret\""[..],
            b"[\"s3cret\"]",
            b"{\"a\": \"s3cret\"",
            b"s3cret",
            b"{} x",
        ] {
            let problems = parse(text).unwrap_err();
            assert!(
                problems.iter().all(|p| !p.contains("s3cret")),
                "{problems:?}"
            );
        }
    }
}
