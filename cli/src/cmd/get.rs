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
    if args.format.is_some() {
        // credstash ignores it too; a script may carry it.
        eprintln!(
            "lockbox: warning: -f formats the map a `*` pattern prints; {name} is one secret, \
             printed as its value"
        );
    }
    let secret = match version {
        None => ctx.lockbox.get(name, &context).await,
        Some(v) => ctx.lockbox.get_version(name, v, &context).await,
    }
    .with_context(|| super::get_ref::cannot_read(name, &ctx.table))?;
    crate::test_panic_point("after-fetch", secret.value.expose_secret());
    if super::get_ref::write_out(ctx, &args.out, &secret)? {
        return Ok(());
    }
    match ctx.output {
        OutputMode::Json => output::print_json(&output::json::Value {
            kms_region: secret.kms_region.as_deref(),
            name: secret.name.as_str(),
            region: secret.region.as_deref(),
            value: output::value_text(&secret)?,
            version: secret.version.get(),
        }),
        OutputMode::Text => {
            let mut bytes = zeroize::Zeroizing::new(secret.value.expose_secret().to_vec());
            if !args.noline {
                bytes.push(b'\n');
            }
            output::write_stdout(&bytes)
        }
    }
}

/// Every secret whose name matches `pattern`, as a map: all or nothing. A
/// pattern that matches nothing is an error (exit 3), as `exec --prefix` treats
/// a prefix with no secret: a sourced file of no variables would start an app
/// without its secrets.
async fn print_matching(
    ctx: &Ctx,
    args: &GetArgs,
    pattern: &str,
    version: Option<lockbox::Version>,
    context: &lockbox::EncryptionContext,
) -> Result<()> {
    let format = output::map_format(ctx.output, args.format)?;
    let names: Vec<String> = super::all_names(ctx)
        .await?
        .into_iter()
        .filter(|n| wildcard_match(pattern, n))
        .collect();
    if names.is_empty() && !args.allow_no_match {
        return Err(crate::exit::coded(
            crate::exit::NOT_FOUND,
            format!(
                "no secret in table {} matches {pattern:?}; nothing was printed (pass \
                 --allow-no-match to print an empty map)",
                ctx.table
            ),
        ));
    }
    let secrets = ctx
        .lockbox
        .get_many(&super::refs(&names, version)?, context)
        .await
        .with_context(|| format!("cannot read the secrets matching {pattern:?}"))?;
    let map = output::text_map(&secrets)?;
    let Some(format) = format else {
        return output::emit(&args.out, output::json_map(&map)?.as_bytes());
    };
    let text = output::render_map(&map, format)?;
    // credstash writes a wildcard's JSON without a final newline (getall's with
    // one); a file gets its final newline.
    let bytes = match format {
        MapFormat::Json if args.out.path.is_none() => text.trim_end_matches('\n').as_bytes(),
        _ => text.as_bytes(),
    };
    output::emit(&args.out, bytes)
}

pub use crate::names::wildcard_match;
