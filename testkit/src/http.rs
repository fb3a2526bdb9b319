//! One raw HTTP/1.1 exchange with an emulator (`Connection: close`), below any
//! SDK: for `/_mock` calls, unsigned AWS JSON calls in open mode, and malformed
//! requests no SDK would send.

use std::io::{Read, Write};
use std::net::TcpStream;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The request bytes for one exchange with `endpoint` (`http://HOST:PORT`).
fn request(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let addr = host(endpoint);
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request
}

fn host(endpoint: &str) -> &str {
    endpoint.trim_start_matches("http://")
}

/// `(status, body)` from a whole response, or `None` if there was none.
fn parse(response: &[u8]) -> Option<(u16, String)> {
    if response.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(response).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// One exchange: `(status, body)`, or `None` if the server closed the connection
/// without answering.
pub async fn send(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(host(endpoint))
        .await
        .expect("connect to the emulator");
    let request = request(endpoint, method, path, headers, body);
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    parse(&response)
}

/// [`send`] from synchronous code (not from inside a runtime that also runs the
/// emulator: that would block its only thread).
pub fn send_blocking(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(host(endpoint)).expect("connect to the emulator");
    let request = request(endpoint, method, path, headers, body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    parse(&response)
}

/// An unsigned AWS JSON call (`target` such as `TrentService.CreateKey` or
/// `DynamoDB_20120810.GetItem`; the emulator in open mode), or with no target a
/// JSON call to a `/_mock` path. Returns the status and the body.
pub fn call(endpoint: &str, path: &str, target: Option<&str>, body: &str) -> (u16, String) {
    let headers: Vec<(&str, &str)> = match target {
        Some(t) => {
            let content_type = if t.starts_with("TrentService") {
                "application/x-amz-json-1.1"
            } else {
                "application/x-amz-json-1.0"
            };
            vec![("X-Amz-Target", t), ("Content-Type", content_type)]
        }
        None => vec![("Content-Type", "application/json")],
    };
    send_blocking(endpoint, "POST", path, &headers, body).expect("an answer from the emulator")
}
