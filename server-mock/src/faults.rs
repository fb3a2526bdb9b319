//! Fault injection: rules added at run time (`POST /_mock/faults`, or in process
//! through [`Faults`]) that delay, fail or drop matching AWS calls, shorten their
//! pages, or set the emulator's clock off, so clients' retries, pagination and
//! fail-closed paths run.

use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{default_status, AwsError};

/// The largest clock offset a rule may set (a year), so the clock stays representable.
const MAX_CLOCK_SKEW_S: u64 = 366 * 24 * 3600;

/// One fault rule, as posted to `/_mock/faults` (the crate's README describes each
/// field), or built in process: `FaultRule::new("kms:Decrypt").error("ThrottlingException").count(2)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FaultRule {
    /// `service:Operation`, `service:*` or `*` (e.g. `kms:Decrypt`, `dynamodb:*`).
    pub target: String,
    /// Answer with this AWS error code instead of running the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// HTTP status of `error`; AWS's usual one for the code when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The message of `error` ("injected fault" when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extra latency before answering, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Chance (0–1) that a matching call is affected; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// How many calls the rule affects; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Run the operation, then close the connection without answering. With
    /// `error`, the operation is not run: the request is lost.
    #[serde(default)]
    pub drop_response: bool,
    /// Query/Scan: end each page after this many *evaluated* items (at least 1), as
    /// if DynamoDB's 1 MB page limit were reached there; `Limit` still applies when
    /// smaller, and `LastEvaluatedKey` is set whenever the page stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<usize>,
    /// BatchGetItem: process only the first this-many requested keys and return the
    /// rest as `UnprocessedKeys`, as DynamoDB does when throughput runs out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprocessed_after: Option<usize>,
    /// Set the emulator's clock this many seconds off (negative: behind) for
    /// matching calls: SigV4 signatures are checked against it and the `Date`
    /// header reports it. A rule with `clock_skew_s` does nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_s: Option<i64>,
    /// Only calls served by this region (the SigV4 scope's; `us-east-1` when
    /// unsigned); every region when absent. A rule with a region, an `error` or
    /// `drop_response`, no `count` or `probability`, and a target covering every
    /// DynamoDB operation (`*` or `dynamodb:*`) takes the region down: its
    /// global-table replicas report `REGION_DISABLED` and replication to it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A rule as listed: the rule, how often it fired, and how many firings remain
/// (with a `count`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ArmedRule {
    /// The rule as added.
    #[serde(flatten)]
    pub rule: FaultRule,
    /// How many calls it has affected.
    pub fired: u64,
    /// How many more it will affect, when it has a `count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

/// Why a fault rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFaultRule(String);

/// What the server must do to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fault {
    /// Wait this long first.
    pub latency: Duration,
    /// Answer this error instead of running the operation.
    pub error: Option<AwsError>,
    /// Close the connection instead of answering.
    pub drop_response: bool,
    /// How much of a read to do in one answer.
    pub caps: ReadCaps,
}

/// Limits a fault puts on one DynamoDB read (none by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReadCaps {
    /// Query/Scan: items evaluated per page.
    pub page_items: Option<usize>,
    /// BatchGetItem: keys processed per call.
    pub batch_keys: Option<usize>,
}

#[derive(Debug)]
struct Armed {
    rule: FaultRule,
    fired: u64,
}

/// The active rules, first match wins: what `/_mock/faults` adds, lists and
/// clears, reached in process through `RunningMock::faults`.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Armed>>,
}

