//! DynamoDB attribute values: parsing and rendering DynamoDB JSON
//! (`{"S": "..."}`, `{"N": "..."}`, ...), ordering and item size; numbers are
//! `number.rs`'s.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::number::Number;
use crate::error::AwsError;

/// An item: attribute name to value. A `BTreeMap` so rendering and snapshots are stable.
pub(crate) type Item = BTreeMap<String, AttrValue>;

/// The largest item DynamoDB stores: 400 KB, names plus values.
pub(crate) const MAX_ITEM_SIZE: usize = 400 * 1024;

/// One DynamoDB attribute value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum AttrValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<AttrValue>),
    M(BTreeMap<String, AttrValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

impl fmt::Debug for AttrValue {
    /// Only the type: values may be secrets and must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttrValue({})", self.type_name())
    }
}

impl AttrValue {
    /// The DynamoDB type descriptor (`S`, `N`, `BOOL`, ...).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            AttrValue::S(_) => "S",
            AttrValue::N(_) => "N",
            AttrValue::B(_) => "B",
            AttrValue::Bool(_) => "BOOL",
            AttrValue::Null => "NULL",
            AttrValue::L(_) => "L",
            AttrValue::M(_) => "M",
            AttrValue::Ss(_) => "SS",
            AttrValue::Ns(_) => "NS",
            AttrValue::Bs(_) => "BS",
        }
    }

    /// Parse one DynamoDB JSON attribute value, validating it as DynamoDB does.
    pub(crate) fn from_json(json: &Value) -> Result<Self, AwsError> {
        let obj = json.as_object().ok_or_else(|| {
            AwsError::validation("Supplied AttributeValue is not a valid AttributeValue object")
        })?;
        // The SDKs never send `null` members, but hand-written JSON may.
        let mut present = obj.iter().filter(|(_, v)| !v.is_null());
        let (tag, inner) = match (present.next(), present.next()) {
            (None, _) => {
                return Err(AwsError::validation(
                    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(AwsError::validation(
                    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                ))
            }
            (Some(pair), None) => pair,
        };
        let wrong = || {
            AwsError::new(
                http::StatusCode::BAD_REQUEST,
                "SerializationException",
                format!("Unexpected value type in payload for attribute type {tag}"),
            )
        };
        let string = |v: &Value| v.as_str().map(str::to_owned).ok_or_else(wrong);
        let binary = |v: &Value| -> Result<Vec<u8>, AwsError> {
            let s = v.as_str().ok_or_else(wrong)?;
            BASE64.decode(s).map_err(|_| {
                AwsError::new(
                    http::StatusCode::BAD_REQUEST,
                    "SerializationException",
                    "Base64 encoded length is expected a multiple of 4 bytes but found invalid base64 data",
                )
            })
        };
        let array = |v: &Value| v.as_array().cloned().ok_or_else(wrong);
        let value = match tag.as_str() {
            "S" => AttrValue::S(string(inner)?),
            "N" => AttrValue::N(Number::parse(inner.as_str().ok_or_else(wrong)?)?),
            "B" => AttrValue::B(binary(inner)?),
            "BOOL" => AttrValue::Bool(inner.as_bool().ok_or_else(wrong)?),
            "NULL" => {
                if inner.as_bool() != Some(true) {
                    return Err(AwsError::validation(
                        "One or more parameter values were invalid: Null attribute value types must have the value of true",
                    ));
                }
                AttrValue::Null
            }
            "L" => AttrValue::L(
                array(inner)?
                    .iter()
                    .map(AttrValue::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            "M" => {
                let map = inner.as_object().ok_or_else(wrong)?;
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    out.insert(k.clone(), AttrValue::from_json(v)?);
                }
                AttrValue::M(out)
            }
            "SS" => {
                let items: Vec<String> =
                    array(inner)?.iter().map(string).collect::<Result<_, _>>()?;
                check_set(&items, "string")?;
                AttrValue::Ss(items)
            }
            "NS" => {
                let items: Vec<Number> = array(inner)?
                    .iter()
                    .map(|v| Number::parse(v.as_str().ok_or_else(wrong)?))
                    .collect::<Result<_, _>>()?;
                check_set(&items, "number")?;
                AttrValue::Ns(items)
            }
            "BS" => {
                let items: Vec<Vec<u8>> =
                    array(inner)?.iter().map(binary).collect::<Result<_, _>>()?;
                check_set(&items, "binary")?;
                AttrValue::Bs(items)
            }
            other => {
                return Err(AwsError::new(
                    http::StatusCode::BAD_REQUEST,
                    "SerializationException",
                    format!("Unknown AttributeValue type: {other}"),
                ))
            }
        };
        Ok(value)
    }

    /// Render as DynamoDB JSON.
    pub(crate) fn to_json(&self) -> Value {
        let (tag, inner) = match self {
            AttrValue::S(s) => ("S", Value::String(s.clone())),
            AttrValue::N(n) => ("N", Value::String(n.to_string())),
            AttrValue::B(b) => ("B", Value::String(BASE64.encode(b))),
            AttrValue::Bool(b) => ("BOOL", Value::Bool(*b)),
            AttrValue::Null => ("NULL", Value::Bool(true)),
            AttrValue::L(l) => ("L", Value::Array(l.iter().map(Self::to_json).collect())),
            AttrValue::M(m) => ("M", Value::Object(map_to_json(m))),
            AttrValue::Ss(s) => (
                "SS",
                Value::Array(s.iter().cloned().map(Value::String).collect()),
            ),
            AttrValue::Ns(n) => (
                "NS",
                Value::Array(n.iter().map(|n| Value::String(n.to_string())).collect()),
            ),
            AttrValue::Bs(b) => (
                "BS",
                Value::Array(b.iter().map(|b| Value::String(BASE64.encode(b))).collect()),
            ),
        };
        let mut obj = Map::new();
        obj.insert(tag.to_owned(), inner);
        Value::Object(obj)
    }

    /// Write as DynamoDB JSON, the bytes `serde_json` writes for
    /// [`AttrValue::to_json`], without building the `Value` (a page of thousands
    /// of items is rendered this way).
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(self.type_name().as_bytes());
        out.extend_from_slice(b"\":");
        match self {
            AttrValue::S(s) => write_str(out, s),
            AttrValue::N(n) => write_str(out, &n.to_string()),
            AttrValue::B(b) => write_str(out, &BASE64.encode(b)),
            AttrValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            AttrValue::Null => out.extend_from_slice(b"true"),
            AttrValue::L(l) => write_array(out, l, |out, v| v.write_json(out)),
            AttrValue::M(m) => write_map_json(m, out),
            AttrValue::Ss(s) => write_array(out, s, |out, s| write_str(out, s)),
            AttrValue::Ns(n) => write_array(out, n, |out, n| write_str(out, &n.to_string())),
            AttrValue::Bs(b) => write_array(out, b, |out, b| write_str(out, &BASE64.encode(b))),
        }
        out.push(b'}');
    }

    /// Size of the value as DynamoDB counts it toward the item size.
    pub(crate) fn size(&self) -> usize {
        match self {
            AttrValue::S(s) => s.len(),
            AttrValue::N(n) => n.size(),
            AttrValue::B(b) => b.len(),
            AttrValue::Bool(_) | AttrValue::Null => 1,
            AttrValue::L(l) => 3 + l.iter().map(|v| 1 + v.size()).sum::<usize>(),
            AttrValue::M(m) => 3 + m.iter().map(|(k, v)| 1 + k.len() + v.size()).sum::<usize>(),
            AttrValue::Ss(s) => s.iter().map(String::len).sum(),
            AttrValue::Ns(n) => n.iter().map(Number::size).sum(),
            AttrValue::Bs(b) => b.iter().map(Vec::len).sum(),
        }
    }

    /// Ordering for the comparison operators: defined only between two S, two N or two B.
    pub(crate) fn compare(&self, other: &AttrValue) -> Option<Ordering> {
        match (self, other) {
            (AttrValue::S(a), AttrValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttrValue::N(a), AttrValue::N(b)) => Some(a.cmp(b)),
            (AttrValue::B(a), AttrValue::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Equality as the `=` operator sees it: sets compare as sets, numbers by value.
    pub(crate) fn equals(&self, other: &AttrValue) -> bool {
        match (self, other) {
            (AttrValue::Ss(a), AttrValue::Ss(b)) => same_set(a, b),
            (AttrValue::Ns(a), AttrValue::Ns(b)) => same_set(a, b),
            (AttrValue::Bs(a), AttrValue::Bs(b)) => same_set(a, b),
            (AttrValue::L(a), AttrValue::L(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.equals(y))
            }
            (AttrValue::M(a), AttrValue::M(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.equals(w)))
            }
            _ => self == other,
        }
    }
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// Sets must be non-empty and free of duplicates. The message names no element.
fn check_set<T: PartialEq>(items: &[T], kind: &str) -> Result<(), AwsError> {
    if items.is_empty() {
        return Err(AwsError::validation(format!(
            "One or more parameter values were invalid: An {kind} set  may not be empty"
        )));
    }
    for (i, x) in items.iter().enumerate() {
        if items[..i].contains(x) {
            return Err(AwsError::validation(
                "One or more parameter values were invalid: Input collection contains duplicates",
            ));
        }
    }
    Ok(())
}

/// Render a map of attribute values (an item, a key) as a DynamoDB JSON object.
pub(crate) fn map_to_json(map: &BTreeMap<String, AttrValue>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()
}

/// Write `map` as a DynamoDB JSON object, the bytes `serde_json` writes for
/// [`map_to_json`], with [`AttrValue::write_json`].
pub(crate) fn write_map_json(map: &BTreeMap<String, AttrValue>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        v.write_json(out);
    }
    out.push(b'}');
}

/// An item written out as DynamoDB JSON once, when it is stored, with where each
/// attribute lies in it: a Query or Scan copies those bytes instead of rendering
/// the item again from its parts, which lie all over the heap (a scan of a big
/// table was bound by fetching them from memory). Twice the memory for speed.
#[derive(Clone)]
pub(crate) struct Rendered {
    /// Each attribute's `"name":value` in the JSON, in the item's order, as
    /// three little-endian `u32`s (where it starts, where its name's closing
    /// quote is, where it ends), then the JSON: `{"a":{"S":"x"},"b":...}`, as
    /// [`write_map_json`] writes the whole item. One allocation, so that a
    /// scan fetches one block of memory per item, not two.
    bytes: Box<[u8]>,
    /// Where the JSON starts in `bytes`.
    json_at: usize,
}

impl std::fmt::Debug for Rendered {
    /// The size only: an item's values are whatever its writer stored.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("json_bytes", &self.all().len())
            .finish_non_exhaustive()
    }
}

/// The size of one attribute's entry before a [`Rendered`] item's JSON.
const SPAN: usize = 12;

impl Rendered {
    pub(crate) fn of(item: &Item) -> Self {
        let mut json = vec![b'{'];
        let mut spans = Vec::with_capacity(item.len() * SPAN);
        // An item is at most 400 KB: its JSON is far below 4 GB.
        let at = |json: &Vec<u8>| u32::try_from(json.len()).unwrap_or(u32::MAX);
        for (i, (name, value)) in item.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            let start = at(&json);
            write_str(&mut json, name);
            let quote = at(&json) - 1;
            json.push(b':');
            value.write_json(&mut json);
            for offset in [start, quote, at(&json)] {
                spans.extend_from_slice(&offset.to_le_bytes());
            }
        }
        json.push(b'}');
        let json_at = spans.len();
        spans.extend_from_slice(&json);
        Self {
            bytes: spans.into_boxed_slice(),
            json_at,
        }
    }

    /// Write the item with the attributes `keep` accepts. `keep` is given each
    /// name as JSON writes it, escapes included ([`json_name`]).
    pub(crate) fn write(&self, out: &mut Vec<u8>, keep: impl Fn(&[u8]) -> bool) {
        let (spans, json) = self.bytes.split_at(self.json_at);
        let offset = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        out.push(b'{');
        let mut first = true;
        for span in spans.chunks_exact(SPAN) {
            let (start, quote) = (offset(&span[..4]), offset(&span[4..8]));
            if !keep(&json[start + 1..quote]) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&json[start..offset(&span[8..])]);
        }
        out.push(b'}');
    }

    /// The whole item.
    pub(crate) fn all(&self) -> &[u8] {
        &self.bytes[self.json_at..]
    }
}

