//! `get`: one secret's value, or with `*` a map of the matching secrets.

use anyhow::{Context as _, Result};
use lockbox::ExposeSecret;

use super::Ctx;
use crate::args::{GetArgs, MapFormat, OutputMode};
use crate::output;
use crate::values::NameOrPattern;

pub async fn run(ctx: &Ctx, args: &GetArgs) -> Result<()> {
    let context = super::context(&args.context)?;
    let version = args.version;
    let name = match &args.name {
        NameOrPattern::Reference(r) => return super::get_ref::run(ctx, args, r.clone()).await,
        NameOrPattern::Name(name) if super::get_ref::selects(args) => {
            let r = lockbox::Reference::latest(name.clone());
            return super::get_ref::run(ctx, args, r).await;
        }
        NameOrPattern::Pattern(_) if super::get_ref::selects(args) => {
            return Err(super::get_ref::not_with_a_pattern())
        }
        NameOrPattern::Name(name) => name,
        NameOrPattern::Pattern(pattern) => {
            return print_matching(ctx, args, pattern, version, &context).await
        }
    };
    let secret = match version {
        None => ctx.lockbox.get(name, &context).await,
        Some(v) => ctx.lockbox.get_version(name, v, &context).await,
    }
    .with_context(|| super::get_ref::cannot_read(name, &ctx.table))?;
    crate::test_panic_point("after-fetch", secret.value.expose_secret());
    match ctx.output {
        OutputMode::Json => output::print_json(&output::json::Value {
            name: secret.name.as_str(),
            value: output::value_text(&secret)?,
            version: secret.version.get(),
        }),
        OutputMode::Text => {
            output::write_stdout(secret.value.expose_secret())?;
            if !args.noline {
                output::write_stdout(b"\n")?;
            }
            Ok(())
        }
    }
}

/// Every secret whose name matches `pattern`, as a map: all or nothing.
async fn print_matching(
    ctx: &Ctx,
    args: &GetArgs,
    pattern: &str,
    version: Option<lockbox::Version>,
    context: &lockbox::EncryptionContext,
) -> Result<()> {
    let names: Vec<String> = super::all_names(ctx)
        .await?
        .into_iter()
        .filter(|n| wildcard_match(pattern, n))
        .collect();
    let secrets = ctx
        .lockbox
        .get_many(&super::refs(&names, version)?, context)
        .await
        .with_context(|| format!("cannot read the secrets matching {pattern:?}"))?;
    let map = output::text_map(&secrets)?;
    let format = args.format.unwrap_or(match ctx.output {
        OutputMode::Json | OutputMode::Text => MapFormat::Json,
    });
    let text = output::render_map(&map, format)?;
    // credstash writes a wildcard's JSON without a final newline (getall's with one).
    let bytes = match format {
        MapFormat::Json => text.trim_end_matches('\n').as_bytes(),
        _ => text.as_bytes(),
    };
    output::write_stdout(bytes)
}

/// `*` matches any run of characters; everything else matches itself (credstash
/// compiles the pattern as an unescaped regex, so its `.` matches anything).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().expect("split yields one part at least");
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn wildcards() {
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "abcd"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXbYc"));
        assert!(!m("a*b*c", "acb"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("db.*", "db.password"));
        assert!(!m("db.*", "dbXpassword"));
        assert!(m("x+(*", "x+(y"));
    }
}
