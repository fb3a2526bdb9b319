//! The `dotenv` and `env` map formats: `NAME='value'` lines for a shell.
//!
//! Pure and free of any other module of the binary, because the fuzz target
//! `fuzz/fuzz_targets/dotenv.rs` compiles this very file by path and parses its
//! output back.

use std::collections::BTreeMap;
use std::fmt;

/// Two secret names that map to the same shell variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The name rendered first.
    pub first: String,
    /// The name that would overwrite it.
    pub second: String,
    /// The variable both become.
    pub var: String,
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "secrets {:?} and {:?} both become the variable {}; rename one, or use -f json",
            self.first, self.second, self.var
        )
    }
}

/// Appends one `VAR='value'` line per pair of `map` to `out`, each line prefixed
/// with `export ` when `export` (the `env` format) and none otherwise (`dotenv`).
pub fn render(map: &BTreeMap<&str, &str>, export: bool, out: &mut String) -> Result<(), Collision> {
    let prefix = if export { "export " } else { "" };
    let mut seen = BTreeMap::new();
    for (k, v) in map {
        let var = shell_var(k);
        if let Some(other) = seen.insert(var.clone(), *k) {
            return Err(Collision {
                first: other.to_owned(),
                second: (*k).to_owned(),
                var,
            });
        }
        out.push_str(prefix);
        out.push_str(&var);
        out.push('=');
        shell_quote(v, out);
        out.push('\n');
    }
    Ok(())
}

/// A valid shell variable name for a secret name: upper-cased, every character
/// outside `[A-Z0-9_]` as `_`, and `_` in front of a leading digit.
pub fn shell_var(name: &str) -> String {
    let mut var: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if var.starts_with(|c: char| c.is_ascii_digit()) || var.is_empty() {
        var.insert(0, '_');
    }
    var
}

/// `value` in single quotes, each `'` written as `'\''`: exact for any text in sh.
pub fn shell_quote(value: &str, out: &mut String) {
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
}
