//! UpdateItem's `UpdateExpression`: `SET` (with `+`/`-`, `if_not_exists`,
//! `list_append`), `REMOVE`, `ADD` (numbers and sets) and `DELETE` (from sets).

use super::expr::{parser, resolve, Kind, Operand, Path, PathElem, Placeholders, Tok};
use super::value::{AttrValue, Item};
use crate::error::AwsError;

/// A value computed by a SET action.
#[derive(Debug, Clone)]
pub(crate) enum SetValue {
    Operand(Operand),
    IfNotExists(Path, Box<SetValue>),
    ListAppend(Box<SetValue>, Box<SetValue>),
    Plus(Box<SetValue>, Box<SetValue>),
    Minus(Box<SetValue>, Box<SetValue>),
}

/// A parsed update expression.
#[derive(Debug, Clone, Default)]
pub(crate) struct Update {
    set: Vec<(Path, SetValue)>,
    remove: Vec<Path>,
    add: Vec<(Path, AttrValue)>,
    delete: Vec<(Path, AttrValue)>,
}

/// Parse an update expression.
pub(crate) fn parse_update(text: &str, ph: &mut Placeholders) -> Result<Update, AwsError> {
    let mut p = parser(text, Kind::Update, ph)?;
    let mut u = Update::default();
    let mut seen_clause: Vec<String> = Vec::new();
    while p.peek().is_some() {
        let clause = match p.peek() {
            Some(Tok::Ident(s)) => s.to_ascii_uppercase(),
            _ => return Err(p.syntax()),
        };
        if seen_clause.contains(&clause) {
            return Err(p.err(format!(
                "The \"{clause}\" section can only be used once in an update expression;"
            )));
        }
        match clause.as_str() {
            "SET" => {
                p.pos += 1;
                loop {
                    let path = p.path()?;
                    p.expect_punct("=")?;
                    let v = set_value(&mut p)?;
                    u.set.push((path, v));
                    if !p.is_punct(",") {
                        break;
                    }
                    p.pos += 1;
                }
            }
            "REMOVE" => {
                p.pos += 1;
                loop {
                    u.remove.push(p.path()?);
                    if !p.is_punct(",") {
                        break;
                    }
                    p.pos += 1;
                }
            }
            "ADD" | "DELETE" => {
                p.pos += 1;
                loop {
                    let path = p.path()?;
                    let value = match p.operand()? {
                        Operand::Value(v) => v,
                        _ => return Err(p.syntax()),
                    };
                    let ok = if clause == "ADD" {
                        matches!(
                            value,
                            AttrValue::N(_)
                                | AttrValue::Ss(_)
                                | AttrValue::Ns(_)
                                | AttrValue::Bs(_)
                        )
                    } else {
                        matches!(
                            value,
                            AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)
                        )
                    };
                    if !ok {
                        return Err(p.err(format!(
                            "Incorrect operand type for operator or function; operator: {clause}, operand type: {}",
                            value.type_name()
                        )));
                    }
                    if clause == "ADD" {
                        u.add.push((path, value));
                    } else {
                        u.delete.push((path, value));
                    }
                    if !p.is_punct(",") {
                        break;
                    }
                    p.pos += 1;
                }
            }
            _ => return Err(p.syntax()),
        }
        seen_clause.push(clause);
    }
    let all: Vec<&Path> = u
        .set
        .iter()
        .map(|(p, _)| p)
        .chain(&u.remove)
        .chain(u.add.iter().map(|(p, _)| p))
        .chain(u.delete.iter().map(|(p, _)| p))
        .collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[..i] {
            let n = a.len().min(b.len());
            if a[..n] == b[..n] {
                return Err(p.err(
                    "Two document paths overlap with each other; must remove or rewrite one of these paths",
                ));
            }
        }
    }
    Ok(u)
}

