//! Chat sessions: one task per chat connection, between its transport and the hub. This is
//! the one session core every transport shares (WebSocket, SSE + POST, long-polling + POST:
//! [`crate::link`]); a transport only moves messages.
//!
//! The session decodes messages (bad input gets a typed `error`; the connection stays open),
//! enforces the per-connection rate limit, applies the login (`Login`: the `hello` names the
//! authenticated user, a JWT's expiry is watched, a session is rechecked) and forwards
//! requests to the hub. What the hub sends does not pass through here: the transport's
//! response body writes it from the connection's bounded outbox itself ([`crate::outgoing`]).
//! The session writes only its own messages (errors, answers, the heartbeat, the close). It
//! ends on peer close, protocol error, heartbeat timeout, rate abuse (1008), being cut off as
//! a slow reader (1013) or server shutdown (1001).

use std::{sync::Arc, time::Duration};

use bytestring::ByteString;
use shared::{ClientMsg, ErrorCode, ServerMsg, close};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    Config,
    auth::{self, Auth, Gate, Identity},
    error::SessionError,
    hub::HubHandle,
    ids::ConnId,
    link::{Inbound, Link},
    metrics::{Endpoint, Metrics},
    names,
    outgoing::Frame,
    rate::RateLimiter,
    ws::{self, Ending, close_code},
};

/// What a chat session works with, besides its transport.
pub struct Services {
    /// The chat hub.
    pub hub: HubHandle,
    /// The server's configuration.
    pub config: Arc<Config>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Who may speak.
    pub auth: Arc<Auth>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
}

/// Runs one chat connection to its end, whatever its transport; errors are logged here, once.
///
/// `outbox` is the sending end of the queue the transport's response body writes the hub's
/// frames from ([`crate::outgoing::attach`], [`crate::fallback`]); `gate` is what its
/// handshake may claim.
pub(crate) async fn run<L: Link>(
    mut link: L,
    outbox: mpsc::Sender<Frame>,
    services: Services,
    gate: Gate,
) {
    let Services {
        hub,
        config,
        metrics,
        auth,
        shutdown,
    } = services;
    if matches!(gate, Gate::LoggedOut) {
        // Told in words and by the close code, before the hub ever sees the connection.
        let refusal = ServerMsg::Error {
            code: ErrorCode::Unauthenticated,
            message: "log in first (this server runs with accounts)".into(),
            client_id: None,
        };
        if let Ok(json) = shared::encode(&refusal) {
            let _ = link.text(json.into()).await;
        }
        metrics.closed(Endpoint::Chat, Some(close::UNAUTHENTICATED), true);
        link.close(Some(unauthenticated())).await;
        return;
    }
    // A child of the shutdown token: one signal to watch per wake-up instead of two (which
    // of the two fired is told apart afterwards).
    let kick = shutdown.child_token();
    let (farewell_tx, farewell) = tokio::sync::oneshot::channel();
    let conn = match hub.connect(outbox, kick.clone(), farewell_tx).await {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(error = %err, "chat session refused");
            let reason = ws::going_away();
            metrics.closed(Endpoint::Chat, Some(u16::from(reason.code)), true);
            link.close(Some(reason)).await;
            return;
        }
    };
    let mut io = Io {
        link: &mut link,
        kick: &kick,
        shutdown: &shutdown,
        metrics: &metrics,
        farewell,
    };
    let mut login = Login {
        gate,
        auth: &auth,
        expiry: None,
        renew_before: config.jwt_renew_before,
    };
    let ending = drive(&mut io, conn, &hub, &config, &mut login).await;
    // Always leave the hub, whatever ended the session (it may be gone on shutdown).
    let _ = hub.disconnect(conn).await;
    let reason = match ending {
        Ok(Ending::Close(reason)) => reason,
        // The peer's stream ended without a close frame: nobody is left to tell.
        Ok(Ending::Vanished) => return,
        Err(err) => {
            tracing::info!(conn = conn.0, error = %err, "chat session ended");
            match err.close_reason() {
                Some(reason) => Some(reason),
                None => return,
            }
        }
    };
    metrics.closed(Endpoint::Chat, close_code(reason.as_ref()), true);
    link.close(reason).await;
}

