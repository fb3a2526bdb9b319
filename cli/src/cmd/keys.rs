//! `keys`: the names of every secret, sorted.

use anyhow::Result;

use super::Ctx;
use crate::args::{KeysArgs, OutputMode};
use crate::output;

pub async fn run(ctx: &Ctx, args: &KeysArgs) -> Result<()> {
    let mut names = super::all_names(ctx).await?;
    if let Some(filter) = &args.pattern {
        names.retain(|n| crate::names::selects(filter, n));
    }
    match ctx.output {
        OutputMode::Json => output::print_json(&names),
        OutputMode::Text => {
            let mut out = String::new();
            for n in &names {
                // Names are whatever a table writer stored.
                out.push_str(&lockbox::escape_untrusted(n));
                out.push('\n');
            }
            output::write_stdout(out.as_bytes())
        }
    }
}
