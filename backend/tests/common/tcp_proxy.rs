//! A loopback TCP proxy a test can pull the plug on: [`TcpProxy::stop`] closes every
//! connection through it and refuses new ones (a node cut off from Redis), and
//! [`TcpProxy::resume`] listens again on the same port.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    cut: CancellationToken,
}

impl TcpProxy {
    /// Forwards a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = CancellationToken::new();
        tokio::spawn(serve(listener, upstream, cut.clone()));
        Self {
            addr,
            upstream,
            cut,
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
        tokio::spawn(serve(listener, self.upstream, self.cut.clone()));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut.cancel();
    }
}

async fn serve(listener: TcpListener, upstream: SocketAddr, cut: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = cut.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut client, _)) = accepted else {
            return;
        };
        let cut = cut.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                () = cut.cancelled() => {}
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
            }
        });
    }
}
