//! `completions`: a shell completion script on stdout.

use anyhow::Result;
use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "lockbox", &mut out);
    crate::output::write_stdout(&out)
}