impl FaultRule {
    /// A rule for `target` (`service:Operation`, `service:*` or `*`) that does
    /// nothing yet; the methods below say what it does.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            error: None,
            status: None,
            message: None,
            latency_ms: None,
            probability: None,
            count: None,
            drop_response: false,
            page_size: None,
            unprocessed_after: None,
            clock_skew_s: None,
            region: None,
        }
    }

    /// Only affect calls served by `region`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Answer this AWS error code instead of running the operation.
    pub fn error(mut self, code: impl Into<String>) -> Self {
        self.error = Some(code.into());
        self
    }

    /// The HTTP status of [`FaultRule::error`].
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The message of [`FaultRule::error`].
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Answer this many milliseconds later.
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = Some(ms);
        self
    }

    /// Affect a matching call with this chance (0–1).
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    /// Affect this many calls, then stop.
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Close the connection instead of answering.
    pub fn drop_response(mut self) -> Self {
        self.drop_response = true;
        self
    }

    /// Query/Scan: end each page after this many evaluated items.
    pub fn page_size(mut self, items: usize) -> Self {
        self.page_size = Some(items);
        self
    }

    /// BatchGetItem: process this many keys, return the others unprocessed.
    pub fn unprocessed_after(mut self, keys: usize) -> Self {
        self.unprocessed_after = Some(keys);
        self
    }

    /// Set the emulator's clock this many seconds off (negative: behind).
    pub fn clock_skew_s(mut self, seconds: i64) -> Self {
        self.clock_skew_s = Some(seconds);
        self
    }

    fn validate(&self) -> Result<(), String> {
        let target_ok = self.target == "*"
            || self
                .target
                .split_once(':')
                .is_some_and(|(s, op)| !s.is_empty() && !op.is_empty());
        if !target_ok {
            return Err(format!(
                "target must be \"*\", \"service:*\" or \"service:Operation\", not {:?}",
                self.target
            ));
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err("probability must be between 0 and 1".to_owned());
            }
        }
        if let Some(status) = self.status {
            if StatusCode::from_u16(status).is_err() || status < 400 {
                return Err("status must be an HTTP error status (400-599)".to_owned());
            }
            if self.error.is_none() {
                return Err("status needs an error code".to_owned());
            }
        }
        if self.message.is_some() && self.error.is_none() {
            return Err("message needs an error code".to_owned());
        }
        if let Some(region) = &self.region {
            if !crate::protocol::valid_region(region) {
                return Err(format!(
                    "region must be a region name such as us-east-1, not {region:?}"
                ));
            }
        }
        if self.page_size == Some(0) {
            return Err("page_size must be at least 1".to_owned());
        }
        if self.clock_skew_s.is_some() && !self.is_clock_only() {
            return Err(
                "a clock_skew_s rule does nothing else: use another rule for errors, latency or page sizes"
                    .to_owned(),
            );
        }
        if self
            .clock_skew_s
            .is_some_and(|s| s.unsigned_abs() > MAX_CLOCK_SKEW_S)
        {
            return Err(format!(
                "clock_skew_s must be within ±{MAX_CLOCK_SKEW_S} seconds"
            ));
        }
        Ok(())
    }

    /// Whether the rule only sets the clock (besides its target, count and probability).
    fn is_clock_only(&self) -> bool {
        self.error.is_none()
            && self.status.is_none()
            && self.message.is_none()
            && self.latency_ms.is_none()
            && !self.drop_response
            && self.page_size.is_none()
            && self.unprocessed_after.is_none()
    }

    fn matches(&self, service: &str, operation: &str, region: &str) -> bool {
        if self.region.as_deref().is_some_and(|r| r != region) {
            return false;
        }
        if self.target == "*" {
            return true;
        }
        match self.target.split_once(':') {
            Some((s, op)) => s.eq_ignore_ascii_case(service) && (op == "*" || op == operation),
            None => false,
        }
    }
}

