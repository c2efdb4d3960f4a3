//! `--metrics ADDR`: the plugins' metrics (see docs/operating.md) in the Prometheus text
//! format at `http://ADDR/metrics`, served by a small HTTP/1.x responder on the runtime.
//!
//! One connection at a time, each bounded in size and time: a scraper asks a few times a
//! minute, and a client that stalls cannot hold the responder for longer than [`PATIENCE`].

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use plugin_manager::PluginManager;
use plugin_manager::host_kit::health::refresh_metrics;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// How long one request may take to arrive and be answered.
const PATIENCE: Duration = Duration::from_secs(5);

/// The most of a request that is read: its request line and headers.
const MAX_REQUEST: usize = 8 * 1024;

/// Installs the Prometheus recorder as the process's `metrics` recorder and binds `addr`;
/// must run before the plugins start, so their series are recorded from the first.
pub(crate) async fn bind(addr: SocketAddr) -> Result<(TcpListener, PrometheusHandle), String> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| format!("cannot install the metrics recorder: {error}"))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| format!("cannot listen on {addr} for metrics: {error}"))?;
    Ok((listener, handle))
}

/// Answers scrapes until dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    manager: &PluginManager,
) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            continue;
        };
        let _ = tokio::time::timeout(PATIENCE, answer(stream, &handle, manager)).await;
    }
}

async fn answer(
    mut stream: TcpStream,
    handle: &PrometheusHandle,
    manager: &PluginManager,
) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = request
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, path) = (words.next(), words.next());
    let (status, content_type, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            refresh_metrics(&manager.records());
            ("200 OK", "text/plain; version=0.0.4", handle.render())
        }
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "try /metrics\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET /metrics\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
