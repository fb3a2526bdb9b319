//! `UpdateTable`'s `ReplicaUpdates` and `DeleteTable` of a replica: the changes
//! of a global table's set of replicas.

use serde_json::{json, Value};

use super::{lock, DynamoDbRegions};
use crate::dynamodb::request::{opt_str, req_str, table_name};
use crate::dynamodb::DynamoDb;
use crate::error::AwsError;
use crate::faults::ReadCaps;
use crate::protocol::valid_region;

/// The region sets a `STRONG` global table must stay within (three regions of one).
const STRONG_REGION_SETS: [&[&str]; 3] = [
    &["us-east-1", "us-east-2", "us-west-2"],
    &["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"],
    &["ap-northeast-1", "ap-northeast-2", "ap-northeast-3"],
];

impl DynamoDbRegions {
    /// `DeleteTable`; deleting a replica's table removes it from the others'
    /// replica lists.
    pub(super) fn delete_table(
        &self,
        region: &DynamoDb,
        body: &Value,
        caps: ReadCaps,
    ) -> Result<Value, AwsError> {
        let _control = lock(&self.control);
        let _changing = self.changing();
        let name = table_name(body)?.to_owned();
        let before = region.replicas_of(&name);
        let out = region.handle_capped("DeleteTable", body, caps)?.body;
        lock(&self.replication)
            .queue
            .drop_for(&name, &region.region);
        if let Some((replicas, _)) = before.filter(|(r, _)| r.len() > 1) {
            let rest: Vec<String> = replicas
                .into_iter()
                .filter(|r| *r != region.region)
                .collect();
            for other in &rest {
                self.region(other).set_replicas(&name, &rest)?;
            }
        }
        Ok(out)
    }