impl Faults {
    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: FaultRule) -> Result<(), InvalidFaultRule> {
        rule.validate().map_err(InvalidFaultRule)?;
        self.lock().push(Armed { rule, fired: 0 });
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The rules in order, with how often each fired and how many firings remain.
    pub fn list(&self) -> Vec<ArmedRule> {
        self.lock()
            .iter()
            .map(|a| ArmedRule {
                rule: a.rule.clone(),
                fired: a.fired,
                remaining: a.rule.count.map(|c| c.saturating_sub(a.fired)),
            })
            .collect()
    }

    /// The fault for one call of `service:operation`, consuming one use of the
    /// first matching rule that fires (clock rules aside: see [`Faults::clock_skew`]).
    pub(crate) fn check(&self, service: &str, operation: &str, region: &str) -> Fault {
        let mut rules = self.lock();
        let mut rng = rand::thread_rng();
        for armed in rules.iter_mut() {
            let rule = &armed.rule;
            if !rule.matches(service, operation, region) || rule.clock_skew_s.is_some() {
                continue;
            }
            if rule.count.is_some_and(|c| armed.fired >= c) {
                continue;
            }
            if let Some(p) = rule.probability {
                if !rng.gen_bool(p) {
                    continue;
                }
            }
            armed.fired += 1;
            let error = rule.error.as_ref().map(|code| {
                let status = rule
                    .status
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or_else(|| default_status(code));
                let message = rule.message.as_deref().unwrap_or("injected fault");
                AwsError::new(status, code.clone(), message)
            });
            return Fault {
                latency: Duration::from_millis(rule.latency_ms.unwrap_or(0)),
                error,
                drop_response: rule.drop_response,
                caps: ReadCaps {
                    page_items: rule.page_size,
                    batch_keys: rule.unprocessed_after,
                },
            };
        }
        Fault::default()
    }

    /// The emulator's clock offset in seconds for one call of `service:operation`
    /// (checked before authentication), consuming one use of the first matching
    /// clock rule that fires; 0 when none does.
    pub(crate) fn clock_skew(&self, service: &str, operation: &str, region: &str) -> i64 {
        let mut rules = self.lock();
        let mut rng = rand::thread_rng();
        for armed in rules.iter_mut() {
            let rule = &armed.rule;
            let Some(skew) = rule.clock_skew_s else {
                continue;
            };
            if !rule.matches(service, operation, region)
                || rule.count.is_some_and(|c| armed.fired >= c)
            {
                continue;
            }
            if rule.probability.is_some_and(|p| !rng.gen_bool(p)) {
                continue;
            }
            armed.fired += 1;
            return skew;
        }
        0
    }

    /// Whether a rule takes `region` down (see [`FaultRule::region`]): an outage,
    /// as opposed to a fault that affects some calls.
    pub fn region_down(&self, region: &str) -> bool {
        self.lock().iter().any(|armed| {
            let rule = &armed.rule;
            rule.region.as_deref() == Some(region)
                && (rule.error.is_some() || rule.drop_response)
                && rule.count.is_none()
                && rule.probability.is_none()
                && (rule.target == "*" || rule.target.eq_ignore_ascii_case("dynamodb:*"))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn count_limits_firings_and_targets_match() {
        let faults = Faults::default();
        faults
            .add(rule(
                r#"{"target":"kms:Decrypt","error":"ThrottlingException","count":2}"#,
            ))
            .unwrap();
        assert!(faults
            .check("dynamodb", "Query", "us-east-1")
            .error
            .is_none());
        assert!(faults.check("kms", "Encrypt", "us-east-1").error.is_none());
        let fault = faults.check("kms", "Decrypt", "us-east-1");
        let err = fault.error.unwrap();
        assert_eq!(
            (err.status, err.code.as_str()),
            (StatusCode::BAD_REQUEST, "ThrottlingException")
        );
        assert!(faults.check("kms", "Decrypt", "us-east-1").error.is_some());
        assert!(faults.check("kms", "Decrypt", "us-east-1").error.is_none());
        assert_eq!(faults.list()[0].remaining, Some(0));
    }

    #[test]
    fn rules_built_in_process_equal_rules_posted_as_json() {
        assert_eq!(
            FaultRule::new("kms:Decrypt")
                .error("ThrottlingException")
                .status(400)
                .message("slow down")
                .latency_ms(5)
                .probability(0.5)
                .count(2)
                .drop_response(),
            rule(
                r#"{"target":"kms:Decrypt","error":"ThrottlingException","status":400,
                    "message":"slow down","latency_ms":5,"probability":0.5,"count":2,
                    "drop_response":true}"#
            )
        );
        assert_eq!(
            FaultRule::new("dynamodb:*")
                .page_size(7)
                .unprocessed_after(3),
            rule(r#"{"target":"dynamodb:*","page_size":7,"unprocessed_after":3}"#)
        );
        assert_eq!(
            FaultRule::new("*").clock_skew_s(-60),
            rule(r#"{"target":"*","clock_skew_s":-60}"#)
        );
        // Listed as `GET /_mock/faults` shows them: the rule's fields, then the counts.
        let faults = Faults::default();
        faults
            .add(
                FaultRule::new("kms:Decrypt")
                    .error("ThrottlingException")
                    .count(2),
            )
            .unwrap();
        faults.check("kms", "Decrypt", "us-east-1");
        assert_eq!(
            serde_json::json!({ "rules": faults.list() }).to_string(),
            r#"{"rules":[{"count":2,"drop_response":false,"error":"ThrottlingException","fired":1,"remaining":1,"target":"kms:Decrypt"}]}"#
        );
        assert_eq!(
            faults.add(FaultRule::new("kms")).unwrap_err().to_string(),
            "target must be \"*\", \"service:*\" or \"service:Operation\", not \"kms\""
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        let faults = Faults::default();
        assert!(faults.add(rule(r#"{"target":"kms"}"#)).is_err());
        assert!(faults
            .add(rule(r#"{"target":"*","probability":2}"#))
            .is_err());
        assert!(faults.add(rule(r#"{"target":"*","status":503}"#)).is_err());
        assert!(serde_json::from_str::<FaultRule>(r#"{"target":"*","typo":1}"#).is_err());
        assert!(faults
            .add(rule(r#"{"target":"*","message":"no code"}"#))
            .is_err());
        assert!(faults
            .add(rule(r#"{"target":"dynamodb:Query","page_size":0}"#))
            .is_err());
        assert!(faults
            .add(rule(
                r#"{"target":"*","clock_skew_s":1200,"error":"ThrottlingException"}"#
            ))
            .is_err());
        assert!(faults
            .add(rule(r#"{"target":"*","clock_skew_s":99999999999}"#))
            .is_err());
    }

    #[test]
    fn read_caps_and_messages_reach_the_fault() {
        let faults = Faults::default();
        faults
            .add(rule(r#"{"target":"dynamodb:Query","page_size":7}"#))
            .unwrap();
        faults
            .add(rule(
                r#"{"target":"dynamodb:BatchGetItem","unprocessed_after":3}"#,
            ))
            .unwrap();
        faults
            .add(rule(
                r#"{"target":"kms:*","error":"InvalidSignatureException","message":"Signature expired"}"#,
            ))
            .unwrap();
        assert_eq!(
            faults
                .check("dynamodb", "Query", "us-east-1")
                .caps
                .page_items,
            Some(7)
        );
        assert_eq!(
            faults
                .check("dynamodb", "BatchGetItem", "us-east-1")
                .caps
                .batch_keys,
            Some(3)
        );
        assert_eq!(
            faults.check("dynamodb", "Scan", "us-east-1"),
            Fault::default()
        );
        let err = faults.check("kms", "Decrypt", "us-east-1").error.unwrap();
        assert_eq!(err.message, "Signature expired");
    }

    #[test]
    fn a_region_selector_limits_a_rule_to_one_region() {
        let faults = Faults::default();
        faults
            .add(
                FaultRule::new("*")
                    .region("eu-west-1")
                    .error("ServiceUnavailable"),
            )
            .unwrap();
        assert!(faults.check("kms", "Decrypt", "us-east-1").error.is_none());
        let err = faults.check("kms", "Decrypt", "eu-west-1").error.unwrap();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(faults.region_down("eu-west-1"));
        assert!(!faults.region_down("us-east-1"));
        assert_eq!(
            rule(r#"{"target":"*","region":"eu-west-1","error":"ServiceUnavailable"}"#),
            FaultRule::new("*")
                .region("eu-west-1")
                .error("ServiceUnavailable")
        );
        // A rule that affects some calls only is a fault, not an outage.
        faults.clear();
        faults
            .add(
                FaultRule::new("*")
                    .region("eu-west-1")
                    .error("ThrottlingException")
                    .count(3),
            )
            .unwrap();
        assert!(!faults.region_down("eu-west-1"));
        assert!(faults
            .add(
                FaultRule::new("*")
                    .region("Mars 1")
                    .error("ServiceUnavailable")
            )
            .is_err());
    }

    #[test]
    fn clock_rules_only_move_the_clock() {
        let faults = Faults::default();
        faults
            .add(rule(r#"{"target":"kms:*","clock_skew_s":-1200,"count":1}"#))
            .unwrap();
        assert_eq!(faults.clock_skew("dynamodb", "Query", "us-east-1"), 0);
        assert_eq!(
            faults.check("kms", "Decrypt", "us-east-1"),
            Fault::default()
        );
        assert_eq!(faults.clock_skew("kms", "Decrypt", "us-east-1"), -1200);
        assert_eq!(
            faults.clock_skew("kms", "Decrypt", "us-east-1"),
            0,
            "count used up"
        );
    }
}
