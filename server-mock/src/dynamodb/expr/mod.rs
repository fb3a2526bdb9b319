//! The DynamoDB expression language: condition, filter, key-condition, projection
//! and (with `update.rs`) update expressions. One language, one room a stage:
//!
//! - this file: the syntax tree ([`Cond`], [`Operand`], [`Path`]);
//! - `placeholders.rs`: a request's `ExpressionAttributeNames`/`Values`;
//! - `lex.rs`: the tokens;
//! - `parse.rs`: the recursive-descent parser, with AWS's error messages;
//! - `eval.rs`: conditions and projections applied to an item.
//!
//! Placeholders (`#name`, `:value`) are resolved while parsing, against the request's
//! `ExpressionAttributeNames`/`Values`; [`Placeholders`] records which were used so the
//! request can reject unused ones as AWS does. Error messages never quote a value.

mod eval;
mod lex;
mod parse;
mod placeholders;
#[cfg(test)]
mod tests;

use super::value::AttrValue;

pub(crate) use eval::{eval, project, resolve};
pub(crate) use lex::Tok;
pub(crate) use parse::{parse_condition, parse_projection, parser, Kind, Parser};
pub(crate) use placeholders::Placeholders;

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
