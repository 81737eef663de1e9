//! HTTP paths served by the backend and used by the browser app.

/// The WebSocket echo endpoint: every text and binary message comes back unchanged.
pub const WS_ECHO: &str = "/ws/echo";
/// The chat WebSocket (subprotocol [`crate::SUBPROTOCOL`]).
pub const WS_CHAT: &str = "/ws";
/// Liveness probe: `200 ok` while the process serves requests.
pub const HEALTHZ: &str = "/healthz";
/// Readiness probe: `200 ready` while new connections are welcome, 503 during shutdown.
pub const READYZ: &str = "/readyz";
/// Prometheus metrics (text exposition format).
pub const METRICS: &str = "/metrics";
