//! A loopback TCP proxy a test can pull the plug on: [`TcpProxy::stop`] closes every
//! connection through it and refuses new ones (a node cut off from Redis), and
//! [`TcpProxy::resume`] listens again on the same port. [`TcpProxy::stall`] keeps the
//! connections but stops passing on what the upstream sends (a congested link), until
//! [`TcpProxy::flow`].

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    cut: CancellationToken,
    /// Whether what the upstream sends is passed on (false while stalled).
    flowing: watch::Sender<bool>,
}

impl TcpProxy {
    /// Forwards a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = CancellationToken::new();
        let (flowing, _) = watch::channel(true);
        tokio::spawn(serve(listener, upstream, cut.clone(), flowing.subscribe()));
        Self {
            addr,
            upstream,
            cut,
            flowing,
        }
    }

    /// Closes every connection and the listener.
    pub fn stop(&mut self) {
        self.cut.cancel();
    }

    /// Listens on the same port again.
    pub async fn resume(&mut self) {
        self.cut = CancellationToken::new();
        let listener = TcpListener::bind(self.addr).await.unwrap();
        tokio::spawn(serve(
            listener,
            self.upstream,
            self.cut.clone(),
            self.flowing.subscribe(),
        ));
    }

    /// Stops reading what the upstream sends on every connection (new ones too): it piles up
    /// in the upstream's socket buffers, then in the upstream itself (a Redis subscriber's
    /// output buffer). What goes upstream still passes.
    pub fn stall(&self) {
        self.flowing.send_replace(false);
    }

    /// Passes on what the upstream sends again, starting with what piled up.
    pub fn flow(&self) {
        self.flowing.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut.cancel();
    }
}

async fn serve(
    listener: TcpListener,
    upstream: SocketAddr,
    cut: CancellationToken,
    flowing: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            () = cut.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else {
            return;
        };
        let cut = cut.clone();
        let mut flowing = flowing.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let up = tokio::io::copy(&mut client_read, &mut server_write);
            let down = async {
                let mut buf = vec![0; 16 * 1024];
                loop {
                    // Not even read while stalled, so that the upstream's buffers fill.
                    if flowing.wait_for(|flows| *flows).await.is_err() {
                        return;
                    }
                    match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if client_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            };
            // Either side closing closes both (dropped here).
            tokio::select! {
                () = cut.cancelled() => {}
                _ = up => {}
                () = down => {}
            }
        });
    }
}
