//! A named AWS profile (`-p`, `AWS_PROFILE`) must exist. The AWS SDK's chain
//! takes credentials from the environment before any profile, so without this
//! check `-p prod` with a developer's keys in the environment would run, silently,
//! as the developer: another account than the one named. credstash (boto3) and
//! the AWS CLI refuse a profile they cannot find, and so does lockbox.

use anyhow::Result;
use aws_types::os_shim_internal::{Env, Fs};

/// Refuse a named profile that the profile files do not define (exit 4). The
/// files are the SDK's defaults (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`,
/// else `~/.aws/config` and `~/.aws/credentials`), read by the SDK's own parser.
pub async fn check(profile: Option<&str>) -> Result<()> {
    let env_profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let (name, named_by) = match (profile, env_profile.as_deref()) {
        (Some(p), _) => (p, "-p/--profile"),
        (None, Some(p)) => (p, "AWS_PROFILE"),
        (None, None) => return Ok(()),
    };
    let shown = lockbox::escape_untrusted(name);
    let profiles = aws_config::profile::load(&Fs::real(), &Env::real(), &Default::default(), None)
        .await
        .map_err(|e| {
            crate::exit::coded(
                crate::exit::ACCESS,
                format!(
                    "cannot read the AWS profiles to find profile {shown} ({named_by}): {}; fix \
                     the file it names",
                    lockbox::escape_untrusted(&e.to_string())
                ),
            )
        })?;
    if profiles.get_profile(name).is_some() {
        return Ok(());
    }
    Err(crate::exit::coded(
        crate::exit::ACCESS,
        format!(
            "the config profile ({shown}) could not be found: {named_by} names it, and profiles \
             are read from {} and {}\n  hint: check the name (`aws configure list-profiles`), \
             or leave out {named_by} to use the default credentials",
            where_from("AWS_CONFIG_FILE", ".aws/config"),
            where_from("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
        ),
    ))
}

/// The file the SDK reads: `var`'s path, else `~/RELATIVE`.
fn where_from(var: &str, relative: &str) -> String {
    match std::env::var(var).ok().filter(|p| !p.is_empty()) {
        Some(path) => format!("{} ({var})", lockbox::escape_untrusted(&path)),
        None => match std::env::var("HOME").ok().filter(|h| !h.is_empty()) {
            Some(home) => {
                lockbox::escape_untrusted(&format!("{}/{relative}", home.trim_end_matches('/')))
                    .into_owned()
            }
            None => format!("~/{relative}"),
        },
    }
}
