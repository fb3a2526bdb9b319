//! The network between a client and the emulator, on loopback: an HTTP proxy
//! that records what goes through it (a corporate proxy, for tests), and a delay
//! proxy that gives every packet a one-way latency in both directions, so that
//! TCP and TLS handshakes pay the round trips they pay on a real network.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;

/// One request a [`RecordingProxy`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// `CONNECT` for a tunnel (https), else the forwarded request's method.
    pub method: String,
    /// `host:port` for `CONNECT`, the absolute URL otherwise.
    pub target: String,
    /// The `user:password` of `Proxy-Authorization: Basic`, if sent.
    pub credentials: Option<String>,
}

/// How a [`RecordingProxy`] behaves.
#[derive(Debug, Clone, Default)]
pub struct RecordingProxyConfig {
    /// Refuse (407) requests without these `user:password` credentials.
    pub require: Option<String>,
    /// Connect every target to this address instead (a client can then name
    /// AWS's hosts and reach an emulator whose certificate carries those names).
    pub redirect_to: Option<SocketAddr>,
}

/// A loopback HTTP proxy (`CONNECT` tunnels and absolute-form forwarding) that
/// records each request, on threads of its own. Dropping it stops it.
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<ProxiedRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingProxy {
    /// Starts a proxy on `127.0.0.1` and a free port.
    pub fn start(config: RecordingProxyConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("recording-proxy".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let requests = requests.clone();
                        let config = config.clone();
                        std::thread::spawn(move || {
                            let _ = proxy_one(conn, &config, &requests);
                        });
                    }
                })?
        };
        Ok(Self {
            addr,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn proxy_one(
    client: TcpStream,
    config: &RecordingProxyConfig,
    requests: &Mutex<Vec<ProxiedRequest>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n" || line == "\n";
        head.push(line);
        if end {
            break;
        }
    }
    let mut first = head[0].split_whitespace();
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let credentials = head.iter().find_map(|h| {
        let (name, value) = h.split_once(':')?;
        if !name.eq_ignore_ascii_case("proxy-authorization") {
            return None;
        }
        let encoded = value.trim().strip_prefix("Basic ")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        String::from_utf8(bytes).ok()
    });
    requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(ProxiedRequest {
            method: method.clone(),
            target: target.clone(),
            credentials: credentials.clone(),
        });
    let mut client_w = client.try_clone()?;
    if config.require.is_some() && credentials != config.require {
        client_w.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic \
              realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    let (host_port, forward) = if method == "CONNECT" {
        (target.clone(), None)
    } else {
        // http://host:port/path -> host:port, and the request in origin form.
        let rest = target.strip_prefix("http://").unwrap_or(&target);
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let mut request = format!(
            "{method} {} {}",
            if path.is_empty() { "/" } else { path },
            head[0].split_whitespace().nth(2).unwrap_or("HTTP/1.1")
        );
        request.push_str("\r\n");
        for h in &head[1..] {
            let name = h.split(':').next().unwrap_or_default();
            if !name.eq_ignore_ascii_case("proxy-authorization")
                && !name.eq_ignore_ascii_case("proxy-connection")
            {
                request.push_str(h);
            }
        }
        (host, Some(request))
    };
    let upstream = match config.redirect_to {
        Some(addr) => TcpStream::connect(addr),
        None => TcpStream::connect(host_port.as_str()),
    };
    let mut upstream = match upstream {
        Ok(u) => u,
        Err(_) => {
            client_w.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        }
    };
    match forward {
        None => client_w.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?,
        Some(request) => upstream.write_all(request.as_bytes())?,
    }
    // What the reader buffered past the head belongs to the tunnel.
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered)?;
    let mut up_r = upstream.try_clone()?;
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Write);
    });
    let mut client_r = reader.into_inner();
    client_r.set_read_timeout(None)?;
    let _ = std::io::copy(&mut client_r, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = down.join();
    Ok(())
}

/// A TCP proxy that delays every chunk of bytes by half of `rtt` in each
/// direction, and a new connection's first bytes by one more `rtt` (the TCP
/// handshake a real network makes the client wait for): a TLS handshake over it
/// costs what it costs across a network with that round-trip time. Bandwidth
/// and loss are not modelled. Dropping it stops it and its connections.
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Starts a delay proxy on `listen` (port 0: a free one) in front of
    /// `upstream`, on a thread and runtime of its own.
    pub fn start(listen: SocketAddr, upstream: SocketAddr, rtt: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = stop_rx => {}
                        () = serve_delayed(listener, upstream, rtt) => {}
                    }
                });
            })?;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The proxy's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts on `listener` and relays each connection to `upstream` with the
/// delays [`DelayProxy`] describes, until dropped (the binary's entry point).
pub async fn serve_delayed(listener: tokio::net::TcpListener, upstream: SocketAddr, rtt: Duration) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    connections.spawn(relay(client, upstream, rtt));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay(client: tokio::net::TcpStream, upstream: SocketAddr, rtt: Duration) {
    let opened = tokio::time::Instant::now();
    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_r, client_w) = client.into_split();
    let (server_r, server_w) = server.into_split();
    let one_way = rtt / 2;
    // The client's SYN, the SYN-ACK: its first byte leaves one round trip late.
    let up = pump(client_r, server_w, one_way, opened + rtt);
    let down = pump(server_r, client_w, one_way, opened);
    let _ = tokio::join!(up, down);
}

/// Half of tokio's timer resolution (see `pump`).
const TIMER_SLACK: Duration = Duration::from_micros(500);

/// Copies `from` to `to`, each chunk delivered `delay` after it was read (and
/// not before `not_before`), in order; then shuts `to` down for writing.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    not_before: tokio::time::Instant,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let at = tokio::time::Instant::now().max(not_before) + delay;
                    if tx.send((at, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            // tokio's timer fires on the first 1 ms tick at or after its deadline,
            // 0.5 ms late on average: aim that much early, so that the mean delay
            // is the one asked for.
            let aim = at.checked_sub(TIMER_SLACK).unwrap_or(at);
            tokio::time::sleep_until(aim).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
