//! `prune`: delete all but the newest N versions of a secret. Like `delete`, it
//! asks first on a terminal (saying how many versions go), unless `--yes`.

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::args::{OutputMode, PruneArgs};

pub async fn run(ctx: &Ctx, args: &PruneArgs) -> Result<()> {
    let name = &args.name;
    let keep = usize::try_from(args.keep).unwrap_or(usize::MAX);
    let history = ctx
        .lockbox
        .history(name)
        .await
        .with_context(|| format!("cannot read the history of {name} in table {}", ctx.table))?;
    if history.is_empty() {
        return Err(anyhow::Error::new(lockbox::Error::NotFound {
            name: name.clone(),
            version: None,
        })
        .context(format!("cannot prune {name} in table {}", ctx.table)));
    }
    if history.len() <= keep {
        if ctx.output == OutputMode::Text {
            eprintln!(
                "lockbox: nothing to prune: {name} has {} version{}, --keep is {keep}",
                history.len(),
                if history.len() == 1 { "" } else { "s" }
            );
        }
        return super::delete::print_deleted(ctx, name, &[], "Deleted");
    }
    if !args.yes {
        super::delete::confirm(&format!(
            "Delete {} of {} versions of {name} from table {} (keeping the newest {keep})?",
            history.len() - keep,
            history.len(),
            ctx.table
        ))?;
    }
    let deleted = ctx
        .lockbox
        .prune(name, keep)
        .await
        .with_context(|| format!("cannot prune {name} in table {}", ctx.table))?;
    super::delete::print_deleted(ctx, name, &deleted, "Deleted")
}