/// The session's writes to its own peer, watching the cut-off signal while a write waits on a
/// full connection.
struct Io<'a, L> {
    link: &'a mut L,
    kick: &'a CancellationToken,
    shutdown: &'a CancellationToken,
    metrics: &'a Metrics,
    /// The hub's last words to a user banned from the server (see [`crate::hub::Farewell`]).
    farewell: tokio::sync::oneshot::Receiver<Vec<ServerMsg>>,
}

impl<L: Link> Io<'_, L> {
    async fn text(&mut self, frame: impl Into<ByteString>) -> Result<(), SessionError> {
        let frame = frame.into();
        let len = frame.len();
        tokio::select! {
            // The write first: when the connection has room it completes on its first poll,
            // and the cut-off signals are then never polled (registering and dropping their
            // waiters cost more than the write itself in a busy room).
            biased;
            result = self.link.text(frame) => {
                result?;
                self.metrics.sent(Endpoint::Chat, len);
                Ok(())
            }
            () = self.kick.cancelled() => Err(self.cut_off()),
        }
    }

    /// Writes the hub's last words to a banned user, each within a second (a reader that
    /// does not read is closed without them).
    async fn say_farewell(&mut self, farewell: &[ServerMsg]) {
        for event in farewell {
            let Ok(json) = shared::encode(event) else {
                continue;
            };
            let len = json.len();
            match tokio::time::timeout(Duration::from_secs(1), self.link.text(json.into())).await {
                Ok(Ok(())) => self.metrics.sent(Endpoint::Chat, len),
                _ => return,
            }
        }
    }

    /// Why the kick token fired: shutdown (its parent) or the hub cutting off a slow reader
    /// (or, with a farewell waiting, a user banned from the server).
    fn cut_off(&self) -> SessionError {
        if self.shutdown.is_cancelled() {
            SessionError::ShuttingDown
        } else {
            SessionError::SlowConsumer
        }
    }

    async fn event(&mut self, event: &ServerMsg) -> Result<(), SessionError> {
        match shared::encode(event) {
            Ok(json) => self.text(json).await,
            Err(err) => {
                tracing::error!(error = %err, "cannot encode an event");
                Ok(())
            }
        }
    }

    async fn error(
        &mut self,
        code: ErrorCode,
        message: String,
        client_id: Option<shared::ClientMsgId>,
    ) -> Result<(), SessionError> {
        let event = ServerMsg::Error {
            code,
            message,
            client_id,
        };
        self.event(&event).await
    }
}

