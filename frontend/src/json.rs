//! The server's JSON, decoded through the browser's own parser: `JSON.parse` builds the tree,
//! and the hand-written decoder in `shared::lean` reads it. The app then carries no JSON parser
//! of its own (serde_json's, with a derived decoder per type, was kilobytes of wasm); it keeps
//! serde_json's encoder for what it sends.

use js_sys::{Array, JSON, Object, Reflect};
use shared::{
    ProtocolError,
    lean::{Json, Lean, problem, read},
};
use wasm_bindgen::{JsCast as _, JsValue};

/// Decodes a `T` (a server frame, an API answer, an echo) from JSON text.
pub fn parse<T: Lean>(text: &str) -> Result<T, ProtocolError> {
    let tree = JSON::parse(text).map_err(|err| {
        let why = err
            .dyn_ref::<js_sys::Error>()
            .map(|err| String::from(err.message()))
            .unwrap_or_default();
        problem(format!("not JSON: {why}"))
    })?;
    read(&Tree(tree))
}

/// A value `JSON.parse` built.
pub struct Tree(pub JsValue);

impl Json for Tree {
    fn get(&self, key: &str) -> Option<Self> {
        let object = self.0.dyn_ref::<Object>().filter(|_| self.is_object())?;
        // Own members only: a message without `constructor` must not read Object.prototype's.
        let key = JsValue::from_str(key);
        if !Object::has_own(object, &key) {
            return None;
        }
        Reflect::get(object, &key).ok().map(Tree)
    }

    fn is_object(&self) -> bool {
        self.0.is_object() && !Array::is_array(&self.0)
    }

    fn is_null(&self) -> bool {
        self.0.is_null()
    }

    fn string(&self) -> Option<String> {
        self.0.as_string()
    }

    fn unsigned(&self) -> Option<u64> {
        // Doubles: whole, not negative, and exact (at most 2^53 - 1); anything else would be
        // rounded, so it is refused (see `shared::lean`).
        const MAX_EXACT: f64 = 9_007_199_254_740_991.0;
        let n = self.0.as_f64()?;
        (n.fract() == 0.0 && (0.0..=MAX_EXACT).contains(&n)).then_some(n as u64)
    }

    fn boolean(&self) -> Option<bool> {
        self.0.as_bool()
    }

    fn items(&self) -> Option<Vec<Self>> {
        Array::is_array(&self.0).then(|| Array::from(&self.0).iter().map(Tree).collect())
    }

    fn members(&self) -> Option<Vec<(String, Self)>> {
        let object = self.0.dyn_ref::<Object>().filter(|_| self.is_object())?;
        let mut members = Vec::new();
        for entry in Object::entries(object).iter() {
            let entry = Array::from(&entry);
            members.push((entry.get(0).as_string()?, Tree(entry.get(1))));
        }
        Some(members)
    }
}
