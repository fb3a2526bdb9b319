//! `put`: store a new version. The value comes from stdin (`-`), a file (`@FILE`),
//! the terminal (`--prompt`), or, for credstash compatibility, the argument itself.

use std::io::{IsTerminal as _, Read};

use anyhow::{bail, Context as _, Result};
use lockbox::{ExposeSecret as _, SecretValue};
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{OutputMode, PutArgs};
use crate::output::json;
use crate::values;

pub async fn run(ctx: &Ctx, args: &PutArgs) -> Result<()> {
    let name = &args.name;
    let mut pairs = Vec::with_capacity(args.context.len() + 1);
    let value_arg = if args.prompt {
        // With --prompt there is no value argument: what sits there is context.
        if let Some(first) = &args.value {
            pairs.push(prompt_context(first)?);
        }
        None
    } else {
        args.value.as_deref()
    };
    let value = read_new_value(name, value_arg, args.prompt)?;
    check_value(name.as_str(), value.expose_secret(), args.write.allow_empty)?;
    pairs.extend(args.context.iter().cloned());
    if args.json {
        check_json(name, &value)?;
    }
    crate::test_panic_point("after-read", value.expose_secret());
    let options = args.write.put_options(super::context(&pairs)?);
    if args.skip_unchanged {
        match ctx.lockbox.get(name, &options.context).await {
            Ok(current) if current.value == value => {
                return match ctx.output {
                    OutputMode::Json => crate::output::print_json(&json::Stored {
                        name: name.as_str(),
                        version: current.version.get(),
                    }),
                    OutputMode::Text => {
                        println!(
                            "{name} is unchanged at version {}; nothing was stored",
                            current.version
                        );
                        Ok(())
                    }
                };
            }
            Ok(_) | Err(lockbox::Error::NotFound { .. } | lockbox::Error::NotReplicated { .. }) => {
            }
            Err(e) => {
                return Err(anyhow::Error::from(e).context(format!(
                    "cannot read the latest {name} to compare (--skip-unchanged needs \
                     kms:Decrypt); nothing was stored"
                )))
            }
        }
    }
    let version = ctx
        .lockbox
        .put(name, &value, &options)
        .await
        .with_context(|| format!("cannot store {name} in table {}", ctx.table))?;
    match ctx.output {
        OutputMode::Json => crate::output::print_json(&json::Stored {
            name: name.as_str(),
            version: version.get(),
        }),
        OutputMode::Text => {
            println!("{name} has been stored as version {version}");
            Ok(())
        }
    }
}

/// The largest value `put` sends: a DynamoDB item holds at most 400 KB, name,
/// key and attributes included (credstash's base64 makes a value a third larger).
pub const MAX_VALUE_LEN: usize = 400_000;

/// Refuse what would be stored wrong or fail late: an empty value (a producer
/// that failed, `false | lockbox put NAME -`, or Enter twice at the prompt)
/// unless `--allow-empty`, and a value no DynamoDB item can hold.
pub(super) fn check_value(name: &str, value: &[u8], allow_empty: bool) -> Result<()> {
    let shown = lockbox::escape_untrusted(name);
    if value.is_empty() && !allow_empty {
        bail!(crate::exit::usage(format!(
            "the value of {shown} is empty; nothing was stored (pass --allow-empty to store an \
             empty secret)"
        )));
    }
    if value.len() > MAX_VALUE_LEN {
        bail!(crate::exit::usage(format!(
            "the value of {shown} is {} bytes; a DynamoDB item holds about 400 KB (about 300 KB \
             in credstash's format); keep large files elsewhere and store a reference",
            value.len()
        )));
    }
    Ok(())
}

/// The value argument: `-`, `@FILE`, or the value itself (with a warning).
fn read_value(arg: &str) -> Result<SecretValue> {
    if let Some(bytes) = read_input(arg, "the value")? {
        return Ok(SecretValue::from_slice(&bytes));
    }
    eprintln!(
        "lockbox: warning: a value given as an argument is visible in shell history and the \
         process list; prefer `-` (stdin), `@FILE` or --prompt"
    );
    Ok(SecretValue::from(arg))
}

