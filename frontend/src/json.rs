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
    let tree = JSON::parse(text)
        .map_err(|err| problem(format!("not JSON: {}", crate::browser::js_error(&err))))?;
    read(&Tree(tree))
}

/// A value `JSON.parse` built.
pub struct Tree(pub JsValue);

impl Tree {
    /// This value as an object, unless it is not one (arrays and `null` are not).
    fn object(&self) -> Option<&Object> {
        (self.0.is_object() && !Array::is_array(&self.0)).then(|| self.0.unchecked_ref())
    }
}

impl Json for Tree {
    fn get(&self, key: &str) -> Option<Self> {
        let object = self.object()?;
        // Own members only: a message without `constructor` must not read Object.prototype's.
        let key = JsValue::from_str(key);
        if !Object::has_own(object, &key) {
            return None;
        }
        Reflect::get(object, &key).ok().map(Tree)
    }

    fn is_object(&self) -> bool {
        self.object().is_some()
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
        let object = self.object()?;
        let mut members = Vec::new();
        for entry in Object::entries(object).iter() {
            let entry = Array::from(&entry);
            members.push((entry.get(0).as_string()?, Tree(entry.get(1))));
        }
        Some(members)
    }
}
