//! Keys: `CreateKey`, `DescribeKey`, `ListKeys`, `EnableKey`, `DisableKey`,
//! `ScheduleKeyDeletion`, `CancelKeyDeletion`.

use rand::RngCore;
use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{limit, marker, now, page_of, Accept, Key, KeyState, Kms, ALGORITHM};
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
        if body.bool("MultiRegion")? == Some(true) {
            return Err(AwsError::with_code(
                "UnsupportedOperationException",
                "the emulator does not support multi-Region keys",
            ));
        }
        let description = body.str("Description")?.unwrap_or_default();
        if description.len() > 8192 {
            return Err(AwsError::constraint(
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let key = self.new_key(region, description);
        let mut state = self.write();
        self.save_key(&mut state, key.clone())?;
        Ok(json!({ "KeyMetadata": key.metadata() }))
    }

    /// A new enabled key in `region`, with fresh material (not yet saved).
    pub(super) fn new_key(&self, region: &str, description: &str) -> Key {
        let mut material = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(material.as_mut());
        Key {
            id: Uuid::new_v4(),
            region: region.to_owned(),
            account: self.account.clone(),
            description: description.to_owned(),
            created: now(),
            state: KeyState::Enabled,
            deletion: None,
            material,
        }
    }

    pub(super) fn describe_key(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let state = self.read();
        let key = self.find(
            &state,
            region,
            body.nonempty_str("KeyId")?,
            Accept::KeyOrAlias,
        )?;
        Ok(json!({ "KeyMetadata": key.metadata() }))
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
            .map(|k| json!({"KeyId": k.id.to_string(), "KeyArn": k.arn()}))
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
