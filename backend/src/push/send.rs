//! Sending pushes: the hub hands a [`Notice`] for a user to the [`Notifier`] (`try_send`:
//! the hub never waits for a push), and one task, the sender, turns it into an encrypted
//! request per subscription (RFC 8291 `aes128gcm`, signed with the server's VAPID key) and
//! sends each from a task of its own, retried with backoff: a push service that stalls
//! holds one delivery task, never the hub, never another user's push.
//!
//! At most one push per user and conversation per [`QUIET`] (the push's `Topic` also lets
//! the push service replace an undelivered one): a busy conversation buzzes a phone once,
//! and the app shows the rest when opened. Cluster mode counts that in Redis, so two nodes
//! do not both push.

use std::{collections::HashMap, sync::Arc, time::Duration};

use crate::redis_set::Conn;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use shared::push::Notice;
use tokio::{
    sync::{Semaphore, mpsc},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::push::{
    keys::{Keys, Vapid, browser_keys},
    store::{Stored, Subscriptions},
};

/// One push per user and conversation at most this often.
pub const QUIET: Duration = Duration::from_secs(60);
/// Notices waiting for the sender beyond which new ones are dropped (and logged).
const QUEUE: usize = 1024;
/// Deliveries in flight at once (each may wait on a slow push service).
const IN_FLIGHT: usize = 64;
/// How long a push service may take to answer one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries after the first attempt, for a busy (429, 5xx) or unreachable push service.
const RETRIES: u32 = 3;
/// How long a push service keeps an undelivered push (the `TTL` header): a day-old chat
/// notification is not worth a buzz.
const TTL: Duration = Duration::from_secs(24 * 3600);

/// The hub's way to ask for a push; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    user: String,
    notice: Notice,
}

impl Notifier {
    /// Asks for `notice` to be pushed to `user`'s devices (a user key). Never waits: with
    /// the queue full the notice is dropped and logged.
    pub fn notify(&self, user: String, notice: Notice) {
        match self.jobs.try_send(Job { user, notice }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("the push queue is full; a notification was dropped");
            }
            // Shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Who has been pushed to lately, per user and conversation.
enum Quiet {
    /// One node: in memory (the sender task owns it).
    Local(HashMap<(String, String), Instant>),
    /// Cluster mode: `chat:push:quiet:USER:TOPIC`, expiring after [`QUIET`].
    Redis(Conn),
}

impl Quiet {
    /// Whether a push for `topic` may go to `user` now (and, if so, the next may not
    /// before [`QUIET`] has passed).
    async fn may_push(&mut self, user: &str, topic: &str) -> bool {
        match self {
            Self::Local(last) => {
                let now = Instant::now();
                if last.len() > 10_000 {
                    last.retain(|_, at| now.duration_since(*at) < QUIET);
                }
                let key = (user.to_owned(), topic.to_owned());
                match last.get(&key) {
                    Some(at) if now.duration_since(*at) < QUIET => false,
                    _ => {
                        last.insert(key, now);
                        true
                    }
                }
            }
            Self::Redis(conn) => {
                let set: Result<Option<String>, _> = redis::cmd("SET")
                    .arg(format!("chat:push:quiet:{user}:{topic}"))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(u64::try_from(QUIET.as_millis()).unwrap_or(u64::MAX))
                    .query_async(conn)
                    .await;
                // Redis out of reach: better twice than never.
                set.map_or(true, |set| set.is_some())
            }
        }
    }
}

/// The push's `Topic` (RFC 8030, 5.4: at most 32 base64url characters): the same for
/// every push about one conversation, and telling the push service nothing of which.
pub fn topic(open: &str) -> String {
    let mut topic = URL_SAFE_NO_PAD.encode(Sha256::digest(open.as_bytes()));
    topic.truncate(32);
    topic
}

/// The sender task's parts.
pub(crate) struct Sender {
    pub(crate) keys: Arc<Keys>,
    pub(crate) store: Subscriptions,
    pub(crate) contact: String,
    pub(crate) redis: Option<Conn>,
}

impl Sender {
    /// Starts the sender; it stops when `shutdown` is cancelled (deliveries in flight end
    /// with the runtime).
    pub(crate) fn spawn(self, shutdown: CancellationToken) -> Result<Notifier, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // A push service's redirect is not followed: the signature names its origin.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        let quiet = match &self.redis {
            Some(conn) => Quiet::Redis(conn.clone()),
            None => Quiet::Local(HashMap::new()),
        };
        tokio::spawn(self.run(client, quiet, queue, shutdown));
        Ok(Notifier { jobs })
    }

