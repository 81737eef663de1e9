//! A lean WebSocket client: a hand-made handshake and a frame reader over one buffer, with no
//! per-frame allocation, so that the load generator is not what is being measured (a
//! tungstenite receiver costs 12–16 µs a message here).
//!
//! Client frames are masked with the all-zero key (legal, and masking is then a no-op).

use std::{io, net::SocketAddr};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

/// Small, because W3 holds 19,000 sockets; a bigger frame grows it.
const INITIAL_BUFFER: usize = 4 * 1024;

/// One client WebSocket.
pub struct Socket {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    /// Where the payload [`Socket::next_text`] returned last lies in `buf`.
    last: std::ops::Range<usize>,
}

fn broken(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Socket {
    /// Connects and upgrades `path`, offering `protocol` if given.
    pub async fn connect(addr: SocketAddr, path: &str, protocol: Option<&str>) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let mut socket = Self {
            read,
            write,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
            out: Vec::with_capacity(256),
            last: 0..0,
        };
        let protocol = protocol
            .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{protocol}\r\n"
        );
        socket.write.write_all(request.as_bytes()).await?;
        loop {
            if let Some(at) = find(&socket.buf[..socket.end], b"\r\n\r\n") {
                if !socket.buf.starts_with(b"HTTP/1.1 101") {
                    let head = String::from_utf8_lossy(&socket.buf[..at]).into_owned();
                    return Err(broken(format!("handshake refused: {head}")));
                }
                socket.start = at + 4;
                return Ok(socket);
            }
            socket.fill().await?;
        }
    }

    /// Sends one text frame.
    pub async fn send_text(&mut self, payload: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.out.push(0x81);
        match payload.len() {
            n if n < 126 => self.out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                self.out.push(0x80 | 126);
                self.out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.out.push(0x80 | 127);
                self.out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(payload);
        self.write.write_all(&self.out).await
    }

    /// The next text or binary message's payload; pings are answered on the way.
    pub async fn next_text(&mut self) -> io::Result<&[u8]> {
        loop {
            if let Some((opcode, range)) = self.parse()? {
                match opcode {
                    0x1 | 0x2 => {
                        self.last = range.clone();
                        return Ok(&self.buf[range]);
                    }
                    0x8 => return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed")),
                    0x9 => {
                        let payload = self.buf[range].to_vec();
                        self.send_control(0xA, &payload).await?;
                    }
                    _ => {} // pong, or anything else: not ours to handle
                }
                continue;
            }
            self.fill().await?;
        }
    }

    /// The payload [`Socket::next_text`] returned last (still in the buffer until the next
    /// read).
    pub fn last_text(&self) -> io::Result<&[u8]> {
        Ok(&self.buf[self.last.clone()])
    }

    async fn send_control(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.out.push(0x80 | opcode);
        self.out.push(0x80 | payload.len().min(125) as u8);
        self.out.extend_from_slice(&[0; 4]);
        self.out
            .extend_from_slice(&payload[..payload.len().min(125)]);
        self.write.write_all(&self.out).await
    }

    /// A whole frame at the front of the buffer, consumed: its opcode and payload range.
    fn parse(&mut self) -> io::Result<Option<(u8, std::ops::Range<usize>)>> {
        let data = &self.buf[self.start..self.end];
        if data.len() < 2 {
            return Ok(None);
        }
        if data[0] & 0x80 == 0 {
            return Err(broken(
                "fragmented server message (not expected from these servers)",
            ));
        }
        let opcode = data[0] & 0x0f;
        let (len, header) = match data[1] & 0x7f {
            126 if data.len() >= 4 => (usize::from(u16::from_be_bytes([data[2], data[3]])), 4),
            127 if data.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&data[2..10]);
                (
                    usize::try_from(u64::from_be_bytes(n)).map_err(|_| broken("huge frame"))?,
                    10,
                )
            }
            126 | 127 => return Ok(None),
            n => (usize::from(n), 2),
        };
        if data.len() < header + len {
            if header + len > self.buf.len() {
                self.buf.resize(header + len, 0);
            }
            return Ok(None);
        }
        let range = self.start + header..self.start + header + len;
        self.start += header + len;
        Ok(Some((opcode, range)))
    }

    /// Reads more bytes, making room at the end of the buffer first.
    async fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.read.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection ended",
            ));
        }
        self.end += n;
        Ok(())
    }
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
