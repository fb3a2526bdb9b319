//! Fields of JSON values: an RFC 6901 [`JsonPointer`] names one field of a
//! secret whose value is a JSON document, and [`fields`] fans an object's members
//! out into variable-like names.
//!
//! Both read the value in place. No `serde_json::Value` is built: the document
//! is walked with serde's streaming deserializer, every member that is not on the
//! pointer's path is skipped without being copied, and the one field asked for is
//! copied straight from the value's bytes into a [`SecretValue`] (wiped on drop).
//! What is not wiped: object keys on the pointer's path that contain escapes
//! (`\"`, `\u00e9`) pass through serde_json's scratch buffer, and the keys of a
//! fanned-out object become variable names; keys are names, not values.
//! Member values are never decoded outside a wiped buffer.
//!
//! A string leaf is its text, unquoted and unescaped; a number, `true`, `false`,
//! an object or an array is its JSON text as stored with the insignificant
//! whitespace removed (numbers keep their digits as written: no float
//! rounding). `null` is refused, as are a missing member, an index out of range,
//! a value that is not JSON and a binary (non-UTF-8) value. Errors name the
//! pointer and the JSON type found, never a value.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::{ExposeSecret, SecretValue};

/// An RFC 6901 JSON Pointer: `""` (the whole document) or `/`-separated
/// reference tokens, in which `~1` stands for `/` and `~0` for `~`.
///
/// Written in a reference after `#`, in the URI-fragment form of RFC 6901 §6
/// (percent-encoded UTF-8): [`JsonPointer::from_fragment`] and
/// [`JsonPointer::to_fragment`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JsonPointer(String);

impl JsonPointer {
    /// The pointer `text`, in JSON-string form (`/db/password`, `/a~1b`).
    pub fn new(text: impl Into<String>) -> crate::Result<Self> {
        let text = text.into();
        if !text.is_empty() && !text.starts_with('/') {
            return Err(bad_pointer(
                &text,
                "a JSON pointer is empty or starts with `/`",
            ));
        }
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(bad_pointer(
                    &text,
                    "`~` must be followed by 0 or 1 (`~0` is `~`, `~1` is `/`)",
                ));
            }
        }
        Ok(Self(text))
    }

    /// The pointer written in a URI fragment (RFC 6901 §6): `%XX` escapes are
    /// decoded (UTF-8) before the pointer is read.
    pub fn from_fragment(fragment: &str) -> crate::Result<Self> {
        let text = crate::text::percent_decode(fragment).map_err(|reason| {
            bad_pointer(
                fragment,
                &format!("its percent-encoding is invalid: {reason}"),
            )
        })?;
        Self::new(text)
    }

    /// The pointer in URI-fragment form: characters a fragment may not hold raw
    /// (and `%`, `#`) percent-encoded.
    pub fn to_fragment(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for &b in self.0.as_bytes() {
            let keep = b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                        | b'/'
                        | b'?'
                );
            if keep {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// The pointer as written (JSON-string form).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it names the whole document.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The reference tokens, unescaped (`/a~1b/c` is `["a/b", "c"]`).
    pub fn tokens(&self) -> Vec<String> {
        if self.0.is_empty() {
            return Vec::new();
        }
        self.0[1..]
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect()
    }
}

impl fmt::Display for JsonPointer {
    /// The pointer in JSON-string form, escaped for a terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::escape_untrusted(&self.0))
    }
}

impl fmt::Debug for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonPointer({:?})", self.0)
    }
}

impl std::str::FromStr for JsonPointer {
    type Err = crate::Error;
    /// The JSON-string form (as [`JsonPointer::new`]).
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::new(s)
    }
}

fn bad_pointer(text: &str, reason: &str) -> crate::Error {
    crate::Error::InvalidValue {
        reason: format!(
            "{:?} is not a JSON pointer: {reason}",
            crate::escape_untrusted(text)
        ),
    }
}

