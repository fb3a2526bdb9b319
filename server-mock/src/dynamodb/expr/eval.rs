//! Expressions applied to an item: a condition's truth, a projection's result.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::super::number::Number;
use super::super::value::{AttrValue, Item};
use super::{CmpOp, Cond, Operand, Path, PathElem};

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
