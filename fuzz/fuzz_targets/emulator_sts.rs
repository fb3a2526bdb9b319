//! The emulator's STS front, in process through its router: a form-encoded
//! `POST /` with no `X-Amz-Target`, parsed by the STS form parser and answered by
//! the query protocol, in open mode and in strict mode (unsigned, so every action
//! but `AssumeRoleWithWebIdentity` stops at authentication; that one checks its
//! token). Never a panic, never a server error: every answer is 2xx, or a 4xx
//! whose body is an STS `<ErrorResponse>` with a `<Code>`.
//!
//! Input: the first byte chooses the mode (lowest bit: strict); the rest is the
//! body, as bytes (not necessarily UTF-8).
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use lockbox_mock::{Config, MockState};
use tower::ServiceExt;

const IAM: &str = r#"{"users": [{"name": "fuzz", "access_key_id": "AKIAFUZZ",
  "secret_access_key": "fuzz-secret", "policies": [{"Statement":
  {"Effect": "Allow", "Action": "*", "Resource": "*"}}]}],
  "roles": [{"name": "r", "trust": {"users": ["fuzz"], "web_identity": true}}]}"#;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fn states() -> &'static (MockState, MockState) {
    static STATES: OnceLock<(MockState, MockState)> = OnceLock::new();
    STATES.get_or_init(|| {
        let strict = MockState::new(Config::builder().iam_json(IAM)).expect("strict state");
        (MockState::in_memory(), strict)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let (open, strict) = states();
    let state = if mode & 1 == 1 { strict } else { open };
    runtime().block_on(async {
        let request = Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_vec()))
            .unwrap();
        let response = lockbox_mock::router(state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(status < 500, "{status} {text}");
        if status >= 400 {
            assert!(
                text.starts_with("<ErrorResponse") && text.contains("<Code>"),
                "{status} without an STS error: {text}"
            );
        }
    });
});
