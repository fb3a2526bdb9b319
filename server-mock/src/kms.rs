//! AWS KMS (awsJson1.1, `X-Amz-Target: TrentService.*`): symmetric keys, aliases,
//! data keys and envelope operations, with AWS's key states and error codes.
//!
//! Keys and aliases live in a region (taken from each request's SigV4 scope) of one
//! account. Key material is 32 random bytes per key, kept in memory and, with a data
//! dir, **unencrypted** in the journal: this is a local emulator, not a vault.

mod ciphertext;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use serde_json::{json, Map, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::AwsError;
use crate::journal::Journal;
use crate::protocol::RequestContext;
use crate::services::JsonService;

use ciphertext::Context;

/// The journal's name for this service.
const SERVICE: &str = "kms";
/// The largest plaintext `Encrypt` takes.
const MAX_PLAINTEXT: usize = 4096;
/// The largest ciphertext blob `Decrypt` takes.
const MAX_CIPHERTEXT: usize = 6144;
const ALGORITHM: &str = "SYMMETRIC_DEFAULT";

/// The emulated KMS: every key and alias, behind one lock.
pub struct Kms {
    account: String,
    journal: Arc<dyn Journal>,
    state: RwLock<State>,
}

impl fmt::Debug for Kms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key material stays out of Debug output.
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Kms")
            .field("account", &self.account)
            .field("keys", &state.keys.len())
            .field("aliases", &state.aliases.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    keys: BTreeMap<Uuid, Key>,
    /// By (region, alias name).
    aliases: BTreeMap<(String, String), Alias>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }

    fn parse(s: &str) -> Option<KeyState> {
        [
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingDeletion,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone)]
struct Key {
    id: Uuid,
    region: String,
    account: String,
    description: String,
    created: f64,
    state: KeyState,
    /// Set while pending deletion: (deletion date, window in days).
    deletion: Option<(f64, u64)>,
    material: Zeroizing<[u8; 32]>,
}

#[derive(Clone)]
struct Alias {
    key_id: Uuid,
    created: f64,
    updated: f64,
}

/// What a `KeyId` parameter names.
enum KeyRef {
    Id(Uuid),
    Alias(String),
}

/// Which `KeyId` forms an operation takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// Key id or key ARN.
    KeyOnly,
    /// Also alias name and alias ARN.
    KeyOrAlias,
}

