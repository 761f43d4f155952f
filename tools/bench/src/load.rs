//! A lean HTTP/1.1 load generator, in the manner of `wrk`: requests are serialised once,
//! up front, and each keep-alive connection writes one and reads its answer (status line,
//! headers, `Content-Length` body) before the next. A general client (reqwest) spends more CPU
//! per request than the server it measures does, and on two shared cores that is the server's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One keep-alive connection: the load tool's (`tools/load`), shared.
pub use inbox_load::http1::Connection;

/// `POST {path}` of JSON with `headers` and `body`, as bytes on the wire.
pub fn post_request(host: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    inbox_load::http1::post_request(host, path, "application/json", headers, body)
}

/// Sends every request over `connections` keep-alive connections, each taking the next unsent
/// one as soon as its previous answer is in; returns the requests answered per second.
/// Every answer must be `expected`.
pub async fn closed_loop(
    address: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    expected: u16,
) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut open = Vec::with_capacity(connections);
    for _ in 0..connections {
        open.push(Connection::open(address).await?);
    }
    let started = Instant::now();
    let workers: Vec<_> = open
        .into_iter()
        .map(|mut connection| {
            let (requests, next) = (requests.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(i) else { return anyhow::Ok(()) };
                    let status = connection.send(request).await?;
                    anyhow::ensure!(status == expected, "request {i} answered {status}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    Ok(requests.len() as f64 / started.elapsed().as_secs_f64())
}

/// What an open-loop run saw.
pub struct OpenLoop {
    /// From when each request was due to its answer, sorted.
    pub latencies: Vec<Duration>,
    pub refused: usize,
    pub achieved_per_second: f64,
}

/// Offers the requests at `rate` per second whether or not answers keep up: request `i` is due
/// at `i / rate` seconds and its latency counts from then, so a stall shows in the percentiles
/// instead of slowing the offer down. Request `i` goes out on connection `i % connections`.
pub async fn open_loop(
    address: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    rate: u32,
    expected: u16,
) -> anyhow::Result<OpenLoop> {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut open = Vec::with_capacity(connections);
    for _ in 0..connections {
        open.push(Connection::open(address).await?);
    }
    let origin = Instant::now() + Duration::from_millis(10);
    let workers: Vec<_> = open
        .into_iter()
        .enumerate()
        .map(|(first, mut connection)| {
            let requests = requests.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut refused = 0usize;
                for i in (first..requests.len()).step_by(connections) {
                    let due = origin + period * u32::try_from(i)?;
                    tokio::time::sleep_until(due).await;
                    match connection.send(&requests[i]).await? {
                        s if s == expected => latencies.push(due.elapsed()),
                        _ => refused += 1,
                    }
                }
                anyhow::Ok((latencies, refused))
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests.len());
    let mut refused = 0;
    for worker in workers {
        let (l, r) = worker.await??;
        latencies.extend(l);
        refused += r;
    }
    let achieved_per_second = requests.len() as f64 / origin.elapsed().as_secs_f64();
    latencies.sort();
    Ok(OpenLoop { latencies, refused, achieved_per_second })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_reach_an_axum_server_and_answers_are_read_whole() {
        let app = axum::Router::new().route(
            "/echo",
            axum::routing::post(|body: axum::body::Bytes| async move {
                if body.as_ref() == b"ok" {
                    (axum::http::StatusCode::OK, "yes")
                } else {
                    (axum::http::StatusCode::BAD_REQUEST, "no")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let good = post_request("bench", "/echo", &[("x-test", "1")], b"ok");
        let mut connection = Connection::open(address).await.unwrap();
        assert_eq!(connection.send(&good).await.unwrap(), 200);
        assert_eq!(connection.send(&post_request("bench", "/echo", &[], b"bad")).await.unwrap(), 400);
        let requests = Arc::new(vec![good; 200]);
        assert!(closed_loop(address, requests.clone(), 8, 200).await.unwrap() > 0.0);
        let run = open_loop(address, requests, 4, 2_000, 200).await.unwrap();
        assert_eq!((run.latencies.len(), run.refused), (200, 0));
    }
}
