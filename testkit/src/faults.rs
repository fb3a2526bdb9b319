//! The emulator's fault rules over its control API (`/_mock/faults`).

use std::collections::BTreeMap;

use crate::http::send;

/// Adds a fault rule (JSON text or a `serde_json::Value`), failing the test if
/// the emulator refuses it.
pub async fn add_fault(endpoint: &str, rule: impl ToString) {
    let headers = [("Content-Type", "application/json")];
    let (status, body) = send(
        endpoint,
        "POST",
        "/_mock/faults",
        &headers,
        &rule.to_string(),
    )
    .await
    .expect("an answer from the emulator");
    assert_eq!(status, 201, "fault rule refused: {body}");
}

/// Removes every fault rule.
pub async fn clear_faults(endpoint: &str) {
    let (status, body) = send(endpoint, "DELETE", "/_mock/faults", &[], "")
        .await
        .expect("an answer from the emulator");
    assert!(
        (200..300).contains(&status),
        "clearing faults: {status} {body}"
    );
}

/// The fault rules with their `fired` counts, as the emulator lists them.
pub async fn faults(endpoint: &str) -> serde_json::Value {
    let (_, body) = send(endpoint, "GET", "/_mock/faults", &[], "")
        .await
        .expect("an answer from the emulator");
    serde_json::from_str(&body).expect("the rule list is JSON")
}

/// How often each fault rule has fired, by its target.
pub async fn fired(endpoint: &str) -> BTreeMap<String, u64> {
    faults(endpoint).await["rules"]
        .as_array()
        .expect("a list of rules")
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap_or_default().to_owned(),
                r["fired"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}
