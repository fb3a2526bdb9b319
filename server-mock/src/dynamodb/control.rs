//! Table-level operations: CreateTable, DescribeTable, ListTables, DeleteTable,
//! DescribeTimeToLive, DescribeContinuousBackups and the tagging operations.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::request::{check_table_name, opt_str, req_str, table_name};
use super::table::{KeyType, Table};
use super::{not_found, DynamoDb};
use crate::error::AwsError;

fn table_not_found(name: &str) -> AwsError {
    AwsError::new(
        http::StatusCode::BAD_REQUEST,
        "ResourceNotFoundException",
        format!("Requested resource not found: Table: {name} not found"),
    )
}

fn list<'a>(body: &'a Value, field: &str) -> Result<&'a [Value], AwsError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(AwsError::serialization(format!("{field} must be a list"))),
    }
}

/// Parse `Tags: [{Key, Value}]`, with AWS's limits.
fn parse_tags(body: &Value) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = Vec::new();
    for t in list(body, "Tags")? {
        let k = req_str(t, "Key")?;
        let v = req_str(t, "Value")?;
        if k.is_empty() || k.chars().count() > 128 {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128",
            ));
        }
        if v.chars().count() > 256 {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256",
            ));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

impl DynamoDb {
    pub(super) fn create_table(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        for unsupported in ["LocalSecondaryIndexes", "GlobalSecondaryIndexes"] {
            if body.get(unsupported).is_some_and(|v| !v.is_null()) {
                return Err(AwsError::validation(format!(
                    "lockbox-mock does not support {unsupported}"
                )));
            }
        }
        let mut defs: BTreeMap<String, KeyType> = BTreeMap::new();
        let def_list = list(body, "AttributeDefinitions")?;
        if def_list.is_empty() {
            return Err(AwsError::missing_member("attributeDefinitions"));
        }
        for d in def_list {
            let n = req_str(d, "AttributeName")?;
            let t = req_str(d, "AttributeType")?;
            let kt = KeyType::parse(t).ok_or_else(|| {
                AwsError::validation(format!(
                    "1 validation error detected: Value '{t}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
                ))
            })?;
            if defs.insert(n.to_owned(), kt).is_some() {
                return Err(AwsError::validation(format!(
                    "Cannot have two attributes with the same name; attribute name: {n}"
                )));
            }
        }
        let schema = list(body, "KeySchema")?;
        if schema.is_empty() || schema.len() > 2 {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2 and greater than or equal to 1",
            ));
        }
        let mut hash = None;
        let mut range = None;
        for (i, k) in schema.iter().enumerate() {
            let n = req_str(k, "AttributeName")?;
            match (i, req_str(k, "KeyType")?) {
                (0, "HASH") => hash = Some(n.to_owned()),
                (1, "RANGE") => range = Some(n.to_owned()),
                (0, _) => {
                    return Err(AwsError::validation(
                        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
                    ))
                }
                (_, _) => {
                    return Err(AwsError::validation(
                        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
                    ))
                }
            }
        }
        let hash = hash.unwrap_or_default();
        if range.as_deref() == Some(hash.as_str()) {
            return Err(AwsError::validation(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ));
        }
        let keys: Vec<&String> = std::iter::once(&hash).chain(range.as_ref()).collect();
        let names = |v: Vec<&String>| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        let missing: Vec<&String> = keys
            .iter()
            .copied()
            .filter(|k| !defs.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                names(missing),
                names(defs.keys().collect())
            )));
        }
        if defs.len() != keys.len() {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions; KeySchema: [{}], AttributeDefinitions: [{}]",
                names(keys.clone()),
                names(defs.keys().collect())
            )));
        }
        let billing = opt_str(body, "BillingMode")?.unwrap_or("PROVISIONED");
        let pt = body.get("ProvisionedThroughput").filter(|v| !v.is_null());
        let (rcu, wcu) = match (billing, pt) {
            ("PROVISIONED", Some(pt)) => {
                let get = |f: &str| pt.get(f).and_then(Value::as_u64).unwrap_or(0);
                let (r, w) = (get("ReadCapacityUnits"), get("WriteCapacityUnits"));
                if r < 1 || w < 1 {
                    return Err(AwsError::validation(
                        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified and greater than 0 when BillingMode is PROVISIONED",
                    ));
                }
                (r, w)
            }
            ("PROVISIONED", None) => {
                return Err(AwsError::validation(
                    "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                ))
            }
            ("PAY_PER_REQUEST", None) => (0, 0),
            ("PAY_PER_REQUEST", Some(_)) => {
                return Err(AwsError::validation(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                ))
            }
            (other, _) => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
                )))
            }
        };
        let on_demand = super::capacity::on_demand_throughput(body, billing)?;
        let tags = parse_tags(body)?;
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| (d.as_millis() as f64) / 1000.0)
            .unwrap_or(0.0);
        let table = Table {
            name: name.to_owned(),
            hash: (hash.clone(), defs[&hash]),
            range: range.map(|r| {
                let t = defs[&r];
                (r, t)
            }),
            billing_mode: billing.to_owned(),
            read_capacity: rcu,
            write_capacity: wcu,
            on_demand,
            created,
            arn: format!(
                "arn:aws:dynamodb:{}:{}:table/{name}",
                self.region, self.account
            ),
            table_id: uuid::Uuid::new_v4().to_string(),
            tags: tags.into_iter().collect(),
            items: BTreeMap::new(),
            count: 0,
            size_bytes: 0,
            replicas: Vec::new(),
            consistency: None,
            witnesses: Vec::new(),
            stamps: BTreeMap::new(),
        };
        let mut st = self.write();
        if st.tables.contains_key(name) {
            return Err(AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "ResourceInUseException",
                format!("Table already exists: {name}"),
            ));
        }
        self.commit(&mut st, table.to_record())?;
        // Tables are ACTIVE at once: there is nothing to provision.
        Ok(json!({"TableDescription": table.describe("ACTIVE")}))
    }

    pub(super) fn describe_table(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        let st = self.read();
        let t = st.tables.get(name).ok_or_else(|| table_not_found(name))?;
        Ok(json!({"Table": t.describe("ACTIVE")}))
    }

    pub(super) fn describe_ttl(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        if !self.read().tables.contains_key(name) {
            return Err(table_not_found(name));
        }
        Ok(json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}))
    }

    /// Backups are not emulated: continuous backups are on (as for every table in
    /// AWS) and point-in-time recovery is off, as for a table nobody turned it on.
    pub(super) fn describe_continuous_backups(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        if !self.read().tables.contains_key(name) {
            // This operation names the error differently from DescribeTable.
            return Err(AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "TableNotFoundException",
                format!("Table not found: {name}"),
            ));
        }
        Ok(json!({"ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }}))
    }

    pub(super) fn list_tables(&self, body: &Value) -> Result<Value, AwsError> {
        let limit = match body.get("Limit").filter(|v| !v.is_null()) {
            None => 100,
            Some(v) => match v.as_i64() {
                Some(n) if (1..=100).contains(&n) => n as usize,
                _ => {
                    return Err(AwsError::validation(
                        "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100 and greater than or equal to 1",
                    ))
                }
            },
        };
        let start = opt_str(body, "ExclusiveStartTableName")?;
        if let Some(s) = start {
            check_table_name(s, "exclusiveStartTableName")?;
        }
        let st = self.read();
        let mut names = st
            .tables
            .keys()
            .filter(|n| start.is_none_or(|s| n.as_str() > s));
        let page: Vec<&String> = names.by_ref().take(limit).collect();
        let mut out = json!({"TableNames": page});
        if names.next().is_some() {
            out["LastEvaluatedTableName"] = json!(page.last());
        }
        Ok(out)
    }

    pub(super) fn delete_table(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        let mut st = self.write();
        let desc = st
            .tables
            .get(name)
            .ok_or_else(|| table_not_found(name))?
            .describe("DELETING");
        self.commit(&mut st, json!({"op": "delete_table", "table": name}))?;
        Ok(json!({"TableDescription": desc}))
    }

    /// The table a `ResourceArn` names.
    fn table_for_arn(&self, body: &Value) -> Result<String, AwsError> {
        let arn = req_str(body, "ResourceArn")?;
        let prefix = format!("arn:aws:dynamodb:{}:{}:table/", self.region, self.account);
        let name = arn.strip_prefix(&prefix).ok_or_else(|| {
            if arn.starts_with("arn:aws:dynamodb:") {
                AwsError::new(
                    http::StatusCode::BAD_REQUEST,
                    "AccessDeniedException",
                    "User is not authorized to access this resource",
                )
            } else {
                AwsError::validation(format!(
                    "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
                ))
            }
        })?;
        if !self.read().tables.contains_key(name) {
            return Err(AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "ResourceNotFoundException",
                format!("Requested resource not found: ResourcArn: {arn} not found"),
            ));
        }
        Ok(name.to_owned())
    }

    fn set_tags(
        &self,
        name: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> Result<(), AwsError> {
        let mut st = self.write();
        let mut tags = st.tables.get(name).ok_or_else(not_found)?.tags.clone();
        change(&mut tags);
        if tags.len() > 50 {
            return Err(AwsError::validation(
                "One or more parameter values were invalid: The number of tags exceeds the limit of 50",
            ));
        }
        self.commit(&mut st, json!({"op": "tags", "table": name, "tags": tags}))
    }

    pub(super) fn tag_resource(&self, body: &Value) -> Result<Value, AwsError> {
        let name = self.table_for_arn(body)?;
        let tags = parse_tags(body)?;
        if tags.is_empty() {
            return Err(AwsError::missing_member("tags"));
        }
        self.set_tags(&name, |t| t.extend(tags))?;
        Ok(json!({}))
    }

    pub(super) fn untag_resource(&self, body: &Value) -> Result<Value, AwsError> {
        let name = self.table_for_arn(body)?;
        let keys: Vec<String> = list(body, "TagKeys")?
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        self.set_tags(&name, |t| {
            for k in &keys {
                t.remove(k);
            }
        })?;
        Ok(json!({}))
    }

    pub(super) fn list_tags(&self, body: &Value) -> Result<Value, AwsError> {
        let name = self.table_for_arn(body)?;
        let st = self.read();
        let t = st.tables.get(&name).ok_or_else(not_found)?;
        let tags: Vec<Value> = t
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({"Tags": tags}))
    }
}
