//! The IAM policy language of identity-based policies: statements (`Action`,
//! `NotAction`, `Resource`, `NotResource`, `Condition`) and their evaluation, as AWS
//! does it: default deny, any matching `Allow` allows, any matching `Deny` wins
//! over every `Allow`.

use std::collections::BTreeMap;

use serde_json::Value;

/// One parsed statement.
#[derive(Debug, Clone)]
struct Statement {
    sid: Option<String>,
    allow: bool,
    actions: Option<Vec<String>>,
    not_actions: Option<Vec<String>>,
    resources: Option<Vec<String>>,
    not_resources: Option<Vec<String>>,
    conditions: Vec<Condition>,
}

/// One `operator: {key: values}` entry.
#[derive(Debug, Clone)]
struct Condition {
    op: Op,
    set: SetOp,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Null,
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    None,
    ForAllValues,
    ForAnyValue,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("{what} must hold strings")),
            })
            .collect(),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => Err(format!("{what} must be a string or an array of strings")),
    }
}

impl Policy {
    /// Parses an IAM policy document.
    pub fn parse(doc: &Value) -> Result<Policy, String> {
        let stmts = match doc.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err("a policy needs a Statement (object or array)".to_owned()),
        };
        let mut statements = Vec::new();
        for s in &stmts {
            let allow = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => return Err("each statement needs Effect Allow or Deny".to_owned()),
            };
            let opt = |name: &str| s.get(name).map(|v| strings(v, name)).transpose();
            let actions = opt("Action")?;
            let not_actions = opt("NotAction")?;
            if actions.is_some() == not_actions.is_some() {
                return Err("each statement needs exactly one of Action and NotAction".to_owned());
            }
            let resources = opt("Resource")?;
            let not_resources = opt("NotResource")?;
            if resources.is_some() == not_resources.is_some() {
                return Err(
                    "each statement needs exactly one of Resource and NotResource".to_owned(),
                );
            }
            let mut conditions = Vec::new();
            if let Some(cond) = s.get("Condition") {
                let cond = cond.as_object().ok_or("Condition must be an object")?;
                for (operator, block) in cond {
                    let (set, rest) = if let Some(r) = operator.strip_prefix("ForAllValues:") {
                        (SetOp::ForAllValues, r)
                    } else if let Some(r) = operator.strip_prefix("ForAnyValue:") {
                        (SetOp::ForAnyValue, r)
                    } else {
                        (SetOp::None, operator.as_str())
                    };
                    let (name, if_exists) = match rest.strip_suffix("IfExists") {
                        Some(n) => (n, true),
                        None => (rest, false),
                    };
                    let op = match name {
                        "StringEquals" => Op::StringEquals,
                        "StringNotEquals" => Op::StringNotEquals,
                        "StringEqualsIgnoreCase" => Op::StringEqualsIgnoreCase,
                        "StringNotEqualsIgnoreCase" => Op::StringNotEqualsIgnoreCase,
                        "StringLike" => Op::StringLike,
                        "StringNotLike" => Op::StringNotLike,
                        "Null" => Op::Null,
                        "Bool" => Op::Bool,
                        other => return Err(format!("unsupported condition operator {other}")),
                    };
                    let block = block
                        .as_object()
                        .ok_or_else(|| format!("{operator} must map keys to values"))?;
                    for (key, values) in block {
                        conditions.push(Condition {
                            op,
                            set,
                            if_exists,
                            key: key.clone(),
                            values: strings(values, key)?,
                        });
                    }
                }
            }
            statements.push(Statement {
                sid: s.get("Sid").and_then(Value::as_str).map(str::to_owned),
                allow,
                actions,
                not_actions,
                resources,
                not_resources,
                conditions,
            });
        }
        Ok(Policy { statements })
    }
}

/// What is being asked: one action on one resource, with its condition keys.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `service:Action`, e.g. `kms:Decrypt`.
    pub action: String,
    /// The resource ARN, or `*`.
    pub resource: String,
    /// Condition keys (matched case-insensitively by name) and their values.
    pub context: BTreeMap<String, Vec<String>>,
}