impl Kms {
    /// An empty KMS for account `000000000000` that records its changes in `journal`.
    #[cfg(test)]
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        Self::with_account(journal, "000000000000")
    }

    /// An empty KMS for `account` (used in ARNs) recording its changes in `journal`.
    pub fn with_account(journal: Arc<dyn Journal>, account: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            journal,
            state: RwLock::new(State::default()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    // ---- operations -------------------------------------------------------------

    fn create_key(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        for (field, only) in [
            ("KeyUsage", "ENCRYPT_DECRYPT"),
            ("KeySpec", ALGORITHM),
            ("CustomerMasterKeySpec", ALGORITHM),
            ("Origin", "AWS_KMS"),
        ] {
            if let Some(value) = body.str(field)? {
                if value != only {
                    return Err(AwsError::with_code(
                        "UnsupportedOperationException",
                        format!("the emulator only supports {field} {only}, not {value}"),
                    ));
                }
            }
        }
        if body.bool("MultiRegion")? == Some(true) {
            return Err(AwsError::with_code(
                "UnsupportedOperationException",
                "the emulator does not support multi-Region keys",
            ));
        }
        let description = body.str("Description")?.unwrap_or_default();
        if description.len() > 8192 {
            return Err(constraint(
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let mut material = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(material.as_mut());
        let key = Key {
            id: Uuid::new_v4(),
            region: region.to_owned(),
            account: self.account.clone(),
            description: description.to_owned(),
            created: now(),
            state: KeyState::Enabled,
            deletion: None,
            material,
        };
        let mut state = self.write();
        self.save_key(&mut state, key.clone())?;
        Ok(json!({ "KeyMetadata": key.metadata() }))
    }

    fn describe_key(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let state = self.read();
        let key = self.find(
            &state,
            region,
            body.required_str("KeyId")?,
            Accept::KeyOrAlias,
        )?;
        Ok(json!({ "KeyMetadata": key.metadata() }))
    }

    fn list_keys(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let limit = body.limit()?;
        let marker = body.marker(|m| Uuid::parse_str(m).is_ok())?;
        let state = self.read();
        let keys: Vec<&Key> = state
            .keys
            .values()
            .filter(|k| k.region == region && k.account == self.account)
            .filter(|k| marker.is_none_or(|m| k.id.to_string().as_str() > m))
            .collect();
        let page: Vec<Value> = keys
            .iter()
            .take(limit)
            .map(|k| json!({"KeyId": k.id.to_string(), "KeyArn": k.arn()}))
            .collect();
        let next = (keys.len() > limit).then(|| keys[limit - 1].id.to_string());
        Ok(page_of("Keys", page, next))
    }

    fn create_alias(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let name = body.required_str("AliasName")?;
        validate_alias_name(name)?;
        let target = body.required_str("TargetKeyId")?;
        let mut state = self.write();
        let key = self.find(&state, region, target, Accept::KeyOnly)?;
        if key.state == KeyState::PendingDeletion {
            return Err(key.invalid_state());
        }
        let key_id = key.id;
        let slot = (region.to_owned(), name.to_owned());
        if state.aliases.contains_key(&slot) {
            return Err(AwsError::with_code(
                "AlreadyExistsException",
                format!(
                    "An alias with the name {} already exists",
                    self.alias_arn(region, name)
                ),
            ));
        }
        let now = now();
        let record = json!({
            "type": "alias", "region": region, "name": name,
            "key_id": key_id.to_string(), "created": now, "updated": now,
        });
        self.journal.append(SERVICE, &record)?;
        state.aliases.insert(
            slot,
            Alias {
                key_id,
                created: now,
                updated: now,
            },
        );
        Ok(json!({}))
    }

    fn list_aliases(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let limit = body.limit()?;
        let marker = body.marker(|m| m.starts_with("alias/"))?;
        let state = self.read();
        let only = match body.str("KeyId")? {
            Some(k) => Some(self.find(&state, region, k, Accept::KeyOnly)?.id),
            None => None,
        };
        let aliases: Vec<(&str, &Alias)> = state
            .aliases
            .iter()
            .filter(|((r, _), _)| r == region)
            .filter(|(_, a)| only.is_none_or(|id| a.key_id == id))
            .filter(|((_, n), _)| marker.is_none_or(|m| n.as_str() > m))
            .map(|((_, n), a)| (n.as_str(), a))
            .collect();
        let page: Vec<Value> = aliases
            .iter()
            .take(limit)
            .map(|(name, a)| {
                json!({
                    "AliasName": name,
                    "AliasArn": self.alias_arn(region, name),
                    "TargetKeyId": a.key_id.to_string(),
                    "CreationDate": a.created,
                    "LastUpdatedDate": a.updated,
                })
            })
            .collect();
        let next = (aliases.len() > limit).then(|| aliases[limit - 1].0.to_owned());
        Ok(page_of("Aliases", page, next))
    }

    fn delete_alias(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let name = body.required_str("AliasName")?;
        let slot = (region.to_owned(), name.to_owned());
        let mut state = self.write();
        if !state.aliases.contains_key(&slot) {
            return Err(self.alias_not_found(region, name));
        }
        let record = json!({"type": "delete_alias", "region": region, "name": name});
        self.journal.append(SERVICE, &record)?;
        state.aliases.remove(&slot);
        Ok(json!({}))
    }

    fn generate_data_key(
        &self,
        body: &Input<'_>,
        region: &str,
        with_plaintext: bool,
    ) -> Result<Value, AwsError> {
        let key_id = body.required_str("KeyId")?;
        let context = body.context("EncryptionContext")?;
        let length = match (body.int("NumberOfBytes")?, body.str("KeySpec")?) {
            (Some(n), None) if (1..=1024).contains(&n) => n as usize,
            (Some(n), None) => {
                return Err(constraint(
                    "numberOfBytes",
                    &format!("Member must have value between 1 and 1024 (got {n})"),
                ))
            }
            (None, Some("AES_256")) => 32,
            (None, Some("AES_128")) => 16,
            (None, Some(other)) => {
                return Err(constraint(
                    "keySpec",
                    &format!(
                        "Member must satisfy enum value set: [AES_256, AES_128] (got {other:?})"
                    ),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(AwsError::validation(
                    "Please specify either number of bytes or key spec, not both.",
                ))
            }
            (None, None) => {
                return Err(AwsError::validation(
                    "Please specify either number of bytes or key spec.",
                ))
            }
        };
        let state = self.read();
        let key = self.find(&state, region, key_id, Accept::KeyOrAlias)?;
        key.check_usable()?;
        let mut plaintext = Zeroizing::new(vec![0u8; length]);
        rand::rngs::OsRng.fill_bytes(&mut plaintext);
        let blob = ciphertext::seal(key.id, &key.material, &plaintext, &context);
        let mut out = json!({ "CiphertextBlob": B64.encode(blob), "KeyId": key.arn() });
        if with_plaintext {
            out["Plaintext"] = Value::String(B64.encode(plaintext.as_slice()));
        }
        Ok(out)
    }

    fn encrypt(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let key_id = body.required_str("KeyId")?;
        let plaintext = body.required_blob("Plaintext")?;
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(constraint(
                "plaintext",
                "Member must have length between 1 and 4096",
            ));
        }
        let context = body.context("EncryptionContext")?;
        body.algorithm("EncryptionAlgorithm")?;
        let state = self.read();
        let key = self.find(&state, region, key_id, Accept::KeyOrAlias)?;
        key.check_usable()?;
        let blob = ciphertext::seal(key.id, &key.material, &plaintext, &context);
        Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "KeyId": key.arn(),
            "EncryptionAlgorithm": ALGORITHM,
        }))
    }

    fn decrypt(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let blob = body.required_blob("CiphertextBlob")?;
        let context = body.context("EncryptionContext")?;
        body.algorithm("EncryptionAlgorithm")?;
        let state = self.read();
        let (key, plaintext) =
            self.open_blob(&state, region, &blob, &context, body.str("KeyId")?)?;
        Ok(json!({
            "KeyId": key.arn(),
            "Plaintext": B64.encode(plaintext.as_slice()),
            "EncryptionAlgorithm": ALGORITHM,
        }))
    }

    fn re_encrypt(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let blob = body.required_blob("CiphertextBlob")?;
        let source_context = body.context("SourceEncryptionContext")?;
        let destination_context = body.context("DestinationEncryptionContext")?;
        let destination = body.required_str("DestinationKeyId")?;
        body.algorithm("SourceEncryptionAlgorithm")?;
        body.algorithm("DestinationEncryptionAlgorithm")?;
        let state = self.read();
        let (source, plaintext) = self.open_blob(
            &state,
            region,
            &blob,
            &source_context,
            body.str("SourceKeyId")?,
        )?;
        let target = self.find(&state, region, destination, Accept::KeyOrAlias)?;
        target.check_usable()?;
        let blob = ciphertext::seal(
            target.id,
            &target.material,
            &plaintext,
            &destination_context,
        );
        Ok(json!({
            "CiphertextBlob": B64.encode(blob),
            "SourceKeyId": source.arn(),
            "KeyId": target.arn(),
            "SourceEncryptionAlgorithm": ALGORITHM,
            "DestinationEncryptionAlgorithm": ALGORITHM,
        }))
    }

    fn set_enabled(&self, body: &Input<'_>, region: &str, enable: bool) -> Result<Value, AwsError> {
        let mut state = self.write();
        let key = self.find(&state, region, body.required_str("KeyId")?, Accept::KeyOnly)?;
        if key.state == KeyState::PendingDeletion {
            return Err(key.invalid_state());
        }
        let mut key = key.clone();
        key.state = if enable {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        };
        self.save_key(&mut state, key)?;
        Ok(json!({}))
    }

    fn schedule_key_deletion(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let days = body.int("PendingWindowInDays")?.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(constraint(
                "pendingWindowInDays",
                "Member must have value between 7 and 30",
            ));
        }
        let mut state = self.write();
        let key = self.find(&state, region, body.required_str("KeyId")?, Accept::KeyOnly)?;
        if key.state == KeyState::PendingDeletion {
            return Err(key.invalid_state());
        }
        let mut key = key.clone();
        let date = now() + (days * 86_400) as f64;
        key.state = KeyState::PendingDeletion;
        key.deletion = Some((date, days as u64));
        let out = json!({
            "KeyId": key.arn(),
            "DeletionDate": date,
            "KeyState": key.state.as_str(),
            "PendingWindowInDays": days,
        });
        self.save_key(&mut state, key)?;
        Ok(out)
    }

    fn cancel_key_deletion(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let mut state = self.write();
        let key = self.find(&state, region, body.required_str("KeyId")?, Accept::KeyOnly)?;
        if key.state != KeyState::PendingDeletion {
            return Err(AwsError::with_code(
                "KMSInvalidStateException",
                format!("{} is not pending deletion.", key.arn()),
            ));
        }
        // AWS leaves a key whose deletion was cancelled disabled.
        let mut key = key.clone();
        key.state = KeyState::Disabled;
        key.deletion = None;
        let out = json!({ "KeyId": key.arn() });
        self.save_key(&mut state, key)?;
        Ok(out)
    }

    /// The resource ARN authorization uses for a `KeyId` parameter: the key ARN,
    /// with aliases resolved as AWS does; the ARN as named when it resolves to
    /// nothing (the operation then reports `NotFoundException`).
    pub fn authz_key_arn(&self, region: &str, key_id: &str) -> String {
        let state = self.read();
        match self.find(&state, region, key_id, Accept::KeyOrAlias) {
            Ok(key) => key.arn(),
            Err(_) if key_id.starts_with("arn:") => key_id.to_owned(),
            Err(_) if key_id.starts_with("alias/") => self.alias_arn(region, key_id),
            Err(_) => format!("arn:aws:kms:{region}:{}:key/{key_id}", self.account),
        }
    }

    /// The key ARN a base64 ciphertext blob names, if it is one of ours.
    pub fn authz_blob_key_arn(&self, region: &str, blob_base64: &str) -> Option<String> {
        let blob = B64.decode(blob_base64).ok()?;
        Some(self.key_arn(region, ciphertext::key_id(&blob)?))
    }

    /// An alias's ARN in `region`.
    pub fn authz_alias_arn(&self, region: &str, name: &str) -> String {
        self.alias_arn(region, name)
    }

    // ---- helpers ----------------------------------------------------------------

    /// Journals a key's new state, then applies it: acknowledged means durable.
    fn save_key(&self, state: &mut State, key: Key) -> Result<(), AwsError> {
        self.journal
            .append(SERVICE, &json!({"type": "key", "key": key.to_record()}))?;
        state.keys.insert(key.id, key);
        Ok(())
    }

    /// Decrypts `blob`, checking an optional caller-named key and the key's state.
    fn open_blob<'s>(
        &self,
        state: &'s State,
        region: &str,
        blob: &[u8],
        context: &Context,
        named: Option<&str>,
    ) -> Result<(&'s Key, Zeroizing<Vec<u8>>), AwsError> {
        if blob.is_empty() || blob.len() > MAX_CIPHERTEXT {
            return Err(constraint(
                "ciphertextBlob",
                "Member must have length between 1 and 6144",
            ));
        }
        let invalid = || AwsError::with_code("InvalidCiphertextException", "");
        let key = ciphertext::key_id(blob)
            .and_then(|id| state.keys.get(&id))
            .filter(|k| k.region == region)
            .ok_or_else(invalid)?;
        if let Some(named) = named {
            let expected = self.find(state, region, named, Accept::KeyOrAlias)?;
            if expected.id != key.id {
                return Err(AwsError::with_code(
                    "IncorrectKeyException",
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        key.check_usable()?;
        let plaintext = ciphertext::open(&key.material, blob, context).ok_or_else(invalid)?;
        Ok((key, plaintext))
    }

    /// Resolves a `KeyId` parameter in the caller's region.
    fn find<'s>(
        &self,
        state: &'s State,
        region: &str,
        key_id: &str,
        accept: Accept,
    ) -> Result<&'s Key, AwsError> {
        let not_found =
            || AwsError::with_code("NotFoundException", format!("Invalid keyId '{key_id}'"));
        let reference = self.parse_key_ref(region, key_id).ok_or_else(not_found)?;
        let id = match reference {
            KeyRef::Id(id) => id,
            KeyRef::Alias(_) if accept == Accept::KeyOnly => return Err(not_found()),
            KeyRef::Alias(name) => {
                state
                    .aliases
                    .get(&(region.to_owned(), name.clone()))
                    .ok_or_else(|| self.alias_not_found(region, &name))?
                    .key_id
            }
        };
        state
            .keys
            .get(&id)
            .filter(|k| k.region == region && k.account == self.account)
            .ok_or_else(|| {
                AwsError::with_code(
                    "NotFoundException",
                    format!("Key '{}' does not exist", self.key_arn(region, id)),
                )
            })
    }

    /// Parses the four `KeyId` forms; `None` for anything else, or for an ARN of
    /// another region or account (which this emulator cannot reach).
    fn parse_key_ref(&self, region: &str, key_id: &str) -> Option<KeyRef> {
        if key_id.starts_with("alias/") {
            return Some(KeyRef::Alias(key_id.to_owned()));
        }
        if let Some(rest) = key_id.strip_prefix("arn:aws:kms:") {
            let (arn_region, rest) = rest.split_once(':')?;
            let (account, resource) = rest.split_once(':')?;
            if arn_region != region || account != self.account {
                return None;
            }
            if let Some(id) = resource.strip_prefix("key/") {
                return Uuid::parse_str(id).ok().map(KeyRef::Id);
            }
            return resource
                .starts_with("alias/")
                .then(|| KeyRef::Alias(resource.to_owned()));
        }
        // Only the hyphenated form: AWS key ids are always written that way.
        (key_id.len() == 36)
            .then(|| Uuid::parse_str(key_id).ok())
            .flatten()
            .map(KeyRef::Id)
    }

    fn key_arn(&self, region: &str, id: Uuid) -> String {
        format!("arn:aws:kms:{region}:{}:key/{id}", self.account)
    }

    fn alias_arn(&self, region: &str, name: &str) -> String {
        format!("arn:aws:kms:{region}:{}:{name}", self.account)
    }

    fn alias_not_found(&self, region: &str, name: &str) -> AwsError {
        AwsError::with_code(
            "NotFoundException",
            format!("Alias {} is not found.", self.alias_arn(region, name)),
        )
    }
}

impl JsonService for Kms {
    /// Applies one journal record written by this service (start-up replay).
    fn restore(&self, record: &Value) -> Result<(), String> {
        let mut state = self.write();
        match record.get("type").and_then(Value::as_str) {
            Some("key") => {
                let key = Key::from_record(record.get("key").unwrap_or(&Value::Null))?;
                state.keys.insert(key.id, key);
            }
            Some("alias") => {
                let (region, name) = alias_record_name(record)?;
                let field = |name: &str| record.get(name).and_then(Value::as_f64);
                let alias = Alias {
                    key_id: record
                        .get("key_id")
                        .and_then(Value::as_str)
                        .and_then(|s| Uuid::parse_str(s).ok())
                        .ok_or("alias record without a key id")?,
                    created: field("created").unwrap_or(0.0),
                    updated: field("updated").unwrap_or(0.0),
                };
                state.aliases.insert((region, name), alias);
            }
            Some("delete_alias") => {
                let key = alias_record_name(record)?;
                state.aliases.remove(&key);
            }
            other => return Err(format!("unknown KMS record type {other:?}")),
        }
        Ok(())
    }

    /// Forgets every key and alias.
    fn reset(&self) {
        *self.write() = State::default();
    }

    /// Records that rebuild the current state when restored (for compaction).
    fn snapshot(&self) -> Vec<Value> {
        let state = self.read();
        let keys = state
            .keys
            .values()
            .map(|k| json!({"type": "key", "key": k.to_record()}));
        let aliases = state.aliases.iter().map(|((region, name), a)| {
            json!({
                "type": "alias", "region": region, "name": name,
                "key_id": a.key_id.to_string(), "created": a.created, "updated": a.updated,
            })
        });
        keys.chain(aliases).collect()
    }

    /// Runs one operation (the part of `X-Amz-Target` after `TrentService.`).
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        ctx: &RequestContext,
    ) -> Result<Value, AwsError> {
        let body = Input::new(body)?;
        let region = ctx.region.as_str();
        match operation {
            "CreateKey" => self.create_key(&body, region),
            "DescribeKey" => self.describe_key(&body, region),
            "ListKeys" => self.list_keys(&body, region),
            "CreateAlias" => self.create_alias(&body, region),
            "ListAliases" => self.list_aliases(&body, region),
            "DeleteAlias" => self.delete_alias(&body, region),
            "GenerateDataKey" => self.generate_data_key(&body, region, true),
            "GenerateDataKeyWithoutPlaintext" => self.generate_data_key(&body, region, false),
            "Encrypt" => self.encrypt(&body, region),
            "Decrypt" => self.decrypt(&body, region),
            "ReEncrypt" => self.re_encrypt(&body, region),
            "EnableKey" => self.set_enabled(&body, region, true),
            "DisableKey" => self.set_enabled(&body, region, false),
            "ScheduleKeyDeletion" => self.schedule_key_deletion(&body, region),
            "CancelKeyDeletion" => self.cancel_key_deletion(&body, region),
            _ => Err(AwsError::with_code(
                "UnknownOperationException",
                format!("the emulator does not implement KMS {operation}"),
            )),
        }
    }
}

impl Key {
    fn arn(&self) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{}",
            self.region, self.account, self.id
        )
    }

    fn metadata(&self) -> Value {
        let mut meta = json!({
            "AWSAccountId": self.account,
            "KeyId": self.id.to_string(),
            "Arn": self.arn(),
            "CreationDate": self.created,
            "Enabled": self.state == KeyState::Enabled,
            "Description": self.description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": self.state.as_str(),
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": ALGORITHM,
            "KeySpec": ALGORITHM,
            "EncryptionAlgorithms": [ALGORITHM],
            "MultiRegion": false,
        });
        if let Some((date, days)) = self.deletion {
            meta["DeletionDate"] = json!(date);
            meta["PendingDeletionWindowInDays"] = json!(days);
        }
        meta
    }

    /// Cryptographic operations need an enabled key.
    fn check_usable(&self) -> Result<(), AwsError> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(AwsError::with_code(
                "DisabledException",
                format!("{} is disabled.", self.arn()),
            )),
            KeyState::PendingDeletion => Err(self.invalid_state()),
        }
    }

    fn invalid_state(&self) -> AwsError {
        AwsError::with_code(
            "KMSInvalidStateException",
            format!("{} is pending deletion.", self.arn()),
        )
    }

    fn to_record(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "region": self.region,
            "account": self.account,
            "description": self.description,
            "created": self.created,
            "state": self.state.as_str(),
            "deletion": self.deletion.map(|(date, days)| json!([date, days])),
            // Stored unencrypted on purpose: see the module docs and README.
            "material": B64.encode(self.material.as_slice()),
        })
    }

    fn from_record(record: &Value) -> Result<Key, String> {
        let text = |name: &str| {
            record
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("key record without {name}"))
        };
        let decoded = Zeroizing::new(
            B64.decode(text("material")?)
                .map_err(|_| "key record with bad material".to_owned())?,
        );
        let mut material = Zeroizing::new([0u8; 32]);
        if decoded.len() != 32 {
            return Err("key record with bad material".to_owned());
        }
        material.copy_from_slice(&decoded);
        let deletion = record
            .get("deletion")
            .and_then(Value::as_array)
            .and_then(|d| Some((d.first()?.as_f64()?, d.get(1)?.as_u64()?)));
        Ok(Key {
            id: Uuid::parse_str(text("id")?).map_err(|e| format!("key record: {e}"))?,
            region: text("region")?.to_owned(),
            account: text("account")?.to_owned(),
            description: text("description")?.to_owned(),
            created: record.get("created").and_then(Value::as_f64).unwrap_or(0.0),
            state: KeyState::parse(text("state")?).ok_or("key record with a bad state")?,
            deletion,
            material,
        })
    }
}

