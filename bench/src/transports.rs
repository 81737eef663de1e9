//! W6: our server's three transports side by side: the echo round trip and the bytes on the
//! wire per message over WebSocket, SSE + POST and long-polling + POST, and what idle chat
//! clients of each cost the server (memory, CPU over a window that covers their heartbeats and
//! a long-poll's cycle). Clients speak HTTP/1.1 by hand over counted TCP streams, so every
//! byte (request lines, headers, chunk framing) is in the figures.

use std::{
    cell::Cell,
    io,
    net::SocketAddr,
    rc::Rc,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::{process::Process, wire};

pub use shared::transport::Transport;

/// One transport's echo figures.
pub struct TransportEcho {
    pub transport: Transport,
    pub echoes: usize,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Both ways, headers and framing included.
    pub bytes_per_message: f64,
}

/// What idle clients of one transport cost.
pub struct IdleCost {
    pub transport: Transport,
    pub clients: usize,
    pub open: usize,
    pub kb_per_client: f64,
    /// Server CPU over the window, per client and second.
    pub cpu_us_per_client_s: f64,
    pub window: Duration,
}

fn broken(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// A TCP connection that counts what crosses it.
struct Counted {
    stream: TcpStream,
    buf: Vec<u8>,
    read: Rc<Cell<u64>>,
    written: Rc<Cell<u64>>,
}

impl Counted {
    async fn connect(
        addr: SocketAddr,
        read: &Rc<Cell<u64>>,
        written: &Rc<Cell<u64>>,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
            read: Rc::clone(read),
            written: Rc::clone(written),
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.written.set(self.written.get() + bytes.len() as u64);
        Ok(())
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.read.set(self.read.get() + n as u64);
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads up to `needle`, and takes everything before and including it.
    async fn take_through(&mut self, needle: &[u8]) -> io::Result<Vec<u8>> {
        loop {
            if let Some(at) = wire::find(&self.buf, needle) {
                let taken = self.buf.drain(..at + needle.len()).collect();
                return Ok(taken);
            }
            self.fill().await?;
        }
    }

    /// POSTs batch `batch` of `session` holding `message`, and reads its 204.
    async fn send_batch(
        &mut self,
        addr: SocketAddr,
        session: &str,
        batch: u64,
        message: &str,
    ) -> io::Result<()> {
        let path = format!("{}?session={session}&batch={batch}", shared::paths::SEND);
        self.write(post(&path, addr, &format!("[{message}]")).as_bytes())
            .await?;
        match self.response().await? {
            (204, _) => Ok(()),
            (status, _) => Err(broken(format!("POST answered {status}"))),
        }
    }

    /// One response with a `Content-Length` (or none, as a 204): (status, body).
    async fn response(&mut self) -> io::Result<(u16, Vec<u8>)> {
        let head = String::from_utf8(self.take_through(b"\r\n\r\n").await?)
            .map_err(|_| broken("a response head that is not text"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| broken(format!("no status in {head}")))?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .unwrap_or(0);
        while self.buf.len() < length {
            self.fill().await?;
        }
        Ok((status, self.buf.drain(..length).collect()))
    }
}

fn get(path: &str, addr: SocketAddr) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n")
}

fn post(path: &str, addr: SocketAddr, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The session id in a `{"session":"…"}` text.
fn session_of(text: &[u8]) -> io::Result<String> {
    let text = String::from_utf8_lossy(text);
    let start = text
        .find("\"session\":\"")
        .ok_or_else(|| broken(format!("no session in {text}")))?
        + 11;
    Ok(text[start..start + 32].to_owned())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// `count` echoes, one at a time, over `transport` to our server's echo endpoints.
pub async fn echo(
    addr: SocketAddr,
    transport: Transport,
    count: usize,
) -> Result<TransportEcho, String> {
    let run = async {
        let (read, written) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let mut rtts = Vec::with_capacity(count);
        let payload = |i: usize| format!("{{\"id\":{i},\"text\":\"hello over the wire\"}}");
        let start_bytes;
        match transport {
            Transport::WebSocket => {
                let mut socket = wire::Socket::connect(addr, shared::paths::WS_ECHO, None).await?;
                // Frames: 2 header bytes and a 4-byte mask up, 2 header bytes down.
                let framing = 6 + 2;
                for i in 0..count {
                    let text = payload(i);
                    let started = Instant::now();
                    socket.send_text(text.as_bytes()).await?;
                    let echoed = socket.next_text().await?;
                    if echoed != text.as_bytes() {
                        return Err(broken("a WebSocket echo came back altered"));
                    }
                    rtts.push(started.elapsed().as_micros() as u64);
                    written.set(written.get() + (text.len() + framing) as u64);
                }
                start_bytes = 0;
            }
            Transport::Sse => {
                let mut stream = Counted::connect(addr, &read, &written).await?;
                stream
                    .write(get(shared::paths::SSE_ECHO, addr).as_bytes())
                    .await?;
                stream.take_through(b"\r\n\r\n").await?;
                let session = session_of(&stream.take_through(b"\n\n").await?)?;
                let mut poster = Counted::connect(addr, &read, &written).await?;
                start_bytes = read.get() + written.get();
                for i in 0..count {
                    let text = payload(i);
                    let started = Instant::now();
                    poster
                        .send_batch(addr, &session, i as u64 + 1, &text)
                        .await?;
                    // The event's data line (and its chunk's trailing CRLF, read with it).
                    stream.take_through(text.as_bytes()).await?;
                    stream.take_through(b"\n\n").await?;
                    rtts.push(started.elapsed().as_micros() as u64);
                }
            }
            Transport::LongPoll => {
                let mut poller = Counted::connect(addr, &read, &written).await?;
                poller
                    .write(get(shared::paths::POLL_ECHO, addr).as_bytes())
                    .await?;
                let (_, body) = poller.response().await?;
                let session = session_of(&body)?;
                let mut poster = Counted::connect(addr, &read, &written).await?;
                start_bytes = read.get() + written.get();
                let mut ack = 0;
                let poll = |ack: usize| {
                    get(
                        &format!("{}?session={session}&ack={ack}", shared::paths::POLL_CHAT),
                        addr,
                    )
                };
                // A poll is always waiting, as in the app.
                poller.write(poll(ack).as_bytes()).await?;
                for i in 0..count {
                    let text = payload(i);
                    let started = Instant::now();
                    poster
                        .send_batch(addr, &session, i as u64 + 1, &text)
                        .await?;
                    let (status, body) = poller.response().await?;
                    if status != 200 || wire::find(&body, text.as_bytes()).is_none() {
                        return Err(broken(format!(
                            "the poll answered {status} without the echo"
                        )));
                    }
                    rtts.push(started.elapsed().as_micros() as u64);
                    ack += 1;
                    poller.write(poll(ack).as_bytes()).await?;
                }
            }
        }
        let bytes = (read.get() + written.get() - start_bytes) as f64 / count as f64;
        rtts.sort_unstable();
        Ok::<_, io::Error>(TransportEcho {
            transport,
            echoes: count,
            p50_us: percentile(&rtts, 0.5),
            p99_us: percentile(&rtts, 0.99),
            bytes_per_message: bytes,
        })
    };
    // A server that stops answering fails the run instead of hanging it.
    match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(result) => {
            result.map_err(|err| format!("W6 echo over {}: {err}", transport.both_ways()))
        }
        Err(_) => Err(format!(
            "W6 echo over {}: no answer for 120 s",
            transport.both_ways()
        )),
    }
}

/// `clients` idle chat clients over `transport` (connected, not identified), held for
/// `window`: the server's memory and CPU for them. Long-pollers poll again when a poll
/// comes back empty, as the app does.
pub async fn idle(
    process: &Process,
    transport: Transport,
    clients: usize,
    window: Duration,
) -> Result<IdleCost, String> {
    let addr = process.addr;
    let rss_before = process.rss_kb();
    let open = Rc::new(Cell::new(0usize));
    let mut held = Vec::new();
    let (read, written) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let mut sockets = Vec::new();
    let mut pollers = Vec::new();
    let connecting = async {
        for _ in 0..clients {
            match transport {
                Transport::WebSocket => {
                    if let Ok(socket) = wire::Socket::connect(
                        addr,
                        shared::paths::WS_CHAT,
                        Some(shared::SUBPROTOCOL),
                    )
                    .await
                    {
                        sockets.push(socket);
                        open.set(open.get() + 1);
                    }
                }
                Transport::Sse => {
                    let Ok(mut stream) = Counted::connect(addr, &read, &written).await else {
                        continue;
                    };
                    // The response head, then the `session` event.
                    if stream
                        .write(get(shared::paths::SSE_CHAT, addr).as_bytes())
                        .await
                        .is_ok()
                        && stream.take_through(b"\r\n\r\n").await.is_ok()
                        && stream.take_through(b"\n\n").await.is_ok()
                    {
                        open.set(open.get() + 1);
                        held.push(stream);
                    }
                }
                Transport::LongPoll => {
                    let Ok(mut poller) = Counted::connect(addr, &read, &written).await else {
                        continue;
                    };
                    let Ok(()) = poller
                        .write(get(shared::paths::POLL_CHAT, addr).as_bytes())
                        .await
                    else {
                        continue;
                    };
                    let Ok((200, body)) = poller.response().await else {
                        continue;
                    };
                    let Ok(session) = session_of(&body) else {
                        continue;
                    };
                    open.set(open.get() + 1);
                    let open = Rc::clone(&open);
                    pollers.push(tokio::task::spawn_local(async move {
                        let mut ack = 0u64;
                        loop {
                            let request = get(
                                &format!(
                                    "{}?session={session}&ack={ack}",
                                    shared::paths::POLL_CHAT
                                ),
                                addr,
                            );
                            if poller.write(request.as_bytes()).await.is_err() {
                                break;
                            }
                            match poller.response().await {
                                Ok((200, body)) => {
                                    // Events are numbered; an idle session gets none.
                                    if wire::find(&body, b"\"events\":[]").is_none() {
                                        ack += 1;
                                    }
                                }
                                _ => break,
                            }
                        }
                        open.set(open.get() - 1);
                    }));
                }
            }
        }
    };
    // A server that stops answering fails the run instead of hanging it.
    if tokio::time::timeout(Duration::from_secs(120), connecting)
        .await
        .is_err()
    {
        return Err(format!(
            "W6 idle over {}: connecting took over 120 s",
            transport.both_ways()
        ));
    }
    // Let the server finish what each connect started, then measure the window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = process.rss_kb() - rss_before;
    let cpu_before = process.cpu_us();
    tokio::time::sleep(window).await;
    let cpu = process.cpu_us() - cpu_before;
    let alive = open.get().max(1);
    let cost = IdleCost {
        transport,
        clients,
        open: open.get(),
        kb_per_client: rss / alive as f64,
        cpu_us_per_client_s: cpu / alive as f64 / window.as_secs_f64(),
        window,
    };
    drop(held);
    drop(sockets);
    for poller in pollers {
        poller.abort();
    }
    Ok(cost)
}
