//! Query and Scan: key conditions, filters, projection, and pagination.
//!
//! As in DynamoDB, `Limit` counts *evaluated* items (before the filter), a page stops
//! after 1 MB of evaluated item data, and `LastEvaluatedKey` is returned whenever the
//! page stopped early — even if, as it happens, nothing follows. A `page_size` fault
//! moves the 1 MB stop to a number of evaluated items, so small pages are testable.

use serde_json::{json, Value};

use super::expr::{
    eval, parse_condition, project, CmpOp, Cond, Kind, Operand, Path, PathElem, Placeholders,
};
use super::items::read_capacity;
use super::legacy;
use super::request::{
    check_placeholders_need_expression, limit, not_both, opt_bool, opt_str, projection, table_name,
    wants_capacity,
};
use super::table::{KeyRef, KeyValue, Partition, Stored, StoredKey, Table};
use super::value::{item_from_json, json_name, map_to_json, write_map_json, AttrValue};
use super::{not_found, DynamoDb};
use crate::error::AwsError;
use crate::services::Reply;

/// DynamoDB reads at most this much item data per Query/Scan page.
const PAGE_BYTES: usize = 1024 * 1024;

/// What to return for each evaluated item.
struct Shape {
    filter: Option<Cond>,
    proj: Option<Vec<Path>>,
    /// The projection's attribute names, when every path is a top-level
    /// attribute (a scan or query of many items often asks only for those): such
    /// items are written straight from the stored ones.
    top_level: Option<TopLevel>,
    count_only: bool,
    limit: Option<usize>,
}

/// The attribute names of a projection of top-level attributes, to test each
/// attribute of each item read against, as stored items' JSON writes them
/// ([`json_name`]).
struct TopLevel {
    /// Sorted.
    names: Vec<Vec<u8>>,
    /// Which bytes some name starts with: most attributes a projection leaves
    /// out are told apart by their first byte, without a string comparison.
    first: [bool; 256],
}

impl TopLevel {
    fn new(names: &[&str]) -> Self {
        let mut names: Vec<Vec<u8>> = names.iter().map(|n| json_name(n)).collect();
        names.sort();
        let mut first = [false; 256];
        for n in &names {
            if let Some(b) = n.first() {
                first[usize::from(*b)] = true;
            }
        }
        Self { names, first }
    }

    fn contains(&self, name: &[u8]) -> bool {
        if !name.first().is_some_and(|b| self.first[usize::from(*b)]) {
            return false;
        }
        if self.names.len() <= 16 {
            // A few names (what projections name): told apart by length
            // before any byte is compared.
            return self
                .names
                .iter()
                .any(|n| n.len() == name.len() && n == name);
        }
        self.names
            .binary_search_by(|n| n.as_slice().cmp(name))
            .is_ok()
    }
}

/// Read `Select`, the projection and the filter shared by Query and Scan.
fn shape(body: &Value, ph: &mut Placeholders, legacy_filter: &str) -> Result<Shape, AwsError> {
    not_both(body, legacy_filter, "FilterExpression")?;
    let filter = match opt_str(body, "FilterExpression")? {
        Some(text) => Some(parse_condition(text, Kind::Filter, ph)?),
        None => match body.get(legacy_filter).filter(|v| !v.is_null()) {
            Some(f) => legacy::conditions(f, opt_str(body, "ConditionalOperator")?, false)?,
            None => None,
        },
    };
    let proj = projection(body, ph)?;
    let count_only = match opt_str(body, "Select")? {
        None | Some("ALL_ATTRIBUTES") | Some("SPECIFIC_ATTRIBUTES") => false,
        Some("COUNT") => true,
        Some("ALL_PROJECTED_ATTRIBUTES") => {
            return Err(AwsError::validation(
                "One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is not supported for table",
            ))
        }
        Some(other) => {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
            )))
        }
    };
    match (opt_str(body, "Select")?, &proj) {
        (Some("ALL_ATTRIBUTES"), Some(_)) => {
            return Err(AwsError::validation(
                "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get ALL_ATTRIBUTES",
            ))
        }
        (Some("COUNT"), Some(_)) => {
            return Err(AwsError::validation(
                "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get only the Count",
            ))
        }
        (Some("SPECIFIC_ATTRIBUTES"), None) => {
            return Err(AwsError::validation(
                "SPECIFIC_ATTRIBUTES requires AttributesToGet or ProjectionExpression",
            ))
        }
        _ => {}
    }
    let top_level = proj.as_ref().and_then(|paths| {
        let names = paths
            .iter()
            .map(|p| match p.as_slice() {
                [PathElem::Attr(a)] => Some(a.as_str()),
                _ => None,
            })
            .collect::<Option<Vec<&str>>>()?;
        Some(TopLevel::new(&names))
    });
    Ok(Shape {
        filter,
        proj,
        top_level,
        count_only,
        limit: limit(body)?,
    })
}

