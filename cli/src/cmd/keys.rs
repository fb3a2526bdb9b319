//! `keys`: the names of every secret, sorted.

use anyhow::Result;

use super::Ctx;
use crate::args::OutputMode;
use crate::output;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let names = super::all_names(ctx).await?;
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