/// Which statement decided, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    /// Index of the policy among the identity's policies.
    pub policy: usize,
    /// Index of the statement in that policy.
    pub statement: usize,
    /// Its `Sid`, if any.
    pub sid: Option<String>,
}

/// The outcome of evaluating a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement matched and no `Deny` did.
    Allow(Decider),
    /// A `Deny` statement matched.
    ExplicitDeny(Decider),
    /// Nothing matched.
    ImplicitDeny,
    /// Allowed by a role's trust (`AssumeRole` and the credential endpoints).
    Trusted,
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_) | Decision::Trusted)
    }
}

/// Evaluates `request` against `policies`.
pub fn evaluate(policies: &[Policy], request: &Request) -> Decision {
    let mut allow = None;
    for (pi, p) in policies.iter().enumerate() {
        for (si, s) in p.statements.iter().enumerate() {
            if !s.matches(request) {
                continue;
            }
            let decider = Decider {
                policy: pi,
                statement: si,
                sid: s.sid.clone(),
            };
            if !s.allow {
                return Decision::ExplicitDeny(decider);
            }
            allow.get_or_insert(decider);
        }
    }
    allow.map_or(Decision::ImplicitDeny, Decision::Allow)
}

impl Statement {
    fn matches(&self, r: &Request) -> bool {
        let action_ok = match (&self.actions, &self.not_actions) {
            (Some(a), _) => a
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &r.action.to_ascii_lowercase())),
            (None, Some(n)) => !n
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &r.action.to_ascii_lowercase())),
            (None, None) => false,
        };
        let resource_ok = match (&self.resources, &self.not_resources) {
            (Some(a), _) => a.iter().any(|p| glob(p, &r.resource)),
            (None, Some(n)) => !n.iter().any(|p| glob(p, &r.resource)),
            (None, None) => false,
        };
        action_ok && resource_ok && self.conditions.iter().all(|c| c.holds(r, self.allow))
    }
}

impl Condition {
    /// Whether the condition holds for `r`, in a statement that allows (`allow`)
    /// or denies.
    fn holds(&self, r: &Request, allow: bool) -> bool {
        let mut present = r
            .context
            .iter()
            .filter(|(k, v)| context_key_eq(k, &self.key) && !v.is_empty())
            .map(|(_, v)| v.as_slice());
        let values = present.next();
        let ambiguous = present.next().is_some();
        if self.op == Op::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return values.is_none() == want_absent;
        }
        if ambiguous {
            // Several request keys differ only in case (`kms:EncryptionContext:
            // lockbox-name` and `...:LOCKBOX-NAME`): AWS does not say which one a
            // condition compares, so none is picked. The condition fails in an
            // Allow and holds in a Deny: the request is refused either way.
            return !allow;
        }
        let Some(values) = values else {
            // ForAllValues over nothing is vacuously true, as in AWS; a negated
            // operator on a missing key matches; everything else does not.
            return match self.set {
                SetOp::ForAllValues => true,
                SetOp::ForAnyValue => false,
                SetOp::None => {
                    self.if_exists
                        || matches!(
                            self.op,
                            Op::StringNotEquals | Op::StringNotEqualsIgnoreCase | Op::StringNotLike
                        )
                }
            };
        };
        let one = |v: &str| self.matches_value(v);
        match self.set {
            SetOp::ForAllValues => values.iter().all(|v| one(v)),
            SetOp::ForAnyValue | SetOp::None => values.iter().any(|v| one(v)),
        }
    }

    fn matches_value(&self, v: &str) -> bool {
        let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|p| f(p));
        match self.op {
            Op::StringEquals => any(&|p| p == v),
            Op::StringNotEquals => !any(&|p| p == v),
            Op::StringEqualsIgnoreCase => any(&|p| p.eq_ignore_ascii_case(v)),
            Op::StringNotEqualsIgnoreCase => !any(&|p| p.eq_ignore_ascii_case(v)),
            Op::StringLike => any(&|p| glob(p, v)),
            Op::StringNotLike => !any(&|p| glob(p, v)),
            Op::Bool => any(&|p| p.eq_ignore_ascii_case(v)),
            Op::Null => false,
        }
    }
}