/// Walks candidate items and builds one page, writing the items it returns
/// straight into the answer's `Items` JSON.
struct Page<'a> {
    /// `[` and the items so far, comma-separated.
    items: Vec<u8>,
    count: usize,
    scanned: usize,
    bytes: usize,
    last: Option<KeyRef<'a>>,
    stopped: bool,
    /// Where the 1 MB stop falls instead, in evaluated items (a `page_size` fault).
    cap: Option<usize>,
}

impl<'a> Page<'a> {
    fn new(cap: Option<usize>) -> Self {
        Self {
            items: vec![b'['],
            count: 0,
            scanned: 0,
            bytes: 0,
            last: None,
            stopped: false,
            cap,
        }
    }

    /// Evaluate one item; returns false when the page is full.
    fn take(&mut self, shape: &Shape, key: KeyRef<'a>, stored: &Stored) -> bool {
        let item = &stored.item;
        self.scanned += 1;
        self.bytes += stored.size;
        self.last = Some(key);
        if shape.filter.as_ref().is_none_or(|f| eval(f, item)) {
            self.count += 1;
            if !shape.count_only {
                if self.count > 1 {
                    self.items.push(b',');
                }
                write_item(&mut self.items, stored, shape);
            }
        }
        if shape.limit.is_some_and(|l| self.scanned >= l)
            || self.cap.is_some_and(|c| self.scanned >= c)
            || self.bytes >= PAGE_BYTES
        {
            self.stopped = true;
            return false;
        }
        true
    }

    fn render(self, table: &Table, shape: &Shape, capacity: bool, consistent: bool) -> Reply {
        let mut out = json!({"Count": self.count, "ScannedCount": self.scanned});
        if let (true, Some(last)) = (self.stopped, self.last) {
            out["LastEvaluatedKey"] = Value::Object(map_to_json(&table.key_item_of(last)));
        }
        if capacity {
            out["ConsumedCapacity"] = read_capacity(&table.name, self.bytes, consistent);
        }
        if shape.count_only {
            return Reply::from(out);
        }
        let mut items = self.items;
        items.push(b']');
        Reply::page(out, items)
    }
}

/// Write `item` as `shape` projects it: straight from the stored item when the
/// projection names only top-level attributes, through [`project`] otherwise.
fn write_item(out: &mut Vec<u8>, stored: &Stored, shape: &Shape) {
    match (&shape.top_level, &shape.proj) {
        (Some(names), _) => stored.json.write(out, |k| names.contains(k)),
        (None, Some(paths)) => write_map_json(&project(&stored.item, paths), out),
        (None, None) => out.extend_from_slice(stored.json.all()),
    }
}

/// Parse `ExclusiveStartKey`, which must be exactly a table key.
fn start_key(body: &Value, table: &Table) -> Result<Option<StoredKey>, AwsError> {
    match body.get("ExclusiveStartKey").filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(k) => {
            let item = item_from_json(k)?;
            table.key_of(&item, true).map(Some).map_err(|_| {
                AwsError::validation(
                    "The provided starting key is invalid: The provided key element does not match the schema",
                )
            })
        }
    }
}

