//! The HTTP front: routes, dispatch by `X-Amz-Target`, latency and faults, and an
//! accept loop of our own so a fault can close a connection without answering.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::FutureExt as _;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::Service as _;

use crate::error::AwsError;
use crate::faults::{FaultRule, ReadCaps};
use crate::protocol::{self, RequestContext, Service, DEFAULT_REGION};
use crate::state::MockState;

/// The largest request body accepted (DynamoDB batch writes stay far below it).
const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Lets a handler close its own connection without answering (`drop_response`).
#[derive(Debug, Clone, Default)]
struct ConnectionDrop(Arc<Notify>);

/// The emulator's routes, for in-process use with any server.
pub(crate) fn router(state: MockState) -> Router {
    Router::new()
        .route("/_mock/health", get(health))
        .route(
            "/_mock/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_mock/reset", post(reset))
        .route("/_mock/quotas", get(get_quotas).post(set_quotas))
        .route(
            "/_mock/replication",
            get(replication_status).post(set_replication),
        )
        .route(
            "/_mock/container-credentials/{role}",
            get(container_credentials),
        )
        .route("/latest/api/token", axum::routing::put(imds_token))
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(imds_list),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/{role}",
            get(imds_role),
        )
        .fallback(aws)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting,
/// lets in-flight requests finish (up to a few seconds) and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(accept(
                        stream,
                        peer,
                        tls.clone(),
                        router.clone(),
                        stop_rx.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
        // An aborted task is dropped (and with it its hold on the state, and
        // so on the data dir) when it is next polled: wait for that too.
        while connections.join_next().await.is_some() {}
    }
}

/// One accepted connection: its TLS handshake first, when serving TLS.
async fn accept(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return connection(stream, peer, router, stop).await;
    };
    // A client that connects and says nothing holds a task, not the listener.
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => connection(stream, peer, router, stop).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn connection<S>(stream: S, peer: SocketAddr, router: Router, mut stop: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let dropper = ConnectionDrop::default();
    let handle = dropper.clone();
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(handle.clone());
        // A panic is a bug; the client still gets an answer (500, which SDKs
        // classify as a server error) rather than a connection closed under it.
        let call = std::panic::AssertUnwindSafe(router.clone().call(request)).catch_unwind();
        async move {
            Ok::<_, std::convert::Infallible>(match call.await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::error!(%peer, "a request handler panicked (a bug); answered 500");
                    panicked()
                }
            })
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = dropper.0.notified() => {
                // Dropping the connection closes the socket with no response written.
                tracing::info!(%peer, "fault: closing the connection without answering");
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The answer to a request whose handler panicked: AWS's JSON error shape.
fn panicked() -> Response {
    let mut response = (
        StatusCode::INTERNAL_SERVER_ERROR,
        serde_json::json!({
            "__type": "InternalFailure",
            "message": "the emulator failed to handle the request (a bug; see its log)",
        })
        .to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `{"rules": [...]}`, each rule with its `fired` and `remaining` counts.
fn fault_list(state: &MockState) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "rules": state.inner.faults.list() }))
}

async fn list_faults(State(state): State<MockState>) -> impl IntoResponse {
    fault_list(&state)
}

async fn add_fault(State(state): State<MockState>, body: Bytes) -> Response {
    let rule: FaultRule = match serde_json::from_slice(&body) {
        Ok(rule) => rule,
        Err(e) => return bad_request(format!("invalid fault rule: {e}")),
    };
    match state.inner.faults.add(rule) {
        Ok(()) => (StatusCode::CREATED, fault_list(&state)).into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn clear_faults(State(state): State<MockState>) -> StatusCode {
    state.inner.faults.clear();
    StatusCode::NO_CONTENT
}

async fn get_quotas(State(state): State<MockState>) -> Response {
    Json(state.quotas()).into_response()
}

/// Changes the quotas: the posted members replace theirs, the others stay.
async fn set_quotas(State(state): State<MockState>, body: Bytes) -> Response {
    let change: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Object(change)) => serde_json::Value::Object(change),
        Ok(_) => return bad_request("invalid quotas: expected a JSON object".to_owned()),
        Err(e) => return bad_request(format!("invalid quotas: {e}")),
    };
    let mut merged = serde_json::to_value(state.quotas()).unwrap_or_default();
    if let (Some(to), Some(from)) = (merged.as_object_mut(), change.as_object()) {
        for (k, v) in from {
            to.insert(k.clone(), v.clone());
        }
    }
    match serde_json::from_value::<crate::Quotas>(merged) {
        Ok(quotas) => {
            state.set_quotas(quotas);
            Json(state.quotas()).into_response()
        }
        Err(e) => bad_request(format!("invalid quotas: {e}")),
    }
}

