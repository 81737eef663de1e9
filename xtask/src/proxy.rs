//! A loopback TCP proxy in front of the backend for the browser suite, which can make every
//! connection through it half-open on command: the browser's side is closed (as when a phone
//! changes networks) while the backend's side stays open and silent, so the server still holds
//! the old session when the page reconnects. A browser test asks for it with
//! `GET http://CONTROL/cut`, which answers `cut N` (the connections cut).
//!
//! Started with a failover ([`Proxy::start_with_failover`]) it also stands in for a load
//! balancer in front of a cluster: `GET /failover` runs the given action (the browser suite
//! kills the first node with SIGKILL) and sends every new connection to the second node.
//!
//! Started hostile ([`Proxy::start_hostile`]) it plays a network that breaks WebSocket, for
//! the transport fallback tests: it refuses every Upgrade, or accepts it and never answers,
//! or (refusing upgrades too) buffers every response until it ends, as some middleboxes do.
//! `GET /upgrades` on its control port counts the WebSocket handshakes it has seen.

use std::{
    io::{Read as _, Write as _},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
};

use crate::Result;

/// The connections passing through, and the server-side sockets of those cut.
#[derive(Default)]
struct Links {
    /// Browser side of each live connection (a clone, for shutting it down), and whether it
    /// was cut.
    live: Vec<(TcpStream, Arc<AtomicBool>)>,
    /// Server side of each connection, kept open until the proxy stops: closing it would
    /// tell the server the peer has gone, which is what a half-open connection never does.
    upstream: Vec<TcpStream>,
}

/// How a hostile proxy breaks WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostility {
    /// Answers every Upgrade with 403.
    RefuseUpgrade,
    /// Accepts the connection of an Upgrade and never answers it.
    StallUpgrade,
    /// Refuses upgrades, and holds every response back until it is complete.
    Buffer,
}

/// What `GET /failover` does first (kill a node), before new connections go elsewhere.
type FailoverAction = Box<dyn Fn() -> Result<()> + Send + Sync>;

/// A running proxy; stopped (threads ended, sockets closed) when dropped.
pub struct Proxy {
    /// `127.0.0.1:PORT` that forwards to the backend.
    pub addr: String,
    /// `127.0.0.1:PORT` of the control endpoint (`GET /cut`).
    pub control: String,
    stopping: Arc<AtomicBool>,
    links: Arc<Mutex<Links>>,
    /// WebSocket handshakes seen (hostile proxies).
    upgrades: Arc<AtomicUsize>,
}

impl Proxy {
    /// Listens on two free loopback ports and forwards the first to `backend`.
    pub fn start(backend: &str) -> Result<Self> {
        Self::start_inner(backend, None, None)
    }

    /// A proxy to `backend` that breaks WebSocket as `hostility` says.
    pub fn start_hostile(backend: &str, hostility: Hostility) -> Result<Self> {
        Self::start_inner(backend, None, Some(hostility))
    }

    /// [`Proxy::start`] to `primary`, which `GET /failover` replaces with `backup` after
    /// running `action`.
    pub fn start_with_failover(
        primary: &str,
        backup: &str,
        action: impl Fn() -> Result<()> + Send + Sync + 'static,
    ) -> Result<Self> {
        Self::start_inner(primary, Some((backup.to_owned(), Box::new(action))), None)
    }

