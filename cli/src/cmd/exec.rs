//! `exec`: resolve every declared secret, then become the command (or supervise it).

use anyhow::Result;

use crate::args::ExecArgs;
use crate::exec::env::EnvPolicy;
use crate::exec::resolve::resolve;
use crate::exec::spec;
use crate::exec::supervise::{supervise, Launch, Watch};
use crate::exit::Coded;
use crate::values::OnChange;

use super::{Ctx, Done};

pub async fn run(ctx: &Ctx, args: &ExecArgs) -> Result<Done> {
    chamber_habit(args)?;
    let inherited: Vec<_> = std::env::vars_os().collect();
    let spec = spec::build(args, &inherited)?;
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    if spec.bindings.is_empty() && spec.prefixes.is_empty() {
        eprintln!(
            "lockbox: warning: no secrets declared (--env, --file, --prefix, --manifest or \
             a lockbox:// reference in the environment); {} runs with its environment as it is",
            program.to_string_lossy()
        );
    }
    let launch = Launch {
        program: program.clone(),
        args: rest.to_vec(),
        inherited,
        policy: EnvPolicy {
            pristine: args.pristine,
            no_path: args.no_path,
            no_home: args.no_home,
        },
        allow_disk: args.allow_disk,
    };
    let resolved = resolve(&ctx.lockbox, &spec, args.deadline, Default::default())
        .await
        .map_err(|failed| Coded {
            code: failed.code(),
            message: failed.message(&launch.label()),
        })?;
    if args.watch.is_none() && !spec.has_files() {
        let command = launch
            .command(&resolved)
            .map_err(|e| launch.start_error(&e))?;
        return Ok(Done::Exec(Box::new((command, launch))));
    }
    let watch = args.watch.map(|interval| Watch {
        lockbox: &ctx.lockbox,
        spec: &spec,
        deadline: args.deadline,
        interval,
        on_change: args.on_change.unwrap_or(OnChange::Restart),
    });
    Ok(Done::Exit(supervise(&launch, resolved, watch).await?))
}

/// chamber's `exec SERVICE -- COMMAND`: lockbox takes secrets as options, so the
/// service would be run as the command. When the first word is followed by a
/// literal `--` and is no program that can be found, say what was meant rather
/// than failing to start it.
fn chamber_habit(args: &ExecArgs) -> Result<()> {
    let [first, second, rest @ ..] = args.command.as_slice() else {
        return Ok(());
    };
    if second != "--" || rest.is_empty() {
        return Ok(());
    }
    let first = first.to_string_lossy();
    let runnable = if first.contains('/') {
        std::path::Path::new(&*first).is_file()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(&*first).is_file()))
            .unwrap_or(false)
    };
    if runnable {
        return Ok(());
    }
    let service = lockbox::escape_untrusted(&first);
    let command: Vec<String> = rest
        .iter()
        .map(|a| crate::args::shell_word(&a.to_string_lossy()))
        .collect();
    Err(crate::exit::usage(format!(
        "exec takes the secrets as options, not as a service name: did you mean `lockbox exec \
         --prefix {service} -- {}`? ({service} is no command that can be found)",
        command.join(" ")
    )))
}
