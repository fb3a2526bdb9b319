//! `put`: store a new version. The value comes from stdin (`-`), a file (`@FILE`),
//! the terminal (`--prompt`), or, for credstash compatibility, the argument itself.

use std::io::Read;

use anyhow::{bail, Context as _, Result};
use lockbox::{ExposeSecret as _, FormatPolicy, PutOptions, SecretValue};
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{OutputMode, PutArgs};
use crate::output::json;
use crate::values;

pub async fn run(ctx: &Ctx, args: &PutArgs) -> Result<()> {
    let name = &args.name;
    let mut pairs = Vec::with_capacity(args.context.len() + 1);
    let value = if args.prompt {
        // With --prompt there is no value argument: what sits there is context.
        if let Some(first) = &args.value {
            pairs.push(values::context_pair(first).map_err(|e| {
                crate::exit::usage(format!(
                    "with --prompt, the argument after the name is encryption context: {e}"
                ))
            })?);
        }
        prompt(name.as_str())?
    } else {
        match args.value.as_deref() {
            None => bail!(crate::exit::usage(
                "put needs a value: `-` reads stdin, `@FILE` reads a file, --prompt asks on the terminal"
            )),
            Some(v) => read_value(v)?,
        }
    };
    pairs.extend(args.context.iter().cloned());
    crate::test_panic_point("after-read", value.expose_secret());
    let options = PutOptions {
        // credstash's -a ignores -v: the next version.
        version: if args.autoversion { None } else { args.version },
        context: super::context(&pairs)?,
        comment: args.comment.clone(),
        format: args.digest.map(FormatPolicy::Credstash),
    };
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

/// The value argument: `-`, `@FILE`, or the value itself (with a warning).
fn read_value(arg: &str) -> Result<SecretValue> {
    if arg == "-" {
        let mut buf = Zeroizing::new(Vec::new());
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("cannot read the value from standard input")?;
        return Ok(SecretValue::from_slice(&buf));
    }
    if let Some(path) = arg.strip_prefix('@') {
        let bytes = Zeroizing::new(std::fs::read(path).with_context(|| {
            format!("cannot read the value from file {path:?}; check the path after @")
        })?);
        return Ok(SecretValue::from_slice(&bytes));
    }
    eprintln!(
        "lockbox: warning: a value given as an argument is visible in shell history and the \
         process list; prefer `-` (stdin), `@FILE` or --prompt"
    );
    Ok(SecretValue::from(arg))
}

/// Ask twice on the terminal, without echo.
fn prompt(name: &str) -> Result<SecretValue> {
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("{name}: "))
            .context("--prompt needs a terminal; use `-` to read the value from stdin")?,
    );
    let second = Zeroizing::new(
        rpassword::prompt_password(format!("{name} (again): "))
            .context("--prompt needs a terminal; use `-` to read the value from stdin")?,
    );
    if *first != *second {
        bail!(crate::exit::usage(
            "the two entries differ; nothing was stored, run put again"
        ));
    }
    Ok(SecretValue::from_slice(first.as_bytes()))
}