    async fn run(
        self,
        client: reqwest::Client,
        mut quiet: Quiet,
        mut queue: mpsc::Receiver<Job>,
        shutdown: CancellationToken,
    ) {
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        loop {
            let job = tokio::select! {
                () = shutdown.cancelled() => break,
                job = queue.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let topic = topic(&job.notice.open);
            if !quiet.may_push(&job.user, &topic).await {
                continue;
            }
            let subscriptions = match self.store.of(&job.user).await {
                Ok(subscriptions) => subscriptions,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read push subscriptions; a push was dropped");
                    continue;
                }
            };
            if subscriptions.is_empty() {
                continue;
            }
            let vapid = match self.keys.get().await {
                Ok(vapid) => vapid,
                Err(err) => {
                    tracing::warn!(error = %err, "no VAPID key; a push was dropped");
                    continue;
                }
            };
            for subscription in subscriptions {
                let request = match encrypt(
                    &subscription,
                    &job.notice,
                    &topic,
                    vapid,
                    &self.contact,
                ) {
                    Ok(request) => request,
                    Err(reason) => {
                        tracing::warn!(%reason, "a push subscription cannot be used; removing it");
                        let _ = self.store.remove(&job.user, &subscription.endpoint).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                    break;
                };
                let delivery = Delivery {
                    client: client.clone(),
                    store: self.store.clone(),
                    user: job.user.clone(),
                    request,
                };
                tokio::spawn(async move {
                    delivery.run().await;
                    drop(permit);
                });
            }
        }
        tracing::debug!("push sender stopped");
    }
}

/// A push ready to send: where, its headers and its encrypted body.
struct Request {
    endpoint: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

/// `notice` for `subscription`: what it may say (nothing but "new message" if private),
/// encrypted for the browser's keys, signed for the push service's origin.
fn encrypt(
    subscription: &Stored,
    notice: &Notice,
    topic: &str,
    vapid: &Vapid,
    contact: &str,
) -> Result<Request, String> {
    let notice = if subscription.private {
        Notice {
            from: None,
            preview: None,
            ..notice.clone()
        }
    } else {
        notice.clone()
    };
    let payload = serde_json::to_vec(&notice).map_err(|e| e.to_string())?;
    let (public, auth) = browser_keys(&subscription.p256dh, &subscription.auth)?;
    let url = reqwest::Url::parse(&subscription.endpoint).map_err(|e| e.to_string())?;
    let audience = url.origin().ascii_serialization();
    let uri = subscription
        .endpoint
        .parse()
        .map_err(|e| format!("the endpoint: {e}"))?;
    let encrypted = web_push_native::WebPushBuilder::new(uri, public, auth)
        .with_valid_duration(TTL)
        .build(payload)
        .map_err(|e| format!("cannot encrypt: {e}"))?;
    let (parts, body) = encrypted.into_parts();
    let mut headers = parts.headers;
    let authorization = vapid
        .authorization(&audience, contact)
        .map_err(|e| e.to_string())?;
    let value = |text: &str| {
        reqwest::header::HeaderValue::from_str(text).map_err(|e| format!("a header: {e}"))
    };
    headers.insert(reqwest::header::AUTHORIZATION, value(&authorization)?);
    headers.insert("urgency", value("high")?);
    headers.insert("topic", value(topic)?);
    Ok(Request {
        endpoint: subscription.endpoint.clone(),
        headers,
        body,
    })
}

/// One push on its way, retried while the push service is busy or out of reach.
struct Delivery {
    client: reqwest::Client,
    store: Subscriptions,
    user: String,
    request: Request,
}

impl Delivery {
    async fn run(self) {
        let mut wait = Duration::from_secs(1);
        for attempt in 0..=RETRIES {
            let sent = self
                .client
                .post(&self.request.endpoint)
                .headers(self.request.headers.clone())
                .body(self.request.body.clone())
                .send()
                .await;
            let retry_after = match sent {
                Ok(response) if response.status().is_success() => return,
                Ok(response) if matches!(response.status().as_u16(), 404 | 410) => {
                    // The browser unsubscribed, or the subscription expired: forget it.
                    tracing::info!(status = %response.status(), "a push subscription is gone; removing it");
                    if let Err(err) = self.store.remove(&self.user, &self.request.endpoint).await {
                        tracing::warn!(error = %err, "cannot remove a push subscription");
                    }
                    return;
                }
                Ok(response)
                    if response.status().as_u16() == 429 || response.status().is_server_error() =>
                {
                    response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|secs| Duration::from_secs(secs.min(300)))
                }
                Ok(response) => {
                    // Our request is wrong for it (400, 403, 413): retrying will not help.
                    tracing::warn!(status = %response.status(), "a push service refused a push");
                    return;
                }
                Err(err) => {
                    tracing::debug!(error = %err, attempt, "a push did not reach its push service");
                    None
                }
            };
            if attempt == RETRIES {
                tracing::warn!(attempts = RETRIES + 1, "a push was given up on");
                return;
            }
            tokio::time::sleep(retry_after.unwrap_or(wait)).await;
            wait *= 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_short_url_safe_and_the_same_for_one_conversation() {
        let one = topic("direct:alice");
        assert_eq!(one.len(), 32);
        assert!(
            one.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(one, topic("direct:alice"));
        assert_ne!(one, topic("direct:bob"));
    }

    #[actix_web::test]
    async fn one_push_per_conversation_per_quiet_period() {
        let mut quiet = Quiet::Local(HashMap::new());
        assert!(quiet.may_push("u", "t1").await);
        assert!(!quiet.may_push("u", "t1").await);
        assert!(quiet.may_push("u", "t2").await);
        assert!(quiet.may_push("v", "t1").await);
    }
}