/// The session loop.
async fn drive<L: Link>(
    io: &mut Io<'_, L>,
    conn: ConnId,
    hub: &HubHandle,
    config: &Config,
    login: &mut Login<'_>,
) -> Result<Ending, SessionError> {
    let mut heartbeat = ws::heartbeat(config.heartbeat_interval);
    let mut limiter = RateLimiter::new(config.rate_per_sec, config.rate_burst, Instant::now());
    // Member-list pages are reads: scrolling a room of 10,000 asks for 200 of them. They have
    // their own, larger bucket, and are slowed rather than refused when it is empty: a
    // refused page would leave the app's list waiting, and a read changes nothing others see.
    let mut reads = RateLimiter::new(
        config.rate_per_sec.saturating_mul(READS_PER_MESSAGE),
        config.rate_burst.saturating_mul(READS_PER_MESSAGE),
        Instant::now(),
    );
    let mut strikes = 0u32;
    let uploads = config.uploads();
    // A logged-in connection outlives neither a logout nor a password change by more than this.
    let mut recheck = tokio::time::interval_at(
        Instant::now() + config.session_recheck,
        config.session_recheck,
    );
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = io.kick.cancelled() => return match io.cut_off() {
                SessionError::ShuttingDown => Ok(Ending::Close(Some(ws::going_away()))),
                SessionError::SlowConsumer => match io.farewell.try_recv() {
                    // Banned from the server: said here, ahead of the close frame.
                    Ok(farewell) => {
                        io.say_farewell(&farewell).await;
                        Ok(Ending::Close(Some(banned())))
                    }
                    Err(_) => Err(SessionError::SlowConsumer),
                },
                other => Err(other),
            },
            message = io.link.recv() => {
                let text = match message? {
                    Inbound::Text(text) => {
                        io.metrics.received(Endpoint::Chat, text.len());
                        text
                    }
                    Inbound::Binary(bytes) => {
                        io.metrics.received(Endpoint::Chat, bytes.len());
                        let message = format!("binary frames are not part of {}; send JSON text", shared::SUBPROTOCOL);
                        io.error(ErrorCode::BinaryNotSupported, message, None).await?;
                        continue;
                    }
                    Inbound::Close(reason) => {
                        io.metrics.closed(Endpoint::Chat, close_code(reason.as_ref()), false);
                        return Ok(Ending::Close(reason));
                    }
                    Inbound::Vanished => return Ok(Ending::Vanished),
                };
                // Counted before the hub sees anything; a refused message is parsed only to
                // return its client_id, so the sender can mark it failed.
                let parsed = ClientMsg::parse(&text);
                if matches!(parsed, Ok(ClientMsg::Members { .. })) {
                    // At most MAX_READ_WAIT, in which this loop hears nothing else: a
                    // kick or a heartbeat is late by that much, never lost.
                    let wait = reads.take_or_wait(Instant::now());
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                } else if !limiter.try_take(Instant::now()) {
                    io.metrics.rate_limited.inc();
                    strikes += 1;
                    if strikes >= config.rate_strikes {
                        return Err(SessionError::RateAbuse);
                    }
                    let message = format!(
                        "slow down: at most {} messages per second (burst {})",
                        config.rate_per_sec, config.rate_burst
                    );
                    let client_id = match parsed {
                        Ok(request) => request.into_client_id(),
                        Err(refused) => refused.client_id,
                    };
                    io.error(ErrorCode::RateLimited, message, client_id).await?;
                    continue;
                }
                strikes = 0;
                let request = match parsed {
                    Ok(request) => request,
                    Err(refused) => {
                        io.error(refused.code, refused.message, refused.client_id).await?;
                        continue;
                    }
                };
                match login.admit(request) {
                    Admitted::Forward(request) => match crate::uploads::store::attach(&uploads, request).await {
                        Ok(request) => hub.request(conn, request).await?,
                        Err((client_id, message)) => {
                            io.error(ErrorCode::Invalid, message, client_id).await?;
                        }
                    },
                    Admitted::Answer(event) => io.event(&event).await?,
                    Admitted::Refuse(code, message) => io.error(code, message, None).await?,
                    Admitted::Close(message) => {
                        io.error(ErrorCode::Unauthenticated, message, None).await?;
                        return Ok(Ending::Close(Some(unauthenticated())));
                    }
                }
            }
            _ = recheck.tick() => {
                if !login.session_alive().await {
                    let message = "your session ended (logged out, or the password changed); log in again";
                    io.error(ErrorCode::Unauthenticated, message.into(), None).await?;
                    return Ok(Ending::Close(Some(unauthenticated())));
                }
            }
            () = login.next_deadline() => {
                if let Some(event) = login.deadline_passed() {
                    io.event(&event).await?;
                } else {
                    let message = "your token expired and no fresh one came; reconnect with a new one";
                    io.error(ErrorCode::Unauthenticated, message.into(), None).await?;
                    return Ok(Ending::Close(Some(unauthenticated())));
                }
            }
            _ = heartbeat.tick() => io.link.heartbeat().await?,
        }
    }
}

/// The close of a connection whose user a server admin banned.
fn banned() -> actix_ws::CloseReason {
    actix_ws::CloseReason {
        code: actix_ws::CloseCode::Other(close::BANNED),
        description: Some("banned from this server".into()),
    }
}