    /// `UpdateTable`: replica and witness changes (the only changes emulated).
    pub(super) fn update_table(&self, local: &DynamoDb, body: &Value) -> Result<Value, AwsError> {
        let _control = lock(&self.control);
        // No write or copy in flight while the replicas change: a write either
        // lands before the new replica is copied, or after every replica knows
        // of it and queues a copy for it.
        let _changing = self.changing();
        let name = table_name(body)?.to_owned();
        let supported = [
            "TableName",
            "ReplicaUpdates",
            "MultiRegionConsistency",
            "GlobalTableWitnessUpdates",
        ];
        if let Some(other) = body
            .as_object()
            .into_iter()
            .flat_map(|o| o.iter())
            .find(|(k, v)| !supported.contains(&k.as_str()) && !v.is_null())
        {
            return Err(AwsError::validation(format!(
                "lockbox-mock supports UpdateTable only for ReplicaUpdates, MultiRegionConsistency and GlobalTableWitnessUpdates, not {}",
                other.0
            )));
        }
        let consistency = opt_str(body, "MultiRegionConsistency")?;
        if let Some(c) = consistency {
            if c != "EVENTUAL" && c != "STRONG" {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{c}' at 'multiRegionConsistency' failed to satisfy constraint: Member must satisfy enum value set: [EVENTUAL, STRONG]"
                )));
            }
        }
        let (creates, deletes) = region_updates(body, "ReplicaUpdates", "replicaUpdates", true)?;
        let (witness_creates, witness_deletes) = region_updates(
            body,
            "GlobalTableWitnessUpdates",
            "globalTableWitnessUpdates",
            false,
        )?;
        if consistency.is_some() && creates.is_empty() {
            return Err(AwsError::validation(
                "MultiRegionConsistency can only be specified with a Create action in ReplicaUpdates",
            ));
        }
        if creates.is_empty()
            && deletes.is_empty()
            && witness_creates.is_empty()
            && witness_deletes.is_empty()
        {
            return Err(AwsError::validation(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, ReplicaUpdates or SSESpecification or TableClass or DeletionProtectionEnabled or GlobalTableWitnessUpdates is required",
            ));
        }
        let Some((current, _)) = local.replicas_of(&name) else {
            return Err(AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "ResourceNotFoundException",
                format!("Requested resource not found: Table: {name} not found"),
            ));
        };
        let here = local.region.as_str();
        if creates.iter().chain(&deletes).any(|r| r == here) {
            return Err(AwsError::validation(
                "Cannot add, delete, or update the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.",
            ));
        }
        let global = current.len() > 1;
        let existing_mode = local.consistency_of(&name);
        if let (Some(c), true) = (consistency, global) {
            if existing_mode.as_deref() != Some(c) {
                return Err(AwsError::validation(
                    "The consistency mode of a global table cannot be changed",
                ));
            }
        }
        let mode = consistency
            .map(str::to_owned)
            .or(existing_mode)
            .unwrap_or_else(|| "EVENTUAL".to_owned());
        for r in &creates {
            if current.contains(r) {
                return Err(AwsError::validation(format!(
                    "Failed to create a new replica of table with name: '{name}' because one or more replicas already existed as tables."
                )));
            }
            if self.region(r).replicas_of(&name).is_some() {
                return Err(AwsError::validation(format!(
                    "Failed to create a new replica of table with name: '{name}' because one or more replicas already existed as tables."
                )));
            }
        }
        for r in &deletes {
            if !current.contains(r) {
                return Err(AwsError::validation(format!(
                    "Cannot delete a replica that does not exist: table '{name}' has no replica in {r}"
                )));
            }
        }
        let mut witnesses = local.witnesses_of(&name);
        if mode == "STRONG" {
            if global && !creates.is_empty() {
                return Err(AwsError::validation(
                    "Replicas cannot be added to a global table with multi-Region strong consistency",
                ));
            }
            if witness_creates.len() + witness_deletes.len() > 1 {
                return Err(AwsError::validation(
                    "Only one witness can be created or deleted per UpdateTable operation",
                ));
            }
        } else if !witness_creates.is_empty() || !witness_deletes.is_empty() {
            return Err(AwsError::validation(
                "GlobalTableWitnessUpdates are only supported for global tables with multi-Region strong consistency (MultiRegionConsistency STRONG)",
            ));
        }
        let mut replicas: Vec<String> = current
            .iter()
            .filter(|r| !deletes.contains(r))
            .chain(&creates)
            .cloned()
            .collect();
        replicas.sort();
        replicas.dedup();
        witnesses.retain(|w| !witness_deletes.contains(w));
        witnesses.extend(witness_creates.iter().cloned());
        if mode == "STRONG" && !creates.is_empty() {
            let regions: Vec<&String> = replicas.iter().chain(&witnesses).collect();
            if regions.len() != 3 {
                return Err(AwsError::validation(
                    "A global table with multi-Region strong consistency must have exactly three regions: three replicas, or two replicas and one witness",
                ));
            }
            let one_set = STRONG_REGION_SETS
                .iter()
                .any(|set| regions.iter().all(|r| set.contains(&r.as_str())));
            if !one_set {
                return Err(AwsError::validation(
                    "All regions of a global table with multi-Region strong consistency must be in the same region set",
                ));
            }
            if local.item_count(&name) > 0 {
                return Err(AwsError::validation(
                    "The table must be empty to create a global table with multi-Region strong consistency",
                ));
            }
            if witnesses.iter().any(|w| replicas.contains(w)) {
                return Err(AwsError::validation(
                    "A witness cannot be in a region that holds a replica",
                ));
            }
        }
        // Validated: apply. New replicas start as copies of this one.
        let single = replicas.len() < 2;
        let (replicas, mode, witnesses) = if single {
            (Vec::new(), None, Vec::new())
        } else {
            (replicas, Some(mode), witnesses)
        };
        let settings = json!({
            "replicas": replicas, "consistency": mode, "witnesses": witnesses,
        });
        for r in &creates {
            local.copy_to(&name, &self.region(r), &settings)?;
            // What the other replicas wrote and this one has yet to receive.
            lock(&self.replication)
                .queue
                .also_for(&name, &local.region, r);
        }
        for r in &deletes {
            self.region(r).handle_capped(
                "DeleteTable",
                &json!({"TableName": name}),
                ReadCaps::default(),
            )?;
            lock(&self.replication).queue.drop_for(&name, r);
        }
        for r in replicas.iter().filter(|r| !creates.contains(r)) {
            self.region(r).set_settings(&name, &settings)?;
        }
        if single {
            local.set_settings(&name, &settings)?;
        }
        let mut out = local.describe_table(&json!({"TableName": name}))?;
        let mut description = out["Table"].take();
        description["TableStatus"] = json!("UPDATING");
        for replica in description["Replicas"].as_array_mut().into_iter().flatten() {
            if replica["RegionName"]
                .as_str()
                .is_some_and(|r| creates.iter().any(|c| c == r))
            {
                replica["ReplicaStatus"] = json!("CREATING");
            }
        }
        Ok(json!({"TableDescription": description}))
    }
}

/// The regions of the `Create` and `Delete` actions of a list of region updates
/// (`ReplicaUpdates` or `GlobalTableWitnessUpdates`).
fn region_updates(
    body: &Value,
    field: &str,
    member: &str,
    replicas: bool,
) -> Result<(Vec<String>, Vec<String>), AwsError> {
    let list = match body.get(field) {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(AwsError::serialization(format!("{field} must be a list")));
        }
    };
    let mut creates = Vec::new();
    let mut deletes = Vec::new();
    for (i, update) in list.iter().enumerate() {
        let actions: Vec<(&String, &Value)> = update
            .as_object()
            .into_iter()
            .flat_map(|o| o.iter())
            .filter(|(_, v)| !v.is_null())
            .collect();
        let [(action, spec)] = actions.as_slice() else {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at '{member}.{}.member' failed to satisfy constraint: Exactly one of Create, Update or Delete must be specified",
                i + 1
            )));
        };
        let region = req_str(spec, "RegionName")?;
        if !valid_region(region) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Invalid region name: {region}"
            )));
        }
        match action.as_str() {
            "Create" => creates.push(region.to_owned()),
            "Delete" => deletes.push(region.to_owned()),
            "Update" if replicas => {
                return Err(AwsError::validation(
                    "lockbox-mock does not support Update actions in ReplicaUpdates",
                ))
            }
            other => {
                return Err(AwsError::serialization(format!(
                    "unknown action {other} in {field}"
                )))
            }
        }
    }
    let mut all: Vec<&String> = creates.iter().chain(&deletes).collect();
    all.sort();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err(AwsError::validation(format!(
            "{field} names a region more than once"
        )));
    }
    Ok((creates, deletes))
}