    fn start_inner(
        backend: &str,
        failover: Option<(String, FailoverAction)>,
        hostility: Option<Hostility>,
    ) -> Result<Self> {
        let bind =
            || TcpListener::bind("127.0.0.1:0").map_err(|err| format!("proxy cannot bind: {err}"));
        let (listener, control) = (bind()?, bind()?);
        let address = |l: &TcpListener| {
            l.local_addr()
                .map(|a| a.to_string())
                .map_err(|err| format!("proxy has no address: {err}"))
        };
        let proxy = Self {
            addr: address(&listener)?,
            control: address(&control)?,
            stopping: Arc::default(),
            links: Arc::default(),
            upgrades: Arc::default(),
        };
        // Where new connections go: the backend, or after a failover the backup.
        let upstream = Arc::new(Mutex::new(backend.to_owned()));
        let (stopping, links, backend, upgrades) = (
            Arc::clone(&proxy.stopping),
            Arc::clone(&proxy.links),
            Arc::clone(&upstream),
            Arc::clone(&proxy.upgrades),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::Acquire) {
                    break;
                }
                // A failed accept or upstream connect fails that one connection only: the
                // browser sees it closed and retries, as it would with a real proxy.
                let target = backend.lock().map(|b| b.clone());
                let (Ok(client), Ok(target)) = (client, target) else {
                    continue;
                };
                let forwarded = match hostility {
                    None => forward(client, &target, &links),
                    // One thread per connection: it reads the request before deciding.
                    Some(hostility) => {
                        let (links, upgrades) = (Arc::clone(&links), Arc::clone(&upgrades));
                        thread::spawn(move || {
                            if let Err(err) =
                                forward_hostile(client, &target, &links, hostility, &upgrades)
                            {
                                eprintln!("xtask proxy: {err}");
                            }
                        });
                        Ok(())
                    }
                };
                if let Err(err) = forwarded {
                    eprintln!("xtask proxy: {err}");
                }
            }
        });
        let (stopping, links, upgrades) = (
            Arc::clone(&proxy.stopping),
            Arc::clone(&proxy.links),
            Arc::clone(&proxy.upgrades),
        );
        thread::spawn(move || {
            for request in control.incoming() {
                if stopping.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(request) = request {
                    let control = Control {
                        links: &links,
                        failover: failover.as_ref(),
                        upstream: &upstream,
                        upgrades: &upgrades,
                    };
                    control.answer(request);
                }
            }
        });
        Ok(proxy)
    }
}

/// Connects `client` to `backend` and pumps bytes both ways on two threads.
fn forward(client: TcpStream, backend: &str, links: &Mutex<Links>) -> Result<()> {
    let upstream =
        TcpStream::connect(backend).map_err(|err| format!("cannot reach {backend}: {err}"))?;
    let clone = |s: &TcpStream| s.try_clone().map_err(|err| format!("cannot clone: {err}"));
    let cut = Arc::new(AtomicBool::new(false));
    {
        let mut links = links.lock().map_err(|_| "proxy state poisoned")?;
        links.live.push((clone(&client)?, Arc::clone(&cut)));
        links.upstream.push(clone(&upstream)?);
    }
    let (client_read, upstream_write) = (clone(&client)?, clone(&upstream)?);
    // Each pump ends when its source ends or its destination fails (after a cut, the browser
    // side is shut down).
    let forward_cut = Arc::clone(&cut);
    thread::spawn(move || pump(client_read, upstream_write, &forward_cut));
    thread::spawn(move || pump(upstream, client, &cut));
    Ok(())
}

/// Reads `client`'s request head, then acts as `hostility` says: an Upgrade is refused
/// (403) or left unanswered; anything else is forwarded with `Connection: close` (one request
/// per connection, so a later request cannot slip past the check), its response passed on as
/// it comes or, when buffering, all at once when it is complete.
fn forward_hostile(
    mut client: TcpStream,
    backend: &str,
    links: &Mutex<Links>,
    hostility: Hostility,
    upgrades: &AtomicUsize,
) -> Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return Ok(()),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let is_upgrade = text
        .lines()
        .any(|line| line.to_ascii_lowercase().starts_with("upgrade:"));
    if is_upgrade {
        upgrades.fetch_add(1, Ordering::AcqRel);
        if hostility == Hostility::StallUpgrade {
            // Held open and silent until the proxy stops.
            let mut links = links.lock().map_err(|_| "proxy state poisoned")?;
            links.upstream.push(client);
            return Ok(());
        }
        let refusal = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let _ = client.write_all(refusal.as_bytes());
        return Ok(());
    }
    let mut rewritten: Vec<&str> = text
        .trim_end()
        .lines()
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            !lower.starts_with("connection:") && !lower.starts_with("keep-alive:")
        })
        .collect();
    rewritten.push("Connection: close");
    let request = format!("{}\r\n\r\n", rewritten.join("\r\n"));
    let mut upstream =
        TcpStream::connect(backend).map_err(|err| format!("cannot reach {backend}: {err}"))?;
    upstream
        .write_all(request.as_bytes())
        .map_err(|err| format!("cannot write upstream: {err}"))?;
    let clone = |s: &TcpStream| s.try_clone().map_err(|err| format!("cannot clone: {err}"));
    let never_cut = Arc::new(AtomicBool::new(false));
    let (client_read, upstream_write) = (clone(&client)?, clone(&upstream)?);
    let cut = Arc::clone(&never_cut);
    thread::spawn(move || pump(client_read, upstream_write, &cut));
    if hostility == Hostility::Buffer {
        let mut response = Vec::new();
        let _ = upstream.read_to_end(&mut response);
        let _ = client.write_all(&response);
        let _ = client.shutdown(Shutdown::Write);
    } else {
        pump(upstream, client, &never_cut);
    }
    Ok(())
}