/// What `put` and `put-all` read for `-` (standard input) and `@FILE` (a leading
/// `~/` is the home directory, as credstash reads it), every byte as it is; `None`
/// for any other argument, which is the input itself.
pub(super) fn read_input(arg: &str, what: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let mut buf = Zeroizing::new(Vec::new());
    if arg == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot read {what} from standard input"))?;
        return Ok(Some(buf));
    }
    let Some(path) = arg.strip_prefix('@') else {
        return Ok(None);
    };
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let file = match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    };
    let unreadable = |e: std::io::Error| {
        crate::exit::usage(format!(
            "cannot read {what} from file {}: {e}; check the path after @",
            lockbox::escape_untrusted(&format!("{path:?}"))
        ))
    };
    let mut f = std::fs::File::open(&file).map_err(unreadable)?;
    f.read_to_end(&mut buf).map_err(unreadable)?;
    Ok(Some(buf))
}

/// Ask twice on the terminal, without echo.
fn prompt(name: &str) -> Result<SecretValue> {
    // Without a terminal there is nothing to ask: a usage error, without the
    // errno of the failed open.
    let no_terminal =
        |_| crate::exit::usage("--prompt needs a terminal; use `-` to read the value from stdin");
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("Value for {name} (not echoed): "))
            .map_err(no_terminal)?,
    );
    let second = Zeroizing::new(
        rpassword::prompt_password(format!("{name} (again): ")).map_err(no_terminal)?,
    );
    if *first != *second {
        bail!(crate::exit::usage(
            "the two entries differ; nothing was stored, run put again"
        ));
    }
    Ok(SecretValue::from_slice(first.as_bytes()))
}

/// With `--prompt`, the argument after the name: an encryption-context pair.
/// Its text is never repeated: it is often the value itself, typed out of habit.
pub(super) fn prompt_context(text: &str) -> Result<values::ContextPair> {
    values::context_pair(text).map_err(|_| {
        crate::exit::usage(
            "with --prompt, the argument after the name is encryption context (KEY=VALUE), \
             and this one is not; it is not repeated here, as it may be the value: give the \
             value at the prompt only",
        )
    })
}

/// The value `put` and `rotate start` store: asked on the terminal with
/// `--prompt` (`ask`), else `-` (stdin; asked without echo when stdin is a
/// terminal, which would echo it and keep the Enter key's newline), `@FILE`, or
/// the argument itself (with a warning).
pub(super) fn read_new_value(
    name: &lockbox::SecretName,
    arg: Option<&str>,
    ask: bool,
) -> Result<SecretValue> {
    match (ask, arg) {
        (true, _) => prompt(name.as_str()),
        (false, Some("-")) if std::io::stdin().is_terminal() => {
            eprintln!(
                "lockbox: standard input is a terminal: the value is asked for without echo \
                 (as with --prompt); pipe it in to store bytes as they are"
            );
            prompt(name.as_str())
        }
        (false, Some(v)) => {
            let value = read_value(v)?;
            if value.expose_secret().ends_with(b"\n") && std::io::stderr().is_terminal() {
                eprintln!(
                    "lockbox: note: the value ends with a newline, which is stored with it \
                     (as credstash does); use `printf '%s'` rather than `echo` to leave it out"
                );
            }
            Ok(value)
        }
        (false, None) => bail!(crate::exit::usage(
            "a value is needed: `-` reads stdin, `@FILE` reads a file, --prompt asks on the \
             terminal"
        )),
    }
}

/// `--json`: refuse a value that is not one JSON document (nothing is stored),
/// saying where it stops being JSON, never what it holds. The document is
/// walked without being copied (`IgnoredAny`).
pub(super) fn check_json(name: &lockbox::SecretName, value: &SecretValue) -> Result<()> {
    let bytes = value.expose_secret();
    let why = match std::str::from_utf8(bytes) {
        Err(_) => "it is binary (not UTF-8 text)".to_owned(),
        Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => return Ok(()),
            Err(e) => {
                use serde_json::error::Category;
                let what = match e.classify() {
                    Category::Eof => "it is cut short",
                    Category::Syntax | Category::Data | Category::Io => "it has a syntax error",
                };
                format!("{what} at line {}, column {}", e.line(), e.column())
            }
        },
    };
    bail!(crate::exit::usage(format!(
        "the value for {name} is not JSON: {why}; nothing was stored (leave out --json to \
         store any value)"
    )))
}
