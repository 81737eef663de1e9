//! Clients of the HTTP transports spoken by hand over TCP (a chunked `text/event-stream`, JSON
//! polls, POSTs), so a test sees the bytes a browser behind a proxy would.

use std::{net::SocketAddr, time::Duration};

use serde::Deserialize;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use super::within;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub kind: String,
    pub data: String,
}

/// A `GET /sse` stream read over raw TCP: the response head, then events.
pub struct Sse {
    stream: TcpStream,
    /// Bytes read, not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked bytes, not yet parsed into events.
    text: Vec<u8>,
    ended: bool,
    pub head: String,
    pub session: String,
}

impl Sse {
    /// Opens `path` with `headers` (each ending in `\r\n`); `Err((status, head, body))` when
    /// the answer is not a stream.
    pub async fn open(
        addr: SocketAddr,
        path: &str,
        headers: &str,
        receive_buffer: Option<u32>,
    ) -> Result<Self, (u16, String)> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        let mut stream = within(socket.connect(addr)).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n");
        within(stream.write_all(request.as_bytes())).await.unwrap();
        let mut raw = Vec::new();
        let head = loop {
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                let head = String::from_utf8(raw[..end].to_vec()).unwrap();
                raw.drain(..end + 4);
                break head;
            }
            let mut chunk = [0u8; 4096];
            let n = within(stream.read(&mut chunk)).await.unwrap();
            assert!(n > 0, "closed before the response head");
            raw.extend_from_slice(&chunk[..n]);
        };
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        if status != 200 {
            return Err((status, head));
        }
        let mut sse = Self {
            stream,
            raw,
            text: Vec::new(),
            ended: false,
            head,
            session: String::new(),
        };
        let first = sse.next_event().await.expect("a first event");
        assert_eq!(first.kind, "session", "the first event names the session");
        let named: serde_json::Value = serde_json::from_str(&first.data).unwrap();
        sse.session = named["session"].as_str().unwrap().to_owned();
        Ok(sse)
    }

    /// The value of a response header.
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.head, name)
    }

    /// The next event (pings included), or `None` when the stream has ended.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        self.next_event_within(super::STEP).await
    }

    /// Like [`Sse::next_event`] with another limit.
    pub async fn next_event_within(&mut self, limit: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = find(&self.text, b"\n\n") {
                let block = String::from_utf8(self.text[..end].to_vec()).unwrap();
                self.text.drain(..end + 2);
                return Some(parse_event(&block));
            }
            if self.ended {
                return None;
            }
            if self.dechunk() {
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .expect("an event within the limit")
                .unwrap_or(0);
            if n == 0 {
                self.ended = true;
                continue;
            }
            self.raw.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next event that is not a ping.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let event = self.next_event().await?;
            if event.kind != "ping" {
                return Some(event);
            }
        }
    }

    /// The next chat event's JSON (skipping pings), failing on anything else.
    pub async fn next_json(&mut self) -> String {
        let event = self.next().await.expect("the stream goes on");
        assert_eq!(
            event.kind, "message",
            "expected a chat event, got {event:?}"
        );
        event.data
    }

    /// Moves one whole chunk from `raw` to `text`; false when none is complete.
    fn dechunk(&mut self) -> bool {
        let Some(line_end) = find(&self.raw, b"\r\n") else {
            return false;
        };
        let size_line = std::str::from_utf8(&self.raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("a chunk size, got {size_line:?}"));
        if size == 0 {
            self.ended = true;
            return true;
        }
        let start = line_end + 2;
        if self.raw.len() < start + size + 2 {
            return false;
        }
        self.text.extend_from_slice(&self.raw[start..start + size]);
        self.raw.drain(..start + size + 2);
        true
    }
}

