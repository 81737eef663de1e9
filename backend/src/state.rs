//! The application state every handler reads, built once by [`crate::run`]: the floor the
//! HTTP layers (routes, fallbacks, accounts, uploads) stand on, below all of them.

use std::sync::{Arc, atomic::AtomicUsize};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{Config, auth::Auth, hub::HubHandle, metrics::Metrics, per_address::PerAddress};

/// What every handler may read; shared by all workers.
#[derive(Clone)]
pub struct AppState {
    /// The server's configuration.
    pub config: Arc<Config>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// The chat hub.
    pub hub: HubHandle,
    /// Open WebSockets (chat and echo), for `--max-connections`.
    pub connections: Arc<AtomicUsize>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Every running WebSocket session, so a shutdown can wait for them to say goodbye.
    pub sessions: TaskTracker,
    /// The per-client-address caps.
    pub per_address: PerAddress,
    /// Who may speak (`--auth`).
    pub auth: Arc<Auth>,
    /// The running sessions of the HTTP transports (SSE, long-polling).
    pub fallback: Arc<crate::fallback::registry::Registry>,
    /// Cluster mode: the way to other nodes' HTTP sessions.
    pub relay: Option<Arc<crate::fallback::relay::Relay>>,
    /// Image uploads: their directory, quotas and sweep.
    pub uploads: Arc<crate::uploads::store::Uploads>,
    /// Web Push: the key pair, the subscriptions, the sender.
    pub push: crate::push::Push,
    /// Imports: their ledger, and whether one runs.
    pub imports: crate::transfer::ledger::Imports,
}
