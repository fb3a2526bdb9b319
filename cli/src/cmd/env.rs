//! `env PREFIX...`: `export VAR='value'` lines for every secret under each
//! prefix, with the variable names `exec --prefix` gives them (chamber's `env`),
//! so `eval "$(lockbox env prod/app)"` and `lockbox exec --prefix prod/app`
//! set the same variables.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{EnvArgs, MapFormat, OutputMode};
use crate::output;

pub async fn run(ctx: &Ctx, args: &EnvArgs) -> Result<()> {
    let context = super::context(&args.context)?;
    let names = super::all_names(ctx).await?;
    // The part under its prefix, for each secret; a later prefix wins.
    let mut rest_of: BTreeMap<&str, &str> = BTreeMap::new();
    let mut empty = Vec::new();
    for prefix in &args.prefix {
        let mut any = false;
        for n in &names {
            if let Some(rest) = crate::names::under(prefix, n) {
                rest_of.insert(rest, n);
                any = true;
            }
        }
        if !any {
            empty.push(lockbox::escape_untrusted(prefix).into_owned());
        }
    }
    if !empty.is_empty() {
        return Err(crate::exit::coded(
            crate::exit::NOT_FOUND,
            format!(
                "no secret in table {} has a name under {}; nothing was printed (see the \
                 names with {})",
                ctx.table,
                empty.join(", "),
                crate::exit::lockbox_cmd("keys")
            ),
        ));
    }
    let wanted: Vec<String> = rest_of.values().map(|n| (*n).to_owned()).collect();
    let secrets = ctx
        .lockbox
        .get_many(&super::refs(&wanted, None)?, &context)
        .await
        .with_context(|| format!("cannot read the secrets under {}", args.prefix.join(", ")))?;
    let by_name = output::text_map(&secrets)?;
    let map: output::TextMap<'_> = rest_of
        .iter()
        .map(|(rest, name)| (*rest, by_name[*name]))
        .collect();
    // Refuses collisions, protected variables and NUL bytes, naming each.
    let format = if args.no_export {
        MapFormat::Dotenv
    } else {
        MapFormat::Env
    };
    let text = output::render_map(&map, format)?;
    match ctx.output {
        OutputMode::Text => output::write_stdout(text.as_bytes()),
        OutputMode::Json => {
            let vars: BTreeMap<String, &str> = map
                .iter()
                .map(|(rest, v)| (output::shell_var(rest), *v))
                .collect();
            let text = Zeroizing::new(
                serde_json::to_string_pretty(&vars).context("rendering JSON")? + "\n",
            );
            output::write_stdout(text.as_bytes())
        }
    }
}
