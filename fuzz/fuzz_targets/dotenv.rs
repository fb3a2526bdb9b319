//! The `dotenv` and `env` output formats. Rendering a map either refuses it (two
//! names that become one variable, and only then) or produces text that parses
//! back to exactly the pairs (variable name, value): by a strict POSIX-sh
//! single-quote reader, and by the `dotenvy` crate as an independent oracle
//! (for values without a backslash, which dotenvy reads differently from sh).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

// The renderer is in the binary crate; this compiles its file as is.
#[path = "../../cli/src/output/shell.rs"]
#[allow(dead_code)]
mod shell;

/// Reads `[export ]NAME='...'` lines as sh would: quoted text is literal
/// (newlines included), `\'` between quoted parts is a quote.
fn sh_read(text: &str, export: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if export {
            rest = rest.strip_prefix("export ").expect("export prefix");
        }
        let (var, after) = rest.split_once('=').expect("NAME=");
        assert!(
            var.starts_with(|c: char| c == '_' || c.is_ascii_uppercase())
                && var
                    .bytes()
                    .all(|b| b == b'_' || b.is_ascii_uppercase() || b.is_ascii_digit()),
            "not a shell variable name: {var:?}"
        );
        let mut value = String::new();
        let mut chars = after.char_indices();
        loop {
            match chars.next() {
                Some((_, '\'')) => loop {
                    match chars.next().expect("unterminated quote") {
                        (_, '\'') => break,
                        (_, c) => value.push(c),
                    }
                },
                Some((_, '\\')) => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('\''), "stray backslash");
                    value.push('\'');
                }
                Some((i, '\n')) => {
                    rest = &after[i + 1..];
                    break;
                }
                other => panic!("unquoted text after {var}=: {other:?}"),
            }
        }
        out.push((var.to_owned(), value));
    }
    out
}

fuzz_target!(|input: (BTreeMap<String, String>, bool)| {
    let (owned, export) = input;
    let map: BTreeMap<&str, &str> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut text = String::new();
    let expected: BTreeMap<String, &str> =
        map.iter().map(|(k, v)| (shell::shell_var(k), *v)).collect();
    match shell::render(&map, export, &mut text) {
        Err(collision) => {
            assert!(expected.len() < map.len(), "refused without a collision");
            assert_eq!(shell::shell_var(&collision.first), collision.var);
            assert_eq!(shell::shell_var(&collision.second), collision.var);
        }
        Ok(()) => {
            assert_eq!(expected.len(), map.len());
            let read = sh_read(&text, export);
            let want: Vec<(String, String)> = map
                .iter()
                .map(|(k, v)| (shell::shell_var(k), (*v).to_owned()))
                .collect();
            assert_eq!(read, want);

            // dotenvy reads `\'` inside single quotes as an escaped quote, where sh
            // (and this format's contract) keeps the backslash: a value holding a
            // backslash is read differently (docs/FUZZING.md, open findings).
            if map.values().any(|v| v.contains('\\')) {
                return;
            }
            let parsed: Result<Vec<(String, String)>, _> =
                dotenvy::from_read_iter(text.as_bytes()).collect();
            let parsed: BTreeMap<String, String> = parsed
                .expect("dotenvy parses the output")
                .into_iter()
                .collect();
            let want: BTreeMap<String, String> = want.into_iter().collect();
            assert_eq!(parsed, want, "dotenvy reads other pairs");
        }
    }
});
