//! `~/.credstash`: credstash's per-user settings, a JSON object that holds only
//! the KMS region (`{"kms-region": "eu-west-1"}`), written by `setup
//! --save-kms-region` and read, as credstash reads it, when `--kms-region` is not
//! given: `--kms-region`, else this file, else the region.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use lockbox::escape_untrusted;

/// The key credstash uses.
const KEY: &str = "kms-region";

/// `$HOME/.credstash`, when `HOME` is set.
fn path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".credstash"))
}

fn shown(path: &std::path::Path) -> String {
    escape_untrusted(&path.display().to_string()).into_owned()
}

/// The file's settings, or none when it does not exist.
fn load(path: &std::path::Path) -> Result<Option<BTreeMap<String, serde_json::Value>>> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(crate::exit::usage(format!(
                "cannot read {}: {e}; fix its permissions or remove it",
                shown(path)
            )))
        }
    };
    serde_json::from_slice(&text).map(Some).map_err(|_| {
        crate::exit::usage(format!(
            "{} is not a JSON object such as {{\"{KEY}\": \"eu-west-1\"}} (credstash's settings \
             file); fix it, or remove it and run `lockbox setup --save-kms-region REGION`",
            shown(path)
        ))
    })
}

/// The KMS region `~/.credstash` saves, if any (a missing file, or `null` or
/// an empty region in it, is none).
pub fn kms_region() -> Result<Option<String>> {
    let Some(path) = path() else { return Ok(None) };
    let Some(settings) = load(&path)? else {
        return Ok(None);
    };
    match settings.get(KEY) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(r)) if r.is_empty() => Ok(None),
        Some(serde_json::Value::String(r)) => {
            check_region(r).with_context(|| format!("{} holds a bad {KEY}", shown(&path)))?;
            Ok(Some(r.clone()))
        }
        Some(_) => Err(crate::exit::usage(format!(
            "{}: \"{KEY}\" is not a region name; fix it, or run `lockbox setup \
             --save-kms-region REGION`",
            shown(&path)
        ))),
    }
}

/// A region name as AWS writes them (`eu-west-1`, `us-gov-west-1`).
pub fn check_region(region: &str) -> Result<()> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(crate::exit::usage(format!(
            "{:?} is not a region name: a region is written like eu-west-1",
            escape_untrusted(region)
        )))
    }
}

/// Save `region` as the KMS region in `~/.credstash`, keeping whatever else the
/// file holds, as credstash does; the file is replaced at once (written beside
/// it, then renamed), so a reader never sees half of it. Returns the path.
pub fn save_kms_region(region: &str) -> Result<PathBuf> {
    check_region(region)?;
    let path = path().ok_or_else(|| {
        crate::exit::usage("HOME is not set, so there is no ~/.credstash to save the KMS region in")
    })?;
    let mut settings = load(&path)?.unwrap_or_default();
    settings.insert(KEY.to_owned(), region.into());
    let text = python_dump(&settings);
    let tmp = path.with_file_name(format!(".credstash.lockbox-{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(crate::exit::coded(
            crate::exit::OTHER,
            format!("cannot write {}: {e}", shown(&path)),
        ));
    }
    Ok(path)
}

/// The settings as Python's `json.dump` writes them (credstash writes the file
/// so): `{"kms-region": "eu-west-1"}`.
fn python_dump(settings: &BTreeMap<String, serde_json::Value>) -> String {
    let fields: Vec<String> = settings
        .iter()
        .map(|(k, v)| {
            format!(
                "{}: {}",
                serde_json::Value::from(k.as_str()),
                serde_json::to_string(v).unwrap_or_else(|_| "null".into())
            )
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_the_file_format() {
        assert!(check_region("eu-west-1").is_ok());
        assert!(check_region("us-gov-west-1").is_ok());
        for bad in ["", "EU-WEST-1", "eu west 1", "eu-west-1\n"] {
            assert!(check_region(bad).is_err(), "{bad:?}");
        }
        let mut settings = BTreeMap::new();
        settings.insert(KEY.to_owned(), serde_json::Value::from("eu-west-1"));
        assert_eq!(python_dump(&settings), r#"{"kms-region": "eu-west-1"}"#);
        settings.insert("other".to_owned(), serde_json::json!([1, "x"]));
        assert_eq!(
            python_dump(&settings),
            r#"{"kms-region": "eu-west-1", "other": [1,"x"]}"#
        );
    }
}
