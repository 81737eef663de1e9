//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! One [`Metrics`] per server (its own registry, so tests running several servers in one
//! process do not mix their numbers), shared by the routes, the sessions and the hub.

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Which WebSocket endpoint a number is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/ws`, the chat.
    Chat,
    /// `/ws/echo`.
    Echo,
}

impl Endpoint {
    /// Both endpoints: their series exist from start-up.
    pub const ALL: [Self; 2] = [Self::Chat, Self::Echo];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Echo => "echo",
        }
    }
}

/// Why a WebSocket handshake was refused.
#[derive(Debug, Clone, Copy)]
pub enum Rejection {
    /// The server is shutting down (503).
    ShuttingDown,
    /// Foreign Origin (403).
    Origin,
    /// `--max-connections` reached (503).
    Capacity,
    /// `--max-connections-per-ip` reached for the client's address (429).
    AddressConnections,
    /// `--max-handshakes-per-ip` exceeded by the client's address (429).
    AddressHandshakes,
    /// The chat subprotocol was not offered (400).
    Subprotocol,
    /// Not a valid WebSocket upgrade (4xx).
    NotWebSocket,
}

impl Rejection {
    /// Every reason, so each has its series (at 0) from start-up: a dashboard sees a refusal
    /// that never happened as 0, not as nothing. [`Rejection::label`]'s match has no wildcard,
    /// so a new reason does not compile until it is labelled; list it here too.
    pub const ALL: [Self; 7] = [
        Self::ShuttingDown,
        Self::Origin,
        Self::Capacity,
        Self::AddressConnections,
        Self::AddressHandshakes,
        Self::Subprotocol,
        Self::NotWebSocket,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::ShuttingDown => "shutting_down",
            Self::Origin => "origin",
            Self::Capacity => "capacity",
            Self::AddressConnections => "address_connections",
            Self::AddressHandshakes => "address_handshakes",
            Self::Subprotocol => "subprotocol",
            Self::NotWebSocket => "not_websocket",
        }
    }
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    connections_open: IntGaugeVec,
    connections: IntCounterVec,
    closes: IntCounterVec,
    handshake_rejections: IntCounterVec,
    /// Chat connections dropped because their outbox overflowed.
    pub slow_consumers: IntCounter,
    /// Chat messages refused by the rate limiter.
    pub rate_limited: IntCounter,
    /// Reports of what a page's Content-Security-Policy refused.
    pub csp_reports: IntCounter,
    /// Chat rooms with at least one member.
    pub rooms: IntGauge,
    /// Identified chat users online.
    pub users: IntGauge,
    /// Cluster mode: how long the newest message the search indexer applied had waited
    /// (from its time to its indexing), in seconds; 0 on one node (indexed as stored).
    pub search_lag: prometheus::Gauge,
    /// Link previews by outcome (`made`, `refused`, `timed_out`, `dropped`, ...).
    pub link_previews: IntCounterVec,
    store: crate::engine::sqlite::StoreMetrics,
    /// This process among the cluster's nodes, for the admin console: `PID@START_MS`.
    node: String,
    /// The per-message counters of each endpoint, looked up once: `with_label_values` hashes
    /// and locks, and these are counted for every frame ([chat, echo]).
    traffic: [Traffic; 2],
}

/// One endpoint's message and byte counters.
struct Traffic {
    messages_in: IntCounter,
    bytes_in: IntCounter,
    messages_out: IntCounter,
    bytes_out: IntCounter,
}

impl Metrics {
    /// The handles the message store updates.
    pub fn store(&self) -> crate::engine::sqlite::StoreMetrics {
        self.store.clone()
    }

    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("chat".into()), None)?;
        let endpoint = &["endpoint"];
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let connections_open = IntGaugeVec::new(
            Opts::new("connections_open", "Open WebSocket connections."),
            endpoint,
        )?;
        registry.register(Box::new(connections_open.clone()))?;
        let slow_consumers = IntCounter::new(
            "slow_consumers_dropped_total",
            "Chat connections dropped because they read too slowly (close 1013).",
        )?;
        registry.register(Box::new(slow_consumers.clone()))?;
        let rate_limited = IntCounter::new(
            "rate_limited_total",
            "Chat messages refused by the per-connection rate limit.",
        )?;
        registry.register(Box::new(rate_limited.clone()))?;
        let csp_reports = IntCounter::new(
            "csp_reports_total",
            "Reports of something the app's Content-Security-Policy refused in a browser \
             (the app is broken there, or someone injects into it).",
        )?;
        registry.register(Box::new(csp_reports.clone()))?;
        let rooms = IntGauge::new("rooms", "Chat rooms with at least one member.")?;
        registry.register(Box::new(rooms.clone()))?;
        let users = IntGauge::new("users_online", "Identified chat users online.")?;
        registry.register(Box::new(users.clone()))?;
        let search_lag = prometheus::Gauge::new(
            "search_index_lag_seconds",
            "Cluster mode: how long the newest message indexed for search had waited (0 on one node).",
        )?;
        registry.register(Box::new(search_lag.clone()))?;
        let store = crate::engine::sqlite::StoreMetrics {
            commit_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "store_commit_seconds",
                    "Time to store one batch of messages (one transaction, with its fsync).",
                )
                .buckets(prometheus::exponential_buckets(0.000_1, 2.0, 16)?),
            )?,
            batch_size: Histogram::with_opts(
                HistogramOpts::new(
                    "store_batch_messages",
                    "Messages stored per transaction (group commit).",
                )
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12)?),
            )?,
            failures: IntCounter::new(
                "store_failures_total",
                "Messages that could not be stored (the sender got store_failed).",
            )?,
        };
        registry.register(Box::new(store.commit_seconds.clone()))?;
        registry.register(Box::new(store.batch_size.clone()))?;
        registry.register(Box::new(store.failures.clone()))?;
        let messages_in = counter("messages_in_total", "Data messages received.", endpoint)?;
        let messages_out = counter("messages_out_total", "Data messages sent.", endpoint)?;
        let bytes_in = counter(
            "bytes_in_total",
            "Payload bytes received in data messages.",
            endpoint,
        )?;
        let bytes_out = counter(
            "bytes_out_total",
            "Payload bytes sent in data messages.",
            endpoint,
        )?;
        let traffic = |endpoint: Endpoint| {
            let label = [endpoint.label()];
            Traffic {
                messages_in: messages_in.with_label_values(&label),
                bytes_in: bytes_in.with_label_values(&label),
                messages_out: messages_out.with_label_values(&label),
                bytes_out: bytes_out.with_label_values(&label),
            }
        };
        let traffic = [traffic(Endpoint::Chat), traffic(Endpoint::Echo)];
        let link_previews = counter(
            "link_previews_total",
            "Link previews (--link-previews) by outcome: made, nothing_found, refused (an \
             address or port the request-forgery defence refused), redirects, timed_out, \
             too_large, failed, not_fetched, dropped (the queue was full), and image_* for \
             their images.",
            &["outcome"],
        )?;
        let connections = counter(
            "connections_total",
            "WebSocket connections accepted.",
            endpoint,
        )?;
        let closes = counter(
            "closes_total",
            "WebSocket close frames, by code and by who sent them (server or peer).",
            &["endpoint", "code", "by"],
        )?;
        let handshake_rejections = counter(
            "handshake_rejections_total",
            "WebSocket handshakes refused, by reason.",
            &["reason"],
        )?;
        // A labelled family has no series until one is first used, and the text format leaves
        // a family without series out: a fresh server would export none of these, and a
        // dashboard could not tell "never happened" from "not exported". So every series whose
        // labels are a closed set exists from start-up, at 0.
        for endpoint in Endpoint::ALL {
            let label = endpoint.label();
            connections_open.with_label_values(&[label]);
            connections.with_label_values(&[label]);
            // Close codes are open-ended (a peer may send any of 1000-4999, or none): those
            // pre-created are the codes the server itself sends (`shared::close::ALL`), and a
            // peer's normal goodbyes, 1000 (closing) and 1001 (a page going away). Any other
            // code gets its series when it first happens.
            for code in shared::close::ALL {
                closes.with_label_values(&[label, &code.to_string(), "server"]);
            }
            for code in [shared::close::NORMAL, shared::close::GOING_AWAY] {
                closes.with_label_values(&[label, &code.to_string(), "peer"]);
            }
        }
        for reason in Rejection::ALL {
            handshake_rejections.with_label_values(&[reason.label()]);
        }
        let fetches = crate::previews::fetch::FetchError::OUTCOMES;
        let previews = ["made", "nothing_found", "dropped"]
            .into_iter()
            .chain(fetches);
        for outcome in previews {
            link_previews.with_label_values(&[outcome]);
        }
        for outcome in fetches.iter().chain(&["not_an_image"]) {
            link_previews.with_label_values(&[&format!("image_{outcome}")]);
        }
        Ok(Self {
            link_previews,
            connections_open,
            connections,
            traffic,
            closes,
            handshake_rejections,
            slow_consumers,
            rate_limited,
            csp_reports,
            rooms,
            search_lag,
            users,
            store,
            // (The clock read here, not through the engine: metrics sit below it.)
            node: format!(
                "{}@{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.as_millis())
            ),
            registry,
        })
    }

    /// A connection was accepted; pair with [`Metrics::disconnected`].
    pub fn connected(&self, endpoint: Endpoint) {
        self.connections
            .with_label_values(&[endpoint.label()])
            .inc();
        self.connections_open
            .with_label_values(&[endpoint.label()])
            .inc();
    }

    /// A connection ended.
    pub fn disconnected(&self, endpoint: Endpoint) {
        self.connections_open
            .with_label_values(&[endpoint.label()])
            .dec();
    }

    /// A data message of `bytes` arrived.
    pub fn received(&self, endpoint: Endpoint, bytes: usize) {
        let traffic = self.traffic(endpoint);
        traffic.messages_in.inc();
        traffic.bytes_in.inc_by(bytes as u64);
    }

    /// A data message of `bytes` was sent.
    pub fn sent(&self, endpoint: Endpoint, bytes: usize) {
        let traffic = self.traffic(endpoint);
        traffic.messages_out.inc();
        traffic.bytes_out.inc_by(bytes as u64);
    }

    fn traffic(&self, endpoint: Endpoint) -> &Traffic {
        match endpoint {
            Endpoint::Chat => &self.traffic[0],
            Endpoint::Echo => &self.traffic[1],
        }
    }

    /// A close frame with `code` (`None`: no code) was sent by the server or the peer.
    pub fn closed(&self, endpoint: Endpoint, code: Option<u16>, by_server: bool) {
        let code = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
        let by = if by_server { "server" } else { "peer" };
        self.closes
            .with_label_values(&[endpoint.label(), &code, by])
            .inc();
    }

    /// A handshake was refused.
    pub fn rejected(&self, reason: Rejection) {
        self.handshake_rejections
            .with_label_values(&[reason.label()])
            .inc();
    }

    /// The numbers the admin console draws ([`shared::admin::Stats`]), read now.
    pub fn admin_stats(&self) -> shared::admin::Stats {
        let chat = [Endpoint::Chat.label()];
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        shared::admin::Stats {
            version: crate::config::VERSION.to_owned(),
            node: self.node.clone(),
            connections: count(self.connections_open.with_label_values(&chat).get()),
            users_online: count(self.users.get()),
            messages_in: self.traffic(Endpoint::Chat).messages_in.get(),
            store_commits: self.store.commit_seconds.get_sample_count(),
            // (Whole microseconds: the app reads integers only.)
            store_commit_micros: (self.store.commit_seconds.get_sample_sum() * 1e6) as u64,
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
