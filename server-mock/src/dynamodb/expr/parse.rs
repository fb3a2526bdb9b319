//! The recursive-descent parser of conditions and projections, with AWS's error
//! messages; `update.rs` drives it for update expressions.

use std::cmp::Ordering;

use super::super::reserved::is_reserved;
use super::super::value::AttrValue;
use super::lex::{lex, Tok, Token};
use super::{CmpOp, Cond, Operand, Path, PathElem, Placeholders};
use crate::error::AwsError;

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
pub(crate) struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    pub(crate) pos: usize,
    kind: Kind,
    ph: &'a mut Placeholders,
}

impl Parser<'_> {
    pub(crate) fn err(&self, msg: impl std::fmt::Display) -> AwsError {
        AwsError::validation(format!("Invalid {}: {msg}", self.kind.label()))
    }

    /// `Syntax error; token: "x", near: "a x b"` at the current token (or end of input).
    pub(crate) fn syntax(&self) -> AwsError {
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

    pub(crate) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    pub(crate) fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k).map(|t| &t.tok)
    }

    pub(crate) fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    pub(crate) fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    pub(crate) fn expect_punct(&mut self, p: &str) -> Result<(), AwsError> {
        if self.is_punct(p) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    pub(crate) fn expect_end(&self) -> Result<(), AwsError> {
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

    pub(crate) fn operand(&mut self) -> Result<Operand, AwsError> {
        match self.peek().cloned() {
            Some(Tok::Val(v)) => {
                self.pos += 1;
                let value = self.ph.value(&v);
                let value = value.ok_or_else(|| {
                    self.err(format!(
                        "An expression attribute value used in expression is not defined; attribute value: {v}"
                    ))
                })?;
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
                let real = self.ph.name(&n);
                real.ok_or_else(|| {
                    self.err(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {n}"
                    ))
                })
            }
            _ => Err(self.syntax()),
        }
    }

    pub(crate) fn path(&mut self) -> Result<Path, AwsError> {
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

pub(crate) fn parser<'a>(
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
