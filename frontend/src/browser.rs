//! Small helpers over the browser that every part uses: a JavaScript error's message, the
//! page's clock, localStorage. A leaf: it imports nothing from the crate.

/// A JavaScript error's message (`TypeError: Failed to fetch` says `Failed to fetch`), for
/// the words shown to the user; "an unknown error" for a thrown value that is not an `Error`.
pub fn js_error(err: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast as _;
    err.dyn_ref::<js_sys::Error>().map_or_else(
        || "an unknown error".to_owned(),
        |err| String::from(err.message()),
    )
}

/// Milliseconds from `performance.now()`: monotonic, sub-millisecond, for round-trip times.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// This origin's localStorage, when the browser allows it.
pub fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}