fn alias_record_name(record: &Value) -> Result<(String, String), String> {
    let text = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("alias record without {name}"))
    };
    Ok((text("region")?, text("name")?))
}

fn validate_alias_name(name: &str) -> Result<(), AwsError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    if name.is_empty() || name.len() > 256 || !valid_chars {
        return Err(constraint(
            "aliasName",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9/_-]+$",
        ));
    }
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(AwsError::with_code(
            "InvalidAliasNameException",
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/programming-aliases.html",
        ));
    }
    if name.starts_with("alias/aws/") {
        return Err(AwsError::with_code(
            "NotAuthorizedException",
            "Cannot create alias with prefix 'alias/aws/'",
        ));
    }
    Ok(())
}

/// An AWS-style "1 validation error detected" message for one member.
fn constraint(member: &str, rule: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: {rule}"
    ))
}

fn page_of(field: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut out = json!({ field: items, "Truncated": next.is_some() });
    if let Some(marker) = next {
        out["NextMarker"] = Value::String(marker);
    }
    out
}

fn now() -> f64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Millisecond precision, like the timestamps AWS returns.
    (since.as_millis() as f64) / 1000.0
}

/// A request body with typed, AWS-validated accessors.
struct Input<'a>(&'a Map<String, Value>);

impl<'a> Input<'a> {
    fn new(body: &'a Value) -> Result<Self, AwsError> {
        body.as_object()
            .map(Input)
            .ok_or_else(|| AwsError::serialization("the request body must be a JSON object"))
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn wrong_type(name: &str, want: &str) -> AwsError {
        AwsError::serialization(format!("{name} must be {want}"))
    }

    fn str(&self, name: &str) -> Result<Option<&'a str>, AwsError> {
        self.get(name)
            .map(|v| v.as_str().ok_or_else(|| Self::wrong_type(name, "a string")))
            .transpose()
    }

