//! YAML in and out (`import` files, `exec --manifest`, `-f yaml`), with
//! serde-saphyr: a pure-Rust parser that streams its events and checks resource
//! budgets as it goes, so deep nesting and alias bombs are refused at once, not
//! after the whole document is loaded.
//!
//! Inputs are capped in size before parsing, and nesting in depth: a manifest or an
//! import file is a flat mapping (a manifest one level deeper), so 16 levels is
//! generous.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::ExternalMessageSource;

/// The largest manifest read (`exec --manifest x.yaml`).
pub const MANIFEST_LIMIT: usize = 1 << 20;
/// The largest YAML import file read (`import x.yaml`).
pub const IMPORT_LIMIT: usize = 16 << 20;
/// The deepest nesting of sequences and mappings accepted.
const MAX_DEPTH: usize = 16;

/// How much of the parser's message an error may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The parser's message (it may quote the input: for files without secrets).
    Full,
    /// The position only (for files whose scalars are secret values).
    PositionOnly,
}

/// Why a YAML input was refused. The message names what is wrong and where; with
/// [`Detail::PositionOnly`] it never quotes the input.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.0
    }
}

/// `n` bytes in the largest whole unit.
fn size(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            // The parser's own bound on flow collections (`[[[...`), set above the
            // depth budget so that a deep flow collection is reported as the depth
            // breach it is; either refuses it at once.
            flow_nesting_limit: 4 * MAX_DEPTH,
        },
    }
}

/// Parse `bytes` (at most `limit` of them) as one YAML document holding a `T`.
pub fn from_slice<T: DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
    detail: Detail,
) -> Result<T, Error> {
    if bytes.len() > limit {
        return Err(Error(format!(
            "it is {} bytes; YAML input is limited to {} (split it, or use JSON)",
            bytes.len(),
            size(limit)
        )));
    }
    serde_saphyr::from_slice_with_options(bytes, options()).map_err(|e| describe(&e, detail))
}

/// Parse `text` (at most `limit` bytes) as one YAML document holding a `T`.
pub fn from_str<T: DeserializeOwned>(text: &str, limit: usize, detail: Detail) -> Result<T, Error> {
    from_slice(text.as_bytes(), limit, detail)
}

fn describe(e: &serde_saphyr::Error, detail: Detail) -> Error {
    // The location is the outermost one (where an alias was used); the cause may
    // sit under alias and snippet wrappers.
    let at = e
        .location()
        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
        .unwrap_or_default();
    let mut cause = e;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = cause
    {
        cause = error;
    }
    let too_deep = || {
        Error(format!(
            "it nests sequences or mappings more than {MAX_DEPTH} levels deep{at}"
        ))
    };
    match cause {
        serde_saphyr::Error::Budget {
            breach: BudgetBreach::Depth { .. },
            ..
        } => return too_deep(),
        serde_saphyr::Error::Budget { .. } => {
            return Error(format!(
                "it expands to more than the reader allows (anchors and aliases, or too many \
                 entries){at}"
            ))
        }
        // The scanner runs ahead of the budget's count and has its own bound on
        // flow collections (`[[[...`): past it, the input is as deep.
        serde_saphyr::Error::ExternalMessage { source, .. }
            if matches!(&**source, ExternalMessageSource::Parser(scan)
                if *scan.kind() == ErrorKind::RecursionLimitExceeded) =>
        {
            return too_deep()
        }
        _ => {}
    }
    match detail {
        Detail::Full => Error(e.without_snippet().to_string()),
        Detail::PositionOnly if at.is_empty() => {
            Error("invalid YAML (not a mapping of names to values)".to_owned())
        }
        Detail::PositionOnly => Error(format!("invalid YAML{at}")),
    }
}

/// `value` as a YAML document. Strings that a YAML 1.1 reader (PyYAML, so
/// credstash) would take for another type (`yes`, `1_000`, `2026-01-01`, `=`) are
/// quoted; multi-line strings are literal blocks; long lines are never folded.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let options = serde_saphyr::ser_options! {
        folded_wrap_chars: usize::MAX,
    };
    serde_saphyr::to_string_with_options(value, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Map = BTreeMap<String, String>;

    #[test]
    fn deep_nesting_is_refused_with_the_limit_named() {
        let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let err = from_str::<BTreeMap<String, serde_json::Value>>(
            &deep,
            IMPORT_LIMIT,
            Detail::PositionOnly,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("more than 16 levels deep"),
            "{err}"
        );
        // Where a string is expected, the first `[` is already refused.
        assert!(from_str::<Map>(&deep, IMPORT_LIMIT, Detail::PositionOnly).is_err());
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        let err =
            from_str::<BTreeMap<String, serde_json::Value>>(&block, IMPORT_LIMIT, Detail::Full)
                .unwrap_err();
        assert!(
            err.to_string().contains("more than 16 levels deep"),
            "{err}"
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut lol = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (prev, next) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            let refs = vec![format!("*{prev}"); 9].join(",");
            lol.push_str(&format!("{next}: &{next} [{refs}]\n"));
        }
        let err = from_str::<BTreeMap<String, serde_json::Value>>(
            &lol,
            IMPORT_LIMIT,
            Detail::PositionOnly,
        )
        .unwrap_err();
        assert!(err.to_string().contains("anchors and aliases"), "{err}");
    }

    #[test]
    fn inputs_over_the_limit_are_refused_before_parsing() {
        let err = from_str::<Map>("a: b\n", 4, Detail::Full).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is 5 bytes; YAML input is limited to 4 bytes (split it, or use JSON)"
        );
        let err = from_slice::<Map>(
            &vec![b' '; MANIFEST_LIMIT + 1],
            MANIFEST_LIMIT,
            Detail::Full,
        )
        .unwrap_err();
        assert!(err.to_string().contains("limited to 1 MiB"), "{err}");
    }

    #[test]
    fn position_only_errors_never_quote_the_input() {
        for text in ["a: 's3cret\n", "s3cret\n", "- s3cret\n", "a: [s3cret\n"] {
            let err = from_str::<Map>(text, IMPORT_LIMIT, Detail::PositionOnly).unwrap_err();
            assert!(!err.to_string().contains("s3cret"), "{text:?}: {err}");
        }
    }

    #[test]
    fn output_quotes_what_yaml_1_1_readers_would_retype_and_round_trips() {
        let long = "word ".repeat(40);
        let mut map = BTreeMap::new();
        for (k, v) in [
            ("plain", "hunter2"),
            ("bool", "yes"),
            ("num", "1_000"),
            ("date", "2026-01-01"),
            ("eq", "="),
            ("space", " "),
            ("multi", "line one\nline two\n\nlast\n"),
            ("long", long.as_str()),
        ] {
            map.insert(k, v);
        }
        let text = to_string(&map).unwrap();
        assert_eq!(
            text,
            format!(
                "bool: \"yes\"\ndate: \"2026-01-01\"\neq: \"=\"\nlong: \"{}\"\n\
                 multi: |\n  line one\n  line two\n\n  last\nnum: \"1_000\"\nplain: hunter2\nspace: \" \"\n",
                "word ".repeat(40)
            )
        );
        let back: BTreeMap<String, String> = from_str(&text, IMPORT_LIMIT, Detail::Full).unwrap();
        assert!(map.iter().all(|(k, v)| back[*k] == *v));
    }
}
