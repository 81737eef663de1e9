//! The account API (`/api/...`, accounts mode) over `fetch`, and the JWT the embedding page
//! hands the app (JWT mode).
//!
//! Requests go to the server that serves the chat socket ([`api_url`]), with credentials, so
//! that the HttpOnly session cookie it sets is sent with the socket's handshake. The app never
//! sees the cookie itself.

use shared::{
    auth::{ApiError, Credentials, PasswordChange, SessionInfo},
    paths,
};
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::Response;

use crate::{fetch, json};

/// The http(s) URL of `path` on the server whose chat socket is `ws_url` (`ws://host/ws`).
pub fn api_url(ws_url: &str, path: &str) -> String {
    let base = ws_url
        .strip_prefix("wss://")
        .map(|rest| format!("https://{rest}"))
        .or_else(|| {
            ws_url
                .strip_prefix("ws://")
                .map(|rest| format!("http://{rest}"))
        })
        .unwrap_or_default();
    let origin = base
        .find("://")
        .and_then(|scheme_end| {
            base[scheme_end + 3..]
                .find('/')
                .map(|slash| &base[..scheme_end + 3 + slash])
        })
        .unwrap_or(&base);
    format!("{origin}{path}")
}

/// What a refused request says, for the form that sent it: the server's JSON error, or its
/// status.
pub async fn refusal(response: Response) -> String {
    let status = response.status();
    match fetch::text(&response)
        .await
        .ok()
        .map(|text| json::parse::<ApiError>(&text))
    {
        Some(Ok(ApiError { error })) => error,
        _ => format!("the server answered {status}"),
    }
}

async fn session_from(response: Result<Response, String>) -> Result<SessionInfo, String> {
    let response = response.map_err(|err| format!("the server is unreachable ({err})"))?;
    if response.ok() {
        let text = fetch::text(&response)
            .await
            .map_err(|err| format!("unreadable answer: {err}"))?;
        json::parse(&text).map_err(|err| format!("unreadable answer: {err}"))
    } else {
        Err(refusal(response).await)
    }
}

/// `body` is JSON text (written by `shared::lean_write`: serde's encoder is not in the app).
async fn post(url: String, body: &str) -> Result<SessionInfo, String> {
    let headers = [("content-type", "application/json")];
    session_from(fetch::send("POST", &url, &headers, Some(body)).await).await
}

/// `GET /api/session`: the server's mode and who this browser is logged in as.
pub async fn session(ws_url: &str) -> Result<SessionInfo, String> {
    let url = api_url(ws_url, paths::API_SESSION);
    session_from(fetch::send("GET", &url, &[], None).await).await
}

/// Creates an account and logs in.
pub async fn register(ws_url: &str, credentials: &Credentials) -> Result<SessionInfo, String> {
    post(api_url(ws_url, paths::API_REGISTER), &credentials.to_json()).await
}

/// Logs in.
pub async fn login(ws_url: &str, credentials: &Credentials) -> Result<SessionInfo, String> {
    post(api_url(ws_url, paths::API_LOGIN), &credentials.to_json()).await
}

/// Logs out (the server ends the session and clears the cookie).
pub async fn logout(ws_url: &str) -> Result<SessionInfo, String> {
    post(api_url(ws_url, paths::API_LOGOUT), "null").await
}

/// Changes the password; the server ends this account's other sessions.
pub async fn change_password(ws_url: &str, change: &PasswordChange) -> Result<SessionInfo, String> {
    post(api_url(ws_url, paths::API_PASSWORD), &change.to_json()).await
}

/// The global through which the embedding page hands the app its token (JWT mode):
/// `window.chatJwt`, either the token itself or a function returning it (or a Promise of
/// it). It is read at every (re)connect and whenever the server asks for a fresh token, so a
/// function lets the page fetch a new one from its own backend each time.
pub const JWT_GLOBAL: &str = "chatJwt";

/// Whether the page set [`JWT_GLOBAL`] (JWT mode), known at once (a click's handler must
/// decide before it returns whether the browser's own action goes ahead).
pub fn page_has_jwt() -> bool {
    web_sys::window()
        .and_then(|window| js_sys::Reflect::get(&window, &JsValue::from_str(JWT_GLOBAL)).ok())
        .is_some_and(|value| !value.is_undefined() && !value.is_null())
}

/// The token from [`JWT_GLOBAL`], if the page set one.
pub async fn page_jwt() -> Option<String> {
    let window = web_sys::window()?;
    let value = js_sys::Reflect::get(&window, &JsValue::from_str(JWT_GLOBAL)).ok()?;
    let value = match value.dyn_ref::<js_sys::Function>() {
        Some(function) => function.call0(&window).ok()?,
        None => value,
    };
    let value = match value.dyn_ref::<js_sys::Promise>() {
        Some(promise) => wasm_bindgen_futures::JsFuture::from(promise.clone())
            .await
            .ok()?,
        None => value,
    };
    value.as_string().filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_follow_the_socket_url() {
        assert_eq!(
            api_url("ws://127.0.0.1:8080/ws", "/api/login"),
            "http://127.0.0.1:8080/api/login"
        );
        assert_eq!(
            api_url("wss://chat.example.org/ws", "/api/session"),
            "https://chat.example.org/api/session"
        );
    }
}
