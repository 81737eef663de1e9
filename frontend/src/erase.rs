//! Reactive pieces of views behind one type each, so that tachys' code for them is compiled
//! once for the whole app instead of once per use.
//!
//! tachys renders a closure reactively, keeps a `<Show>`'s condition or diffs a `<For>`'s
//! rows with code that is generic over the closure's and the view's types, and every
//! `move || …` or `view! {…}` is a type of its own: each use compiles its own copy of that
//! code (measured: the room sidebar's four `<For>`s and six `<Show>`s were 22 KB of the
//! gzipped wasm). The helpers here take the closures as `Arc<dyn Fn…>` and the views as
//! [`AnyView`], so there is one copy per output type (text, a flag, a view).
//!
//! # Layout
//! - [`Reactive`], [`reactive`]: a value computed reactively (a text, an attribute, a class).
//! - [`shown`], [`shown_or`]: `<Show>` (a memoised condition), without and with a fallback.
//! - [`dynamic`]: a view rebuilt when what it reads changes (`{move || …}`).
//! - [`keyed`]: `<For>`, rows built from their keys.
//! - [`effect`]: an `Effect`, its machinery compiled once for every use.

use std::sync::Arc;

use leptos::prelude::*;

/// A reactive value of type `T`, usable wherever a view or an attribute takes a closure.
pub type Reactive<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// Erases a closure's type (see the module's documentation).
pub fn reactive<T>(f: impl Fn() -> T + Send + Sync + 'static) -> Reactive<T> {
    Arc::new(f)
}

/// `children` while `when` holds, nothing otherwise. As with `<Show>`, the condition is
/// memoised: the children are built again when it turns true, not whenever something it
/// reads changes.
pub fn shown(
    when: impl Fn() -> bool + Send + Sync + 'static,
    children: impl Fn() -> AnyView + Send + Sync + 'static,
) -> AnyView {
    either_erased(Arc::new(when), Arc::new(children), None)
}

/// `children` while `when` holds, `fallback` otherwise: `<Show>` with a fallback.
pub fn shown_or(
    when: impl Fn() -> bool + Send + Sync + 'static,
    children: impl Fn() -> AnyView + Send + Sync + 'static,
    fallback: impl Fn() -> AnyView + Send + Sync + 'static,
) -> AnyView {
    either_erased(Arc::new(when), Arc::new(children), Some(Arc::new(fallback)))
}

fn either_erased(
    when: Reactive<bool>,
    children: Reactive<AnyView>,
    fallback: Option<Reactive<AnyView>>,
) -> AnyView {
    let when = Memo::new(move |_| when());
    // A closure of its own (a view is not `Sync`, so it cannot be a `Reactive`); this
    // function is not generic, so it is still one type.
    (move || {
        if when.get() {
            Some(children())
        } else {
            fallback.as_ref().map(|fallback| fallback())
        }
    })
    .into_any()
}

/// A view rebuilt whenever what `view` reads changes.
pub fn dynamic(view: impl Fn() -> AnyView + Send + Sync + 'static) -> AnyView {
    dynamic_erased(Arc::new(view))
}

fn dynamic_erased(view: Reactive<AnyView>) -> AnyView {
    (move || view()).into_any()
}

/// A keyed list, as `<For>`: a row is built once for each new key in `keys()` and kept while
/// its key stays (moved, not rebuilt, when the order changes); whatever a row shows beyond its
/// key it reads reactively itself. One copy per key type.
pub fn keyed<K>(
    keys: impl Fn() -> Vec<K> + Send + Sync + 'static,
    row: impl Fn(K) -> AnyView + Send + Sync + 'static,
) -> AnyView
where
    K: Clone + Eq + std::hash::Hash + Send + Sync + 'static,
{
    keyed_erased(Arc::new(keys), Arc::new(row))
}

fn keyed_erased<K>(keys: Reactive<Vec<K>>, row: Arc<dyn Fn(K) -> AnyView + Send + Sync>) -> AnyView
where
    K: Clone + Eq + std::hash::Hash + Send + Sync + 'static,
{
    view! { <For each=move || keys() key=K::clone children=move |key| row(key) /> }.into_any()
}

/// An effect: `run` runs now (soon) and again whenever what it reads changes. `Effect::new`
/// compiles its own task per closure type; behind one boxed type, the effects made here share
/// one. (What an effect remembers between runs it keeps in a `StoredValue` of its own.)
pub fn effect(run: impl Fn() + 'static) {
    let run: Box<dyn Fn()> = Box::new(run);
    Effect::new(move |_| run());
}
