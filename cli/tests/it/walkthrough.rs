//! docs/OPERATING.md is executed: every `$ command` of its ```console blocks runs
//! (through `sh -c`, in one fresh directory, with this build's `lockbox` first
//! on `PATH` and a clean environment), and what it prints, stdout and stderr
//! together, must be what the page shows. `[..]` in an expected line matches any
//! text; a last line `[exit N]` is the exit status (0 otherwise).

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};

/// One command of the page and what it must print.
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
    code: i32,
}

fn steps(page: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    for (i, line) in page.lines().enumerate() {
        if line.starts_with("```") {
            in_block = line == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                line: i + 1,
                command: command.to_owned(),
                expected: Vec::new(),
                code: 0,
            });
        } else if let Some(step) = steps.last_mut() {
            match line
                .strip_prefix("[exit ")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                Some(code) => step.code = code.parse().expect("[exit N]"),
                None => step.expected.push(line.to_owned()),
            }
        }
    }
    steps
}

/// `line` as `pattern` allows: `[..]` matches any text.
fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let Some(mut rest) = line.strip_prefix(parts[0]) else {
        return false;
    };
    let last = parts[parts.len() - 1];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[test]
fn operating_md_runs_as_written() {
    let page = include_str!("../../../docs/OPERATING.md");
    let steps = steps(page);
    assert!(steps.len() > 20, "the walkthrough was not read");
    let dir = tempfile::tempdir().unwrap();
    let bin = common::bin();
    let bin_dir = bin.parent().unwrap();
    // `lockbox` on PATH is this build, whatever its file is called.
    let shim = dir.path().join("bin");
    std::fs::create_dir(&shim).unwrap();
    std::os::unix::fs::symlink(&bin, shim.join("lockbox")).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", shim.display(), bin_dir.display());
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut failures = Vec::new();
    for step in &steps {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec 2>&1\n{}", step.command))
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .current_dir(Path::new(&work))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        let got: Vec<&str> = got.lines().collect();
        let same_lines = got.len() == step.expected.len()
            && got.iter().zip(&step.expected).all(|(g, e)| matches(e, g));
        let code = out.status.code().unwrap_or(-1);
        if !same_lines || code != step.code {
            failures.push(format!(
                "docs/OPERATING.md:{}: $ {}\n  expected (exit {}):\n    {}\n  got (exit {code}):\n    {}",
                step.line,
                step.command,
                step.code,
                step.expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_matcher() {
    assert!(matches("a [..] c", "a b c"));
    assert!(matches("[..]", ""));
    assert!(matches("key [..])", "key arn:x)"));
    assert!(!matches("a [..] c", "a b d"));
    assert!(matches("exact", "exact"));
}
