//! Environment variables a secret's *name* may not choose, and what a variable's
//! value can carry, in one place for `exec` and the `env`/`dotenv` map formats.
//!
//! A name derived from a secret's name (`exec --prefix`, `getall -f env`) is
//! chosen by whoever may write the table, not by the operator. The protected
//! variables below change how a program is loaded, which code an interpreter or
//! a shell runs first, where a program connects or whom it trusts, or lockbox's
//! and AWS's own configuration; a derived name that is one of them is refused.
//! An operator who means it maps the variable explicitly (`exec --env VAR=NAME`,
//! the manifest's `env`). docs/CLI.md lists the same names (a test checks it).

use std::collections::BTreeMap;

use anyhow::Result;

/// Protected names, exactly.
pub const EXACT: &[&str] = &[
    // The shell and the programs it finds.
    "PATH",
    "HOME",
    "SHELL",
    "ENV",
    "BASH_ENV",
    "IFS",
    "PS4",
    "SHELLOPTS",
    "BASHOPTS",
    "CDPATH",
    // The C library: character-set modules, tunables, the resolver, files.
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    "TMPDIR",
    "TZDIR",
    "LANG",
    "LANGUAGE",
    "LOCPATH",
    "NLSPATH",
    // Interpreters and runtimes: code loaded or run before the program's own.
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    // Whom TLS trusts.
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
];

/// Protected name prefixes (`LD_*`).
pub const PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "LC_",
    "PYTHON",
    "PERL5",
    "SSL_CERT_",
    "GIT_",
    "AWS_",
    "LOCKBOX_",
    "CREDSTASH_",
];

/// Protected name suffixes (`*_PROXY`, in either case).
pub const SUFFIXES: &[&str] = &["_PROXY"];

/// What a protected variable does, for messages.
pub const PROTECTED: &str = "a variable that changes how a program loads or where it connects";

/// Why a value cannot go in an environment variable: a NUL byte. The same
/// words in `exec`'s failure and in the map formats' error.
pub const NUL_VALUE: &str =
    "the value holds a NUL byte, which an environment variable cannot carry";

/// The rule that protects `var` (`"PATH"`, `"LD_*"`, `"*_PROXY"`), if any.
/// Compared in upper case: names derived from secret names are upper case, and
/// some programs read the lower-case proxy variables too.
pub fn protected(var: &str) -> Option<String> {
    let upper = var.to_ascii_uppercase();
    if let Some(name) = EXACT.iter().find(|n| **n == upper) {
        return Some((*name).to_owned());
    }
    if let Some(p) = PREFIXES.iter().find(|p| upper.starts_with(*p)) {
        return Some(format!("{p}*"));
    }
    SUFFIXES
        .iter()
        .find(|s| upper.ends_with(*s))
        .map(|s| format!("*{s}"))
}

/// The kernel's limit on one `NAME=value` string of an environment, its NUL
/// included (`MAX_ARG_STRLEN`: 32 pages, 131,072 bytes with 4 KiB pages).
pub fn max_entry_len() -> usize {
    32 * rustix::param::page_size()
}

/// Whether `NAME=value` (with `value_len` bytes) fits in one environment string.
pub fn fits(var: &str, value_len: usize) -> bool {
    var.len()
        .saturating_add(value_len)
        .saturating_add("=".len() + 1)
        <= max_entry_len()
}

