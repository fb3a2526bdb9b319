//! The DynamoDB expression language: lexer, parser and evaluator for condition,
//! filter, key-condition and projection expressions.
//!
//! Placeholders (`#name`, `:value`) are resolved while parsing, against the request's
//! `ExpressionAttributeNames`/`Values`; [`Placeholders`] records which were used so the
//! request can reject unused ones as AWS does. Error messages never quote a value.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::reserved::is_reserved;
use super::value::{AttrValue, Item, Number};
use crate::error::AwsError;

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathElem {
    Attr(String),
    Index(usize),
}

/// A document path such as `a.b[2].c`.
pub(crate) type Path = Vec<PathElem>;

/// A value-producing operand.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Path(Path),
    Value(AttrValue),
    Size(Path),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed condition.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Cmp(Operand, CmpOp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

/// A request's `ExpressionAttributeNames`/`Values`, and which of them were used.
#[derive(Debug, Default)]
pub(crate) struct Placeholders {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, AttrValue>,
    names_given: bool,
    values_given: bool,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Placeholders {
    /// Read the placeholders of a request body.
    pub(crate) fn from_request(body: &Value) -> Result<Self, AwsError> {
        let mut p = Placeholders::default();
        if let Some(names) = body
            .get("ExpressionAttributeNames")
            .filter(|v| !v.is_null())
        {
            let obj = names
                .as_object()
                .ok_or_else(|| AwsError::serialization("ExpressionAttributeNames must be a map"))?;
            if obj.is_empty() {
                return Err(AwsError::validation(
                    "ExpressionAttributeNames must not be empty",
                ));
            }
            for (k, v) in obj {
                check_placeholder_key(k, '#', "ExpressionAttributeNames")?;
                let v = v.as_str().ok_or_else(|| {
                    AwsError::serialization("ExpressionAttributeNames values must be strings")
                })?;
                p.names.insert(k.clone(), v.to_owned());
            }
            p.names_given = true;
        }
        if let Some(values) = body
            .get("ExpressionAttributeValues")
            .filter(|v| !v.is_null())
        {
            let obj = values.as_object().ok_or_else(|| {
                AwsError::serialization("ExpressionAttributeValues must be a map")
            })?;
            if obj.is_empty() {
                return Err(AwsError::validation(
                    "ExpressionAttributeValues must not be empty",
                ));
            }
            for (k, v) in obj {
                check_placeholder_key(k, ':', "ExpressionAttributeValues")?;
                let value = AttrValue::from_json(v).map_err(|e| {
                    AwsError::validation(format!(
                        "ExpressionAttributeValues contains invalid value: {} for key {k}",
                        e.message
                    ))
                })?;
                p.values.insert(k.clone(), value);
            }
            p.values_given = true;
        }
        Ok(p)
    }

    /// Whether the request supplied any placeholders at all.
    pub(crate) fn any_given(&self) -> bool {
        self.names_given || self.values_given
    }

    /// After parsing every expression of a request: reject unused placeholders.
    pub(crate) fn check_all_used(&self) -> Result<(), AwsError> {
        let unused = |all: Vec<&String>, used: &BTreeSet<String>| -> Vec<String> {
            all.into_iter()
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect()
        };
        let names = unused(self.names.keys().collect(), &self.used_names);
        if !names.is_empty() {
            return Err(AwsError::validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            )));
        }
        let values = unused(self.values.keys().collect(), &self.used_values);
        if !values.is_empty() {
            return Err(AwsError::validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.join(", ")
            )));
        }
        Ok(())
    }
}

/// Placeholder keys are `#word` or `:word`.
fn check_placeholder_key(key: &str, sigil: char, member: &str) -> Result<(), AwsError> {
    let ok = key.strip_prefix(sigil).is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(AwsError::validation(format!(
            "{member} contains invalid key: Syntax error; key: \"{key}\""
        )))
    }
}

