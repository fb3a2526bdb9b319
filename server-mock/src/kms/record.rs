//! The journal records of KMS: one per key state (`key`), alias (`alias`) and
//! removed alias (`delete_alias`). A record describes the resulting state, so
//! replaying them in order, or a snapshot of the current ones, rebuilds it exactly.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Alias, Key, KeyState, State};

impl Key {
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
            "primary_region": self.primary_region,
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
            primary_region: record
                .get("primary_region")
                .and_then(Value::as_str)
                .map(str::to_owned),
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

/// The record of a key's current state.
pub(super) fn key(key: &Key) -> Value {
    json!({"type": "key", "key": key.to_record()})
}

/// The record of an alias.
pub(super) fn alias(region: &str, name: &str, alias: &Alias) -> Value {
    json!({
        "type": "alias", "region": region, "name": name,
        "key_id": alias.key_id.to_string(), "created": alias.created, "updated": alias.updated,
    })
}

/// The record of an alias's removal.
pub(super) fn delete_alias(region: &str, name: &str) -> Value {
    json!({"type": "delete_alias", "region": region, "name": name})
}

/// Applies one record to `state` (start-up replay).
pub(super) fn apply(state: &mut State, record: &Value) -> Result<(), String> {
    match record.get("type").and_then(Value::as_str) {
        Some("key") => {
            let key = Key::from_record(record.get("key").unwrap_or(&Value::Null))?;
            state.keys.insert((key.id, key.region.clone()), key);
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

/// Records that rebuild `state` when applied (for compaction).
pub(super) fn snapshot(state: &State) -> Vec<Value> {
    let keys = state.keys.values().map(key);
    let aliases = state
        .aliases
        .iter()
        .map(|((region, name), a)| alias(region, name, a));
    keys.chain(aliases).collect()
}