fn parse_event(block: &str) -> SseEvent {
    let mut kind = "message".to_owned();
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            kind = value.trim_start().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    SseEvent {
        kind,
        data: data.join("\n"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A header's value in a response head.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// One exchange on a fresh connection (`Connection: close`): (status, head, body).
pub async fn exchange(addr: SocketAddr, request: &str) -> (u16, String, String) {
    exchange_within(addr, request, super::STEP).await
}

/// Like [`exchange`] with another limit (a long-poll may wait).
pub async fn exchange_within(
    addr: SocketAddr,
    request: &str,
    limit: Duration,
) -> (u16, String, String) {
    let mut stream = within(TcpStream::connect(addr)).await.expect("connect");
    within(stream.write_all(request.as_bytes())).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut response))
        .await
        .expect("a response within the limit")
        .unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// `POST /send?session=…&batch=…` with `body` and extra `headers`: (status, body).
pub async fn post(
    addr: SocketAddr,
    session: &str,
    batch: u64,
    body: &str,
    headers: &str,
) -> (u16, String) {
    let request = format!(
        "POST {}?session={session}&batch={batch} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        shared::paths::SEND,
        body.len()
    );
    let (status, _, body) = exchange(addr, &request).await;
    (status, body)
}

/// A poll's answer.
#[derive(Debug, Deserialize)]
pub struct PollAnswer {
    pub session: String,
    pub seq: u64,
    pub events: Vec<Box<serde_json::value::RawValue>>,
    pub close: Option<CloseInfo>,
}

/// The `close` of an SSE stream or a poll.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: u16,
    pub reason: String,
}

/// A long-polled session, polled by hand: it acknowledges what it has read.
pub struct Poller {
    addr: SocketAddr,
    pub session: String,
    /// The number of the last event received.
    pub ack: u64,
    /// Events received but not yet handed out.
    queued: std::collections::VecDeque<String>,
    pub close: Option<CloseInfo>,
    batch: u64,
}

impl Poller {
    /// Opens a session at `path` (`/poll` or `/poll/echo`).
    pub async fn open(addr: SocketAddr, path: &str) -> Self {
        let (status, _, body) = exchange(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let answer: PollAnswer = serde_json::from_str(&body).unwrap();
        assert!(answer.events.is_empty());
        Self {
            addr,
            session: answer.session,
            ack: 0,
            queued: Default::default(),
            close: None,
            batch: 0,
        }
    }

    /// The same session, its requests going to `addr` (another node of a cluster).
    pub fn at(addr: SocketAddr, opened: Self) -> Self {
        Self { addr, ..opened }
    }

    /// One poll acknowledging `ack`: (status, answer).
    pub async fn poll_acking(&self, ack: u64) -> (u16, Option<PollAnswer>) {
        let request = format!(
            "GET {}?session={}&ack={ack} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            shared::paths::POLL_CHAT,
            self.session,
            self.addr
        );
        let (status, _, body) = exchange_within(self.addr, &request, Duration::from_secs(40)).await;
        let answer = (status == 200).then(|| serde_json::from_str(&body).unwrap());
        (status, answer)
    }

    /// Polls until at least one event (or the close) has come; acknowledges as it goes.
    async fn fill(&mut self) {
        while self.queued.is_empty() && self.close.is_none() {
            let (status, answer) = self.poll_acking(self.ack).await;
            assert_eq!(status, 200, "poll of a live session");
            let answer = answer.unwrap();
            for (i, event) in answer.events.iter().enumerate() {
                let number = answer.seq + i as u64;
                if number > self.ack {
                    self.queued.push_back(event.get().to_owned());
                    self.ack = number;
                }
            }
            self.close = answer.close;
        }
    }

    /// The next event's JSON, or `None` once the session has closed.
    pub async fn next_json(&mut self) -> Option<String> {
        within(self.fill()).await;
        self.queued.pop_front()
    }

    /// POSTs the next batch of `messages`; returns the status.
    pub async fn send(&mut self, messages: &[String]) -> u16 {
        self.batch += 1;
        let body = format!("[{}]", messages.join(","));
        post(self.addr, &self.session, self.batch, &body, "")
            .await
            .0
    }
}