/// Why a field could not be taken from a value: what [`crate::Error::Field`]
/// says, naming the pointer and JSON types, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldError {
    /// The value is not UTF-8 text (binary), so not JSON.
    Binary,
    /// The value is not one JSON document: what serde_json found, and where.
    NotJson {
        /// `syntax error`, `cut short`, ...
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// No member with this name in the object at `at`.
    NoMember {
        /// Where the object is (a pointer).
        at: String,
        /// The member asked for.
        member: String,
    },
    /// The array at `at` has no element `index` (or the token is not an index).
    NoElement {
        /// Where the array is.
        at: String,
        /// The token asked for.
        index: String,
    },
    /// The pointer goes on into a value that has no members (a string, number,
    /// boolean or null).
    NotAContainer {
        /// Where that value is.
        at: String,
        /// Its JSON type.
        found: &'static str,
    },
    /// The member named appears more than once in its object: which one is meant
    /// is ambiguous, so neither is used.
    Duplicate {
        /// Where the object is.
        at: String,
        /// The repeated member.
        member: String,
    },
    /// The field is `null`.
    Null,
    /// The fan-out asked for something that is not an object.
    NotAnObject {
        /// Its JSON type.
        found: &'static str,
    },
    /// Two members map to one variable name.
    Collision {
        /// The variable.
        variable: String,
        /// The members (as pointers).
        members: [String; 2],
    },
    /// A member maps to no usable variable name (it would be empty or start
    /// with a digit).
    BadVariable {
        /// The member (a pointer).
        member: String,
        /// The name it maps to.
        variable: String,
    },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = |s: &str| crate::escape_untrusted(s).into_owned();
        // Where in the document: the document itself, or a pointer to a part.
        let place = |what: &str, at: &str| {
            if at.is_empty() {
                format!("the {what}")
            } else {
                format!("the {what} at {:?}", e(at))
            }
        };
        match self {
            FieldError::Binary => f.write_str("the value is binary (not UTF-8 text), not JSON"),
            FieldError::NotJson { what, line, column } => write!(
                f,
                "the value is not JSON ({what} at line {line}, column {column})"
            ),
            FieldError::NoMember { at, member } => {
                write!(f, "{} has no member {:?}", place("object", at), e(member))
            }
            FieldError::NoElement { at, index } => {
                write!(f, "{} has no element {:?}", place("array", at), e(index))
            }
            FieldError::NotAContainer { at, found } => {
                write!(f, "{} is {found}, which has no members", place("value", at))
            }
            FieldError::Duplicate { at, member } => write!(
                f,
                "{} has member {:?} more than once",
                place("object", at),
                e(member)
            ),
            FieldError::Null => f.write_str("the field is null"),
            FieldError::NotAnObject { found } => {
                write!(f, "the value is {found}, not an object")
            }
            FieldError::Collision { variable, members } => write!(
                f,
                "members {:?} and {:?} both become variable {variable}",
                e(&members[0]),
                e(&members[1])
            ),
            FieldError::BadVariable { member, variable } => write!(
                f,
                "member {:?} becomes {:?}, which is not a variable name",
                e(member),
                e(variable)
            ),
        }
    }
}

/// The field of `value` that `pointer` names, as a new secret value: a string's
/// text (unquoted), or the compact JSON text of any other non-null value.
pub fn select(value: &SecretValue, pointer: &JsonPointer) -> Result<SecretValue, FieldError> {
    let text = std::str::from_utf8(value.expose_secret()).map_err(|_| FieldError::Binary)?;
    leaf_value(walk_to(text, pointer)?.get())
}

/// The raw text of the value `pointer` names in the document `text`, borrowed
/// from it (the whole document checked to be JSON).
fn walk_to<'a>(text: &'a str, pointer: &JsonPointer) -> Result<&'a RawValue, FieldError> {
    let tokens = pointer.tokens();
    let failure = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Walk {
        tokens: &tokens,
        depth: 0,
        failure: &failure,
    };
    seed.deserialize(&mut de)
        .and_then(|leaf| {
            de.end()?;
            Ok(leaf)
        })
        .map_err(|e| failure.take().unwrap_or_else(|| not_json(&e)))
}

