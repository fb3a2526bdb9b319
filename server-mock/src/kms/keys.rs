//! Keys: `CreateKey`, `DescribeKey`, `ListKeys`, `EnableKey`, `DisableKey`,
//! `ScheduleKeyDeletion`, `CancelKeyDeletion`, and multi-Region keys'
//! `ReplicateKey` and `UpdatePrimaryRegion`.

use rand::RngCore;
use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    key_id_text, limit, marker, new_key_id, now, page_of, Accept, Key, KeyState, Kms, State,
    ALGORITHM,
};
use crate::error::AwsError;
use crate::protocol::Input;

impl Kms {
    pub(super) fn create_key(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
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
        let multi_region = body.bool("MultiRegion")? == Some(true);
        let description = body.str("Description")?.unwrap_or_default();
        if description.len() > 8192 {
            return Err(AwsError::constraint(
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let mut key = self.new_key(region, description);
        if multi_region {
            key.id = new_key_id(true);
            key.primary_region = Some(region.to_owned());
        }
        let mut state = self.write();
        self.save_key(&mut state, key.clone())?;
        Ok(json!({ "KeyMetadata": self.metadata(&state, &key) }))
    }

    /// A new enabled single-region key in `region`, with fresh material (not yet
    /// saved).
    pub(super) fn new_key(&self, region: &str, description: &str) -> Key {
        let mut material = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(material.as_mut());
        Key {
            id: new_key_id(false),
            region: region.to_owned(),
            account: self.account.clone(),
            description: description.to_owned(),
            created: now(),
            state: KeyState::Enabled,
            deletion: None,
            material,
            primary_region: None,
        }
    }

    /// A key's `KeyMetadata`, with the `MultiRegionConfiguration` of a
    /// multi-Region key (its primary and every replica).
    pub(super) fn metadata(&self, state: &State, key: &Key) -> Value {
        let mut meta = key.metadata();
        if let Some(primary) = &key.primary_region {
            let related: Vec<&Key> = state
                .keys
                .values()
                .filter(|k| k.id == key.id && k.account == key.account)
                .collect();
            let entry = |k: &Key| json!({"Arn": k.arn(), "Region": k.region});
            let primary_key = related.iter().find(|k| &k.region == primary);
            let replicas: Vec<Value> = related
                .iter()
                .filter(|k| &k.region != primary)
                .map(|k| entry(k))
                .collect();
            meta["MultiRegionConfiguration"] = json!({
                "MultiRegionKeyType": if &key.region == primary { "PRIMARY" } else { "REPLICA" },
                "PrimaryKey": primary_key.map(|k| entry(k)).unwrap_or_else(|| json!({
                    "Arn": self.key_arn(primary, key.id), "Region": primary,
                })),
                "ReplicaKeys": replicas,
            });
        }
        meta
    }

    /// `ReplicateKey`: a replica of a multi-Region primary key in another region,
    /// with the same id and key material (and its own state, aliases and policy).
    pub(super) fn replicate_key(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let key_id = body.nonempty_str("KeyId")?;
        let to = body.nonempty_str("ReplicaRegion")?;
        if !crate::protocol::valid_region(to) {
            return Err(AwsError::constraint(
                "replicaRegion",
                "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
            ));
        }
        let description = body.str("Description")?;
        if description.is_some_and(|d| d.len() > 8192) {
            return Err(AwsError::constraint(
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let mut state = self.write();
        let key = self.find(&state, region, key_id, Accept::KeyOnly)?;
        let Some(primary) = key.primary_region.clone() else {
            return Err(AwsError::with_code(
                "UnsupportedOperationException",
                format!(
                    "{} can't be replicated because it is not a multi-Region key.",
                    key.arn()
                ),
            ));
        };
        if primary != key.region {
            return Err(AwsError::with_code(
                "UnsupportedOperationException",
                format!(
                    "{} is a replica key; only the primary key of a multi-Region key can be replicated.",
                    key.arn()
                ),
            ));
        }
        if key.state == KeyState::PendingDeletion {
            return Err(key.invalid_state());
        }
        if to == region || state.keys.contains_key(&(key.id, to.to_owned())) {
            return Err(AwsError::with_code(
                "AlreadyExistsException",
                format!("Key '{}' already exists", self.key_arn(to, key.id)),
            ));
        }
        let mut replica = key.clone();
        replica.region = to.to_owned();
        replica.created = now();
        replica.state = KeyState::Enabled;
        replica.deletion = None;
        if let Some(d) = description {
            replica.description = d.to_owned();
        }
        self.save_key(&mut state, replica.clone())?;
        let mut meta = self.metadata(&state, &replica);
        // The replica is Creating in the answer and usable by the next request.
        meta["KeyState"] = json!("Creating");
        meta["Enabled"] = json!(false);
        Ok(json!({
            "ReplicaKeyMetadata": meta,
            "ReplicaPolicy": default_policy(&self.account),
            "ReplicaTags": [],
        }))
    }

    pub(super) fn describe_key(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let state = self.read();
        let key = self.find(
            &state,
            region,
            body.nonempty_str("KeyId")?,
            Accept::KeyOrAlias,
        )?;
        Ok(json!({ "KeyMetadata": self.metadata(&state, key) }))
    }

    pub(super) fn list_keys(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let limit = limit(body)?;
        let marker = marker(body, |m| Uuid::parse_str(m).is_ok())?;
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
            .map(|k| json!({"KeyId": key_id_text(k.id), "KeyArn": k.arn()}))
            .collect();
        let next = (keys.len() > limit).then(|| keys[limit - 1].id.to_string());
        Ok(page_of("Keys", page, next))
    }

    pub(super) fn set_enabled(
        &self,
        body: &Input<'_>,
        region: &str,
        enable: bool,
    ) -> Result<Value, AwsError> {
        let mut state = self.write();
        let key = self.find(&state, region, body.nonempty_str("KeyId")?, Accept::KeyOnly)?;
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

    pub(super) fn schedule_key_deletion(
        &self,
        body: &Input<'_>,
        region: &str,
    ) -> Result<Value, AwsError> {
        let days = body.int("PendingWindowInDays")?.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(AwsError::constraint(
                "pendingWindowInDays",
                "Member must have value between 7 and 30",
            ));
        }
        let mut state = self.write();
        let key = self.find(&state, region, body.nonempty_str("KeyId")?, Accept::KeyOnly)?;
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

    pub(super) fn cancel_key_deletion(
        &self,
        body: &Input<'_>,
        region: &str,
    ) -> Result<Value, AwsError> {
        let mut state = self.write();
        let key = self.find(&state, region, body.nonempty_str("KeyId")?, Accept::KeyOnly)?;
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
}

impl Kms {
    /// `UpdatePrimaryRegion`: makes the replica in `PrimaryRegion` the primary
    /// key (called in the current primary's region); the old primary becomes a
    /// replica. Key material, id and states are unchanged.
    pub(super) fn update_primary_region(
        &self,
        body: &Input<'_>,
        region: &str,
    ) -> Result<Value, AwsError> {
        let key_id = body.nonempty_str("KeyId")?;
        let to = body.nonempty_str("PrimaryRegion")?;
        if !crate::protocol::valid_region(to) {
            return Err(AwsError::constraint(
                "primaryRegion",
                "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
            ));
        }
        let mut state = self.write();
        let key = self.find(&state, region, key_id, Accept::KeyOnly)?;
        let Some(primary) = key.primary_region.clone() else {
            return Err(AwsError::with_code(
                "UnsupportedOperationException",
                format!("{} is not a multi-Region key.", key.arn()),
            ));
        };
        if primary != key.region {
            return Err(AwsError::with_code(
                "UnsupportedOperationException",
                format!(
                    "{} is a replica key; call UpdatePrimaryRegion on the primary key.",
                    key.arn()
                ),
            ));
        }
        let id = key.id;
        if !state.keys.contains_key(&(id, to.to_owned())) {
            return Err(AwsError::with_code(
                "NotFoundException",
                format!("Key '{}' does not exist", self.key_arn(to, id)),
            ));
        }
        let related: Vec<Key> = state
            .keys
            .values()
            .filter(|k| k.id == id && k.account == self.account)
            .cloned()
            .collect();
        for mut k in related {
            k.primary_region = Some(to.to_owned());
            self.save_key(&mut state, k)?;
        }
        Ok(json!({}))
    }
}

/// The key policy AWS gives a key created without one.
fn default_policy(account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    .to_string()
}
