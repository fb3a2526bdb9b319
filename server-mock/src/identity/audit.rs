//! The audit log (`--audit-log FILE`, strict mode): one JSON line per
//! authorization decision and per failed authentication. Encryption contexts and
//! partition keys are logged; request bodies never are.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{json, Value};

use super::policy::{Decision, Request};

/// Where decisions are written; nowhere without `--audit-log`.
#[derive(Debug, Default)]
pub struct AuditLog(Option<Mutex<std::fs::File>>);

impl AuditLog {
    /// Opens `path` for appending (created 0600), or logs nowhere without one.
    pub fn open(path: Option<&Path>) -> Result<Self, String> {
        let Some(p) = path else {
            return Ok(Self(None));
        };
        let file = crate::private_fs::private_file()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| format!("cannot open the audit log {}: {e}", p.display()))?;
        Ok(Self(Some(Mutex::new(file))))
    }

    /// Writes one audit line for an authorization decision (or an authentication
    /// failure, with `error`). Encryption contexts and partition keys are logged;
    /// request bodies never are.
    pub fn decision(
        &self,
        request_id: &str,
        principal: Option<&str>,
        check: &Request,
        decision: &Decision,
        error: Option<&str>,
    ) {
        let Some(file) = &self.0 else { return };
        let mut context = serde_json::Map::new();
        let mut leading = Vec::new();
        for (k, v) in &check.context {
            if let Some(key) = k.strip_prefix("kms:EncryptionContext:") {
                context.insert(key.to_owned(), json!(v.first()));
            } else if k == "dynamodb:LeadingKeys" {
                leading.clone_from(v);
            }
        }
        let statement = match decision {
            Decision::Allow(d) | Decision::ExplicitDeny(d) => {
                json!({"policy": d.policy, "statement": d.statement, "sid": d.sid})
            }
            Decision::Trusted => json!({"trust": true}),
            Decision::ImplicitDeny => Value::Null,
        };
        let line = json!({
            "time": crate::dates::rfc3339(SystemTime::now()),
            "request_id": request_id,
            "principal": principal,
            "action": check.action,
            "resource": check.resource,
            "encryption_context": context,
            "leading_keys": leading,
            "decision": if decision.allowed() { "allow" } else { "deny" },
            "reason": match decision {
                Decision::Allow(_) => "allowed",
                Decision::Trusted => "trusted",
                Decision::ExplicitDeny(_) => "explicit_deny",
                Decision::ImplicitDeny if error.is_some() => "authentication_failed",
                Decision::ImplicitDeny => "implicit_deny",
            },
            "statement": statement,
            "error": error,
        });
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(f, "{line}");
    }

    /// Records an authentication failure for `action`.
    pub fn failure(&self, request_id: &str, action: &str, akid: Option<&str>, code: &str) {
        let check = Request {
            action: action.to_owned(),
            resource: "*".to_owned(),
            context: BTreeMap::new(),
        };
        let who = akid.map(|k| format!("access key {k}"));
        self.decision(
            request_id,
            who.as_deref(),
            &check,
            &Decision::ImplicitDeny,
            Some(code),
        );
    }
}
