//! The identity file (`--iam FILE`): users with static keys, roles and their trust,
//! the instance role, and the policy documents of each (parsed by `policy.rs`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::policy::Policy;

/// Temporary credentials live this long unless the file or the config says otherwise.
pub const DEFAULT_CREDENTIAL_TTL: Duration = Duration::from_secs(15 * 60);
/// The longest lifetime of temporary credentials: AWS's longest session (36 h).
pub const MAX_CREDENTIAL_TTL_SECONDS: u64 = 36 * 60 * 60;

/// The parsed identity file.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamConfig {
    /// Users with static keys.
    #[serde(default)]
    pub users: Vec<User>,
    /// Roles, assumed through STS or served by the credential endpoints.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The role the IMDS endpoint serves (the "instance profile").
    #[serde(default)]
    pub instance_role: Option<String>,
    /// Lifetime of temporary credentials, in seconds.
    #[serde(default)]
    pub credential_ttl_seconds: Option<u64>,
    /// Secret of the web identity token issuer (HS256); derived from the file when absent.
    #[serde(default)]
    pub issuer_secret: Option<String>,
    /// Raw bytes of the file, for deriving the issuer key.
    #[serde(skip)]
    pub(crate) source: Vec<u8>,
}

impl std::fmt::Debug for IamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of Debug output: names only.
        f.debug_struct("IamConfig")
            .field(
                "users",
                &self.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
            .field(
                "roles",
                &self.roles.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .field("instance_role", &self.instance_role)
            .finish_non_exhaustive()
    }
}

/// An IAM user with one static access key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name (`arn:aws:iam::ACCOUNT:user/NAME`).
    pub name: String,
    /// Access key id (`AKIA...` by convention; any string is accepted).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Inline policy documents.
    #[serde(default)]
    pub policies: Vec<Value>,
    /// Policy documents in files, relative to the identity file.
    #[serde(default)]
    pub policy_files: Vec<String>,
}

/// An IAM role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Role name (`arn:aws:iam::ACCOUNT:role/NAME`).
    pub name: String,
    /// Who may obtain credentials for it.
    #[serde(default)]
    pub trust: Trust,
    /// Inline policy documents.
    #[serde(default)]
    pub policies: Vec<Value>,
    /// Policy documents in files, relative to the identity file.
    #[serde(default)]
    pub policy_files: Vec<String>,
}

/// A role's trust: the emulator's stand-in for a trust policy.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// User names allowed to call `AssumeRole`.
    #[serde(default)]
    pub users: Vec<String>,
    /// Whether tokens from the emulator's issuer may `AssumeRoleWithWebIdentity`.
    #[serde(default)]
    pub web_identity: bool,
    /// The `Authorization` value the container credentials endpoint requires for
    /// this role (what `AWS_CONTAINER_AUTHORIZATION_TOKEN` carries).
    #[serde(default)]
    pub container_token: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("users", &self.users)
            .field("web_identity", &self.web_identity)
            .field(
                "container_token",
                &self.container_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl IamConfig {
    /// Reads and checks `path`; policy files are resolved relative to it.
    pub fn load(path: &Path) -> Result<IamConfig, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut config: IamConfig = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a valid identity file: {e}", path.display()))?;
        config.source = bytes;
        let base = path.parent().unwrap_or(Path::new("."));
        let load_files = |files: &[String], into: &mut Vec<Value>| -> Result<(), String> {
            for f in files {
                let p = base.join(f);
                let text =
                    std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                into.push(
                    serde_json::from_slice(&text)
                        .map_err(|e| format!("{} is not JSON: {e}", p.display()))?,
                );
            }
            Ok(())
        };
        for u in &mut config.users {
            let files = std::mem::take(&mut u.policy_files);
            load_files(&files, &mut u.policies)?;
        }
        for r in &mut config.roles {
            let files = std::mem::take(&mut r.policy_files);
            load_files(&files, &mut r.policies)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses an identity file from JSON text (policy files are not allowed here).
    pub fn from_json(text: &str) -> Result<IamConfig, String> {
        let mut config: IamConfig =
            serde_json::from_str(text).map_err(|e| format!("not a valid identity file: {e}"))?;
        config.source = text.as_bytes().to_vec();
        if config.users.iter().any(|u| !u.policy_files.is_empty())
            || config.roles.iter().any(|r| !r.policy_files.is_empty())
        {
            return Err("policy_files needs an identity file on disk".to_owned());
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let mut keys = std::collections::BTreeSet::new();
        for u in &self.users {
            if !keys.insert(&u.access_key_id) {
                return Err(format!("access key id {} is used twice", u.access_key_id));
            }
            for p in &u.policies {
                Policy::parse(p).map_err(|e| format!("user {}: {e}", u.name))?;
            }
        }
        for r in &self.roles {
            for p in &r.policies {
                Policy::parse(p).map_err(|e| format!("role {}: {e}", r.name))?;
            }
            for name in &r.trust.users {
                if !self.users.iter().any(|u| &u.name == name) {
                    return Err(format!("role {} trusts unknown user {name}", r.name));
                }
            }
        }
        if let Some(role) = &self.instance_role {
            if self.role(role).is_none() {
                return Err(format!("instance_role {role} is not a role"));
            }
        }
        Ok(())
    }

    /// The role called `name`.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The user owning `access_key_id`.
    pub fn user_by_key(&self, access_key_id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.access_key_id == access_key_id)
    }
}