/// A change to global-table replication, as posted to `/_mock/replication`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplicationChange {
    lag_ms: Option<u64>,
    jitter_ms: Option<u64>,
    paused: Option<bool>,
    #[serde(default)]
    flush: bool,
}

/// The longest lag or jitter `/_mock/replication` takes (a day).
const MAX_REPLICATION_LAG_MS: u64 = crate::dynamodb::MAX_REPLICATION_LAG.as_millis() as u64;

async fn replication_status(State(state): State<MockState>) -> Response {
    // Reading the status applies due copies, which may fsync the journal.
    match tokio::task::spawn_blocking(move || state.replication_status()).await {
        Ok(status) => axum::Json(status).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn set_replication(State(state): State<MockState>, body: Bytes) -> Response {
    let change: ReplicationChange = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(e) => return bad_request(format!("invalid replication change: {e}")),
    };
    let too_long = |v: Option<u64>| v.is_some_and(|ms| ms > MAX_REPLICATION_LAG_MS);
    if too_long(change.lag_ms) || too_long(change.jitter_ms) {
        return bad_request(format!(
            "lag_ms and jitter_ms must be at most {MAX_REPLICATION_LAG_MS}"
        ));
    }
    let result = tokio::task::spawn_blocking(move || {
        if change.lag_ms.is_some() || change.jitter_ms.is_some() {
            let now = state.replication_status();
            state.set_replication_lag(
                Duration::from_millis(change.lag_ms.unwrap_or(now.lag_ms)),
                Duration::from_millis(change.jitter_ms.unwrap_or(now.jitter_ms)),
            );
        }
        if let Some(paused) = change.paused {
            state.pause_replication(paused);
        }
        if change.flush {
            state.flush_replication();
        }
        state.replication_status()
    })
    .await;
    match result {
        Ok(status) => axum::Json(status).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn reset(State(state): State<MockState>) -> Response {
    let result = tokio::task::spawn_blocking(move || state.reset()).await;
    match result {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.message).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn container_credentials(
    State(state): State<MockState>,
    Path(role): Path<String>,
    headers: HeaderMap,
) -> Response {
    match &state.inner.auth {
        Some(auth) => crate::identity::sts::container_credentials(auth, &role, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn imds_token(State(state): State<MockState>, headers: HeaderMap) -> Response {
    match &state.inner.auth {
        Some(_) => state.inner.imds_tokens.issue(&headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn imds_list(State(state): State<MockState>, headers: HeaderMap) -> Response {
    match &state.inner.auth {
        Some(auth) => {
            crate::identity::sts::imds_credentials(auth, &state.inner.imds_tokens, None, &headers)
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn imds_role(
    State(state): State<MockState>,
    Path(role): Path<String>,
    headers: HeaderMap,
) -> Response {
    match &state.inner.auth {
        Some(auth) => crate::identity::sts::imds_credentials(
            auth,
            &state.inner.imds_tokens,
            Some(&role),
            &headers,
        ),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An STS query-protocol call (`POST /`, form-encoded `Action=...`).
fn sts(
    state: &MockState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let request_id = protocol::request_id();
    let params = crate::identity::sts::parse_form(body);
    let Some(auth) = &state.inner.auth else {
        return crate::identity::sts::handle_open(
            &state.inner.config.account_id,
            &params,
            &request_id,
        );
    };
    let action = params.get("Action").map(String::as_str).unwrap_or("");
    if action == "AssumeRoleWithWebIdentity" {
        // Unsigned by design: the token is the credential.
        return crate::identity::sts::handle(auth, None, &params, &request_id);
    }
    match auth.authenticate(
        "sts",
        method.as_str(),
        uri,
        headers,
        body,
        SystemTime::now(),
    ) {
        Ok((principal, _)) => {
            crate::identity::sts::handle(auth, Some(&principal), &params, &request_id)
        }
        Err(e) => {
            auth.audit().failure(
                &request_id,
                &format!("sts:{action}"),
                access_key_id(headers).as_deref(),
                &e.code,
            );
            crate::identity::sts::auth_error(&e.code, &e.message, &request_id)
        }
    }
}

/// The access key id a request claims, for the audit log of a failed authentication.
fn access_key_id(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    Some(cred.split('/').next()?.to_owned())
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// Every AWS JSON call: `POST /` with `X-Amz-Target: Service.Operation`.
async fn aws(
    State(state): State<MockState>,
    dropper: Option<Extension<ConnectionDrop>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrival = Instant::now();
    let request_id = protocol::request_id();
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if target.is_none() && method == Method::POST && form {
        return sts(&state, &method, &uri, &headers, &body);
    }
    let Some((service, operation)) = target.and_then(Service::parse_target) else {
        if method != Method::POST && target.is_none() {
            return StatusCode::NOT_FOUND.into_response();
        }
        return protocol::unknown_target(&request_id, target);
    };
    let operation = operation.to_owned();
    // A clock fault moves "now" for the signature check and the `Date` header alike,
    // as a server whose clock is off would.
    let region = protocol::signed_region(&headers).unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let skew = state
        .inner
        .faults
        .clock_skew(service.name(), &operation, &region);
    let now = skewed(SystemTime::now(), skew);
    let mut response = call(
        &state, dropper, &method, &uri, &headers, body, request_id, service, operation, now,
        arrival,
    )
    .await;
    if skew != 0 {
        if let Ok(date) = HeaderValue::from_str(&crate::dates::http_date(now)) {
            response.headers_mut().insert(header::DATE, date);
        }
    }
    response
}

/// `now` moved by `skew_s` seconds (either way).
fn skewed(now: SystemTime, skew_s: i64) -> SystemTime {
    let by = Duration::from_secs(skew_s.unsigned_abs());
    if skew_s >= 0 {
        now + by
    } else {
        now - by
    }
}

/// One KMS or DynamoDB call, authenticated against the clock reading `now`.
#[allow(clippy::too_many_arguments)]
async fn call(
    state: &MockState,
    dropper: Option<Extension<ConnectionDrop>>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    request_id: String,
    service: Service,
    operation: String,
    now: SystemTime,
    arrival: Instant,
) -> Response {
    let ctx = RequestContext {
        region: protocol::signed_region(headers).unwrap_or_else(|| DEFAULT_REGION.to_owned()),
    };
    // Each region named is a store of its own, kept for the emulator's life: a
    // scope that names no region is refused, as AWS refuses it.
    if !protocol::valid_region(&ctx.region) {
        let err = AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureException",
            "Credential should be scoped to a valid region.",
        );
        return protocol::failure(service, &request_id, &err);
    }

    if let Some(auth) = &state.inner.auth {
        let action = format!("{}:{operation}", service.name());
        let principal = match auth.authenticate(
            service.name(),
            method.as_str(),
            uri,
            headers,
            &body,
            now,
        ) {
            Ok((principal, _)) => principal,
            Err(err) => {
                auth.audit().failure(
                    &request_id,
                    &action,
                    access_key_id(headers).as_deref(),
                    &err.code,
                );
                tracing::debug!(service = service.name(), %operation, code = %err.code, "authentication failed");
                return protocol::failure(service, &request_id, &err);
            }
        };
        let parsed: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        if state.is_shared() {
            // The checks resolve keys and tables: see what other processes made.
            let worker = state.clone();
            let caught_up = tokio::task::spawn_blocking(move || worker.in_turn(|| Ok(())))
                .await
                .unwrap_or_else(|_| Err(AwsError::internal("catching up panicked")));
            if let Err(err) = caught_up {
                return protocol::failure(service, &request_id, &err);
            }
        }
        let checks = match service {
            Service::Kms => crate::identity::authz::kms_checks(
                &state.inner.kms,
                &operation,
                &parsed,
                &ctx.region,
            ),
            Service::DynamoDb => crate::identity::authz::dynamodb_checks(
                &state.inner.dynamodb,
                &state.inner.config.account_id,
                &operation,
                &parsed,
                &ctx.region,
            ),
        };
        if let Err(err) = auth.authorize(&principal, &checks, &request_id) {
            return protocol::failure(service, &request_id, &err);
        }
    }

    // Injected latency is the time from the request's arrival to the operation
    // taking effect (and its answer going out): the emulator's own service time
    // counts towards it rather than adding to it.
    let fault = state
        .inner
        .faults
        .check(service.name(), &operation, &ctx.region);
    let latency = state.inner.config.latency + fault.latency;
    if !latency.is_zero() {
        crate::delay::until(arrival + latency).await;
    }

    let result = match fault.error {
        Some(err) => Err(err),
        None => {
            let body: serde_json::Value = if body.is_empty() {
                serde_json::json!({})
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(_) => {
                        let err = AwsError::serialization("the request body is not valid JSON");
                        return protocol::failure(service, &request_id, &err);
                    }
                }
            };
            let mut body = body;
            let charge =
                match service {
                    Service::Kms => state
                        .inner
                        .quotas
                        .admit_kms(&operation, &ctx.region)
                        .map(|()| None),
                    Service::DynamoDb => state.inner.quotas.admit_dynamodb(
                        &operation,
                        &mut body,
                        &ctx.region,
                        |table| state.inner.dynamodb.throughput_of(&ctx.region, table),
                    ),
                };
            let charge = match charge {
                Ok(charge) => charge,
                Err(err) => {
                    tracing::debug!(service = service.name(), %operation, code = %err.code, "throttled by a quota");
                    return protocol::failure(service, &request_id, &err);
                }
            };
            let caps = fault.caps;
            let op = operation.clone();
            let run = move |state: &MockState| {
                state.in_turn(|| match service {
                    Service::DynamoDb if caps != ReadCaps::default() => {
                        state.inner.dynamodb.handle_capped(&op, &body, caps, &ctx)
                    }
                    _ => state.call(service, &op, &body, &ctx),
                })
            };
            let mut result = if state.inner.config.data_dir.is_some() {
                // Operations may fsync the journal: keep that off the async workers.
                let worker = state.clone();
                tokio::task::spawn_blocking(move || run(&worker))
                    .await
                    .unwrap_or_else(|_| Err(AwsError::internal("the operation panicked")))
            } else {
                // In memory an operation is a few microseconds under a lock; a
                // blocking-pool hand-off (a thread per concurrent call) costs more.
                // A panic (a bug) still answers 500, as from the blocking pool.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(state)))
                    .unwrap_or_else(|_| Err(AwsError::internal("the operation panicked")))
            };
            if let Some(charge) = charge {
                // A refused write (a failed condition) consumes capacity too.
                let mut refused = serde_json::json!({});
                let out = result.as_mut().map_or(&mut refused, |r| &mut r.body);
                state.inner.quotas.settle(charge, &operation, out);
            }
            result
        }
    };

    if fault.drop_response {
        match dropper {
            Some(Extension(dropper)) => {
                dropper.0.notify_one();
                // The connection task drops this future along with the connection.
                return std::future::pending().await;
            }
            None => {
                let err = AwsError::internal(
                    "drop_response needs the emulator's own server (start() or the binary)",
                );
                return protocol::failure(service, &request_id, &err);
            }
        }
    }

    match result {
        Ok(out) => {
            tracing::debug!(service = service.name(), %operation, "ok");
            protocol::success(service, &request_id, &out)
        }
        Err(err) => {
            tracing::debug!(service = service.name(), %operation, code = %err.code, "error");
            protocol::failure(service, &request_id, &err)
        }
    }
}
