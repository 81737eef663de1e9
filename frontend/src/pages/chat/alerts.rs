//! Telling a user who is not looking: the page's visibility, browser notifications (asked
//! for, then shown for mentions and direct messages while the page is hidden), and Web Push
//! for when no page is open (the switch; the service worker shows them, docs/PWA.md).

use leptos::{prelude::*, task::spawn_local};

use super::{
    ctx::ChatCtx,
    local_store::{store, stored},
};
use crate::{
    browser::storage,
    components::note,
    erase::{reactive, shown_or},
    pwa::{self, PUSH_KEY},
};

/// Where "private previews" is kept.
const PRIVATE_KEY: &str = "chat.push.private";

/// "Notifications on this device": Web Push, for when the app is closed. Turning it on asks
/// the browser for permission (never asked otherwise), subscribes and registers with the
/// server; off, unsubscribes (frontend/pwa.js does both). "Private previews" makes the
/// server send only "new message", never the sender or the text.
#[component]
pub(super) fn PushSwitch() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let on = RwSignal::new(stored(PUSH_KEY).is_some());
    let private = RwSignal::new(stored(PRIVATE_KEY).is_some());
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    // On (again, with the current `private`), or off.
    let apply = move |want: bool| {
        busy.set(true);
        spawn_local(async move {
            let credential = ctx.credential().await;
            let url = ctx.url.get_value();
            let failed = pwa::switch_push(&url, want, private.get_untracked(), credential).await;
            let w = crate::i18n::words();
            let now = want == failed.is_none();
            keep(PUSH_KEY, now);
            busy.try_set(false);
            on.try_set(now);
            problem.try_set(failed.map(|why| match why.as_str() {
                "unsupported" => w.push_unsupported.to_owned(),
                "blocked" => w.notifications_blocked.to_owned(),
                "not_on_server" => w.push_not_on_server.to_owned(),
                _ => (w.push_failed)(&why),
            }));
        });
    };
    let w = crate::i18n::words();
    let busy_now = reactive(move || busy.get());
    view! {
        <label class="private-toggle">
            <input type="checkbox" data-testid="push-switch" prop:checked=reactive(move || on.get())
                disabled=busy_now.clone() on:change=move |ev| apply(event_target_checked(&ev)) />
            {w.push_on_device}
        </label>
        <label class="private-toggle">
            <input type="checkbox" data-testid="push-private"
                prop:checked=reactive(move || private.get()) disabled=busy_now
                on:change=move |ev| {
                    let chosen = event_target_checked(&ev);
                    private.set(chosen);
                    keep(PRIVATE_KEY, chosen);
                    // (Off, the choice waits for the next time it is turned on.)
                    if on.get_untracked() {
                        apply(true);
                    }
                } />
            {w.push_private}
        </label>
        {note(move || problem.get(), "problem small", None, Some("push-problem"))}
    }
}

/// Keeps `key` in storage while `on`, removes it otherwise.
fn keep(key: &str, on: bool) {
    if on {
        store(key, "on");
    } else if let Some(storage) = storage() {
        let _ = storage.remove_item(key);
    }
}

/// "Turn on notifications": browser notifications of mentions and direct messages while the
/// page is hidden, after the user asks for them (the browser then asks the user).
#[component]
pub(super) fn NotificationSwitch() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let problem = RwSignal::new(None::<String>);
    let w = crate::i18n::words();
    view! {
        {shown_or(move || ctx.notifying.get(), move || view! {
            <button class="notify-switch" data-testid="disable-notifications"
                title=w.notifications_hint
                on:click=move |_| {
                    ctx.notifying.set(false);
                    if let Some(storage) = storage() {
                        let _ = storage.remove_item("chat.notify");
                    }
                }>
                {w.notifications_on}
            </button>
        }.into_any(), move || view! {
            <button class="notify-switch" data-testid="enable-notifications"
                on:click=move |_| enable_notifications(ctx.notifying, problem)>
                {w.turn_on_notifications}
            </button>
        }.into_any())}
        {note(move || problem.get(), "problem small", None, Some("notify-problem"))}
    }
}

/// The document's visibility, as a signal that follows `visibilitychange`.
pub(super) fn document_hidden() -> Signal<bool> {
    let hidden = RwSignal::new(document().hidden());
    let listener = leptos::prelude::window_event_listener_untyped("visibilitychange", move |_| {
        hidden.set(document().hidden());
    });
    on_cleanup(move || listener.remove());
    hidden.into()
}

/// "granted", "denied", "default", or "unsupported" where the browser has no notifications.
pub(super) fn notification_permission() -> String {
    let supported = js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false);
    if !supported {
        return "unsupported".into();
    }
    match web_sys::Notification::permission() {
        web_sys::NotificationPermission::Granted => "granted",
        web_sys::NotificationPermission::Denied => "denied",
        _ => "default",
    }
    .into()
}

/// Shows a browser notification (the permission was granted).
pub(super) fn notify(alert: &crate::chat_state::Alert) {
    let options = web_sys::NotificationOptions::new();
    options.set_body(&alert.body);
    if let Err(err) = web_sys::Notification::new_with_options(&alert.title, &options) {
        log::warn!("cannot show a notification: {err:?}");
    }
}

/// Asks the browser for permission to notify (it asks the user) and turns notifications on
/// if granted; the choice is kept for the next visit.
fn enable_notifications(notifying: RwSignal<bool>, problem: RwSignal<Option<String>>) {
    if notification_permission() == "unsupported" {
        problem.set(Some(crate::i18n::words().notifications_unsupported.into()));
        return;
    }
    let asked = match web_sys::Notification::request_permission() {
        Ok(promise) => promise,
        Err(err) => {
            log::warn!("Notification.requestPermission failed: {err:?}");
            problem.set(Some(crate::i18n::words().notifications_unavailable.into()));
            return;
        }
    };
    spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(asked).await;
        let granted = notification_permission() == "granted";
        notifying.set(granted);
        if granted {
            store("chat.notify", "on");
            problem.set(None);
        } else {
            problem.set(Some(crate::i18n::words().notifications_blocked.into()));
        }
    });
}