/// Whether serde_json writes `s` as it is between quotes: it escapes control
/// characters, quotes and backslashes.
fn needs_no_escape(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// An attribute name as a [`Rendered`] item holds it: the JSON string without
/// its quotes, escaped as `serde_json` escapes it.
pub(crate) fn json_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    write_str(&mut out, name);
    out.pop();
    out.remove(0);
    out
}

/// A JSON string, escaped as `serde_json` escapes it.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_no_escape(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_array<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// Parse a DynamoDB JSON object of attribute values (an item, a key).
pub(crate) fn item_from_json(json: &Value) -> Result<Item, AwsError> {
    let obj = json.as_object().ok_or_else(|| {
        AwsError::new(
            http::StatusCode::BAD_REQUEST,
            "SerializationException",
            "Expected an object of attribute values",
        )
    })?;
    let mut item = Item::new();
    for (name, value) in obj {
        if name.is_empty() {
            return Err(AwsError::validation(
                "One or more parameter values were invalid: An AttributeValue may not contain an empty attribute name",
            ));
        }
        item.insert(name.clone(), AttrValue::from_json(value)?);
    }
    Ok(item)
}

/// Item size as DynamoDB measures it: the sum of attribute name lengths and value sizes.
pub(crate) fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip() {
        let v = json!({"M": {"a": {"L": [{"N": "1.50"}, {"B": "AAE="}, {"NULL": true}]},
                             "s": {"SS": ["x", "y"]}, "b": {"BOOL": false}}});
        let parsed = AttrValue::from_json(&v).unwrap();
        let back = parsed.to_json();
        assert_eq!(back["M"]["a"]["L"][0], json!({"N": "1.5"}));
        assert_eq!(back["M"]["a"]["L"][1], json!({"B": "AAE="}));
        assert_eq!(back["M"]["s"], json!({"SS": ["x", "y"]}));
    }

    #[test]
    fn written_json_is_what_serde_json_writes() {
        let item = item_from_json(&json!({
            "s": {"S": "tab\t \"quoted\" \u{1} é"},
            "n": {"N": "-12.50"},
            "b": {"B": "AAEC"},
            "t": {"BOOL": true},
            "f": {"BOOL": false},
            "z": {"NULL": true},
            "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}]},
            "m": {"M": {"k\n": {"NULL": true}, "e": {"M": {}}}},
            "ss": {"SS": ["a", "b\\"]},
            "ns": {"NS": ["1", "2E3"]},
            "bs": {"BS": ["AA==", "AQ=="]}
        }))
        .unwrap();
        let mut written = Vec::new();
        write_map_json(&item, &mut written);
        let expected = serde_json::to_vec(&Value::Object(map_to_json(&item))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&expected)
        );

        // Rendered once, copied after: the same bytes, whole or projected.
        let rendered = Rendered::of(&item);
        assert_eq!(rendered.all(), &expected[..]);
        let mut some = Vec::new();
        rendered.write(&mut some, |k| k == b"n" || k == b"s");
        let shown: Value = serde_json::from_slice(&some).unwrap();
        assert_eq!(
            shown,
            json!({"n": {"N": "-12.5"}, "s": {"S": "tab\t \"quoted\" \u{1} é"}})
        );
        let mut none = Vec::new();
        rendered.write(&mut none, |_| false);
        assert_eq!(none, b"{}");
    }

    #[test]
    fn a_rendered_item_with_names_that_need_escapes_projects_by_the_names() {
        let item = item_from_json(&json!({
            "plain": {"S": "a"},
            "quo\"te": {"S": "b"},
            "new\nline": {"N": "1"}
        }))
        .unwrap();
        let rendered = Rendered::of(&item);
        let expected = serde_json::to_vec(&Value::Object(map_to_json(&item))).unwrap();
        assert_eq!(rendered.all(), &expected[..]);
        let wanted = [json_name("quo\"te"), json_name("new\nline")];
        let mut out = Vec::new();
        rendered.write(&mut out, |k| wanted.iter().any(|w| w == k));
        let shown: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            shown,
            json!({"quo\"te": {"S": "b"}, "new\nline": {"N": "1"}})
        );
    }

    #[test]
    fn json_validation() {
        assert!(AttrValue::from_json(&json!({})).is_err());
        assert!(AttrValue::from_json(&json!({"S": "a", "N": "1"})).is_err());
        assert!(AttrValue::from_json(&json!({"SS": []})).is_err());
        assert!(AttrValue::from_json(&json!({"NS": ["1", "1.0"]})).is_err());
        assert!(AttrValue::from_json(&json!({"NULL": false})).is_err());
        assert!(AttrValue::from_json(&json!({"N": "x"})).is_err());
    }

    #[test]
    fn sizes_follow_the_documented_rules() {
        let item = item_from_json(&json!({
            "name": {"S": "abc"},          // 4 + 3
            "n": {"N": "12345"},           // 1 + 3 + 1
            "b": {"B": "AAEC"},            // 1 + 3
            "t": {"BOOL": true},           // 1 + 1
            "l": {"L": [{"S": "x"}]},      // 1 + 3 + 1 + 1
            "m": {"M": {"k": {"NULL": true}}} // 1 + 3 + 1 + 1 + 1
        }))
        .unwrap();
        assert_eq!(item_size(&item), 7 + 5 + 4 + 2 + 6 + 7);
    }
}