fn unauthenticated() -> actix_ws::CloseReason {
    actix_ws::CloseReason {
        code: actix_ws::CloseCode::Other(close::UNAUTHENTICATED),
        description: Some("not logged in".into()),
    }
}

/// The connection's login: what its `hello` may claim, and (JWT mode) when its token expires.
struct Login<'a> {
    gate: Gate,
    auth: &'a Auth,
    expiry: Option<Expiry>,
    /// How long before the token expires the client is asked for a fresh one
    /// (`--jwt-renew-before`).
    renew_before: Duration,
}

/// A verified JWT's deadline.
struct Expiry {
    sub: String,
    /// Who the token named: the connection's user for as long as it lives.
    identity: Identity,
    at: Instant,
    /// `reauth_needed` was sent for this token.
    warned: bool,
}

/// What becomes of a request under the connection's login.
enum Admitted {
    /// To the hub (a `hello` rewritten to the authenticated user).
    Forward(ClientMsg),
    /// Answered here.
    Answer(ServerMsg),
    /// Refused with a typed error; the connection stays.
    Refuse(ErrorCode, String),
    /// Refused, and the connection closes with 4401.
    Close(String),
}

impl Login<'_> {
    fn admit(&mut self, mut request: ClientMsg) -> Admitted {
        match &mut request {
            ClientMsg::Hello {
                nick, token, jwt, ..
            } => {
                // The hub sees an ordinary hello, naming the authenticated user.
                let identity = match &self.gate {
                    Gate::Open if auth::token_is_reserved(token) => {
                        return Admitted::Refuse(
                            ErrorCode::Invalid,
                            "browser tokens starting with acct- or jwt- are reserved".into(),
                        );
                    }
                    // A nickname chosen here, in the form the server keeps (`names`).
                    Gate::Open => match names::chosen("nickname", nick) {
                        Ok(chosen) => {
                            *nick = chosen;
                            None
                        }
                        Err(refused) => {
                            return Admitted::Refuse(ErrorCode::Invalid, refused.to_string());
                        }
                    },
                    Gate::Account { identity, .. } => Some(identity.clone()),
                    Gate::LoggedOut => return Admitted::Close("log in first".into()),
                    // A connection is one user's: once a token was verified here, a later
                    // hello (a retry after the hub refused the first, or an attempt to swap
                    // the login) keeps that user and that expiry. Only `reauth` renews.
                    Gate::Jwt if self.expiry.is_some() => match self.same_user(jwt.as_deref()) {
                        Ok(identity) => Some(identity),
                        Err((code, message)) => return Admitted::Refuse(code, message),
                    },
                    Gate::Jwt => match self.verify(jwt.as_deref()) {
                        Ok(identity) => Some(identity),
                        Err(message) => return Admitted::Close(message),
                    },
                };
                if let Some(identity) = identity {
                    *nick = identity.nick;
                    *token = identity.token;
                }
                *jwt = None;
                Admitted::Forward(request)
            }
            ClientMsg::Rename { .. } if !matches!(self.gate, Gate::Open) => Admitted::Refuse(
                ErrorCode::Forbidden,
                "your nickname is your login's; it cannot be changed here".into(),
            ),
            ClientMsg::Rename { nick } => match names::chosen("nickname", nick) {
                Ok(chosen) => {
                    *nick = chosen;
                    Admitted::Forward(request)
                }
                Err(refused) => Admitted::Refuse(ErrorCode::Invalid, refused.to_string()),
            },
            ClientMsg::Reauth { jwt } => {
                let jwt = std::mem::take(jwt);
                self.reauth(&jwt)
            }
            _ => Admitted::Forward(request),
        }
    }

    /// Whether the login still holds: always, except for an accounts session that has ended.
    /// A store that cannot answer keeps the socket (and is logged): the session was valid at
    /// the handshake, and a blip in the store must not disconnect everyone.
    async fn session_alive(&self) -> bool {
        let Gate::Account { session, .. } = &self.gate else {
            return true;
        };
        match self.auth.session_alive(session).await {
            Ok(alive) => alive,
            Err(err) => {
                tracing::warn!(error = %err, "cannot recheck a session; keeping the socket");
                true
            }
        }
    }

    /// Verifies a `hello`'s token and starts watching its expiry.
    fn verify(&mut self, jwt: Option<&str>) -> Result<Identity, String> {
        let verifier = self
            .auth
            .jwt()
            .ok_or_else(|| "this server has no JWT key".to_owned())?;
        let token = jwt.ok_or_else(|| "this server needs a token (jwt) in hello".to_owned())?;
        let verified = verifier.verify(token)?;
        self.expiry = Some(Expiry {
            at: Instant::now() + verified.remaining(),
            sub: verified.sub,
            identity: verified.identity.clone(),
            warned: false,
        });
        Ok(verified.identity)
    }

    /// A `hello` on a connection whose token was already verified: it must be valid and name
    /// the same `sub`, and it changes nothing (the identity and the expiry stay the first
    /// token's). Refused otherwise, with the connection kept.
    fn same_user(&self, jwt: Option<&str>) -> Result<Identity, (ErrorCode, String)> {
        let (Some(verifier), Some(expiry)) = (self.auth.jwt(), self.expiry.as_ref()) else {
            return Err((ErrorCode::Invalid, "this server has no JWT key".into()));
        };
        let token = jwt.ok_or_else(|| {
            (
                ErrorCode::Unauthenticated,
                "this server needs a token (jwt) in hello".to_owned(),
            )
        })?;
        match verifier.verify(token) {
            Ok(verified) if verified.sub == expiry.sub => Ok(expiry.identity.clone()),
            Ok(_) => Err((
                ErrorCode::Forbidden,
                "this connection is logged in as another user; open a new one to change users"
                    .into(),
            )),
            Err(message) => Err((ErrorCode::Unauthenticated, message)),
        }
    }

    fn reauth(&mut self, jwt: &str) -> Admitted {
        let (Some(verifier), Some(expiry)) = (self.auth.jwt(), self.expiry.as_mut()) else {
            return Admitted::Refuse(
                ErrorCode::Invalid,
                "reauth is for a connection identified with a token (JWT mode)".into(),
            );
        };
        match verifier.verify(jwt) {
            Ok(verified) if verified.sub == expiry.sub => {
                let remaining = verified.remaining();
                expiry.at = Instant::now() + remaining;
                expiry.warned = false;
                Admitted::Answer(ServerMsg::Reauthed {
                    expires_in_ms: u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
                })
            }
            Ok(_) => Admitted::Refuse(
                ErrorCode::Forbidden,
                "the fresh token names another user".into(),
            ),
            Err(message) => Admitted::Refuse(ErrorCode::Unauthenticated, message),
        }
    }

    /// When the login next needs attention: the notice before expiry, then the expiry.
    /// Never, without a token.
    async fn next_deadline(&self) {
        match &self.expiry {
            Some(expiry) if expiry.warned => tokio::time::sleep_until(expiry.at).await,
            Some(expiry) => {
                tokio::time::sleep_until(
                    expiry
                        .at
                        .checked_sub(self.renew_before)
                        .unwrap_or(expiry.at),
                )
                .await;
            }
            None => std::future::pending().await,
        }
    }

    /// The deadline came: `reauth_needed` to send, or `None` when the token has expired.
    fn deadline_passed(&mut self) -> Option<ServerMsg> {
        let expiry = self.expiry.as_mut()?;
        let now = Instant::now();
        if expiry.at <= now {
            return None;
        }
        expiry.warned = true;
        Some(ServerMsg::ReauthNeeded {
            expires_in_ms: u64::try_from((expiry.at - now).as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Member-list pages allowed per chat message allowed (`--rate-per-sec`, `--rate-burst`).
const READS_PER_MESSAGE: u32 = 5;
