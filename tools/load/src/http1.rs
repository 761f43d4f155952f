//! A lean HTTP/1.1 keep-alive client for offering webhooks: requests are serialised once, and
//! a connection writes one and reads its whole answer before the next. A general client spends
//! more CPU per request than the server it measures, and on two shared cores that CPU is the
//! server's.

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `POST {path}` with `headers` and `body` as bytes on the wire.
pub fn post_request(host: &str, path: &str, content_type: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: {content_type}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request
}

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    pub async fn open(address: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, buffer: Vec::with_capacity(4096) })
    }

    /// Sends `request`; the answer's status once its whole body has arrived.
    pub async fn send(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let (head_end, status, length) = loop {
            if let Some(parsed) = parse_head(&self.buffer)? {
                break parsed;
            }
            self.read_more().await?;
        };
        while self.buffer.len() < head_end + length {
            self.read_more().await?;
        }
        anyhow::ensure!(self.buffer.len() == head_end + length, "server sent more than one answer");
        Ok(status)
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "server closed the connection");
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// `(end of head, status, content length)` once the head is complete.
fn parse_head(buffer: &[u8]) -> anyhow::Result<Option<(usize, u16, usize)>> {
    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(None) };
    let head = std::str::from_utf8(&buffer[..end]).context("answer head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status =
        lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).context("no status line")?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Some((end + 4, status, length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_parsed_only_once_complete() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n").unwrap().is_none());
        let answer = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_head(answer).unwrap(), Some((answer.len() - 2, 401, 2)));
    }
}
