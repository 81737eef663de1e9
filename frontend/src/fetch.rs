//! HTTP requests through the browser's `fetch`, with the page's credentials (the session
//! cookie): what the account API, the HTTP transports and the image downloads send. A thin
//! layer over web-sys rather than gloo-net's `http` (which brings the `http` crate's types for
//! four calls).

use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Headers, RequestCredentials, RequestInit, Response};

/// Sends `method url` with the page's credentials, `headers` and `body`. Any answer is `Ok`,
/// whatever its status; `Err` says why none came (the network, or the browser refused).
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Response, String> {
    let body = body.map(JsValue::from_str);
    send_body(method, url, headers, body.as_ref()).await
}

/// [`send`] with any body `fetch` takes: text, or a `Blob`/`File` the browser streams
/// (never copied into the wasm's memory).
pub async fn send_body(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&JsValue>,
) -> Result<Response, String> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::Include);
    if let Some(body) = body {
        init.set_body(body);
    }
    if !headers.is_empty() {
        let list = Headers::new().map_err(describe)?;
        for (name, value) in headers {
            list.set(name, value).map_err(describe)?;
        }
        init.set_headers(&list);
    }
    let window = web_sys::window().ok_or("no window")?;
    let answer = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(describe)?;
    answer.dyn_into::<Response>().map_err(describe)
}

/// The body of `response`, as text.
pub async fn text(response: &Response) -> Result<String, String> {
    let body = JsFuture::from(response.text().map_err(describe)?)
        .await
        .map_err(describe)?;
    body.as_string()
        .ok_or_else(|| "the body is not text".to_owned())
}

/// The body of `response`, as a `Blob` of the type the server named (never copied into the
/// wasm's memory).
pub async fn blob(response: &Response) -> Result<Blob, String> {
    let body = JsFuture::from(response.blob().map_err(describe)?)
        .await
        .map_err(describe)?;
    body.dyn_into::<Blob>().map_err(describe)
}

fn describe(err: JsValue) -> String {
    crate::browser::js_error(&err)
}