fn set_value(p: &mut super::expr::Parser<'_>) -> Result<SetValue, AwsError> {
    let left = set_operand(p)?;
    if p.is_punct("+") || p.is_punct("-") {
        let plus = p.is_punct("+");
        p.pos += 1;
        let right = set_operand(p)?;
        return Ok(if plus {
            SetValue::Plus(Box::new(left), Box::new(right))
        } else {
            SetValue::Minus(Box::new(left), Box::new(right))
        });
    }
    Ok(left)
}

fn set_operand(p: &mut super::expr::Parser<'_>) -> Result<SetValue, AwsError> {
    if let (Some(Tok::Ident(f)), Some(Tok::Punct("("))) = (p.peek(), p.peek_at(1)) {
        match f.as_str() {
            "if_not_exists" => {
                p.pos += 2;
                let path = p.path()?;
                p.expect_punct(",")?;
                let v = set_value(p)?;
                p.expect_punct(")")?;
                return Ok(SetValue::IfNotExists(path, Box::new(v)));
            }
            "list_append" => {
                p.pos += 2;
                let a = set_value(p)?;
                p.expect_punct(",")?;
                let b = set_value(p)?;
                p.expect_punct(")")?;
                return Ok(SetValue::ListAppend(Box::new(a), Box::new(b)));
            }
            _ => {}
        }
    }
    match p.operand()? {
        Operand::Size(_) => {
            Err(p.err("The function is not allowed in an update expression; function: size"))
        }
        o => Ok(SetValue::Operand(o)),
    }
}

fn invalid(msg: &str) -> AwsError {
    AwsError::validation(format!(
        "The provided expression refers to an attribute that does not exist in the item{msg}"
    ))
}

fn compute(v: &SetValue, item: &Item) -> Result<AttrValue, AwsError> {
    match v {
        SetValue::Operand(Operand::Value(v)) => Ok(v.clone()),
        SetValue::Operand(Operand::Path(p)) => resolve(item, p).cloned().ok_or_else(|| invalid("")),
        SetValue::Operand(Operand::Size(_)) => Err(invalid("")),
        SetValue::IfNotExists(p, d) => match resolve(item, p) {
            Some(v) => Ok(v.clone()),
            None => compute(d, item),
        },
        SetValue::ListAppend(a, b) => match (compute(a, item)?, compute(b, item)?) {
            (AttrValue::L(mut a), AttrValue::L(b)) => {
                a.extend(b);
                Ok(AttrValue::L(a))
            }
            _ => Err(AwsError::validation(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append",
            )),
        },
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            match (compute(a, item)?, compute(b, item)?) {
                (AttrValue::N(a), AttrValue::N(b)) => {
                    let b = if matches!(v, SetValue::Minus(..)) { b.negate() } else { b };
                    Ok(AttrValue::N(a.add(&b)?))
                }
                _ => Err(AwsError::validation(
                    "An operand in the update expression has an incorrect data type",
                )),
            }
        }
    }
}

/// Set the value at a path, creating nothing but the last step (as DynamoDB does).
fn set_path(item: &mut Item, path: &Path, value: AttrValue) -> Result<(), AwsError> {
    let bad = || {
        AwsError::validation(
            "The document path provided in the update expression is invalid for update",
        )
    };
    let PathElem::Attr(first) = &path[0] else {
        return Err(bad());
    };
    if path.len() == 1 {
        item.insert(first.clone(), value);
        return Ok(());
    }
    let mut cur = item.get_mut(first).ok_or_else(bad)?;
    for (i, elem) in path[1..].iter().enumerate() {
        let last = i + 2 == path.len();
        cur = match (elem, cur) {
            (PathElem::Attr(a), AttrValue::M(m)) => {
                if last {
                    m.insert(a.clone(), value);
                    return Ok(());
                }
                m.get_mut(a).ok_or_else(bad)?
            }
            (PathElem::Index(n), AttrValue::L(l)) => {
                if last {
                    if *n < l.len() {
                        l[*n] = value;
                    } else {
                        l.push(value);
                    }
                    return Ok(());
                }
                l.get_mut(*n).ok_or_else(bad)?
            }
            _ => return Err(bad()),
        };
    }
    Err(bad())
}

