//! `rotate start|finish|abort`: a staged rotation, in AWS Secrets Manager's
//! steps. `start` stores the new value as a version labelled `pending` (un-pinned
//! readers keep `current`); the operator sets it where it is used and tests it
//! (`get NAME --label pending`); `finish` makes it `current` (the old `current`
//! becomes `previous`), or `abort` drops it. Each step run again does nothing
//! more and says so (exit 0); a step meant for another rotation (`--token`) or
//! one that another operator changed meanwhile is refused with exit 8.

use anyhow::{Context as _, Result};
use lockbox::{ExposeSecret as _, RotateOptions, RotationStep};

use super::Ctx;
use crate::args::{OutputMode, RotateArgs, RotateEndArgs, RotateStartArgs, RotateStep};
use crate::output::{self, json};

pub async fn run(ctx: &Ctx, args: &RotateArgs) -> Result<()> {
    match &args.step {
        RotateStep::Start(a) => start(ctx, a).await,
        RotateStep::Finish(a) => {
            let step = ctx
                .lockbox
                .rotate_finish(&a.name, a.token.as_deref())
                .await
                .with_context(|| failed(a, "finish"))?;
            print(ctx, "finish", &step)
        }
        RotateStep::Abort(a) => {
            let step = ctx
                .lockbox
                .rotate_abort(&a.name, a.token.as_deref())
                .await
                .with_context(|| failed(a, "abort"))?;
            print(ctx, "abort", &step)
        }
    }
}

fn failed(a: &RotateEndArgs, step: &str) -> String {
    format!(
        "cannot {step} the rotation of {} (`lockbox label {}` shows its labels and rotation)",
        a.name, a.name
    )
}

async fn start(ctx: &Ctx, args: &RotateStartArgs) -> Result<()> {
    let name = &args.name;
    let mut pairs = Vec::with_capacity(args.context.len() + 1);
    let value_arg = match (&args.value, args.prompt) {
        // With --prompt there is no value argument: what sits there is context.
        (Some(first), true) => {
            pairs.push(super::put::prompt_context(first)?);
            None
        }
        (v, _) => v.as_deref(),
    };
    let value = super::put::read_new_value(name, value_arg, args.prompt)?;
    pairs.extend(args.context.iter().cloned());
    super::put::check_value(name.as_str(), value.expose_secret(), args.allow_empty)?;
    if args.json {
        super::put::check_json(name, &value)?;
    }
    crate::test_panic_point("after-read", value.expose_secret());
    let mut options = RotateOptions::default();
    options.token = args.token.clone();
    options.context = super::context(&pairs)?;
    options.comment = args.comment.clone();
    let step = ctx
        .lockbox
        .rotate_start(name, &value, &options)
        .await
        .with_context(|| {
            format!(
                "cannot start a rotation of {name} (`lockbox label {name}` shows its labels and \
                 rotation)"
            )
        })?;
    print(ctx, "start", &step)
}

/// Where the rotation stands: for people, what happened and what to do next.
fn print(ctx: &Ctx, what: &str, step: &RotationStep) -> Result<()> {
    if ctx.output == OutputMode::Json {
        return output::print_json(&json::RotationStepDoc::of(what, step));
    }
    let name = &step.name;
    let token = lockbox::escape_untrusted(&step.token);
    let version = step
        .version
        .map_or_else(|| "?".to_owned(), |v| v.to_string());
    // A table shared with credstash derives `current` from the versions, so a
    // step's labels may not name it.
    let current = step.labels.current();
    let still = current.map_or_else(
        || "what they got before".to_owned(),
        |v| format!("version {v}"),
    );
    let now = current
        .map(|v| format!(" (current: version {v})"))
        .unwrap_or_default();
    let line = match (what, step.changed, step.state) {
        ("start", true, _) => format!(
            "{name}: version {version} stored as pending (rotation {token}); un-pinned reads \
             still get {still}. Read it with `lockbox get {name} --label pending`, then \
             `lockbox rotate finish {name}` (or abort)"
        ),
        ("start", false, state) => format!(
            "{name}: rotation {token} was started already ({state}, version {version}); nothing \
             changed"
        ),
        ("finish", true, _) => format!(
            "{name}: version {version} is now current{}",
            step.labels
                .previous()
                .map(|p| format!(" (previous: version {p})"))
                .unwrap_or_default()
        ),
        ("finish", false, _) => {
            format!("{name}: rotation {token} was finished already; nothing changed{now}")
        }
        ("abort", true, _) => format!(
            "{name}: rotation {token} aborted; pending version {version} deleted; un-pinned \
             reads are unchanged{now}"
        ),
        _ => format!("{name}: rotation {token} was aborted already; nothing changed"),
    };
    println!("{line}");
    Ok(())
}