/// Refuse a map for the `env`/`dotenv` formats when a secret's name would set a
/// protected variable, or a value holds a NUL byte (which a shell silently
/// drops); names each secret, never a value.
pub fn check_map(map: &BTreeMap<&str, &str>) -> Result<()> {
    let mut protected_names = Vec::new();
    let mut nul = Vec::new();
    for (name, value) in map {
        let var = crate::output::shell::shell_var(name);
        let shown = lockbox::escape_untrusted(name);
        if protected(&var).is_some() {
            protected_names.push(format!("\n  {shown} (${var})"));
        }
        if value.contains('\0') {
            nul.push(format!("\n  {shown}: {NUL_VALUE}"));
        }
    }
    if protected_names.is_empty() && nul.is_empty() {
        return Ok(());
    }
    let mut m = String::from("nothing was printed");
    if !protected_names.is_empty() {
        let (whose, them) = if protected_names.len() == 1 {
            ("this secret's name", "it")
        } else {
            ("these secrets' names", "them")
        };
        m.push_str(&format!(
            ": {whose} would become {PROTECTED} (docs/CLI.md lists them):"
        ));
        m.extend(protected_names.iter().map(String::as_str));
        m.push_str(&format!(
            "\n  rename {them}, read {them} with -f json, yaml or csv, or map a variable \
             explicitly with `lockbox exec --env VAR=NAME`"
        ));
    }
    if !nul.is_empty() {
        m.push_str(if protected_names.is_empty() {
            ": "
        } else {
            "\nand "
        });
        m.push_str("a value cannot be written as a variable:");
        m.extend(nul.iter().map(String::as_str));
        m.push_str("\n  read it with -f json, or on its own with `lockbox get NAME > FILE`");
    }
    Err(crate::exit::usage(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_names() {
        for var in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "DYLD_INSERT_LIBRARIES",
            "PATH",
            "BASH_ENV",
            "ENV",
            "BASH_FUNC_X__",
            "IFS",
            "PS4",
            "SHELL",
            "HOME",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONWARNINGS",
            "PERL5OPT",
            "PERL5LIB",
            "PERLLIB",
            "RUBYOPT",
            "RUBYLIB",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "GCONV_PATH",
            "HTTP_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "no_proxy",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "AWS_ENDPOINT_URL",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "LOCKBOX_TABLE",
            "CREDSTASH_DEFAULT_TABLE",
            "TMPDIR",
            "LANG",
            "LC_ALL",
            "LOCPATH",
            "NLSPATH",
            "TZDIR",
            "GIT_SSH_COMMAND",
            "GLIBC_TUNABLES",
        ] {
            assert!(protected(var).is_some(), "{var}");
        }
        for var in [
            "DB_PASSWORD",
            "API_KEY",
            "TOKEN",
            "PATHS",
            "MY_PATH",
            "HOMEPAGE",
            "LDAP_URL",
            "PROXY_URL",
            "ENVIRONMENT",
            "_9LIVES",
        ] {
            assert_eq!(protected(var), None, "{var}");
        }
        assert_eq!(protected("LD_PRELOAD").as_deref(), Some("LD_*"));
        assert_eq!(protected("path").as_deref(), Some("PATH"));
        assert_eq!(protected("http_proxy").as_deref(), Some("*_PROXY"));
    }

    #[test]
    fn the_kernel_limit_counts_the_name_the_equals_sign_and_the_nul() {
        let max = max_entry_len();
        assert!(max >= 131_072);
        assert!(fits("BIG", max - "BIG=".len() - 1));
        assert!(!fits("BIG", max - "BIG=".len()));
        assert!(!fits("BIG", usize::MAX));
    }

    #[test]
    fn maps_name_every_protected_name_and_nul_value_and_no_value() {
        let mut map = BTreeMap::new();
        map.insert("path", "CANARY-1");
        map.insert("ld.preload", "CANARY-2");
        map.insert("nul", "CANARY\0-3");
        map.insert("db.password", "CANARY-4");
        let err = check_map(&map).unwrap_err().to_string();
        assert!(
            err.starts_with("nothing was printed: these secrets' names"),
            "{err}"
        );
        assert!(err.contains("\n  path ($PATH)"), "{err}");
        assert!(err.contains("\n  ld.preload ($LD_PRELOAD)"), "{err}");
        let nul = format!("a value cannot be written as a variable:\n  nul: {NUL_VALUE}\n");
        assert!(err.contains(&format!("\nand {nul}")), "{err}");
        assert!(
            !err.contains("CANARY") && !err.contains("db.password"),
            "{err}"
        );
        map.remove("path");
        map.remove("ld.preload");
        let err = check_map(&map).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("nothing was printed: {nul}")),
            "{err}"
        );
        map.remove("nul");
        assert!(check_map(&map).is_ok());
    }

    #[test]
    fn the_documentation_lists_every_protected_name() {
        let doc = include_str!("../../docs/CLI.md");
        for name in EXACT {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/CLI.md lacks `{name}`"
            );
        }
        for p in PREFIXES {
            assert!(doc.contains(&format!("`{p}*`")), "docs/CLI.md lacks `{p}*`");
        }
        for s in SUFFIXES {
            assert!(doc.contains(&format!("`*{s}`")), "docs/CLI.md lacks `*{s}`");
        }
    }
}
