//! `man`: the manual, rendered by clap_mangen from the same definitions as
//! `--help`. `lockbox man` prints one page: the top-level page, then every
//! command's own page as a section of it (so `lockbox man > lockbox.1` is
//! complete on its own); `lockbox man --dir DIR` writes `lockbox.1` and one
//! `lockbox-COMMAND.1` per command, the pages the SEE ALSO lines name.

use std::path::Path;

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::args::{Cli, ManArgs};

/// What the top-level page adds to clap's sections.
const EXTRA: &str = r#".SH ENVIRONMENT
.TP
\fBLOCKBOX_TABLE\fR, \fBCREDSTASH_DEFAULT_TABLE\fR
The table (\fB\-t\fR).
.TP
\fBLOCKBOX_KMS_KEY\fR
The KMS key (\fB\-k\fR).
.TP
\fBLOCKBOX_LOCAL\fR
A state directory for the embedded emulator, or 1 for ./.lockbox (\fB\-\-local\fR).
.TP
\fBLOCKBOX_CONCURRENCY\fR, \fBLOCKBOX_TABLE_MODE\fR, \fBLOCKBOX_REQUIRE_SEALED\fR, \fBLOCKBOX_ACCEPT_CREDSTASH_ITEMS\fR, \fBLOCKBOX_ACCEPT_SEALED_V1\fR, \fBLOCKBOX_TRUST_KEYS\fR
As the options of the same names.
.TP
\fBLOCKBOX_LOG\fR
A tracing filter for diagnostics (default warn), unless \fB\-\-log\-level\fR is given.
.TP
\fBAWS_REGION\fR, \fBAWS_PROFILE\fR, \fBAWS_ENDPOINT_URL\fR, ...
The standard AWS configuration.
.SH EXIT STATUS
.TP
0
Success.
.TP
1
Any other error (a version that exists, a refused confirmation, setup refused).
.TP
2
Usage: bad arguments or input.
.TP
3
Not found: no such secret, version, label or table; a pattern or prefix that matches nothing; a JSON field that is missing, or a value that is not JSON.
.TP
4
Access denied, bad or missing credentials, an unusable KMS key.
.TP
5
Integrity check failed or encryption context mismatch.
.TP
6
Throttled, unavailable or timed out: retry later.
.TP
7
Done, with problems left (doctor, migrate, rewrap, sync).
.TP
8
Label conflict: another operator moved the label or changed the rotation first; nothing was changed.
.PP
\fBexec\fR exits with its command's status once the command has started.
.SH SEE ALSO
The full guide is docs/CLI.md and docs/OPERATING.md in the lockbox sources.
"#;

pub fn run(args: &ManArgs) -> Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    match &args.dir {
        Some(dir) => write_pages(&cmd, dir),
        None => {
            let mut out = Vec::new();
            render(&cmd, "lockbox", &mut out)?;
            out.extend_from_slice(EXTRA.as_bytes());
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("lockbox-{}", sub.get_name());
                let mut page = Vec::new();
                render(sub, &name, &mut page)?;
                // One page: each command's page becomes a section, its title line
                // dropped and its sections demoted to subsections.
                let text = String::from_utf8_lossy(&page);
                out.extend_from_slice(
                    format!(".SH \"LOCKBOX {}\"\n", sub.get_name().to_uppercase()).as_bytes(),
                );
                for line in text.lines().filter(|l| !l.starts_with(".TH ")) {
                    let line = match line.strip_prefix(".SH ") {
                        Some(title) => format!(".SS {title}"),
                        None => line.to_owned(),
                    };
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
            }
            crate::output::write_stdout(&out)
        }
    }
}

fn render(cmd: &clap::Command, name: &str, out: &mut Vec<u8>) -> Result<()> {
    // clap names are `&'static str`: a page's name lives as long as the
    // process, which ends once the pages are written.
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let cmd = cmd.clone().name(name);
    clap_mangen::Man::new(cmd)
        .render(out)
        .context("cannot render the man page")
}

/// `lockbox.1` and `lockbox-COMMAND.1` for every visible command, in `dir`.
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let mut top = Vec::new();
    render(cmd, "lockbox", &mut top)?;
    top.extend_from_slice(EXTRA.as_bytes());
    let write = |file: String, bytes: &[u8]| {
        let path = dir.join(&file);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write("lockbox.1".into(), &top)?;
    let mut written = vec!["lockbox.1".to_owned()];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("lockbox-{}", sub.get_name());
        let mut page = Vec::new();
        render(sub, &name, &mut page)?;
        write(format!("{name}.1"), &page)?;
        written.push(format!("{name}.1"));
    }
    eprintln!(
        "lockbox: wrote {} pages to {} (`man -l {}/lockbox.1`)",
        written.len(),
        dir.display(),
        dir.display()
    );
    Ok(())
}
