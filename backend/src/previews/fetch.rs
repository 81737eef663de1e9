//! One guarded HTTP GET for a link preview: every hop's host resolved here and each address
//! checked ([`super::guard`]), the connection made to those checked addresses only, redirects
//! followed by hand (at most [`MAX_REDIRECTS`], each hop checked again), the body capped and
//! the whole exchange bounded by a deadline the caller sets. No proxy from the environment,
//! no cookies, no compression (nothing to inflate), no credentials in URLs.

use std::net::{IpAddr, SocketAddr};

use reqwest::Url;
use tokio::time::Instant;

use super::guard;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 3;

/// Why a fetch brought nothing back (the metric's `outcome` label is [`FetchError::outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one we fetch (scheme, credentials, no host).
    #[error("not a URL we fetch: {0}")]
    Url(String),
    /// The address (or port) is refused: the request-forgery defence.
    #[error("refused: {0}")]
    Refused(String),
    /// Too many redirects.
    #[error("more than {MAX_REDIRECTS} redirects")]
    Redirects,
    /// The deadline passed.
    #[error("too slow")]
    TimedOut,
    /// The body is larger than the cap (only where a cut body is useless: images).
    #[error("larger than {0} bytes")]
    TooLarge(usize),
    /// Anything else: DNS, connection, TLS, status.
    #[error("{0}")]
    Failed(String),
}

impl FetchError {
    /// Every label [`FetchError::outcome`] gives, so the metrics can show each at 0 from
    /// start-up (a test below fails if a variant's label is missing).
    pub const OUTCOMES: [&'static str; 6] = [
        "not_fetched",
        "refused",
        "redirects",
        "timed_out",
        "too_large",
        "failed",
    ];

    /// The metric label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Url(_) => "not_fetched",
            Self::Refused(_) => "refused",
            Self::Redirects => "redirects",
            Self::TimedOut => "timed_out",
            Self::TooLarge(_) => "too_large",
            Self::Failed(_) => "failed",
        }
    }
}

/// What came back.
pub struct Fetched {
    /// Where it came from in the end (after redirects): relative links are relative to it.
    pub url: Url,
    /// The `Content-Type`, lower-cased ('' if none).
    pub content_type: String,
    /// The body, at most the cap.
    pub body: Vec<u8>,
}

/// The fetch's rules.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Bytes of body kept.
    pub cap: usize,
    /// A body past the cap is cut (HTML: the head comes first) or refused (images).
    pub cut: bool,
    /// `--link-previews-allow-loopback` (tests only).
    pub allow_loopback_port: Option<u16>,
}

/// GETs `url` by [`Rules`], before `deadline`.
pub async fn get(
    url: &str,
    accept: &str,
    rules: Rules,
    deadline: Instant,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout_at(deadline, hops(url, accept, rules, deadline)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::TimedOut),
    }
}

async fn hops(
    url: &str,
    accept: &str,
    rules: Rules,
    deadline: Instant,
) -> Result<Fetched, FetchError> {
    let mut url = Url::parse(url).map_err(|err| FetchError::Url(err.to_string()))?;
    // The first request and up to MAX_REDIRECTS more: the loop ends.
    for _ in 0..=MAX_REDIRECTS {
        let response = request(&url, accept, rules, deadline).await?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or_else(|| FetchError::Failed(format!("{status} without a Location")))?;
            url = url
                .join(location)
                .map_err(|err| FetchError::Url(err.to_string()))?;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Failed(format!("status {status}")));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = body(response, rules).await?;
        return Ok(Fetched {
            url,
            content_type,
            body,
        });
    }
    Err(FetchError::Redirects)
}

/// One request to `url`, connected to its checked addresses only.
async fn request(
    url: &Url,
    accept: &str,
    rules: Rules,
    deadline: Instant,
) -> Result<reqwest::Response, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Url(format!("the scheme {}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::Url("credentials in the URL".into()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| FetchError::Url("no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| FetchError::Url("no port".into()))?;
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<IpAddr>()
        .ok();
    let addrs: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::net::lookup_host((host, port))
            .await
            .map_err(|err| FetchError::Failed(format!("cannot resolve {host}: {err}")))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(FetchError::Failed(format!("{host} has no address")));
    }
    // Every address must pass: a name that also points somewhere private is refused whole.
    for addr in &addrs {
        guard::check(*addr, rules.allow_loopback_port).map_err(FetchError::Refused)?;
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(remaining)
        .connect_timeout(remaining)
        .pool_max_idle_per_host(0)
        .user_agent(concat!("chat-link-preview/", env!("CARGO_PKG_VERSION")));
    if literal.is_none() {
        // The connector asks for `host` and gets these (checked) addresses, not DNS's answer
        // of the moment: no second lookup to rebind.
        client = client.resolve_to_addrs(host, &addrs);
    }
    let client = client
        .build()
        .map_err(|err| FetchError::Failed(err.to_string()))?;
    client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, accept)
        .header(reqwest::header::ACCEPT_ENCODING, "identity")
        .send()
        .await
        .map_err(|err| {
            if err.is_timeout() {
                FetchError::TimedOut
            } else {
                FetchError::Failed(err.to_string())
            }
        })
}

/// The body, read chunk by chunk up to the cap (a declared length past it is not read at all
/// when cutting is no use).
async fn body(mut response: reqwest::Response, rules: Rules) -> Result<Vec<u8>, FetchError> {
    if !rules.cut
        && response
            .content_length()
            .is_some_and(|length| length > rules.cap as u64)
    {
        return Err(FetchError::TooLarge(rules.cap));
    }
    let mut body = Vec::new();
    // Each round reads a chunk or ends: the body is finite or the deadline ends it.
    while let Some(chunk) = response.chunk().await.map_err(|err| {
        if err.is_timeout() {
            FetchError::TimedOut
        } else {
            FetchError::Failed(err.to_string())
        }
    })? {
        let room = rules.cap - body.len();
        if chunk.len() > room {
            if !rules.cut {
                return Err(FetchError::TooLarge(rules.cap));
            }
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod outcome_tests {
    use super::FetchError;

    #[test]
    fn every_outcome_is_listed() {
        let errors = [
            FetchError::Url(String::new()),
            FetchError::Refused(String::new()),
            FetchError::Redirects,
            FetchError::TimedOut,
            FetchError::TooLarge(0),
            FetchError::Failed(String::new()),
        ];
        for error in &errors {
            // No wildcard: a new variant does not compile here until it is in `errors` too.
            match error {
                FetchError::Url(_)
                | FetchError::Refused(_)
                | FetchError::Redirects
                | FetchError::TimedOut
                | FetchError::TooLarge(_)
                | FetchError::Failed(_) => {}
            }
            assert!(
                FetchError::OUTCOMES.contains(&error.outcome()),
                "{} is not in OUTCOMES",
                error.outcome()
            );
        }
        assert_eq!(errors.len(), FetchError::OUTCOMES.len());
    }
}
