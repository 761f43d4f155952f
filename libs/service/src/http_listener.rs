//! Serving an axum router on a listener with the limits an edge needs against slow or
//! numerous clients (`[http]` settings):
//!
//! - a deadline for each request's head (hyper's header read timeout), after which the
//!   connection is closed; it also closes a keep-alive connection idle that long;
//! - a deadline for each request's body, counted from its head: a body still incomplete then
//!   is answered `408 Request Timeout` and the connection closed;
//! - at most `max_connections` connections at once, an upgraded WebSocket counted until it
//!   closes; further clients wait in the kernel's accept queue.
//!
//! `axum::serve` exposes none of these, so the accept loop is hyper-util's, written here the way
//! `axum::serve` writes it: TCP_NODELAY, the peer's address as `ConnectInfo<SocketAddr>`,
//! HTTP/1 with upgrades and HTTP/2, and a graceful shutdown that lets in-flight requests finish.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use inbox_config::HttpSettings;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::Service as _;

/// Serves `router` on `listener` within the limits of `settings` until `shutdown`, letting
/// in-flight requests finish.
pub fn serve_http(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    shutdown: CancellationToken,
) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
    let limits = Limits {
        header_timeout: settings.header_timeout(),
        body_timeout: settings.body_timeout(),
        max_connections: settings.max_connections,
    };
    accept_until_shutdown(listener, router, limits, shutdown)
}

#[derive(Clone, Copy)]
struct Limits {
    header_timeout: Duration,
    body_timeout: Duration,
    max_connections: usize,
}

async fn accept_until_shutdown(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = router
        .layer(axum::middleware::from_fn(crate::http_edge::record_request))
        .layer(axum::middleware::from_fn_with_state(limits.body_timeout, answer_late_bodies_with_408));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        // A permit first, then the accept: beyond the limit, clients wait in the accept queue.
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    wait_after_accept_error(e).await;
                    continue;
                }
            },
        };
        // TCP_NODELAY: a multi-segment response must not wait for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        // Connect info: edges that limit by client address (web chat) read the peer from it.
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let io = TokioIo::new(CountedConnection { stream, _permit: permit });
        let connection = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "inbox_http", peer = %peer, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Like `axum::serve`: a client that gave up before its connection was accepted is no
/// error; running out of file descriptors (or another resource) is logged and retried after a
/// pause instead of spinning.
async fn wait_after_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "cannot accept an HTTP connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A client's socket holding its connection permit: the permit goes back when the socket is
/// dropped, which for an upgraded WebSocket is when the socket closes, not when hyper hands
/// it over.
struct CountedConnection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for CountedConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Middleware: the request's body must arrive within `limit` of its head. A handler reading
/// it later gets an error, whatever it answers then is replaced by `408 Request Timeout`, and
/// the connection is closed (the rest of the body is never read).
async fn answer_late_bodies_with_408(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    let request = request.map(|body| {
        Body::new(BodyWithDeadline { body, deadline: Box::pin(tokio::time::sleep(limit)), timed_out: flag })
    });
    let response = next.run(request).await;
    if !timed_out.load(Ordering::Acquire) {
        return response;
    }
    // The error table has no code for this status (no gRPC call ever answers it): the body
    // has the usual shape with a code of its own.
    let body =
        serde_json::json!({"error": {"code": "request_timeout", "message": "the request body did not arrive in time"}});
    let mut response = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passed while a frame is still awaited.
struct BodyWithDeadline {
    body: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

/// The error a late body yields to the handler reading it.
#[derive(Debug, thiserror::Error)]
#[error("request body timed out")]
struct BodyTimedOut;

impl HttpBody for BodyWithDeadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        // What has arrived is delivered even past the deadline: only waiting fails.
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timed_out.store(true, Ordering::Release);
        Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
