//! `find TEXT`: names that hold TEXT (any letter case) or match a `*` pattern;
//! `find --by-value`: the secrets whose latest value is the one given on stdin
//! (or typed without echo), compared in constant time. Only names are printed.

use std::io::{IsTerminal as _, Read as _};

use anyhow::{Context as _, Result};
use lockbox::ExposeSecret as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{FindArgs, OutputMode};
use crate::output;

pub async fn run(ctx: &Ctx, args: &FindArgs) -> Result<()> {
    let names = super::all_names(ctx).await?;
    let found: Vec<String> = match &args.text {
        Some(text) if !args.by_value => {
            let lower = text.to_lowercase();
            names
                .into_iter()
                .filter(|n| {
                    if text.contains('*') {
                        crate::names::wildcard_match(text, n)
                    } else {
                        n.to_lowercase().contains(&lower)
                    }
                })
                .collect()
        }
        _ => by_value(ctx, args, &names).await?,
    };
    if found.is_empty() {
        let what = match &args.text {
            Some(t) if !args.by_value => format!("whose name holds {t:?}"),
            _ => "with that value".to_owned(),
        };
        return Err(crate::exit::coded(
            crate::exit::NOT_FOUND,
            format!("no secret in table {} {what}", ctx.table),
        ));
    }
    match ctx.output {
        OutputMode::Json => output::print_json(&found),
        OutputMode::Text => {
            let mut out = String::new();
            for n in &found {
                out.push_str(&lockbox::escape_untrusted(n));
                out.push('\n');
            }
            output::write_stdout(out.as_bytes())
        }
    }
}

/// The names of the secrets whose latest value equals the one read from stdin.
/// A secret that cannot be read (another context, access denied) is named on
/// stderr and left out; the others are still compared.
async fn by_value(ctx: &Ctx, args: &FindArgs, names: &[String]) -> Result<Vec<String>> {
    let wanted = read_wanted()?;
    let context = super::context(&args.context)?;
    let refs = super::refs(names, None)?;
    let mut found = Vec::new();
    let mut unreadable = 0usize;
    for (r, outcome) in refs.iter().zip(ctx.lockbox.get_each(&refs, &context).await) {
        match outcome {
            Ok(secret) => {
                let same: bool = secret.value.expose_secret().ct_eq(&wanted).into();
                if same {
                    found.push(r.name.as_str().to_owned());
                }
            }
            Err(e) => {
                unreadable += 1;
                eprintln!(
                    "lockbox: warning: {}: not compared: {}",
                    lockbox::escape_untrusted(r.name.as_str()),
                    crate::exit::class(&e).word
                );
            }
        }
    }
    if unreadable > 0 {
        eprintln!(
            "lockbox: warning: {unreadable} of {} secrets could not be read and were not compared",
            names.len()
        );
    }
    Ok(found)
}

/// The value to look for: stdin as it is, or asked on the terminal without echo.
fn read_wanted() -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::new());
    if std::io::stdin().is_terminal() {
        let typed = Zeroizing::new(
            rpassword::prompt_password("Value to look for (not echoed): ")
                .context("cannot read the value from the terminal")?,
        );
        buf.extend_from_slice(typed.as_bytes());
    } else {
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("cannot read the value from standard input")?;
    }
    if buf.is_empty() {
        return Err(crate::exit::usage(
            "find --by-value needs the value on standard input (it is never taken from the \
             command line): printf '%s' \"$VALUE\" | lockbox find --by-value",
        ));
    }
    Ok(buf)
}
