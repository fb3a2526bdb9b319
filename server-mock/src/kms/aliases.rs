//! Aliases: `CreateAlias`, `ListAliases`, `DeleteAlias`, and the in-process
//! `ensure_alias` hook.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{limit, marker, now, page_of, record, Accept, Alias, KeyState, Kms, State, SERVICE};
use crate::error::AwsError;
use crate::protocol::Input;

impl Kms {
    pub(super) fn create_alias(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let name = body.nonempty_str("AliasName")?;
        validate_alias_name(name)?;
        let target = body.nonempty_str("TargetKeyId")?;
        let mut state = self.write();
        let key = self.find(&state, region, target, Accept::KeyOnly)?;
        if key.state == KeyState::PendingDeletion {
            return Err(key.invalid_state());
        }
        let key_id = key.id;
        if state
            .aliases
            .contains_key(&(region.to_owned(), name.to_owned()))
        {
            return Err(AwsError::with_code(
                "AlreadyExistsException",
                format!(
                    "An alias with the name {} already exists",
                    self.alias_arn(region, name)
                ),
            ));
        }
        self.save_new_alias(&mut state, region, name, key_id)?;
        Ok(json!({}))
    }

    /// The key ARN `alias` names in `region`, first creating a key and the alias
    /// when the alias does not exist (both journaled, as `CreateKey` and
    /// `CreateAlias` would be); one lock held throughout, so concurrent callers
    /// agree on one key.
    pub(crate) fn ensure_alias(&self, region: &str, alias: &str) -> Result<String, AwsError> {
        validate_alias_name(alias)?;
        let slot = (region.to_owned(), alias.to_owned());
        let mut state = self.write();
        if let Some(existing) = state.aliases.get(&slot) {
            return Ok(self.key_arn(region, existing.key_id));
        }
        let key = self.new_key(region, &format!("created with {alias} by ensure_alias"));
        let (arn, key_id) = (key.arn(), key.id);
        self.save_key(&mut state, key)?;
        self.save_new_alias(&mut state, region, alias, key_id)?;
        Ok(arn)
    }

    /// Journals a new alias of `key_id`, then adds it: acknowledged means durable.
    fn save_new_alias(
        &self,
        state: &mut State,
        region: &str,
        name: &str,
        key_id: Uuid,
    ) -> Result<(), AwsError> {
        let now = now();
        let alias = Alias {
            key_id,
            created: now,
            updated: now,
        };
        self.journal
            .append(SERVICE, &record::alias(region, name, &alias))?;
        state
            .aliases
            .insert((region.to_owned(), name.to_owned()), alias);
        Ok(())
    }

    pub(super) fn list_aliases(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let limit = limit(body)?;
        let marker = marker(body, |m| m.starts_with("alias/"))?;
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
                    "TargetKeyId": super::key_id_text(a.key_id),
                    "CreationDate": a.created,
                    "LastUpdatedDate": a.updated,
                })
            })
            .collect();
        let next = (aliases.len() > limit).then(|| aliases[limit - 1].0.to_owned());
        Ok(page_of("Aliases", page, next))
    }

    pub(super) fn delete_alias(&self, body: &Input<'_>, region: &str) -> Result<Value, AwsError> {
        let name = body.nonempty_str("AliasName")?;
        let slot = (region.to_owned(), name.to_owned());
        let mut state = self.write();
        if !state.aliases.contains_key(&slot) {
            return Err(self.alias_not_found(region, name));
        }
        self.journal
            .append(SERVICE, &record::delete_alias(region, name))?;
        state.aliases.remove(&slot);
        Ok(json!({}))
    }
}

fn validate_alias_name(name: &str) -> Result<(), AwsError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    if name.is_empty() || name.len() > 256 || !valid_chars {
        return Err(AwsError::constraint(
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
