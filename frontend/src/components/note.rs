//! A line that says something only while there is something to say (a problem, an outcome).

use leptos::prelude::*;

use std::sync::Arc;

use crate::erase::{Reactive, reactive, shown};

/// A `<p>` with `class` (and `role`, `data-testid` when given) while `text()` is `Some`, its
/// text kept current; nothing otherwise. Every such line on every page is this one view type.
pub fn note(
    text: impl Fn() -> Option<String> + Send + Sync + 'static,
    class: &'static str,
    role: Option<&'static str>,
    testid: Option<&'static str>,
) -> AnyView {
    // Not generic past this line: one copy of the view code for every use.
    note_erased(Arc::new(text), class, role, testid)
}

fn note_erased(
    text: Reactive<Option<String>>,
    class: &'static str,
    role: Option<&'static str>,
    testid: Option<&'static str>,
) -> AnyView {
    let when = Arc::clone(&text);
    let text = reactive(move || text().unwrap_or_default());
    shown(
        move || when().is_some(),
        move || view! { <p class=class role=role data-testid=testid>{text.clone()}</p> }.into_any(),
    )
}
