//! The child's environment, built from scratch (`env_clear` + `envs`): lockbox
//! never changes its own.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};

use lockbox::ExposeSecret;

use super::resolve::Resolved;
use super::spec::REF_SCHEME;

/// What of the inherited environment the child gets.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvPolicy {
    /// Only the declared variables, plus PATH and HOME.
    pub pristine: bool,
    /// With `pristine`, leave out PATH.
    pub no_path: bool,
    /// With `pristine`, leave out HOME.
    pub no_home: bool,
}

/// lockbox's own configuration, never passed on.
pub fn is_lockbox_config(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(b"LOCKBOX_") || b == b"CREDSTASH_DEFAULT_TABLE"
}

/// The child's environment: the inherited one filtered by `policy` (without
/// lockbox's configuration and `lockbox://` references), then the declared values.
pub fn child_env(
    inherited: &[(OsString, OsString)],
    policy: EnvPolicy,
    resolved: &Resolved,
) -> Vec<(OsString, OsString)> {
    let mut env: std::collections::BTreeMap<OsString, OsString> = inherited
        .iter()
        .filter(|(k, v)| {
            if is_lockbox_config(k) || v.as_bytes().starts_with(REF_SCHEME.as_bytes()) {
                return false;
            }
            if policy.pristine {
                return (k == "PATH" && !policy.no_path) || (k == "HOME" && !policy.no_home);
            }
            true
        })
        .cloned()
        .collect();
    for (var, value) in &resolved.env {
        env.insert(
            OsString::from(var),
            OsString::from_vec(value.expose_secret().to_vec()),
        );
    }
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn config_and_references_are_dropped() {
        let inherited = pairs(&[
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("LOCKBOX_TABLE", "t"),
            ("LOCKBOX_LOCAL", "1"),
            ("CREDSTASH_DEFAULT_TABLE", "t"),
            ("DB", "lockbox://db"),
            ("KEEP", "yes"),
        ]);
        let mut resolved = Resolved::default();
        resolved.env.insert("DB".into(), "secret".into());
        let env = child_env(&inherited, EnvPolicy::default(), &resolved);
        assert_eq!(
            env,
            pairs(&[
                ("DB", "secret"),
                ("HOME", "/root"),
                ("KEEP", "yes"),
                ("PATH", "/bin")
            ])
        );
        let pristine = EnvPolicy {
            pristine: true,
            no_home: true,
            ..EnvPolicy::default()
        };
        let env = child_env(&inherited, pristine, &resolved);
        assert_eq!(env, pairs(&[("DB", "secret"), ("PATH", "/bin")]));
    }
}