/// Split `a AND b AND c` into its conjuncts.
fn conjuncts(c: Cond, out: &mut Vec<Cond>) {
    match c {
        Cond::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

/// The attribute a key-condition term constrains, if it has the allowed shape.
fn key_term_attr(c: &Cond) -> Result<String, AwsError> {
    let unsupported = || AwsError::validation("Query key condition not supported");
    let attr = |o: &Operand| match o {
        Operand::Path(p) if p.len() == 1 => match &p[0] {
            PathElem::Attr(a) => Ok(a.clone()),
            PathElem::Index(_) => Err(unsupported()),
        },
        Operand::Path(_) => Err(AwsError::validation(
            "Invalid KeyConditionExpression: Key condition may not contain nested attributes",
        )),
        _ => Err(unsupported()),
    };
    let value = |o: &Operand| match o {
        Operand::Value(_) => Ok(()),
        _ => Err(unsupported()),
    };
    match c {
        Cond::Cmp(a, op, b) => {
            if *op == CmpOp::Ne {
                return Err(AwsError::validation(
                    "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: <>",
                ));
            }
            value(b)?;
            attr(a)
        }
        Cond::Between(a, lo, hi) => {
            value(lo)?;
            value(hi)?;
            attr(a)
        }
        Cond::BeginsWith(a, b) => {
            value(b)?;
            attr(a)
        }
        Cond::Or(..) => Err(AwsError::validation(
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR",
        )),
        Cond::Not(..) => Err(AwsError::validation(
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: NOT",
        )),
        Cond::Exists(_) | Cond::NotExists(_) | Cond::Type(..) | Cond::Contains(..) => {
            Err(AwsError::validation(
                "Invalid KeyConditionExpression: Invalid function name used in KeyConditionExpression",
            ))
        }
        Cond::In(..) => Err(AwsError::validation(
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: IN",
        )),
        Cond::And(..) => Err(unsupported()),
    }
}

/// The values a key-condition term compares against.
fn term_values(c: &Cond) -> Vec<&AttrValue> {
    fn v(o: &Operand) -> Option<&AttrValue> {
        match o {
            Operand::Value(v) => Some(v),
            _ => None,
        }
    }
    match c {
        Cond::Cmp(_, _, b) | Cond::BeginsWith(_, b) => v(b).into_iter().collect(),
        Cond::Between(_, lo, hi) => v(lo).into_iter().chain(v(hi)).collect(),
        _ => Vec::new(),
    }
}

/// Split a key condition into the partition key value and the sort-key condition.
fn key_condition(table: &Table, cond: Cond) -> Result<(KeyValue, Option<Cond>), AwsError> {
    let mut terms = Vec::new();
    conjuncts(cond, &mut terms);
    if terms.len() > 2 {
        return Err(AwsError::validation(
            "Conditions can be of length 1 or 2 only",
        ));
    }
    let mut pk = None;
    let mut sort = None;
    for t in terms {
        let attr = key_term_attr(&t)?;
        let kt = if attr == table.hash.0 {
            table.hash.1
        } else if let Some((r, kt)) = table.range.as_ref().filter(|(r, _)| *r == attr) {
            let _ = r;
            *kt
        } else {
            return Err(AwsError::validation(format!(
                "Query condition missed key schema element: {}",
                if pk.is_none() {
                    &table.hash.0
                } else {
                    &table.range.as_ref().map_or(&table.hash.0, |r| &r.0)
                }
            )));
        };
        for v in term_values(&t) {
            if v.type_name() != kt.name() {
                return Err(AwsError::validation(
                    "One or more parameter values were invalid: Condition parameter type does not match schema type",
                ));
            }
        }
        if attr == table.hash.0 {
            let Cond::Cmp(_, CmpOp::Eq, Operand::Value(v)) = &t else {
                return Err(AwsError::validation("Query key condition not supported"));
            };
            if pk.is_some() {
                return Err(AwsError::validation("Query key condition not supported"));
            }
            pk = Some(match v {
                AttrValue::S(s) => KeyValue::S(s.clone()),
                AttrValue::N(n) => KeyValue::N(n.clone()),
                AttrValue::B(b) => KeyValue::B(b.clone()),
                _ => return Err(AwsError::validation("Query key condition not supported")),
            });
        } else {
            if sort.is_some() {
                return Err(AwsError::validation("Query key condition not supported"));
            }
            if matches!(t, Cond::BeginsWith(..)) && kt.name() == "N" {
                return Err(AwsError::validation(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                ));
            }
            sort = Some(t);
        }
    }
    let pk = pk.ok_or_else(|| {
        AwsError::validation(format!(
            "Query condition missed key schema element: {}",
            table.hash.0
        ))
    })?;
    Ok((pk, sort))
}

impl DynamoDb {
    /// Query; `page_cap` ends the page after that many evaluated items.
    pub(super) fn query(&self, body: &Value, page_cap: Option<usize>) -> Result<Reply, AwsError> {
        let name = table_name(body)?;
        if let Some(index) = opt_str(body, "IndexName")? {
            return Err(AwsError::validation(format!(
                "The table does not have the specified index: {index}"
            )));
        }
        let mut ph = Placeholders::from_request(body)?;
        check_placeholders_need_expression(
            body,
            &ph,
            &[
                "KeyConditionExpression",
                "FilterExpression",
                "ProjectionExpression",
            ],
        )?;
        not_both(body, "KeyConditions", "KeyConditionExpression")?;
        let key_cond = match opt_str(body, "KeyConditionExpression")? {
            Some(text) => parse_condition(text, Kind::KeyCondition, &mut ph)?,
            None => match body.get("KeyConditions").filter(|v| !v.is_null()) {
                Some(k) => legacy::conditions(k, None, false)?.ok_or_else(|| {
                    AwsError::validation("Conditions can be of length 1 or 2 only")
                })?,
                None => {
                    return Err(AwsError::validation(
                        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                    ))
                }
            },
        };
        let shape = shape(body, &mut ph, "QueryFilter")?;
        ph.check_all_used()?;
        let forward = match body.get("ScanIndexForward") {
            None | Some(Value::Null) => true,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| AwsError::serialization("ScanIndexForward must be a boolean"))?,
        };
        let consistent = opt_bool(body, "ConsistentRead")?;
        let capacity = wants_capacity(body)?;

        let st = self.read();
        let table = st.tables.get(name).ok_or_else(not_found)?;
        let (pk, sort) = key_condition(table, key_cond)?;
        if let Some(f) = &shape.filter {
            check_filter_keys(table, f)?;
        }
        let start = start_key(body, table)?;
        if let Some(s) = &start {
            if s.0 != pk {
                return Err(AwsError::validation(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
        }
        let mut page = Page::new(page_cap);
        for (sk, item) in table.partition_range(&pk, start.as_ref().map(|s| &s.1), forward) {
            if sort.as_ref().is_some_and(|c| !eval(c, &item.item)) {
                continue;
            }
            if !page.take(&shape, (&pk, sk), item) {
                break;
            }
        }
        Ok(page.render(table, &shape, capacity, consistent))
    }

    /// Scan; `page_cap` ends the page after that many evaluated items.
    pub(super) fn scan(&self, body: &Value, page_cap: Option<usize>) -> Result<Reply, AwsError> {
        let name = table_name(body)?;
        if let Some(index) = opt_str(body, "IndexName")? {
            return Err(AwsError::validation(format!(
                "The table does not have the specified index: {index}"
            )));
        }
        let mut ph = Placeholders::from_request(body)?;
        check_placeholders_need_expression(
            body,
            &ph,
            &["FilterExpression", "ProjectionExpression"],
        )?;
        let shape = shape(body, &mut ph, "ScanFilter")?;
        ph.check_all_used()?;
        let consistent = opt_bool(body, "ConsistentRead")?;
        let capacity = wants_capacity(body)?;
        let segment = body.get("Segment").and_then(Value::as_u64);
        let total = body.get("TotalSegments").and_then(Value::as_u64);
        let segments = match (segment, total) {
            (None, None) => None,
            (Some(s), Some(t)) if (1..=1_000_000).contains(&t) && s < t => Some((s, t)),
            (Some(_), Some(_)) => {
                return Err(AwsError::validation(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments",
                ))
            }
            (Some(_), None) => {
                return Err(AwsError::validation(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ))
            }
            (None, Some(_)) => {
                return Err(AwsError::validation(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ))
            }
        };

        let st = self.read();
        let table = st.tables.get(name).ok_or_else(not_found)?;
        let start = start_key(body, table)?;
        let mut page = Page::new(page_cap);
        let in_segment =
            move |part: &Partition| segments.is_none_or(|(s, t)| part.in_segment(s, t));
        for (key, item) in table.scan_from(start.as_ref(), in_segment) {
            if !page.take(&shape, key, item) {
                break;
            }
        }
        Ok(page.render(table, &shape, capacity, consistent))
    }
}

/// A Query filter may not name key attributes.
fn check_filter_keys(table: &Table, f: &Cond) -> Result<(), AwsError> {
    fn paths<'a>(c: &'a Cond, out: &mut Vec<&'a Path>) {
        let op = |o: &'a Operand, out: &mut Vec<&'a Path>| match o {
            Operand::Path(p) | Operand::Size(p) => out.push(p),
            Operand::Value(_) => {}
        };
        match c {
            Cond::Cmp(a, _, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
                op(a, out);
                op(b, out);
            }
            Cond::Between(a, b, d) => {
                op(a, out);
                op(b, out);
                op(d, out);
            }
            Cond::In(a, l) => {
                op(a, out);
                l.iter().for_each(|x| op(x, out));
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                paths(a, out);
                paths(b, out);
            }
            Cond::Not(a) => paths(a, out),
            Cond::Exists(p) | Cond::NotExists(p) | Cond::Type(p, _) => out.push(p),
        }
    }
    let mut all = Vec::new();
    paths(f, &mut all);
    for p in all {
        if let Some(PathElem::Attr(a)) = p.first() {
            if *a == table.hash.0 || table.range.as_ref().is_some_and(|r| r.0 == *a) {
                return Err(AwsError::validation(format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {a}"
                )));
            }
        }
    }
    Ok(())
}
