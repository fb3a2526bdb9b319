//! `delete`: one version, or every version, of a secret.
//!
//! On a terminal it asks first unless `--yes`; without a terminal it deletes
//! without asking, as credstash does, so existing scripts keep working.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context as _, Result};

use super::Ctx;
use crate::args::{DeleteArgs, OutputMode};
use crate::output;

pub async fn run(ctx: &Ctx, args: &DeleteArgs) -> Result<()> {
    let name = &args.name;
    let version = args.version;
    if !args.yes {
        let what = match version {
            Some(v) => format!("version {v} of {name}"),
            None => format!("every version of {name}"),
        };
        confirm(&format!("Delete {what} from table {}?", ctx.table))?;
    }
    let deleted = ctx
        .lockbox
        .delete(name, version)
        .await
        .with_context(|| format!("cannot delete {name} from table {}", ctx.table))?;
    print_deleted(ctx, name, &deleted, "Deleting")
}

/// On a terminal (stdin and stderr), ask `question` and go on only on a yes;
/// without a terminal, go on (credstash's scripts never answered a question).
pub fn confirm(question: &str) -> Result<()> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(());
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the confirmation")?;
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        bail!("not deleted: the answer was not yes (pass --yes to skip the question)");
    }
    Ok(())
}

/// `Deleting NAME -- version V` per deleted item (credstash's lines), or JSON.
pub fn print_deleted(
    ctx: &Ctx,
    name: &lockbox::SecretName,
    sort_keys: &[String],
    verb: &str,
) -> Result<()> {
    match ctx.output {
        OutputMode::Json => output::print_json(&output::json::Deleted {
            deleted: sort_keys
                .iter()
                .map(|k| lockbox::Version::from_sort_key(k).map(|v| v.get()).ok())
                .collect(),
            name: name.as_str(),
        }),
        OutputMode::Text => {
            let mut out = String::new();
            let name = lockbox::escape_untrusted(name.as_str());
            for k in sort_keys {
                // The sort keys are whatever a table writer stored.
                let k = lockbox::escape_untrusted(k);
                out.push_str(&format!("{verb} {name} -- version {k}\n"));
            }
            output::write_stdout(out.as_bytes())
        }
    }
}