/// Copies `from` to `to` until `from` ends; passes the end on (as a real proxy would) unless
/// the connection was cut, whose server side must hear nothing.
fn pump(mut from: TcpStream, mut to: TcpStream, cut: &AtomicBool) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => {
                if !cut.load(Ordering::Acquire) {
                    let _ = to.shutdown(Shutdown::Write);
                }
                return;
            }
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// What the control port can act on.
struct Control<'a> {
    links: &'a Mutex<Links>,
    failover: Option<&'a (String, FailoverAction)>,
    upstream: &'a Mutex<String>,
    upgrades: &'a AtomicUsize,
}

impl Control<'_> {
    /// `GET /cut`: shuts the browser side of every live connection; the server sides stay.
    /// `GET /failover` (with a failover): runs its action, then sends new connections to the
    /// backup. `GET /upgrades`: the WebSocket handshakes a hostile proxy has seen.
    fn answer(&self, mut request: TcpStream) {
        let mut head = [0u8; 1024];
        let n = request.read(&mut head).unwrap_or(0);
        let head = &head[..n];
        let poisoned = || {
            (
                "500 Internal Server Error",
                "proxy state poisoned".to_owned(),
            )
        };
        let (status, body) = if let (true, Some((backup, action))) =
            (head.starts_with(b"GET /failover "), self.failover)
        {
            match (action(), self.upstream.lock()) {
                (Ok(()), Ok(mut target)) => {
                    target.clone_from(backup);
                    ("200 OK", format!("failed over to {backup}"))
                }
                (Err(err), _) => ("500 Internal Server Error", err),
                (_, Err(_)) => poisoned(),
            }
        } else if head.starts_with(b"GET /cut ") {
            match self.links.lock() {
                Ok(mut links) => {
                    let cut = links.live.len();
                    for (client, was_cut) in links.live.drain(..) {
                        // First the flag, so the pumps do not pass the end on to the server.
                        was_cut.store(true, Ordering::Release);
                        let _ = client.shutdown(Shutdown::Both);
                    }
                    ("200 OK", format!("cut {cut}"))
                }
                Err(_) => poisoned(),
            }
        } else if head.starts_with(b"GET /upgrades ") {
            let seen = self.upgrades.load(Ordering::Acquire);
            ("200 OK", format!("upgrades {seen}"))
        } else {
            (
                "404 Not Found",
                "only GET /cut, /failover and /upgrades".to_owned(),
            )
        };
        // The browser test reads the answer from another origin.
        let response = format!(
            "HTTP/1.1 {status}\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = request.write_all(response.as_bytes());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Wake both accept loops so they see the flag.
        let _ = TcpStream::connect(&self.addr);
        let _ = TcpStream::connect(&self.control);
        if let Ok(mut links) = self.links.lock() {
            let Links { live, upstream } = &mut *links;
            for stream in live
                .drain(..)
                .map(|(stream, _)| stream)
                .chain(upstream.drain(..))
            {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}
