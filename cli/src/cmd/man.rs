//! `man`: the man page (roff) on stdout: `lockbox man > lockbox.1`.

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::args::Cli;

pub fn run() -> Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("cannot render the man page")?;
    crate::output::write_stdout(&out)
}