fn remove_path(item: &mut Item, path: &Path) {
    let PathElem::Attr(first) = &path[0] else {
        return;
    };
    if path.len() == 1 {
        item.remove(first);
        return;
    }
    let Some(mut cur) = item.get_mut(first) else {
        return;
    };
    for (i, elem) in path[1..].iter().enumerate() {
        let last = i + 2 == path.len();
        cur = match (elem, cur) {
            (PathElem::Attr(a), AttrValue::M(m)) => {
                if last {
                    m.remove(a);
                    return;
                }
                match m.get_mut(a) {
                    Some(c) => c,
                    None => return,
                }
            }
            (PathElem::Index(n), AttrValue::L(l)) => {
                if last {
                    if *n < l.len() {
                        l.remove(*n);
                    }
                    return;
                }
                match l.get_mut(*n) {
                    Some(c) => c,
                    None => return,
                }
            }
            _ => return,
        };
    }
}

/// Apply an update to `item`; returns the top-level attributes it touched.
/// Key attributes cannot be changed.
pub(crate) fn apply_update(
    u: &Update,
    item: &mut Item,
    hash: &str,
    range: Option<&String>,
) -> Result<Vec<String>, AwsError> {
    let mut touched = Vec::new();
    for path in u
        .set
        .iter()
        .map(|(p, _)| p)
        .chain(&u.remove)
        .chain(u.add.iter().map(|(p, _)| p))
        .chain(u.delete.iter().map(|(p, _)| p))
    {
        if let PathElem::Attr(a) = &path[0] {
            if a == hash || Some(a) == range {
                return Err(AwsError::validation(format!(
                    "One or more parameter values were invalid: Cannot update attribute {a}. This attribute is part of the key"
                )));
            }
            touched.push(a.clone());
        }
    }
    // Every right-hand side reads the item as it was before the update.
    let before = item.clone();
    let values = u
        .set
        .iter()
        .map(|(_, v)| compute(v, &before))
        .collect::<Result<Vec<_>, _>>()?;
    for ((path, _), v) in u.set.iter().zip(values) {
        set_path(item, path, v)?;
    }
    for path in &u.remove {
        remove_path(item, path);
    }
    let wrong_type =
        || AwsError::validation("An operand in the update expression has an incorrect data type");
    for (path, value) in &u.add {
        let new = match (resolve(&before, path), value) {
            (None, v) => v.clone(),
            (Some(AttrValue::N(a)), AttrValue::N(b)) => AttrValue::N(a.add(b)?),
            (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => AttrValue::Ss(union(a, b)),
            (Some(AttrValue::Ns(a)), AttrValue::Ns(b)) => AttrValue::Ns(union(a, b)),
            (Some(AttrValue::Bs(a)), AttrValue::Bs(b)) => AttrValue::Bs(union(a, b)),
            _ => return Err(wrong_type()),
        };
        set_path(item, path, new)?;
    }
    for (path, value) in &u.delete {
        let new = match (resolve(&before, path), value) {
            (None, _) => continue,
            (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => minus(a, b).map(AttrValue::Ss),
            (Some(AttrValue::Ns(a)), AttrValue::Ns(b)) => minus(a, b).map(AttrValue::Ns),
            (Some(AttrValue::Bs(a)), AttrValue::Bs(b)) => minus(a, b).map(AttrValue::Bs),
            _ => return Err(wrong_type()),
        };
        match new {
            Some(v) => set_path(item, path, v)?,
            // DynamoDB has no empty sets: removing the last element removes the attribute.
            None => remove_path(item, path),
        }
    }
    Ok(touched)
}

fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    for x in b {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

fn minus<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Option<Vec<T>> {
    let out: Vec<T> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
    (!out.is_empty()).then_some(out)
}
