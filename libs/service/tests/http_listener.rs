//! Every service's HTTP listener against slow and numerous clients, over real sockets: a head
//! or a body that does not arrive in time ends the request, connections beyond the limit
//! wait, and ordinary requests and WebSocket upgrades still work.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::ws::WebSocketUpgrade;
use axum::routing::{get, post};
use futures::{SinkExt as _, StreamExt as _};
use inbox_config::HttpSettings;
use inbox_service::ops::serve_http;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Far longer than any limit a test sets: a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(5);

/// A tiny app: who is calling, an echo of the body's length, an echo WebSocket.
fn app() -> Router {
    Router::new()
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
        .route("/length", post(|body: Bytes| async move { body.len().to_string() }))
        .route(
            "/echo",
            get(|upgrade: WebSocketUpgrade| async {
                upgrade.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if socket.send(message).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
}

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

async fn serve(configure: impl FnOnce(&mut HttpSettings)) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = HttpSettings::with_defaults(addr.to_string(), "127.0.0.1:0");
    configure(&mut settings);
    settings.validate().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve_http(listener, app(), &settings, shutdown.clone()));
    Server { addr, shutdown, task }
}

/// Sends `request` as raw bytes on a new connection.
async fn send_raw(addr: SocketAddr, request: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Everything the server sends until it closes the connection (within `PATIENCE`).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server kept the connection open")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_is_served_with_the_clients_address_and_the_server_stops_on_shutdown() {
    let server = serve(|_| {}).await;
    let mut stream = send_raw(server.addr, "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let client = stream.local_addr().unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&client.to_string()), "the handler saw another peer than {client}: {answer}");

    let body = "twelve bytes";
    let request = format!(
        "POST /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = read_until_closed(&mut send_raw(server.addr, &request).await).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n12"), "{answer}");

    server.shutdown.cancel();
    tokio::time::timeout(PATIENCE, server.task).await.expect("the server did not stop").unwrap().unwrap();
}

#[tokio::test]
async fn a_websocket_upgrade_still_works() {
    let server = serve(|http| http.header_timeout_ms = 200).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/echo", server.addr)).await.unwrap();
    socket.send(Message::text("hello")).await.unwrap();
    let echoed = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echoed, Message::text("hello"));
    // An upgraded connection reads no more heads: the header timeout does not cut it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    socket.send(Message::text("still here")).await.unwrap();
    let echoed = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echoed, Message::text("still here"));
}

#[tokio::test]
async fn a_client_that_stalls_in_the_middle_of_its_headers_is_disconnected() {
    let server = serve(|http| http.header_timeout_ms = 200).await;
    let started = Instant::now();
    let mut stream = send_raw(server.addr, "GET /peer HTTP/1.1\r\nHost: x\r\nX-Half: ").await;
    let answer = read_until_closed(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(150), "closed before the timeout: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let server = serve(|http| http.body_timeout_ms = 200).await;
    let mut stream = send_raw(server.addr, "POST /length HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").await;
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes_an_open_websocket_counting() {
    let server = serve(|http| http.max_connections = 2).await;
    let _idle = TcpStream::connect(server.addr).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/echo", server.addr)).await.unwrap();

    let mut third = send_raw(server.addr, "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let mut first_byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut first_byte)).await;
    assert!(early.is_err(), "a third connection was served while two were open: {early:?}");

    socket.close(None).await.unwrap();
    let answer = read_until_closed(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
