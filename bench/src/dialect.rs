//! How each server under test is spoken to: ours (`chat.v1.json` on `/ws`, raw echo on
//! `/ws/echo`), the Node `ws` peer (the same JSON on `/chat`, echo on `/echo`), and socket.io
//! (Engine.IO v4 packets over the WebSocket transport: `42["event",data]`).

use std::{io, net::SocketAddr};

use crate::wire::Socket;

/// A server implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Our backend.
    Ours,
    /// Node `ws`.
    NodeWs,
    /// socket.io.
    SocketIo,
}

impl Server {
    /// All of them, ours first.
    pub const ALL: [Self; 3] = [Self::Ours, Self::NodeWs, Self::SocketIo];

    /// The column title.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ours => "ours (actix)",
            Self::NodeWs => "ws (Node)",
            Self::SocketIo => "socket.io",
        }
    }

    /// Opens a socket for the echo workload (and idle connections).
    pub async fn echo_socket(self, addr: SocketAddr) -> io::Result<Client> {
        match self {
            Self::Ours => Client::plain(
                self,
                Socket::connect(addr, shared::paths::WS_ECHO, None).await?,
            ),
            Self::NodeWs => Client::plain(self, Socket::connect(addr, "/echo", None).await?),
            Self::SocketIo => Client::socket_io(addr).await,
        }
    }

    /// Opens a chat socket as `nick` in `room`, waiting for the welcome.
    pub async fn chat_socket(self, addr: SocketAddr, nick: &str, room: &str) -> io::Result<Client> {
        let mut client = match self {
            Self::Ours => Client::plain(
                self,
                Socket::connect(addr, shared::paths::WS_CHAT, Some(shared::SUBPROTOCOL)).await?,
            )?,
            Self::NodeWs => Client::plain(self, Socket::connect(addr, "/chat", None).await?)?,
            Self::SocketIo => Client::socket_io(addr).await?,
        };
        let hello = match self {
            Self::Ours | Self::NodeWs => serde_json::json!({
                "type": "hello",
                "nick": nick,
                "token": format!("bench-token-{nick:0>8}"),
                "rooms": [room],
            }),
            Self::SocketIo => serde_json::json!({ "nick": nick, "rooms": [room] }),
        };
        client.send_event("hello", &hello.to_string()).await?;
        loop {
            if crate::wire::find(client.next().await?, b"welcome").is_some() {
                return Ok(client);
            }
        }
    }
}

/// A connected client of one of the servers.
pub struct Client {
    server: Server,
    socket: Socket,
    scratch: Vec<u8>,
}

impl Client {
    fn plain(server: Server, socket: Socket) -> io::Result<Self> {
        Ok(Self {
            server,
            socket,
            scratch: Vec::with_capacity(256),
        })
    }

    /// Engine.IO open packet, then the namespace connect (`40` both ways).
    async fn socket_io(addr: SocketAddr) -> io::Result<Self> {
        let socket = Socket::connect(addr, "/socket.io/?EIO=4&transport=websocket", None).await?;
        let mut client = Self::plain(Server::SocketIo, socket)?;
        let open = client.socket.next_text().await?;
        if !open.starts_with(b"0") {
            return Err(io::Error::other("socket.io: no open packet"));
        }
        client.socket.send_text(b"40").await?;
        loop {
            if client.socket.next_text().await?.starts_with(b"40") {
                return Ok(client);
            }
        }
    }

    /// Sends `payload` to be echoed (a JSON string literal for socket.io, raw otherwise).
    pub async fn send_echo(&mut self, payload: &str) -> io::Result<()> {
        match self.server {
            Server::Ours | Server::NodeWs => self.socket.send_text(payload.as_bytes()).await,
            Server::SocketIo => self.send_event("echo", &format!("{payload:?}")).await,
        }
    }

    /// The server this client speaks to.
    pub fn server(&self) -> Server {
        self.server
    }

    /// Whether `reply` is the echo of `payload`: byte for byte from the plain servers, the
    /// same string inside socket.io's `42["echo",...]` packet.
    pub fn is_echo_of(server: Server, reply: &[u8], payload: &str) -> bool {
        match server {
            Server::Ours | Server::NodeWs => reply == payload.as_bytes(),
            Server::SocketIo => {
                reply.starts_with(b"42[") && crate::wire::find(reply, payload.as_bytes()).is_some()
            }
        }
    }

    /// Sends a `say` of `text` to `room`.
    pub async fn send_say(&mut self, room: &str, text: &str, client_id: &str) -> io::Result<()> {
        let say = match self.server {
            Server::Ours | Server::NodeWs => serde_json::json!({
                "type": "say", "room": room, "text": text, "client_id": client_id,
            }),
            Server::SocketIo => serde_json::json!({
                "room": room, "text": text, "client_id": client_id,
            }),
        };
        self.send_event("say", &say.to_string()).await
    }

    async fn send_event(&mut self, event: &str, json: &str) -> io::Result<()> {
        match self.server {
            Server::Ours | Server::NodeWs => self.socket.send_text(json.as_bytes()).await,
            Server::SocketIo => {
                self.scratch.clear();
                self.scratch.extend_from_slice(b"42[\"");
                self.scratch.extend_from_slice(event.as_bytes());
                self.scratch.extend_from_slice(b"\",");
                self.scratch.extend_from_slice(json.as_bytes());
                self.scratch.push(b']');
                let frame = std::mem::take(&mut self.scratch);
                let sent = self.socket.send_text(&frame).await;
                self.scratch = frame;
                sent
            }
        }
    }

    /// The next message (socket.io pings answered on the way).
    pub async fn next(&mut self) -> io::Result<&[u8]> {
        if self.server != Server::SocketIo {
            return self.socket.next_text().await;
        }
        loop {
            let is_ping = self.socket.next_text().await? == b"2";
            if !is_ping {
                break;
            }
            self.socket.send_text(b"3").await?;
        }
        // The message just parsed is still the last one in the buffer; read it again.
        self.socket.last_text()
    }
}
