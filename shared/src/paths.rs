//! HTTP paths served by the backend and used by the browser app.

/// The WebSocket echo endpoint: every text and binary message comes back unchanged.
pub const WS_ECHO: &str = "/ws/echo";
/// The chat WebSocket (subprotocol [`crate::SUBPROTOCOL`]).
pub const WS_CHAT: &str = "/ws";
/// `GET`: a chat session over Server-Sent Events (when WebSocket is blocked); its first event
/// `session` names it for [`SEND`]. See docs/PROTOCOL.md, "HTTP fallbacks".
pub const SSE_CHAT: &str = "/sse";
/// `GET`: an echo session over Server-Sent Events.
pub const SSE_ECHO: &str = "/sse/echo";
/// `GET`: opens a long-polled chat session; `GET ?session=ID&ack=N` polls it.
pub const POLL_CHAT: &str = "/poll";
/// `GET`: opens a long-polled echo session; polled like [`POLL_CHAT`].
pub const POLL_ECHO: &str = "/poll/echo";
/// `POST ?session=ID&batch=N` with a JSON array of client messages, for a session of either
/// HTTP transport.
pub const SEND: &str = "/send";
/// Liveness probe: `200 ok` while the process serves requests.
pub const HEALTHZ: &str = "/healthz";
/// Readiness probe: `200 ready` while new connections are welcome, 503 during shutdown.
pub const READYZ: &str = "/readyz";
/// Prometheus metrics (text exposition format).
pub const METRICS: &str = "/metrics";
/// Where browsers report what the Content-Security-Policy refused (`report-uri`).
pub const CSP_REPORT: &str = "/api/csp-report";
/// `GET`: [`crate::auth::SessionInfo`], the auth mode and who this browser is logged in as.
pub const API_SESSION: &str = "/api/session";
/// `POST` [`crate::auth::Credentials`]: create an account and log in (accounts mode).
pub const API_REGISTER: &str = "/api/register";
/// `POST` [`crate::auth::Credentials`]: log in (accounts mode).
pub const API_LOGIN: &str = "/api/login";
/// `POST`: end this browser's session.
pub const API_LOGOUT: &str = "/api/logout";
/// `POST` [`crate::auth::PasswordChange`]: change the password; other sessions end.
pub const API_PASSWORD: &str = "/api/password";
/// The session cookie (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "chat_session";
/// `POST ?room=ROOM` with an image's bytes: stores it for that room, answers
/// [`crate::chat::Image`] (201); `GET /api/uploads/ROOM/ID` serves it to those who may read
/// the room. The user is named as on the chat socket: the session cookie (accounts), the
/// header [`TOKEN_HEADER`] (open) or `Authorization: Bearer` (jwt).
pub const API_UPLOADS: &str = "/api/uploads";
/// `GET`: the server's VAPID key ([`crate::push::ServerKey`]); `POST` a
/// [`crate::push::Subscription`] to be notified while away; `DELETE` an
/// [`crate::push::Unsubscribe`]. The user is named as on [`API_UPLOADS`].
pub const API_PUSH: &str = "/api/push";
/// `GET`: the emoji picker's data (names and keywords in English and Korean, shortcodes;
/// made by `cargo xtask emoji`), public, fetched by the app when the picker first opens.
pub const EMOJI_DATA: &str = "/api/emoji.json";
/// `GET`: the moderation log, newest first ([`crate::admin::LogPage`]; `?before=NEXT` pages
/// on). Server admins only (see [`crate::admin`]).
pub const API_ADMIN_LOG: &str = "/api/admin/log";
/// `POST` a [`crate::admin::Ban`]: ban a user from the whole server, or lift it (204).
/// Server admins only.
pub const API_ADMIN_BAN: &str = "/api/admin/ban";
/// `GET`: the server's live numbers ([`crate::admin::Stats`]). Server admins only.
pub const API_ADMIN_STATS: &str = "/api/admin/stats";

/// `POST` a ZIP (our export, or a Slack workspace export; `?source=LABEL` optional): imports
/// it, answering what was stored (JSON). Server admins only.
pub const API_ADMIN_IMPORT: &str = "/api/admin/import";
/// `GET`: every room and its rules ([`crate::admin::Rooms`]). Server admins only.
pub const API_ADMIN_ROOMS: &str = "/api/admin/rooms";
/// `GET ?room=NAME`: one room, its members now and its rules ([`crate::admin::RoomDetail`]).
/// Server admins only.
pub const API_ADMIN_ROOM: &str = "/api/admin/room";
/// `POST` a [`crate::admin::Remove`]: remove a message as a moderator would (204). Server
/// admins only.
pub const API_ADMIN_REMOVE: &str = "/api/admin/remove";
/// `POST` a [`crate::admin::Close`]: close a room, or reopen it (204). Server admins only.
pub const API_ADMIN_CLOSE: &str = "/api/admin/close";
/// `POST` a [`crate::admin::PasswordReset`] (accounts mode): a new password, every session
/// ended (204). Server admins only.
pub const API_ADMIN_PASSWORD: &str = "/api/admin/password";
/// `POST` a [`crate::admin::Revoke`] (accounts mode): every session ended (204). Server
/// admins only.
pub const API_ADMIN_REVOKE: &str = "/api/admin/revoke";
/// `GET`: an export as a ZIP (docs/EXPORT.md): `?room=ROOM` one room, `?user=NAME` one
/// user's own data (an account's name, a JWT subject, or a user key), neither: the whole
/// server. Server admins only.
pub const API_ADMIN_EXPORT: &str = "/api/admin/export";
/// The service worker's script (at the root, so that its scope is the whole app).
pub const SERVICE_WORKER: &str = "/sw.js";
/// The browser token's header on upload requests in open mode (never in a URL).
pub const TOKEN_HEADER: &str = "x-chat-token";
