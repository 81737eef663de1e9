//! Web Push: telling people who are away (RFC 8030 push, RFC 8291 message encryption,
//! RFC 8292 VAPID), sent straight from this server to each browser's push service with the
//! operator's own key pair; no relay of ours in between.
//!
//! A browser registers its subscription (`POST /api/push`, see [`shared::push`]); when a
//! user with no connected tab anywhere gets a direct message, the hub hands a
//! [`Notice`](shared::push::Notice) to the [`Notifier`], and the sender pushes it, encrypted
//! for each of the user's browsers. What a push reveals to the push service is in
//! docs/SECURITY.md, "Web Push".
//!
//! # Layout
//! - `mod.rs`: [`Push`] (what the HTTP half and the hub get), which push services a
//!   subscription may name ([`Push::check_endpoint`]).
//! - `keys.rs`: the keys: [`keys::Keys`] and [`keys::Vapid`], the server's key pair (made on first
//!   start, kept in the data directory or Redis; the `Authorization` header it signs), and
//!   a browser's ([`keys::browser_keys`]). A leaf: the other parts import it.
//! - `store.rs`: [`store::Subscriptions`], the browsers' subscriptions by user.
//! - `send.rs`: [`Notifier`] and the sender task: one push per conversation per minute,
//!   encrypted, delivered and retried off the hub; gone subscriptions (404, 410) removed.
//! - `http.rs`: `GET`/`POST`/`DELETE /api/push`.

pub mod http;
pub mod keys;
pub mod send;
pub mod store;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use send::Notifier;

use keys::Keys;
use store::Subscriptions;

/// Web Push as the HTTP half and the hub use it.
#[derive(Clone)]
pub struct Push {
    /// The VAPID key pair.
    pub keys: Arc<Keys>,
    /// The subscriptions.
    pub store: Subscriptions,
    /// The sender's queue.
    pub notifier: Notifier,
    /// The push services a subscription may name (`--push-services`).
    services: Arc<[String]>,
}

/// Web Push could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up Web Push: {0}")]
pub struct PushError(String);

impl Push {
    /// Opens the subscription store, makes sure the key pair exists (one node: at once, so
    /// a data directory that cannot hold it fails the start; cluster mode: on first use,
    /// Redis may not be up yet) and starts the sender.
    pub async fn open(
        config: &crate::Config,
        redis: Option<&crate::redis_set::RedisSet>,
        shutdown: CancellationToken,
    ) -> Result<Self, PushError> {
        let store =
            Subscriptions::open(&config.data_dir, redis).map_err(|e| PushError(e.to_string()))?;
        let keys = Arc::new(Keys::new(
            config.data_dir.clone(),
            redis.map(crate::redis_set::RedisSet::commands),
        ));
        if redis.is_none() {
            keys.get().await.map_err(|e| PushError(e.to_string()))?;
        }
        let sender = send::Sender {
            keys: Arc::clone(&keys),
            store: store.clone(),
            contact: config.push_contact.clone(),
            redis: redis.map(crate::redis_set::RedisSet::commands),
        };
        let notifier = sender
            .spawn(shutdown)
            .map_err(|e| PushError(format!("the HTTP client: {e}")))?;
        Ok(Self {
            keys,
            store,
            notifier,
            services: config.push_services.clone().into(),
        })
    }

    /// Whether the server may send to `endpoint`: an `https` URL of one of the allowed push
    /// services (a host equal to an entry of `--push-services` or under it), without a
    /// user name or password; plain `http` only for an entry that is a loopback host
    /// (development and tests). Anything else would let a user make the server send
    /// requests wherever they like (say, into the operator's own network).
    pub fn check_endpoint(&self, endpoint: &str) -> Result<(), String> {
        if endpoint.len() > 2048 {
            return Err("the endpoint is too long".to_owned());
        }
        let url = reqwest::Url::parse(endpoint).map_err(|e| format!("the endpoint: {e}"))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if !url.username().is_empty() || url.password().is_some() || host.is_empty() {
            return Err("the endpoint must be a plain URL of a push service".to_owned());
        }
        let allowed = self.services.iter().find(|service| {
            let service = service.trim_start_matches('.').to_ascii_lowercase();
            host == service || host.ends_with(&format!(".{service}"))
        });
        let Some(service) = allowed else {
            return Err(format!("{host} is not a push service this server sends to"));
        };
        let loopback = matches!(
            service.as_str(),
            "127.0.0.1" | "localhost" | "[::1]" | "::1"
        );
        match url.scheme() {
            "https" => Ok(()),
            "http" if loopback => Ok(()),
            _ => Err("the endpoint must be https".to_owned()),
        }
    }
}
