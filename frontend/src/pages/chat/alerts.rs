//! Telling a user who is not looking: the page's visibility, and browser notifications
//! (asked for, then shown for mentions and direct messages while the page is hidden).

use leptos::{prelude::*, task::spawn_local};

use super::{ctx::ChatCtx, local_store::store};
use crate::{browser::storage, components::note, erase::shown_or};

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