/// A lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Name(String),
    Val(String),
    Num(String),
    Punct(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, (usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if c == b'#' || c == b':' {
            i += 1;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            if i == start + 1 {
                return Err((start, i));
            }
            let s = text[start..i].to_owned();
            if c == b'#' {
                Tok::Name(s)
            } else {
                Tok::Val(s)
            }
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            Tok::Num(text[start..i].to_owned())
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            Tok::Ident(text[start..i].to_owned())
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            let p = match two {
                "<>" => "<>",
                "<=" => "<=",
                ">=" => ">=",
                _ => "",
            };
            if !p.is_empty() {
                i += 2;
                Tok::Punct(p)
            } else {
                let p = match c {
                    b'(' => "(",
                    b')' => ")",
                    b',' => ",",
                    b'.' => ".",
                    b'[' => "[",
                    b']' => "]",
                    b'=' => "=",
                    b'<' => "<",
                    b'>' => ">",
                    b'+' => "+",
                    b'-' => "-",
                    _ => {
                        let len = text[i..].chars().next().map_or(1, char::len_utf8);
                        return Err((i, i + len));
                    }
                };
                i += 1;
                Tok::Punct(p)
            }
        };
        out.push(Token { tok, start, end: i });
    }
    Ok(out)
}

/// Which parameter an expression came from; it prefixes error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Condition => "ConditionExpression",
            Kind::Filter => "FilterExpression",
            Kind::KeyCondition => "KeyConditionExpression",
            Kind::Projection => "ProjectionExpression",
            Kind::Update => "UpdateExpression",
        }
    }
}

/// The recursive-descent parser; [`super::update`] reuses it for update expressions.
pub(super) struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    pub(super) pos: usize,
    kind: Kind,
    ph: &'a mut Placeholders,
}