/// Condition key names are case-insensitive in IAM, and AWS KMS documents that this
/// includes the context key of `kms:EncryptionContext:<context-key>`: "A policy
/// that uses this condition does not check the case of either element of the
/// condition key" (AWS KMS Developer Guide, "AWS KMS condition keys", section
/// "Case sensitivity of the encryption context condition"). It recommends pairing it
/// with `kms:EncryptionContextKeys`, whose values are compared by the operator, to
/// pin the case. When a request holds several keys that match one condition key
/// this way, [`Condition::holds`] refuses rather than choose one.
fn context_key_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// IAM wildcard match: `*` any run of characters, `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(action: &str, resource: &str, ctx: &[(&str, &[&str])]) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            context: ctx
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn globs() {
        assert!(glob("app1/*", "app1/x"));
        assert!(!glob("app1/*", "app2/db"));
        assert!(glob("a?c", "abc"));
        assert!(glob("*", ""));
        assert!(glob("kms:*", "kms:decrypt"));
        assert!(!glob("kms:Dec", "kms:Decrypt"));
    }

    #[test]
    fn explicit_deny_wins_and_default_is_deny() {
        let allow = Policy::parse(
            &json!({"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}),
        )
        .unwrap();
        let deny = Policy::parse(&json!({"Statement": [{"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]})).unwrap();
        let r = req("kms:Decrypt", "arn:k", &[]);
        assert!(evaluate(std::slice::from_ref(&allow), &r).allowed());
        match evaluate(&[allow, deny], &r) {
            Decision::ExplicitDeny(d) => assert_eq!(d.sid.as_deref(), Some("NoDecrypt")),
            other => panic!("{other:?}"),
        }
        assert_eq!(evaluate(&[], &r), Decision::ImplicitDeny);
    }

    #[test]
    fn conditions_follow_aws_set_semantics() {
        let p = Policy::parse(
            &json!({"Statement": {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["app1/*"]}}}}),
        )
        .unwrap();
        let p = [p];
        assert!(evaluate(
            &p,
            &req(
                "dynamodb:GetItem",
                "t",
                &[("dynamodb:LeadingKeys", &["app1/a"])]
            )
        )
        .allowed());
        assert!(!evaluate(
            &p,
            &req(
                "dynamodb:GetItem",
                "t",
                &[("dynamodb:LeadingKeys", &["app1/a", "app2/b"])]
            )
        )
        .allowed());
        // Vacuous truth over no values, as AWS does.
        assert!(evaluate(&p, &req("dynamodb:GetItem", "t", &[])).allowed());

        let q = [Policy::parse(
            &json!({"Statement": {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringLike": {"kms:EncryptionContext:lockbox-name": "app1/*"},
                          "Null": {"kms:EncryptionContextKeys": "false"}}}}),
        )
        .unwrap()];
        assert!(evaluate(
            &q,
            &req(
                "kms:Decrypt",
                "k",
                &[
                    ("kms:EncryptionContext:lockbox-name", &["app1/x"]),
                    ("kms:EncryptionContextKeys", &["lockbox-name"])
                ]
            )
        )
        .allowed());
        assert!(!evaluate(
            &q,
            &req(
                "kms:Decrypt",
                "k",
                &[
                    ("kms:EncryptionContext:lockbox-name", &["app2/db"]),
                    ("kms:EncryptionContextKeys", &["lockbox-name"])
                ]
            )
        )
        .allowed());
        // Condition key names are case-insensitive, the context key included; values are not.
        assert!(evaluate(
            &q,
            &req(
                "kms:Decrypt",
                "k",
                &[
                    ("kms:EncryptionContext:Lockbox-Name", &["app1/x"]),
                    ("kms:EncryptionContextKeys", &["Lockbox-Name"])
                ]
            )
        )
        .allowed());
        assert!(!evaluate(
            &q,
            &req(
                "kms:Decrypt",
                "k",
                &[
                    ("kms:EncryptionContext:lockbox-name", &["APP1/x"]),
                    ("kms:EncryptionContextKeys", &["lockbox-name"])
                ]
            )
        )
        .allowed());
    }

    #[test]
    fn context_keys_differing_only_in_case_satisfy_no_condition() {
        let allow = [Policy::parse(
            &json!({"Statement": {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*",
            "Condition": {"StringLike": {"kms:EncryptionContext:lockbox-name": "app1/*"}}}}),
        )
        .unwrap()];
        let gdk = |pairs: &[(&str, &str)]| {
            let mut ctx: Vec<(String, Vec<String>)> = pairs
                .iter()
                .map(|(k, v)| (format!("kms:EncryptionContext:{k}"), vec![v.to_string()]))
                .collect();
            ctx.push((
                "kms:EncryptionContextKeys".into(),
                pairs.iter().map(|(k, _)| k.to_string()).collect(),
            ));
            Request {
                action: "kms:GenerateDataKey".into(),
                resource: "k".into(),
                context: ctx.into_iter().collect(),
            }
        };
        assert!(evaluate(&allow, &gdk(&[("lockbox-name", "app1/x")])).allowed());
        // The documented case-insensitivity of the key name.
        assert!(evaluate(&allow, &gdk(&[("LOCKBOX-NAME", "app1/x")])).allowed());
        for pairs in [
            [("lockbox-name", "app2/db"), ("LOCKBOX-NAME", "app1/x")],
            [("lockbox-name", "app1/x"), ("LOCKBOX-NAME", "app2/db")],
            [("lockbox-name", "app1/x"), ("Lockbox-Name", "app1/y")],
        ] {
            assert_eq!(
                evaluate(&allow, &gdk(&pairs)),
                Decision::ImplicitDeny,
                "{pairs:?}"
            );
        }
        // In a Deny the ambiguous condition holds: the Deny applies.
        let deny = Policy::parse(
            &json!({"Statement": {"Sid": "OnlyApp1", "Effect": "Deny", "Action": "kms:*", "Resource": "*",
            "Condition": {"StringNotLike": {"kms:EncryptionContext:lockbox-name": "app1/*"}}}}),
        )
        .unwrap();
        let everything = Policy::parse(
            &json!({"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}),
        )
        .unwrap();
        let both = [everything, deny];
        assert!(evaluate(&both, &gdk(&[("lockbox-name", "app1/x")])).allowed());
        assert!(matches!(
            evaluate(
                &both,
                &gdk(&[("lockbox-name", "app1/x"), ("LOCKBOX-NAME", "app2/db")])
            ),
            Decision::ExplicitDeny(_)
        ));
    }

    #[test]
    fn any_value_equals_not_action_and_null() {
        let p = [Policy::parse(&json!({"Statement": [
            {"Effect": "Allow", "NotAction": "kms:Decrypt", "Resource": ["arn:a", "arn:b*"]},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["a", "b"]},
                           "Null": {"kms:EncryptionContext:x": "true"}}}]}))
        .unwrap()];
        assert!(evaluate(&p, &req("KMS:ENCRYPT", "arn:bx", &[])).allowed());
        assert!(!evaluate(&p, &req("kms:Encrypt", "arn:c", &[])).allowed());
        assert!(evaluate(
            &p,
            &req(
                "kms:Decrypt",
                "k",
                &[("kms:EncryptionContextKeys", &["z", "b"])]
            )
        )
        .allowed());
        assert!(!evaluate(
            &p,
            &req("kms:Decrypt", "k", &[("kms:EncryptionContextKeys", &["z"])])
        )
        .allowed());
        assert!(
            !evaluate(&p, &req("kms:Decrypt", "k", &[])).allowed(),
            "ForAnyValue over nothing is false"
        );
        assert!(!evaluate(
            &p,
            &req(
                "kms:Decrypt",
                "k",
                &[
                    ("kms:EncryptionContextKeys", &["a"]),
                    ("kms:EncryptionContext:x", &["1"])
                ]
            )
        )
        .allowed());
    }

    #[test]
    fn bad_documents_are_refused() {
        assert!(Policy::parse(&json!({})).is_err());
        assert!(Policy::parse(
            &json!({"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}})
        )
        .is_err());
        assert!(Policy::parse(&json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericEquals": {"a": "1"}}}})).is_err());
    }
}
