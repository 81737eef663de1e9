//! Images and files over HTTP (`/api/uploads`, see docs/PROTOCOL.md "Images" and "Files"):
//! an upload with its progress (XMLHttpRequest: `fetch` cannot report an upload's progress),
//! and a download kept as a `blob:` URL (the request names the user in a header, which an
//! `<img src>` or an `<a href>` cannot do).

use std::{cell::RefCell, rc::Rc};

use futures::channel::oneshot;
use shared::{Image, RoomName, UploadId, auth::ApiError, paths};
use wasm_bindgen::{JsCast as _, JsValue, closure::Closure};
use web_sys::XmlHttpRequest;

use crate::api::api_url;

/// Header name and value naming the user on an upload request (none with a cookie login).
pub type Credential = Option<(&'static str, String)>;

/// What the server made of an upload, from its bytes: an image (shown) or a file (only
/// downloaded).
pub enum Uploaded {
    /// PNG, JPEG, GIF or WebP.
    Image(Image),
    /// Anything else.
    File(shared::File),
}

/// Uploads `file` (under its name) for `room`; `progress` hears the percentage sent as it
/// goes.
pub async fn upload(
    ws_url: &str,
    room: &RoomName,
    file: web_sys::File,
    credential: Credential,
    progress: impl Fn(u32) + 'static,
) -> Result<Uploaded, String> {
    let failed = |err: JsValue| format!("the upload could not start: {err:?}");
    let request = XmlHttpRequest::new().map_err(failed)?;
    let name = String::from(js_sys::encode_uri_component(&file.name()));
    let url = api_url(
        ws_url,
        &format!("{}?room={room}&name={name}", paths::API_UPLOADS),
    );
    request.open("POST", &url).map_err(failed)?;
    request.set_with_credentials(true);
    if let Some((name, value)) = &credential {
        request.set_request_header(name, value).map_err(failed)?;
    }
    let on_progress =
        Closure::<dyn Fn(web_sys::ProgressEvent)>::new(move |ev: web_sys::ProgressEvent| {
            if ev.length_computable() && ev.total() > 0.0 {
                // Whole percents: the bar needs no more, and formatting an f64 for its
                // attribute would pull float printing into the wasm.
                progress((ev.loaded() * 100.0 / ev.total()).round() as u32);
            }
        });
    request
        .upload()
        .map_err(failed)?
        .set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    // The request ends once, loaded or failed: the first to fire answers.
    let (done, ended) = oneshot::channel::<bool>();
    let done = Rc::new(RefCell::new(Some(done)));
    let finish = |loaded: bool| {
        let done = Rc::clone(&done);
        Closure::<dyn Fn()>::new(move || {
            if let Some(done) = done.borrow_mut().take() {
                let _ = done.send(loaded);
            }
        })
    };
    let (on_load, on_error) = (finish(true), finish(false));
    request.set_onload(Some(on_load.as_ref().unchecked_ref()));
    request.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    request.send_with_opt_blob(Some(&file)).map_err(failed)?;
    let loaded = ended.await.unwrap_or(false);
    if !loaded {
        return Err("the upload failed: the server could not be reached".into());
    }
    let status = request.status().unwrap_or(0);
    let body = request.response_text().ok().flatten().unwrap_or_default();
    if status == 201 {
        // An image has `width` and `height`, a file a `name`: what does not read as one is
        // the other.
        crate::json::parse(&body)
            .map(Uploaded::Image)
            .or_else(|_| crate::json::parse(&body).map(Uploaded::File))
            .map_err(|err| format!("unreadable answer: {err}"))
    } else {
        Err(crate::json::parse::<ApiError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("the server answered {status}")))
    }
}

/// Downloads upload `id` (an image or a file) of `room` and returns a `blob:` URL of it.
pub async fn download(
    ws_url: &str,
    room: &RoomName,
    id: &UploadId,
    credential: Credential,
) -> Result<String, String> {
    let url = api_url(ws_url, &format!("{}/{room}/{id}", paths::API_UPLOADS));
    let headers: Vec<(&str, &str)> = credential
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let response = crate::fetch::send("GET", &url, &headers, None)
        .await
        .map_err(|err| format!("the upload could not be fetched: {err}"))?;
    if !response.ok() {
        return Err(format!(
            "the upload could not be fetched ({})",
            response.status()
        ));
    }
    // The browser's own Blob, typed by the answer's `content-type`: never copied into the wasm.
    let blob = crate::fetch::blob(&response)
        .await
        .map_err(|err| format!("the upload could not be read: {err}"))?;
    web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the upload could not be kept".to_owned())
}
