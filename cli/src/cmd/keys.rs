//! `keys`: the names of every secret, sorted.

use anyhow::Result;

use crate::args::OutputMode;
use crate::output;
use crate::Ctx;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let names = super::all_names(ctx).await?;
    match ctx.output {
        OutputMode::Json => output::print_json(&serde_json::json!(names)),
        OutputMode::Text => {
            let mut out = String::new();
            for n in names {
                out.push_str(&n);
                out.push('\n');
            }
            output::write_stdout(out.as_bytes())
        }
    }
}
