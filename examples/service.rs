//! A web service that uses a secret on every request and follows its rotation.
//!
//! `POST /sign` answers the HMAC-SHA256 of the request body under the signing key
//! `app/signing-key`, read from lockbox for each request, with the key's version so
//! a verifier knows which key to use. `GET /healthz` says whether the key can be
//! read. One [`Lockbox`] is shared by every handler (it is a cheap `Clone`, `Send`
//! and `Sync`), its cache makes the per-request read a memory lookup, and
//! [`follow_rotation`] keeps that cache current: a new version is served from the
//! first request after the watcher sees it, without a restart.
//!
//! Failures map to what a client can act on, never to the secret or AWS's words:
//! an unavailable, throttled or slow backend is `503` with `Retry-After`; a key
//! that is missing, refused or fails its integrity check is `500` (a deployment
//! problem: it is logged, and retrying will not help).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt as _;
use hmac::{Hmac, Mac};
use lockbox::{EncryptionContext, ErrorKind, ExposeSecret, Lockbox, SecretName};
use serde_json::json;
use sha2::Sha256;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    lockbox: Lockbox,
    key: SecretName,
    rotations: Arc<AtomicU64>,
}

impl AppState {
    /// A service signing with `key`, read through `lockbox`.
    pub fn new(lockbox: Lockbox, key: SecretName) -> Self {
        Self {
            lockbox,
            key,
            rotations: Arc::default(),
        }
    }

    /// How many rotations [`follow_rotation`] has seen.
    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::Relaxed)
    }
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/sign", post(sign))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Watch the signing key every `every` (with jitter) and refresh the cache when it
/// rotates, until the returned task is aborted. A rollback (a newer version
/// deleted behind the service's back) is logged and the newer key kept.
pub fn follow_rotation(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rotations = std::pin::pin!(state.lockbox.watch(
            vec![state.key.clone()],
            EncryptionContext::new(),
            every
        ));
        while let Some(event) = rotations.next().await {
            match event {
                Ok(r) => {
                    state.rotations.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "signing key {} rotated to version {}",
                        r.secret.name, r.secret.version
                    );
                }
                // The message names the secret and the class, never the value.
                Err(e) => eprintln!("watching the signing key: {e}"),
            }
        }
    })
}

async fn sign(State(state): State<AppState>, body: Bytes) -> Response {
    let key = match state
        .lockbox
        .get(&state.key, &EncryptionContext::new())
        .await
    {
        Ok(key) => key,
        Err(e) => return failure(&e),
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.value.expose_secret())
        .expect("HMAC takes a key of any length");
    mac.update(&body);
    Json(json!({
        "key": state.key.as_str(),
        "key_version": key.version.get(),
        "signature": hex::encode(mac.finalize().into_bytes()),
        "stale": key.stale,
    }))
    .into_response()
    // `key` drops here, and its value is wiped.
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state
        .lockbox
        .get(&state.key, &EncryptionContext::new())
        .await
    {
        Ok(key) => Json(json!({
            "status": "ok",
            "key_version": key.version.get(),
            "rotations_seen": state.rotations(),
        }))
        .into_response(),
        Err(e) => failure(&e),
    }
}

/// An error as the client sees it: the class, never the message (which names
/// tables and keys), and whether trying again may help.
fn failure(e: &lockbox::Error) -> Response {
    eprintln!("signing key unavailable: {e}");
    let class = match e.kind() {
        ErrorKind::NotFound => "not found",
        ErrorKind::Denied => "denied",
        ErrorKind::Integrity => "integrity",
        ErrorKind::Throttled => "throttled",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Unavailable => "unavailable",
        _ => "other",
    };
    let body = Json(json!({"error": "signing key unavailable", "class": class}));
    if e.is_retryable() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            body,
        )
            .into_response()
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use lockbox::{testing, PutOptions};
    use tower::ServiceExt as _;

    async fn call(
        app: &Router,
        method: &str,
        path: &str,
        body: &str,
    ) -> (StatusCode, serde_json::Value) {
        let response = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::from(body.to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn expected(key: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[tokio::test]
    async fn signs_with_the_current_key_and_follows_its_rotation() {
        let lockbox = testing::lockbox()
            .secret("app/signing-key", "first-key")
            .build();
        let state = AppState::new(lockbox.clone(), SecretName::from_static("app/signing-key"));
        let app = router(state.clone());
        let watcher = follow_rotation(state.clone(), Duration::from_millis(20));

        let (status, body) = call(&app, "POST", "/sign", "hello").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["key_version"], 1);
        assert_eq!(body["signature"], expected("first-key", "hello"));
        assert!(!body.to_string().contains("first-key"), "{body}");

        // An operator rotates the key: the next request signs with version 2, and
        // the watcher reports the rotation.
        lockbox
            .put(
                &SecretName::from_static("app/signing-key"),
                &"second-key".into(),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        let (status, body) = call(&app, "POST", "/sign", "hello").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["key_version"], 2);
        assert_eq!(body["signature"], expected("second-key", "hello"));
        // The watcher takes its baseline on its first poll, whenever its task
        // first runs; rotate again until it has seen one (it may have started
        // after the first put), then check what the service serves.
        let mut version = 2;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if state.rotations() > 0 {
                break;
            }
            version = lockbox
                .put(
                    &SecretName::from_static("app/signing-key"),
                    &"second-key".into(),
                    &PutOptions::default(),
                )
                .await
                .unwrap()
                .get();
        }
        assert!(state.rotations() > 0, "the watcher saw a rotation");
        let (_, health) = call(&app, "GET", "/healthz", "").await;
        assert_eq!(health["key_version"], version);
        assert!(health["rotations_seen"].as_u64().unwrap() >= 1, "{health}");
        watcher.abort();
    }

    #[tokio::test]
    async fn failures_become_a_status_a_client_can_act_on_without_details() {
        let name = SecretName::from_static("app/signing-key");
        for (make, status, class) in [
            (
                testing::unavailable as testing::MakeError,
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            ),
            (
                testing::throttled,
                StatusCode::SERVICE_UNAVAILABLE,
                "throttled",
            ),
            (testing::denied, StatusCode::INTERNAL_SERVER_ERROR, "denied"),
        ] {
            let lockbox = testing::lockbox().failing("app/signing-key", make).build();
            let app = router(AppState::new(lockbox, name.clone()));
            let (got, body) = call(&app, "POST", "/sign", "hello").await;
            assert_eq!(got, status, "{class}");
            assert_eq!(body["class"], class);
            assert!(
                !body.to_string().contains("injected"),
                "no backend text: {body}"
            );
        }
        let app = router(AppState::new(testing::lockbox().build(), name));
        let (got, body) = call(&app, "GET", "/healthz", "").await;
        assert_eq!(got, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["class"], "not found");
    }
}
