//! AWS KMS (awsJson1.1, `X-Amz-Target: TrentService.*`): symmetric keys, aliases,
//! data keys and envelope operations, with AWS's key states and error codes.
//!
//! Keys and aliases live in a region (taken from each request's SigV4 scope) of one
//! account. Key material is 32 random bytes per key, kept in memory and, with a data
//! dir, **unencrypted** in the journal: this is a local emulator, not a vault.
//!
//! This file holds the model (keys, aliases, key states), how a `KeyId` resolves,
//! and the dispatch; the operations live in `keys.rs`, `aliases.rs` and
//! `crypto.rs`, the blob format in `ciphertext.rs`, the journal records in
//! `record.rs`.

mod aliases;
mod ciphertext;
mod crypto;
mod keys;
mod record;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::AwsError;
use crate::journal::Journal;
use crate::protocol::{Input, RequestContext};
use crate::services::{JsonService, Reply};
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
    /// By (key id, region): the replicas of a multi-Region key share an id.
    keys: BTreeMap<(Uuid, String), Key>,
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
    /// Multi-Region keys: the primary key's region.
    primary_region: Option<String>,
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

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    // ---- operations -------------------------------------------------------------

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

    /// The ARN of the key `key_id` names in `region` (a key id, key ARN, alias name
    /// or alias ARN), if it names one.
    pub(crate) fn key_arn_of(&self, region: &str, key_id: &str) -> Option<String> {
        let state = self.read();
        self.find(&state, region, key_id, Accept::KeyOrAlias)
            .ok()
            .map(Key::arn)
    }

    /// An alias's ARN in `region`.
    pub fn authz_alias_arn(&self, region: &str, name: &str) -> String {
        self.alias_arn(region, name)
    }

    // ---- helpers ----------------------------------------------------------------

    /// Journals a key's new state, then applies it: acknowledged means durable.
    fn save_key(&self, state: &mut State, key: Key) -> Result<(), AwsError> {
        self.journal.append(SERVICE, &record::key(&key))?;
        state.keys.insert((key.id, key.region.clone()), key);
        Ok(())
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
            .get(&(id, region.to_owned()))
            .filter(|k| k.account == self.account)
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
                return parse_key_id(id).map(KeyRef::Id);
            }
            return resource
                .starts_with("alias/")
                .then(|| KeyRef::Alias(resource.to_owned()));
        }
        parse_key_id(key_id).map(KeyRef::Id)
    }

    fn key_arn(&self, region: &str, id: Uuid) -> String {
        format!(
            "arn:aws:kms:{region}:{}:key/{}",
            self.account,
            key_id_text(id)
        )
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
        record::apply(&mut self.write(), record)
    }

    /// Forgets every key and alias.
    fn reset(&self) {
        *self.write() = State::default();
    }

    /// Records that rebuild the current state when restored (for compaction).
    fn snapshot(&self) -> Vec<Value> {
        record::snapshot(&self.read())
    }

    /// Runs one operation (the part of `X-Amz-Target` after `TrentService.`).
    fn handle(
        &self,
        operation: &str,
        body: &Value,
        ctx: &RequestContext,
    ) -> Result<Reply, AwsError> {
        if !body.is_object() {
            return Err(AwsError::serialization(
                "the request body must be a JSON object",
            ));
        }
        let body = Input::new(body);
        let region = ctx.region.as_str();
        let out = match operation {
            "CreateKey" => self.create_key(&body, region),
            "DescribeKey" => self.describe_key(&body, region),
            "ReplicateKey" => self.replicate_key(&body, region),
            "UpdatePrimaryRegion" => self.update_primary_region(&body, region),
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
        };
        out.map(Reply::from)
    }
}

/// A new id for a key: random (UUID version 4), or, for a multi-Region key,
/// random with the UUID version 8, which is how the emulator tells the two apart
/// (in ciphertext blobs too) without a lookup.
fn new_key_id(multi_region: bool) -> Uuid {
    let mut bytes = *Uuid::new_v4().as_bytes();
    if multi_region {
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
    }
    Uuid::from_bytes(bytes)
}

/// Whether an id is a multi-Region key's.
fn is_multi_region(id: Uuid) -> bool {
    id.get_version_num() == 8
}

/// A key id as AWS writes it: hyphenated, or `mrk-` and 32 hex digits for a
/// multi-Region key.
fn key_id_text(id: Uuid) -> String {
    if is_multi_region(id) {
        format!("mrk-{}", id.simple())
    } else {
        id.hyphenated().to_string()
    }
}

/// Parses a key id written as [`key_id_text`] writes it (the one form AWS uses).
fn parse_key_id(text: &str) -> Option<Uuid> {
    match text.strip_prefix("mrk-") {
        Some(hex) if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Uuid::parse_str(hex).ok().filter(|id| is_multi_region(*id))
        }
        Some(_) => None,
        None if text.len() == 36 => Uuid::parse_str(text)
            .ok()
            .filter(|id| !is_multi_region(*id)),
        None => None,
    }
}

impl Key {
    fn arn(&self) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{}",
            self.region,
            self.account,
            key_id_text(self.id)
        )
    }

    fn metadata(&self) -> Value {
        let mut meta = json!({
            "AWSAccountId": self.account,
            "KeyId": key_id_text(self.id),
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
            "MultiRegion": self.primary_region.is_some(),
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

/// An encryption context member; absent and `{}` are the same.
fn context(body: &Input<'_>, name: &str) -> Result<Context, AwsError> {
    let Some(map) = body.map(name, "a map of strings")? else {
        return Ok(Context::new());
    };
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(v) => Ok((k.clone(), v.to_owned())),
            None => Err(Input::wrong_type(name, "a map of strings")),
        })
        .collect()
}

/// Checks an `EncryptionAlgorithm`-style member: only symmetric keys exist here.
fn algorithm(body: &Input<'_>, name: &str) -> Result<(), AwsError> {
    match body.str(name)? {
        None | Some(ALGORITHM) => Ok(()),
        Some("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" | "SM2PKE") => Err(AwsError::with_code(
            "InvalidKeyUsageException",
            format!("{name} is not supported by a symmetric key"),
        )),
        Some(_) => Err(AwsError::constraint(
            name,
            "Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
        )),
    }
}

/// The `Limit` of a list operation (default 100).
fn limit(body: &Input<'_>) -> Result<usize, AwsError> {
    match body.int("Limit")? {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n as usize),
        Some(_) => Err(AwsError::constraint(
            "limit",
            "Member must have value between 1 and 1000",
        )),
    }
}

/// A pagination marker: the last item of the previous page, so `valid` checks
/// that it has the shape of one.
fn marker<'a>(body: &Input<'a>, valid: impl Fn(&str) -> bool) -> Result<Option<&'a str>, AwsError> {
    match body.str("Marker")? {
        Some(m) if !valid(m) => Err(AwsError::with_code(
            "InvalidMarkerException",
            "The marker that specifies where pagination should next begin is not valid.",
        )),
        other => Ok(other),
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
        .map(Reply::into_value)
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