    fn required_str(&self, name: &str) -> Result<&'a str, AwsError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(constraint(
                &lower_first(name),
                "Member must have length greater than or equal to 1",
            )),
            None => Err(AwsError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, AwsError> {
        self.get(name)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| Self::wrong_type(name, "a boolean"))
            })
            .transpose()
    }

    fn int(&self, name: &str) -> Result<Option<i64>, AwsError> {
        self.get(name)
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| Self::wrong_type(name, "an integer"))
            })
            .transpose()
    }

    fn required_blob(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, AwsError> {
        let text = self.str(name)?.ok_or_else(|| {
            AwsError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))
        })?;
        B64.decode(text)
            .map(Zeroizing::new)
            .map_err(|_| Self::wrong_type(name, "base64-encoded"))
    }

    /// An encryption context; absent and `{}` are the same.
    fn context(&self, name: &str) -> Result<Context, AwsError> {
        let Some(value) = self.get(name) else {
            return Ok(Context::new());
        };
        let map = value
            .as_object()
            .ok_or_else(|| Self::wrong_type(name, "a map of strings"))?;
        map.iter()
            .map(|(k, v)| match v.as_str() {
                Some(v) => Ok((k.clone(), v.to_owned())),
                None => Err(Self::wrong_type(name, "a map of strings")),
            })
            .collect()
    }

    /// Checks an `EncryptionAlgorithm`-style field: only symmetric keys exist here.
    fn algorithm(&self, name: &str) -> Result<(), AwsError> {
        match self.str(name)? {
            None | Some(ALGORITHM) => Ok(()),
            Some("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" | "SM2PKE") => Err(
                AwsError::with_code(
                    "InvalidKeyUsageException",
                    format!("{name} is not supported by a symmetric key"),
                ),
            ),
            Some(_) => Err(constraint(
                &lower_first(name),
                "Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
            )),
        }
    }

    fn limit(&self) -> Result<usize, AwsError> {
        match self.int("Limit")? {
            None => Ok(100),
            Some(n @ 1..=1000) => Ok(n as usize),
            Some(_) => Err(constraint(
                "limit",
                "Member must have value between 1 and 1000",
            )),
        }
    }

    /// A pagination marker: the last item of the previous page, so `valid` checks
    /// that it has the shape of one.
    fn marker(&self, valid: impl Fn(&str) -> bool) -> Result<Option<&'a str>, AwsError> {
        match self.str("Marker")? {
            Some(m) if !valid(m) => Err(AwsError::with_code(
                "InvalidMarkerException",
                "The marker that specifies where pagination should next begin is not valid.",
            )),
            other => Ok(other),
        }
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::NoJournal;

    fn kms() -> Kms {
        Kms::new(Arc::new(NoJournal))
    }

    fn call(kms: &Kms, op: &str, body: Value) -> Result<Value, AwsError> {
        kms.handle(
            op,
            &body,
            &RequestContext {
                region: "us-east-1".into(),
            },
        )
    }

    #[test]
    fn snapshot_restores_keys_and_aliases() {
        let a = kms();
        let key = call(&a, "CreateKey", json!({})).unwrap()["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            &a,
            "CreateAlias",
            json!({"AliasName": "alias/x", "TargetKeyId": key}),
        )
        .unwrap();
        let blob = call(
            &a,
            "Encrypt",
            json!({"KeyId": "alias/x", "Plaintext": "aGk="}),
        )
        .unwrap()["CiphertextBlob"]
            .clone();
        let b = kms();
        for record in a.snapshot() {
            b.restore(&record).unwrap();
        }
        let out = call(&b, "Decrypt", json!({"CiphertextBlob": blob})).unwrap();
        assert_eq!(out["Plaintext"], "aGk=");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let k = kms();
        call(&k, "CreateKey", json!({})).unwrap();
        let text = format!("{k:?}");
        assert_eq!(
            text,
            "Kms { account: \"000000000000\", keys: 1, aliases: 0, .. }"
        );
    }
}
