//! What a request says about its client, believing `X-Forwarded-*` only from the trusted
//! proxies (`--trusted-proxy`): its address, whether it came over https, the host it asked
//! for, and its session cookie. A leaf: the admission checks, the accounts and the uploads
//! read requests through it.

use actix_web::{HttpRequest, http::header};
use shared::paths;

use crate::per_address;

/// The session cookie value the request carries, if any.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == paths::SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The client's address for the per-address caps (see [`crate::per_address`]).
pub(crate) fn client_address(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> std::net::IpAddr {
    let peer = req.peer_addr().map_or(
        std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        |addr| addr.ip(),
    );
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok());
    per_address::client_address(peer, forwarded, trusted)
}

/// Whether `req` came from one of the `trusted` proxies, whose `X-Forwarded-*` count.
fn from_trusted_proxy(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> bool {
    req.peer_addr()
        .is_some_and(|addr| trusted.contains(&addr.ip()))
}

/// The last value of header `name` (the one the nearest proxy wrote), trimmed.
fn last_forwarded<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(name)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .rfind(|value| !value.is_empty())
}

/// Whether the client reached the server over https: a TLS listener, or a trusted proxy's
/// `X-Forwarded-Proto: https`. Not actix's `connection_info()`, which believes `Forwarded`
/// and `X-Forwarded-Proto` from any peer.
pub(crate) fn came_over_https(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> bool {
    if req.app_config().secure() {
        return true;
    }
    from_trusted_proxy(req, trusted)
        && last_forwarded(req, "x-forwarded-proto")
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// The host (and port) the client asked for, as the Origin check compares it: a trusted
/// proxy's `X-Forwarded-Host`, else `Host`. Not actix's `connection_info()`, which believes
/// `Forwarded` and `X-Forwarded-Host` from any peer.
pub(crate) fn requested_host(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> String {
    let forwarded = from_trusted_proxy(req, trusted)
        .then(|| last_forwarded(req, "x-forwarded-host"))
        .flatten();
    forwarded
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
        })
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_else(|| req.app_config().host())
        .to_owned()
}
