//! A running emulator: on the caller's tokio runtime ([`start_with`] returns a
//! [`RunningMock`]) or on a thread and runtime of its own ([`spawn_thread`] returns
//! a [`BackgroundMock`], for synchronous tests and tools). Both give the endpoint
//! and the in-process hooks (KMS aliases, fault rules) without a round trip over
//! HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Config, StartError};
use crate::error::AwsError;
use crate::faults::Faults;
use crate::protocol::DEFAULT_REGION;
use crate::server;
use crate::state::MockState;
use crate::tls::TlsServer;

/// Starts an in-memory emulator on a free loopback port.
pub async fn start() -> Result<RunningMock, StartError> {
    start_with(Config::default()).await
}

/// Starts an emulator for `config` (on `127.0.0.1:0` unless it says otherwise).
pub async fn start_with(config: Config) -> Result<RunningMock, StartError> {
    let addr = config.listen;
    let strict = config.is_strict();
    let tls = config
        .tls
        .as_ref()
        .map(TlsServer::new)
        .transpose()
        .map_err(StartError::Tls)?;
    let state = MockState::new(config)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let ca_pem = tls.as_ref().and_then(|t| t.ca_pem.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = tokio::spawn(server::serve(
        listener,
        server::router(state.clone()),
        tls.map(|t| t.acceptor),
        async move {
            let _ = stopped.await;
        },
    ));
    if strict {
        tracing::info!(%local, "lockbox-mock is in strict mode: SigV4 and IAM policies enforced");
    } else {
        tracing::warn!(
            %local,
            "lockbox-mock is in open mode: requests are not authenticated or authorized"
        );
    }
    Ok(RunningMock {
        addr: local,
        scheme,
        ca_pem,
        state,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Serves `state` on an already-bound listener until `shutdown` resolves (the
/// binary's entry point; [`start_with`] is the usual one).
pub async fn serve(
    listener: TcpListener,
    state: MockState,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    server::serve(listener, server::router(state), None, shutdown).await
}

/// A running emulator. Dropping it stops the server without waiting; use
/// [`RunningMock::shutdown`] to know when it has stopped.
#[derive(Debug)]
pub struct RunningMock {
    addr: SocketAddr,
    scheme: &'static str,
    ca_pem: Option<Arc<str>>,
    state: MockState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningMock {
    /// The endpoint to give AWS clients, e.g. `http://127.0.0.1:40123`
    /// (`https://` when serving TLS).
    pub fn endpoint_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The PEM certificate of the authority that signed the emulator's TLS
    /// certificate, when the emulator made it ([`Config::tls`]); clients trust
    /// it through `AWS_CA_BUNDLE` or their TLS settings.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The emulated state, for the in-process hooks [`MockState`] has.
    pub fn state(&self) -> &MockState {
        &self.state
    }

    /// The fault rules, in process (what `/_mock/faults` changes over HTTP).
    pub fn faults(&self) -> &Faults {
        self.state.faults()
    }

    /// The ARN of the KMS key `alias` names in `us-east-1` (the region of the
    /// AWS SDKs' defaults), after creating the key and the alias if the alias
    /// does not exist; see [`MockState::ensure_alias_in`].
    pub fn ensure_alias(&self, alias: &str) -> Result<String, AwsError> {
        self.state.ensure_alias_in(DEFAULT_REGION, alias)
    }

    /// [`RunningMock::ensure_alias`] in another region.
    pub fn ensure_alias_in(&self, region: &str, alias: &str) -> Result<String, AwsError> {
        self.state.ensure_alias_in(region, alias)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server.
    /// When it returns, the data dir (if any) is released for another emulator.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts an emulator for `config` on a thread of its own, with its own tokio
/// runtime, so that code without a runtime (a synchronous test, a test that runs
/// a child process) can use one. It serves until the [`BackgroundMock`] is dropped.
pub fn spawn_thread(config: Config) -> Result<BackgroundMock, StartError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("lockbox-mock".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(StartError::Thread(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                match start_with(config).await {
                    Ok(mock) => {
                        let _ = ready_tx.send(Ok((
                            mock.addr,
                            mock.scheme,
                            mock.ca_pem.clone(),
                            mock.state.clone(),
                        )));
                        // Until asked to stop, or until the handle is gone.
                        let _ = stop_rx.await;
                        mock.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(StartError::Thread)?;
    match ready_rx.recv() {
        Ok(Ok((addr, scheme, ca_pem, state))) => Ok(BackgroundMock {
            addr,
            scheme,
            ca_pem,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        // The thread ended without a word: it panicked; pass the panic on.
        Err(_) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the emulator's thread always reports before it ends"),
        },
    }
}

/// An emulator serving from its own thread ([`spawn_thread`]). Dropping it stops
/// the server and waits for the thread (in-flight requests get a few seconds), so
/// its data dir, if any, is free for another emulator afterwards.
#[derive(Debug)]
pub struct BackgroundMock {
    addr: SocketAddr,
    scheme: &'static str,
    ca_pem: Option<Arc<str>>,
    state: MockState,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<ThreadHandle<()>>,
}

impl BackgroundMock {
    /// The endpoint to give AWS clients, e.g. `http://127.0.0.1:40123`
    /// (`https://` when serving TLS).
    pub fn endpoint_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The PEM certificate of the authority that signed the emulator's TLS
    /// certificate, when the emulator made it ([`Config::tls`]); clients trust
    /// it through `AWS_CA_BUNDLE` or their TLS settings.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The emulated state, for the in-process hooks [`MockState`] has.
    pub fn state(&self) -> &MockState {
        &self.state
    }

    /// The fault rules, in process (what `/_mock/faults` changes over HTTP).
    pub fn faults(&self) -> &Faults {
        self.state.faults()
    }

    /// As [`RunningMock::ensure_alias`].
    pub fn ensure_alias(&self, alias: &str) -> Result<String, AwsError> {
        self.state.ensure_alias_in(DEFAULT_REGION, alias)
    }

    /// As [`RunningMock::ensure_alias_in`].
    pub fn ensure_alias_in(&self, region: &str, alias: &str) -> Result<String, AwsError> {
        self.state.ensure_alias_in(region, alias)
    }
}

impl Drop for BackgroundMock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
