//! A table's throughput settings: `OnDemandThroughput` in `CreateTable`, and
//! `UpdateTable` of `BillingMode`, `ProvisionedThroughput` and
//! `OnDemandThroughput`. The quotas themselves are enforced in `quotas.rs`.

use serde_json::{json, Value};

use super::request::{opt_str, table_name};
use super::table::Table;
use super::{DynamoDb, DynamoDbRegions};
use crate::error::AwsError;
use crate::quotas::Throughput;

/// The members of `UpdateTable` this file handles.
const THROUGHPUT_MEMBERS: [&str; 3] =
    ["BillingMode", "ProvisionedThroughput", "OnDemandThroughput"];

/// Whether an `UpdateTable` request changes throughput settings (and only those,
/// with its table name).
pub(super) fn is_throughput_update(body: &Value) -> bool {
    let Some(obj) = body.as_object() else {
        return false;
    };
    let set = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    THROUGHPUT_MEMBERS.iter().any(|m| set(m))
        && obj.iter().all(|(k, v)| {
            v.is_null() || k == "TableName" || THROUGHPUT_MEMBERS.contains(&k.as_str())
        })
}

/// One of `OnDemandThroughput`'s members: absent or -1 is no maximum, else at least 1.
fn max_units(od: &Value, field: &str, quoted: &str) -> Result<Option<u64>, AwsError> {
    match od.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(-1) => Ok(None),
            Some(n) if n >= 1 => Ok(Some(n as u64)),
            _ => Err(AwsError::validation(format!(
                "One or more parameter values were invalid: {quoted} must be -1 or greater than 0"
            ))),
        },
    }
}

/// The `OnDemandThroughput` of a request (`(None, None)` when absent), which only
/// a `PAY_PER_REQUEST` table may have.
pub(super) fn on_demand_throughput(
    body: &Value,
    billing: &str,
) -> Result<(Option<u64>, Option<u64>), AwsError> {
    let Some(od) = body.get("OnDemandThroughput").filter(|v| !v.is_null()) else {
        return Ok((None, None));
    };
    if !od.is_object() {
        return Err(AwsError::serialization(
            "OnDemandThroughput must be a structure",
        ));
    }
    if billing != "PAY_PER_REQUEST" {
        return Err(AwsError::validation(
            "One or more parameter values were invalid: OnDemandThroughput can only be specified when BillingMode is PAY_PER_REQUEST",
        ));
    }
    Ok((
        max_units(od, "MaxReadRequestUnits", "MaxReadRequestUnits")?,
        max_units(od, "MaxWriteRequestUnits", "MaxWriteRequestUnits")?,
    ))
}

/// `ProvisionedThroughput`'s two members, each at least 1.
fn provisioned(pt: &Value) -> Result<(u64, u64), AwsError> {
    let get = |f: &str| pt.get(f).and_then(Value::as_u64).unwrap_or(0);
    let (r, w) = (get("ReadCapacityUnits"), get("WriteCapacityUnits"));
    if r < 1 || w < 1 {
        return Err(AwsError::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified and greater than 0 when BillingMode is PROVISIONED",
        ));
    }
    Ok((r, w))
}

impl Table {
    /// Applies a `throughput` journal record.
    pub(crate) fn set_throughput_from(&mut self, r: &Value) -> Option<()> {
        self.billing_mode = r.get("billing_mode")?.as_str()?.to_owned();
        self.read_capacity = r.get("read_capacity")?.as_u64()?;
        self.write_capacity = r.get("write_capacity")?.as_u64()?;
        self.on_demand = (
            r.get("on_demand_read").and_then(Value::as_u64),
            r.get("on_demand_write").and_then(Value::as_u64),
        );
        Some(())
    }

    /// How the table is billed, for the quotas.
    pub(crate) fn throughput(&self) -> Throughput {
        if self.billing_mode == "PROVISIONED" {
            Throughput::Provisioned {
                read: self.read_capacity,
                write: self.write_capacity,
            }
        } else {
            Throughput::OnDemand {
                read: self.on_demand.0,
                write: self.on_demand.1,
            }
        }
    }
}

impl DynamoDb {
    /// `UpdateTable` of the billing mode, provisioned capacity or on-demand maxima.
    pub(super) fn update_throughput(&self, body: &Value) -> Result<Value, AwsError> {
        let name = table_name(body)?;
        let billing = opt_str(body, "BillingMode")?;
        if let Some(b) = billing {
            if b != "PROVISIONED" && b != "PAY_PER_REQUEST" {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{b}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
                )));
            }
        }
        let pt = body.get("ProvisionedThroughput").filter(|v| !v.is_null());
        let mut st = self.write();
        let table = st.tables.get(name).ok_or_else(|| {
            AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "ResourceNotFoundException",
                format!("Requested resource not found: Table: {name} not found"),
            )
        })?;
        let mode = billing.unwrap_or(&table.billing_mode).to_owned();
        let (rcu, wcu) = match (mode.as_str(), pt) {
            ("PROVISIONED", Some(pt)) => provisioned(pt)?,
            ("PROVISIONED", None) if table.billing_mode == "PROVISIONED" => {
                (table.read_capacity, table.write_capacity)
            }
            ("PROVISIONED", None) => {
                return Err(AwsError::validation(
                    "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                ))
            }
            (_, Some(_)) => {
                return Err(AwsError::validation(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                ))
            }
            (_, None) => (0, 0),
        };
        let on_demand = if body.get("OnDemandThroughput").is_some_and(|v| !v.is_null()) {
            on_demand_throughput(body, &mode)?
        } else if mode == "PAY_PER_REQUEST" {
            table.on_demand
        } else {
            (None, None)
        };
        let record = json!({
            "op": "throughput", "table": name, "billing_mode": mode,
            "read_capacity": rcu, "write_capacity": wcu,
            "on_demand_read": on_demand.0, "on_demand_write": on_demand.1,
        });
        self.journal_apply(&mut st, record)?;
        let table = st.tables.get(name).ok_or_else(super::not_found)?;
        Ok(json!({"TableDescription": table.describe("UPDATING")}))
    }

    /// How `table` is billed and its ARN, if it exists.
    pub(crate) fn throughput_of(&self, table: &str) -> Option<(Throughput, String)> {
        let st = self.read();
        let t = st.tables.get(table)?;
        Some((t.throughput(), t.arn.clone()))
    }
}

impl DynamoDbRegions {
    /// How `table` in `region` is billed and its ARN, if it exists.
    pub(crate) fn throughput_of(&self, region: &str, table: &str) -> Option<(Throughput, String)> {
        self.region(region).throughput_of(table)
    }
}