/// Every member of the JSON object `value` (or of the object at `pointer` in it)
/// as a variable name and a value, sorted by name: nested objects are walked,
/// their keys joined with `_`; arrays and scalars are leaves (as [`select`] gives
/// them). A name is `prefix` followed by the member's keys upper-cased, with
/// every character other than `A-Z`, `0-9` and `_` replaced by `_`. A member
/// that maps to a name another member maps to, a `null` member, or a name that
/// is empty or starts with a digit fails the whole fan-out.
pub fn fields(
    value: &SecretValue,
    pointer: Option<&JsonPointer>,
    prefix: &str,
) -> Result<Vec<(String, SecretValue)>, FieldError> {
    let text = std::str::from_utf8(value.expose_secret()).map_err(|_| FieldError::Binary)?;
    // The object's text, borrowed from the value (never copied).
    let root = JsonPointer(String::new());
    let object = walk_to(text, pointer.unwrap_or(&root))?.get();
    let start = pointer.map_or("", |p| p.as_str()).to_owned();
    let mut out: BTreeMap<String, (String, SecretValue)> = BTreeMap::new();
    let first = object.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        return Err(FieldError::NotAnObject {
            found: type_of(first),
        });
    }
    walk_object(object, &start, prefix, true, &mut out)?;
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// Add every leaf of the object `text` (found at pointer `at`) to `out`, named
/// `name` followed by its keys: directly at the top (`name` is the prefix),
/// after a `_` below it (`name` is the parent object's variable).
fn walk_object(
    text: &str,
    at: &str,
    name: &str,
    top: bool,
    out: &mut BTreeMap<String, (String, SecretValue)>,
) -> Result<(), FieldError> {
    let members: Members<'_> = serde_json::from_str(text).map_err(|e| not_json(&e))?;
    for (key, raw) in members.0 {
        let member = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
        let mut variable = name.to_owned();
        if !top {
            variable.push('_');
        }
        variable.extend(key.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
        let raw = raw.get();
        if raw.as_bytes().first() == Some(&b'{') {
            walk_object(raw, &member, &variable, false, out)?;
            continue;
        }
        if variable.is_empty() || variable.as_bytes()[0].is_ascii_digit() {
            return Err(FieldError::BadVariable { member, variable });
        }
        let value = leaf_value(raw).map_err(|e| match e {
            FieldError::Null => FieldError::NotAContainer {
                at: member.clone(),
                found: "null",
            },
            other => other,
        })?;
        if let Some((other, _)) = out.get(&variable) {
            return Err(FieldError::Collision {
                variable,
                members: [other.clone(), member],
            });
        }
        out.insert(variable, (member, value));
    }
    Ok(())
}

/// An object's members in document order, each value borrowed as raw text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A leaf's value: a string's text, or compact JSON; `null` is refused.
fn leaf_value(raw: &str) -> Result<SecretValue, FieldError> {
    match raw.as_bytes().first() {
        Some(b'"') => Ok(SecretValue::new(unescape(raw))),
        Some(b'n') => Err(FieldError::Null),
        _ => Ok(SecretValue::new(compact(raw))),
    }
}

/// The text of a JSON string literal (already validated by serde_json), decoded
/// into a buffer of the literal's size (decoding never grows it), so nothing is
/// reallocated and left behind unwiped.
fn unescape(literal: &str) -> Vec<u8> {
    let inner = &literal.as_bytes()[1..literal.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let esc = inner.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match esc {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        // `\uXXXX`, possibly a surrogate pair.
        let hex = |at: usize| {
            inner
                .get(at..at + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
        };
        let mut code = hex(i).unwrap_or(0xfffd);
        i += 4;
        if (0xd800..0xdc00).contains(&code) && inner.get(i) == Some(&b'\\') {
            if let Some(low) = hex(i + 2).filter(|l| (0xdc00..0xe000).contains(l)) {
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                i += 6;
            }
        }
        let c = char::from_u32(code).unwrap_or('\u{fffd}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    out
}

/// JSON text without the whitespace outside strings.
fn compact(raw: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in raw.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    out
}

fn type_of(first: Option<u8>) -> &'static str {
    match first {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn not_json(e: &serde_json::Error) -> FieldError {
    use serde_json::error::Category;
    FieldError::NotJson {
        what: match e.classify() {
            Category::Io => "unreadable",
            Category::Syntax => "syntax error",
            Category::Data => "unexpected content",
            Category::Eof => "cut short",
        },
        line: e.line(),
        column: e.column(),
    }
}

/// Walks to the value `tokens` name and returns its raw text, skipping every
/// other member without copying it. A failure of the walk itself (not of the
/// JSON) is left in `failure`, so that no serde message (which may quote the
/// input) is ever shown.
struct Walk<'t, 'f> {
    tokens: &'t [String],
    depth: usize,
    failure: &'f Cell<Option<FieldError>>,
}

impl Walk<'_, '_> {
    fn at(&self) -> String {
        self.tokens[..self.depth]
            .iter()
            .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
            .collect()
    }

    fn fail<E: de::Error>(&self, failure: FieldError) -> E {
        self.failure.set(Some(failure));
        E::custom("json pointer")
    }

    fn not_container<E: de::Error>(&self, found: &'static str) -> E {
        self.fail(FieldError::NotAContainer {
            at: self.at(),
            found,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = &'de RawValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.depth == self.tokens.len() {
            return <&'de RawValue as serde::Deserialize>::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = &'de RawValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let want = &self.tokens[self.depth];
        let mut found = None;
        while let Some(matched) = map.next_key_seed(KeyIs(want))? {
            if !matched {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if found.is_some() {
                return Err(self.fail(FieldError::Duplicate {
                    at: self.at(),
                    member: want.clone(),
                }));
            }
            found = Some(map.next_value_seed(Walk {
                tokens: self.tokens,
                depth: self.depth + 1,
                failure: self.failure,
            })?);
        }
        found.ok_or_else(|| {
            self.fail(FieldError::NoMember {
                at: self.at(),
                member: want.clone(),
            })
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let want = &self.tokens[self.depth];
        // RFC 6901: an index is `0` or digits without a leading zero; `-` (past
        // the end) names no element.
        let index = (want == "0" || (!want.starts_with('0') && !want.is_empty()))
            .then(|| want.parse::<usize>().ok())
            .flatten();
        let mut i = 0;
        let mut found = None;
        loop {
            if Some(i) == index {
                match seq.next_element_seed(Walk {
                    tokens: self.tokens,
                    depth: self.depth + 1,
                    failure: self.failure,
                })? {
                    Some(v) => found = Some(v),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        found.ok_or_else(|| {
            self.fail(FieldError::NoElement {
                at: self.at(),
                index: want.clone(),
            })
        })
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.not_container("a string"))
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
        Err(self.not_container("a string"))
    }
    fn visit_string<E: de::Error>(self, _: String) -> Result<Self::Value, E> {
        Err(self.not_container("a string"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.not_container("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.not_container("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.not_container("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.not_container("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.not_container("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.not_container("null"))
    }
}

/// Whether a key equals the wanted token, compared where it is (no copy for
/// keys without escapes).
struct KeyIs<'w>(&'w str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(s: &str) -> JsonPointer {
        JsonPointer::new(s).unwrap()
    }

    fn get(doc: &str, p: &str) -> Result<String, FieldError> {
        select(&SecretValue::from(doc), &ptr(p))
            .map(|v| String::from_utf8(v.expose_secret().to_vec()).unwrap())
    }

    const DOC: &str = r#"{
        "host": "db.internal", "port": 5432, "tls": true, "ratio": 1.50e2,
        "password": "p\u00e4ss \"w\" \\ \ud83d\ude00 /",
        "nested": { "a/b": { "m~n": "deep" }, "list": [ "x", { "y": [1, 2] } ] },
        "empty": "", "none": null, "obj": { "k" : [ 1 , "a b" ] }
    }"#;

    #[test]
    fn rfc6901_pointers_select_leaves() {
        assert_eq!(get(DOC, "/host").unwrap(), "db.internal");
        assert_eq!(get(DOC, "/port").unwrap(), "5432");
        assert_eq!(get(DOC, "/tls").unwrap(), "true");
        assert_eq!(get(DOC, "/ratio").unwrap(), "1.50e2", "numbers as written");
        assert_eq!(get(DOC, "/password").unwrap(), "päss \"w\" \\ 😀 /");
        assert_eq!(get(DOC, "/nested/a~1b/m~0n").unwrap(), "deep");
        assert_eq!(get(DOC, "/nested/list/0").unwrap(), "x");
        assert_eq!(get(DOC, "/nested/list/1/y/1").unwrap(), "2");
        assert_eq!(get(DOC, "/empty").unwrap(), "");
        assert_eq!(get(DOC, "/obj").unwrap(), r#"{"k":[1,"a b"]}"#);
        assert_eq!(get(DOC, "/nested/list/1").unwrap(), r#"{"y":[1,2]}"#);
        assert_eq!(get("[1, 2]", "").unwrap(), "[1,2]");
        assert_eq!(get(r#"{"":"e"}"#, "/").unwrap(), "e");
    }

    #[test]
    fn every_failure_names_the_pointer_never_the_value() {
        let cases: &[(&str, &str, &str)] = &[
            (DOC, "/user", "no member \"user\""),
            (DOC, "/nested/nope", "at \"/nested\" has no member \"nope\""),
            (DOC, "/nested/list/2", "no element \"2\""),
            (DOC, "/nested/list/01", "no element \"01\""),
            (DOC, "/nested/list/-", "no element \"-\""),
            (DOC, "/host/x", "at \"/host\" is a string"),
            (DOC, "/port/x", "is a number"),
            (DOC, "/none", "null"),
            (DOC, "/none/x", "is null"),
            (r#"{"a":1,"a":2}"#, "/a", "more than once"),
            ("hunter2", "/a", "not JSON"),
            (r#"{"a": "hunter2"} trailing"#, "/a", "not JSON"),
            (r#"{"a": "hunter2""#, "/a", "not JSON"),
        ];
        for (doc, p, want) in cases {
            let err = get(doc, p).unwrap_err().to_string();
            assert!(err.contains(want), "{p}: {err}");
            for secret in ["hunter2", "db.internal", "5432", "p\\u00e4ss"] {
                assert!(!err.contains(secret), "{p}: {err}");
            }
        }
        let binary = SecretValue::new(vec![0xff, b'{']);
        assert_eq!(select(&binary, &ptr("/a")).unwrap_err(), FieldError::Binary);
    }

    #[test]
    fn pointers_parse_and_print_as_fragments() {
        for bad in ["a", "/~", "/~2", "/a~"] {
            assert!(JsonPointer::new(bad).is_err(), "{bad}");
        }
        let p = JsonPointer::from_fragment("/a%20b/c~1d/%C3%A9").unwrap();
        assert_eq!(p.tokens(), ["a b", "c/d", "é"]);
        assert_eq!(p.to_fragment(), "/a%20b/c~1d/%C3%A9");
        assert_eq!(
            JsonPointer::from_fragment(&p.to_fragment()).unwrap(),
            p,
            "round trip"
        );
        assert_eq!(ptr("/#%").to_fragment(), "/%23%25");
        assert!(JsonPointer::from_fragment("/%zz").is_err());
        assert!(JsonPointer::from_fragment("/%ff").is_err(), "not UTF-8");
    }

    #[test]
    fn fan_out_maps_members_to_variables() {
        let doc = SecretValue::from(
            r#"{"host":"h","port":5432,"db-name":"app","tls":{"mode":"verify","ca":"x"},"tags":["a","b"]}"#,
        );
        let got: Vec<(String, String)> = fields(&doc, None, "DB_")
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.expose_str().unwrap().to_owned()))
            .collect();
        let want = [
            ("DB_DB_NAME", "app"),
            ("DB_HOST", "h"),
            ("DB_PORT", "5432"),
            ("DB_TAGS", r#"["a","b"]"#),
            ("DB_TLS_CA", "x"),
            ("DB_TLS_MODE", "verify"),
        ];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        let inner = fields(&doc, Some(&ptr("/tls")), "").unwrap();
        assert_eq!(
            inner.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["CA", "MODE"]
        );
    }

    #[test]
    fn fan_out_refuses_collisions_nulls_and_bad_names() {
        let f = |doc: &str, prefix: &str| {
            fields(&SecretValue::from(doc), None, prefix)
                .unwrap_err()
                .to_string()
        };
        let err = f(r#"{"db-host":"secret1","DB_HOST":"secret2"}"#, "");
        assert!(err.contains("both become variable DB_HOST"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(f(r#"{"a":{"b":1},"a_b":2}"#, "").contains("A_B"));
        assert!(f(r#"{"a":null}"#, "").contains("null"));
        assert!(f(r#"{"1a":"x"}"#, "").contains("not a variable name"));
        assert!(f(r#"{"":"x"}"#, "").contains("not a variable name"));
        assert!(f(r#"["x"]"#, "P_").contains("an array, not an object"));
        assert!(f("hunter2", "P_").contains("not JSON"));
        assert!(fields(&SecretValue::from(r#"{"1a":"x"}"#), None, "P_").is_ok());
    }
}