impl Parser<'_> {
    pub(super) fn err(&self, msg: impl std::fmt::Display) -> AwsError {
        AwsError::validation(format!("Invalid {}: {msg}", self.kind.label()))
    }

    /// `Syntax error; token: "x", near: "a x b"` at the current token (or end of input).
    pub(super) fn syntax(&self) -> AwsError {
        match self.toks.get(self.pos) {
            None => {
                let from = self
                    .toks
                    .len()
                    .checked_sub(2)
                    .and_then(|i| self.toks.get(i))
                    .map_or(self.text.len(), |t| t.start);
                self.err(format!(
                    "Syntax error; token: \"<EOF>\", near: \"{}\"",
                    self.text[from..].trim_end()
                ))
            }
            Some(t) => {
                let from = self
                    .pos
                    .checked_sub(1)
                    .map_or(t.start, |p| self.toks[p].start);
                let to = self.toks.get(self.pos + 1).map_or(t.end, |n| n.end);
                self.err(format!(
                    "Syntax error; token: \"{}\", near: \"{}\"",
                    &self.text[t.start..t.end],
                    &self.text[from..to]
                ))
            }
        }
    }

    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    pub(super) fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k).map(|t| &t.tok)
    }

    pub(super) fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    pub(super) fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    pub(super) fn expect_punct(&mut self, p: &str) -> Result<(), AwsError> {
        if self.is_punct(p) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    pub(super) fn expect_end(&self) -> Result<(), AwsError> {
        if self.pos < self.toks.len() {
            Err(self.syntax())
        } else {
            Ok(())
        }
    }

    fn condition(&mut self) -> Result<Cond, AwsError> {
        let mut left = self.and()?;
        while self.is_keyword("OR") {
            self.pos += 1;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, AwsError> {
        let mut left = self.not()?;
        while self.is_keyword("AND") {
            self.pos += 1;
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, AwsError> {
        if self.is_keyword("NOT") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, AwsError> {
        if self.is_punct("(") {
            self.pos += 1;
            let c = self.condition()?;
            self.expect_punct(")")?;
            return Ok(c);
        }
        if let (Some(Tok::Ident(f)), Some(Tok::Punct("("))) = (self.peek(), self.peek_at(1)) {
            let f = f.clone();
            match f.as_str() {
                "attribute_exists" | "attribute_not_exists" => {
                    self.pos += 2;
                    let p = self.path()?;
                    self.expect_punct(")")?;
                    return Ok(if f == "attribute_exists" {
                        Cond::Exists(p)
                    } else {
                        Cond::NotExists(p)
                    });
                }
                "attribute_type" => {
                    self.pos += 2;
                    let p = self.path()?;
                    self.expect_punct(",")?;
                    let t = self.operand()?;
                    self.expect_punct(")")?;
                    if let Operand::Value(v) = &t {
                        const TYPES: [&str; 10] =
                            ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];
                        match v {
                            AttrValue::S(s) if TYPES.contains(&s.as_str()) => {}
                            AttrValue::S(_) => {
                                return Err(self.err(
                                    "Invalid attribute type name found; valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }",
                                ))
                            }
                            other => {
                                return Err(self.err(format!(
                                    "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
                                    other.type_name()
                                )))
                            }
                        }
                    }
                    return Ok(Cond::Type(p, t));
                }
                "begins_with" | "contains" => {
                    self.pos += 2;
                    let a = self.operand()?;
                    self.expect_punct(",")?;
                    let b = self.operand()?;
                    self.expect_punct(")")?;
                    if f == "begins_with" {
                        for op in [&a, &b] {
                            if let Operand::Value(v) = op {
                                if !matches!(v, AttrValue::S(_) | AttrValue::B(_)) {
                                    return Err(self.err(format!(
                                        "Incorrect operand type for operator or function; operator or function: begins_with, operand type: {}",
                                        v.type_name()
                                    )));
                                }
                            }
                        }
                        return Ok(Cond::BeginsWith(a, b));
                    }
                    return Ok(Cond::Contains(a, b));
                }
                "size" => {}
                _ => return Err(self.err(format!("Invalid function name; function: {f}"))),
            }
        }
        let left = self.operand()?;
        if self.is_keyword("BETWEEN") {
            self.pos += 1;
            let lo = self.operand()?;
            if !self.is_keyword("AND") {
                return Err(self.syntax());
            }
            self.pos += 1;
            let hi = self.operand()?;
            if let (Operand::Value(l), Operand::Value(h)) = (&lo, &hi) {
                if l.compare(h) == Some(Ordering::Greater) {
                    return Err(self.err(
                        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
                    ));
                }
            }
            self.check_ordered("BETWEEN", &[&left, &lo, &hi])?;
            return Ok(Cond::Between(left, lo, hi));
        }
        if self.is_keyword("IN") {
            self.pos += 1;
            self.expect_punct("(")?;
            let mut list = vec![self.operand()?];
            while self.is_punct(",") {
                self.pos += 1;
                list.push(self.operand()?);
            }
            self.expect_punct(")")?;
            if list.len() > 100 {
                return Err(self.err(format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    list.len()
                )));
            }
            return Ok(Cond::In(left, list));
        }
        let op = match self.peek() {
            Some(Tok::Punct("=")) => CmpOp::Eq,
            Some(Tok::Punct("<>")) => CmpOp::Ne,
            Some(Tok::Punct("<")) => CmpOp::Lt,
            Some(Tok::Punct("<=")) => CmpOp::Le,
            Some(Tok::Punct(">")) => CmpOp::Gt,
            Some(Tok::Punct(">=")) => CmpOp::Ge,
            _ => return Err(self.syntax()),
        };
        self.pos += 1;
        let right = self.operand()?;
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            let symbol = match op {
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                _ => ">=",
            };
            self.check_ordered(symbol, &[&left, &right])?;
        }
        Ok(Cond::Cmp(left, op, right))
    }

    /// Ordering operators take only scalar S, N or B literals.
    fn check_ordered(&self, operator: &str, operands: &[&Operand]) -> Result<(), AwsError> {
        for op in operands {
            if let Operand::Value(v) = op {
                if !matches!(v, AttrValue::S(_) | AttrValue::N(_) | AttrValue::B(_)) {
                    return Err(self.err(format!(
                        "Incorrect operand type for operator or function; operator: {operator}, operand type: {}",
                        v.type_name()
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) fn operand(&mut self) -> Result<Operand, AwsError> {
        match self.peek().cloned() {
            Some(Tok::Val(v)) => {
                self.pos += 1;
                let value = self.ph.values.get(&v).cloned().ok_or_else(|| {
                    self.err(format!(
                        "An expression attribute value used in expression is not defined; attribute value: {v}"
                    ))
                })?;
                self.ph.used_values.insert(v);
                Ok(Operand::Value(value))
            }
            Some(Tok::Ident(f)) if matches!(self.peek_at(1), Some(Tok::Punct("("))) => {
                if f != "size" {
                    return Err(
                        if matches!(
                            f.as_str(),
                            "attribute_exists"
                                | "attribute_not_exists"
                                | "attribute_type"
                                | "begins_with"
                                | "contains"
                        ) {
                            self.err(format!(
                            "The function is not allowed to be used this way in an expression; function: {f}"
                        ))
                        } else {
                            self.err(format!("Invalid function name; function: {f}"))
                        },
                    );
                }
                self.pos += 2;
                let p = self.path()?;
                self.expect_punct(")")?;
                Ok(Operand::Size(p))
            }
            _ => Ok(Operand::Path(self.path()?)),
        }
    }

    fn path_name(&mut self) -> Result<String, AwsError> {
        match self.peek().cloned() {
            Some(Tok::Ident(s)) => {
                if is_reserved(&s) {
                    return Err(self.err(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {s}"
                    )));
                }
                self.pos += 1;
                Ok(s)
            }
            Some(Tok::Name(n)) => {
                self.pos += 1;
                let real = self.ph.names.get(&n).cloned().ok_or_else(|| {
                    self.err(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {n}"
                    ))
                })?;
                self.ph.used_names.insert(n);
                Ok(real)
            }
            _ => Err(self.syntax()),
        }
    }

    pub(super) fn path(&mut self) -> Result<Path, AwsError> {
        let mut path = vec![PathElem::Attr(self.path_name()?)];
        loop {
            if self.is_punct(".") {
                self.pos += 1;
                path.push(PathElem::Attr(self.path_name()?));
            } else if self.is_punct("[") {
                self.pos += 1;
                let n = match self.peek() {
                    Some(Tok::Num(n)) => n.parse::<usize>().map_err(|_| self.syntax())?,
                    _ => return Err(self.syntax()),
                };
                self.pos += 1;
                self.expect_punct("]")?;
                path.push(PathElem::Index(n));
            } else {
                return Ok(path);
            }
        }
    }
}

pub(super) fn parser<'a>(
    text: &'a str,
    kind: Kind,
    ph: &'a mut Placeholders,
) -> Result<Parser<'a>, AwsError> {
    let label = kind.label();
    // AWS caps every expression at 4 KB.
    if text.len() > 4096 {
        return Err(AwsError::validation(format!(
            "Invalid {label}: Expression size has exceeded the maximum allowed size; expression size: {}",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Err(AwsError::validation(format!(
            "Invalid {label}: The expression can not be empty;"
        )));
    }
    let toks = lex(text).map_err(|(s, e)| {
        // "near" is the bad token with one whole character either side: a byte
        // offset of one would split a multi-byte character.
        let from = text[..s].char_indices().next_back().map_or(s, |(i, _)| i);
        let to = text[e..].chars().next().map_or(e, |c| e + c.len_utf8());
        AwsError::validation(format!(
            "Invalid {label}: Syntax error; token: \"{}\", near: \"{}\"",
            &text[s..e],
            &text[from..to]
        ))
    })?;
    Ok(Parser {
        text,
        toks,
        pos: 0,
        kind,
        ph,
    })
}

/// Parse a condition, filter or key-condition expression.
pub(crate) fn parse_condition(
    text: &str,
    kind: Kind,
    ph: &mut Placeholders,
) -> Result<Cond, AwsError> {
    let mut p = parser(text, kind, ph)?;
    let c = p.condition()?;
    p.expect_end()?;
    Ok(c)
}

/// Parse a projection expression: comma-separated document paths.
pub(crate) fn parse_projection(text: &str, ph: &mut Placeholders) -> Result<Vec<Path>, AwsError> {
    let mut p = parser(text, Kind::Projection, ph)?;
    let mut paths = vec![p.path()?];
    while p.is_punct(",") {
        p.pos += 1;
        paths.push(p.path()?);
    }
    p.expect_end()?;
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[..i] {
            let n = a.len().min(b.len());
            if a[..n] == b[..n] {
                return Err(p.err(
                    "Two document paths overlap with each other; must remove or rewrite one of these paths",
                ));
            }
        }
    }
    Ok(paths)
}

/// The value at `path` in `item`, if any.
pub(crate) fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttrValue> {
    let mut cur: Option<&AttrValue> = None;
    for (i, elem) in path.iter().enumerate() {
        cur = match (i, elem, cur) {
            (0, PathElem::Attr(a), _) => item.get(a),
            (_, PathElem::Attr(a), Some(AttrValue::M(m))) => m.get(a),
            (_, PathElem::Index(n), Some(AttrValue::L(l))) => l.get(*n),
            _ => None,
        };
        cur?;
    }
    cur
}

fn operand_value<'a>(item: &'a Item, op: &'a Operand) -> Option<Cow<'a, AttrValue>> {
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = match resolve(item, p)? {
                AttrValue::S(s) => s.chars().count(),
                AttrValue::B(b) => b.len(),
                AttrValue::L(l) => l.len(),
                AttrValue::M(m) => m.len(),
                AttrValue::Ss(s) => s.len(),
                AttrValue::Ns(s) => s.len(),
                AttrValue::Bs(s) => s.len(),
                _ => return None,
            };
            Some(Cow::Owned(AttrValue::N(Number::from_usize(n))))
        }
    }
}

/// Evaluate a condition against an item (an empty item when there is none).
pub(crate) fn eval(cond: &Cond, item: &Item) -> bool {
    let val = |op| operand_value(item, op);
    match cond {
        Cond::And(a, b) => eval(a, item) && eval(b, item),
        Cond::Or(a, b) => eval(a, item) || eval(b, item),
        Cond::Not(a) => !eval(a, item),
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::Type(p, t) => match (resolve(item, p), val(t)) {
            (Some(v), Some(t)) => matches!(&*t, AttrValue::S(s) if s == v.type_name()),
            _ => false,
        },
        Cond::Cmp(a, op, b) => {
            let (Some(a), Some(b)) = (val(a), val(b)) else {
                // A missing operand makes every comparison false except `<>`.
                return *op == CmpOp::Ne;
            };
            match op {
                CmpOp::Eq => a.equals(&b),
                CmpOp::Ne => !a.equals(&b),
                CmpOp::Lt => a.compare(&b) == Some(Ordering::Less),
                CmpOp::Le => matches!(a.compare(&b), Some(Ordering::Less | Ordering::Equal)),
                CmpOp::Gt => a.compare(&b) == Some(Ordering::Greater),
                CmpOp::Ge => matches!(a.compare(&b), Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Cond::Between(x, lo, hi) => match (val(x), val(lo), val(hi)) {
            (Some(x), Some(lo), Some(hi)) => {
                matches!(x.compare(&lo), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(x.compare(&hi), Some(Ordering::Less | Ordering::Equal))
            }
            _ => false,
        },
        Cond::In(x, list) => match val(x) {
            Some(x) => list.iter().any(|o| val(o).is_some_and(|v| x.equals(&v))),
            None => false,
        },
        Cond::BeginsWith(a, b) => match (val(a), val(b)) {
            (Some(a), Some(b)) => match (&*a, &*b) {
                (AttrValue::S(a), AttrValue::S(b)) => a.as_bytes().starts_with(b.as_bytes()),
                (AttrValue::B(a), AttrValue::B(b)) => a.starts_with(b),
                _ => false,
            },
            _ => false,
        },
        Cond::Contains(a, b) => match (val(a), val(b)) {
            (Some(a), Some(b)) => match (&*a, &*b) {
                (AttrValue::S(a), AttrValue::S(b)) => a.contains(b.as_str()),
                (AttrValue::B(a), AttrValue::B(b)) => {
                    b.is_empty() || a.windows(b.len()).any(|w| w == b.as_slice())
                }
                (AttrValue::Ss(s), AttrValue::S(b)) => s.contains(b),
                (AttrValue::Ns(s), AttrValue::N(b)) => s.contains(b),
                (AttrValue::Bs(s), AttrValue::B(b)) => s.contains(b),
                (AttrValue::L(l), b) => l.iter().any(|x| x.equals(b)),
                _ => false,
            },
            _ => false,
        },
    }
}

/// Keep only the projected paths of an item. List elements keep their order and are
/// compacted, as DynamoDB returns them.
pub(crate) fn project(item: &Item, paths: &[Path]) -> Item {
    #[derive(Default)]
    struct Node {
        leaf: Option<AttrValue>,
        map: BTreeMap<String, Node>,
        list: BTreeMap<usize, Node>,
    }
    fn render(node: Node) -> Option<AttrValue> {
        if node.leaf.is_some() {
            return node.leaf;
        }
        if !node.map.is_empty() {
            let m: BTreeMap<String, AttrValue> = node
                .map
                .into_iter()
                .filter_map(|(k, n)| render(n).map(|v| (k, v)))
                .collect();
            return Some(AttrValue::M(m));
        }
        if !node.list.is_empty() {
            return Some(AttrValue::L(
                node.list.into_values().filter_map(render).collect(),
            ));
        }
        None
    }
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for path in paths {
        let Some(value) = resolve(item, path) else {
            continue;
        };
        let PathElem::Attr(first) = &path[0] else {
            continue;
        };
        let mut node = root.entry(first.clone()).or_default();
        for elem in &path[1..] {
            node = match elem {
                PathElem::Attr(a) => node.map.entry(a.clone()).or_default(),
                PathElem::Index(i) => node.list.entry(*i).or_default(),
            };
        }
        node.leaf = Some(value.clone());
    }
    root.into_iter()
        .filter_map(|(k, n)| render(n).map(|v| (k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::value::item_from_json;
    use serde_json::json;

    fn ph(names: Value, values: Value) -> Placeholders {
        Placeholders::from_request(&json!({
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values
        }))
        .unwrap()
    }

    fn check(expr: &str, item: Value, values: Value) -> bool {
        let mut p = ph(json!({"#n": "name"}), values);
        let c = parse_condition(expr, Kind::Condition, &mut p).unwrap();
        eval(&c, &item_from_json(&item).unwrap())
    }

    #[test]
    fn functions_and_comparisons() {
        let item = json!({"name": {"S": "app.db"}, "v": {"N": "10"}, "tags": {"SS": ["a", "b"]},
                          "m": {"M": {"x": {"L": [{"N": "1"}, {"S": "q"}]}}}});
        let vals = json!({":a": {"S": "app"}, ":n": {"N": "9.5"}, ":m": {"N": "10.0"},
                          ":t": {"S": "SS"}, ":b": {"S": "b"}, ":one": {"N": "1"}});
        assert!(check(
            "attribute_exists(#n)",
            item.clone(),
            json!({":x": {"S": "1"}})
        ));
        assert!(check("begins_with(#n, :a)", item.clone(), vals.clone()));
        assert!(check("v > :n AND v = :m", item.clone(), vals.clone()));
        assert!(check("v BETWEEN :n AND :m", item.clone(), vals.clone()));
        assert!(check("v IN (:n, :m)", item.clone(), vals.clone()));
        assert!(check(
            "attribute_type(tags, :t)",
            item.clone(),
            vals.clone()
        ));
        assert!(check("contains(tags, :b)", item.clone(), vals.clone()));
        assert!(check("m.x[0] = :one", item.clone(), vals.clone()));
        assert!(check("size(tags) > :one", item.clone(), vals.clone()));
        assert!(check(
            "NOT attribute_exists(nope) AND nope <> :a",
            item.clone(),
            vals.clone()
        ));
        assert!(!check("nope = :a OR nope < :a", item.clone(), vals.clone()));
        // Comparing different types is false, not an error.
        assert!(!check("#n < :n", item, vals));
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let item = json!({"a": {"N": "1"}});
        let vals = json!({":one": {"N": "1"}, ":two": {"N": "2"}});
        // true OR (false AND false)
        assert!(check(
            "a = :one OR a = :two AND a = :two",
            item.clone(),
            vals.clone()
        ));
        // NOT binds tighter than AND: (NOT false) AND true
        assert!(check(
            "NOT a = :two AND a = :one",
            item.clone(),
            vals.clone()
        ));
        assert!(!check("(a = :one OR a = :two) AND a = :two", item, vals));
    }

    #[test]
    fn errors_are_validation_errors_with_useful_messages() {
        let mut p = ph(json!({"#n": "name"}), json!({":v": {"S": "secret-canary"}}));
        let e = parse_condition("#n = = :v", Kind::Condition, &mut p).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(
            e.message
                .starts_with("Invalid ConditionExpression: Syntax error; token: \"=\""),
            "{}",
            e.message
        );
        let e = parse_condition("name = :v", Kind::Condition, &mut p).unwrap_err();
        assert!(e
            .message
            .contains("reserved keyword; reserved keyword: name"));
        let e = parse_condition("#x = :v", Kind::Condition, &mut p).unwrap_err();
        assert!(e.message.contains("attribute name: #x"));
        let e = parse_condition("a = :w", Kind::Filter, &mut p).unwrap_err();
        assert!(e.message.starts_with("Invalid FilterExpression"));
        assert!(e.message.contains("attribute value: :w"));
        let mut pb = ph(json!({"#n": "x"}), json!({":b": {"BOOL": true}}));
        let e = parse_condition("a < :b", Kind::Condition, &mut pb).unwrap_err();
        assert!(
            e.message.contains("operator: <, operand type: BOOL"),
            "{}",
            e.message
        );
        let long = format!("a = :v{}", " OR a = :v".repeat(500));
        let e = parse_condition(&long, Kind::Condition, &mut p).unwrap_err();
        assert!(e.message.contains("Expression size has exceeded"));
        let e = parse_condition("frob(a)", Kind::Condition, &mut p).unwrap_err();
        assert!(e.message.contains("Invalid function name; function: frob"));
        let e = parse_condition("a = :v AND", Kind::Condition, &mut p).unwrap_err();
        assert!(e.message.contains("<EOF>"));
        let e = parse_condition("", Kind::Condition, &mut p).unwrap_err();
        assert!(e.message.contains("can not be empty"));
        let e = parse_condition("a = $", Kind::Condition, &mut p).unwrap_err();
        assert!(e.message.contains("token: \"$\""));
        let e = parse_condition(
            "begins_with(a, :n)",
            Kind::Condition,
            &mut ph(json!({"#n":"x"}), json!({":n": {"N": "1"}})),
        )
        .unwrap_err();
        assert!(e.message.contains("operand type: N"));
        // No message quotes a value.
        assert!(!e.message.contains("secret-canary"));
    }

    #[test]
    fn lexer_errors_next_to_multibyte_characters() {
        // Found by fuzzing (fuzz/regressions/ddb_expression): the "near" excerpt
        // was cut at byte offsets, inside a character, and panicked.
        let mut p = Placeholders::default();
        let e = parse_condition("éé", Kind::Condition, &mut p).unwrap_err();
        assert!(
            e.message.ends_with("token: \"é\", near: \"éé\""),
            "{}",
            e.message
        );
        let e = parse_condition("a = é$é", Kind::Condition, &mut p).unwrap_err();
        assert!(
            e.message.ends_with("token: \"é\", near: \" é$\""),
            "{}",
            e.message
        );
        let e = parse_condition("a = $", Kind::Condition, &mut p).unwrap_err();
        assert!(
            e.message.ends_with("token: \"$\", near: \" $\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn unused_placeholders_are_rejected() {
        let mut p = ph(
            json!({"#n": "name", "#c": "comment"}),
            json!({":v": {"S": "x"}}),
        );
        parse_condition("attribute_not_exists(#n)", Kind::Condition, &mut p).unwrap();
        let e = p.check_all_used().unwrap_err();
        assert_eq!(
            e.message,
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#c}"
        );
    }

    #[test]
    fn projection_of_nested_paths() {
        let item = item_from_json(&json!({"a": {"M": {"b": {"N": "1"}, "c": {"N": "2"}}},
            "l": {"L": [{"S": "x"}, {"S": "y"}, {"S": "z"}]}, "d": {"S": "d"}}))
        .unwrap();
        let mut p = Placeholders::default();
        let paths = parse_projection("a.b, l[2], l[0], absent", &mut p).unwrap();
        let out = project(&item, &paths);
        let json = serde_json::Value::Object(crate::dynamodb::value::map_to_json(&out));
        assert_eq!(
            json,
            json!({"a": {"M": {"b": {"N": "1"}}}, "l": {"L": [{"S": "x"}, {"S": "z"}]}})
        );
        assert!(parse_projection("a, a.b", &mut p).is_err());
    }
}
