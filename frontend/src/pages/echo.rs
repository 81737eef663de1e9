//! The Echo page: type a message, the server sends it back, the page shows the round trip.

use leptos::{html, prelude::*};

use crate::{
    client::{Connection, ConnectionEvent, ConnectionStatus},
    components::StatusBadge,
    echo_log::{EchoEntry, EchoLog, Outcome},
    now_ms,
};

/// The Echo page, connected to the echo endpoint at `url` for as long as it is mounted.
#[component]
pub fn EchoPage(
    /// WebSocket URL of `/ws/echo`, e.g. `ws://127.0.0.1:8080/ws/echo`.
    #[prop(into)]
    url: String,
) -> impl IntoView {
    let (status, set_status) = signal(ConnectionStatus::Connecting);
    let log = RwSignal::new(EchoLog::default());
    let draft = RwSignal::new(String::new());

    let connection = Connection::open(url, None, set_status, move |event| match event {
        ConnectionEvent::Text(text) => log.update(|log| log.receive(&text, now_ms())),
        ConnectionEvent::Closed => log.update(EchoLog::connection_lost),
        ConnectionEvent::Opened | ConnectionEvent::Unauthenticated => {}
    });
    // Owned by the page: unmounting disposes it, which closes the socket.
    let connection = StoredValue::new_local(connection);

    let send = move || {
        let text = draft.get_untracked();
        if text.is_empty() || !status.get_untracked().is_open() {
            return;
        }
        let Some(frame) = log.try_update(|log| log.send(text, now_ms())) else {
            return;
        };
        match shared::encode(&frame) {
            Ok(json) => connection.with_value(|c| c.send(json)),
            Err(err) => log.update(|log| log.problem = Some(err.to_string())),
        }
        draft.set(String::new());
    };

    let list: NodeRef<html::Ol> = NodeRef::new();
    // Keep the newest entry in view.
    Effect::new(move |_| {
        log.track();
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });

    let w = crate::i18n::words();
    view! {
        <section class="page echo-page">
            <header class="page-header">
                <div>
                    <h1>{w.echo}</h1>
                    <p class="hint">{w.echo_hint}</p>
                </div>
                <StatusBadge status=status />
            </header>
            <ol class="echo-log" data-testid="echo-log" node_ref=list aria-live="polite">
                {move || {
                    log.with(|log| {
                        if log.entries().is_empty() {
                            view! { <li class="empty">{w.echo_empty}</li> }.into_any()
                        } else {
                            log.entries().iter().map(entry_row).collect_view().into_any()
                        }
                    })
                }}
            </ol>
            <Show when=move || log.with(|log| log.problem.is_some())>
                <p class="problem" role="alert">{move || log.with(|log| log.problem.clone())}</p>
            </Show>
            <form
                class="composer"
                on:submit=move |ev| {
                    ev.prevent_default();
                    send();
                }
            >
                <input
                    type="text"
                    data-testid="echo-input"
                    placeholder=w.echo_placeholder
                    aria-label=w.message
                    autocomplete="off"
                    bind:value=draft
                />
                <button
                    type="submit"
                    data-testid="echo-send"
                    disabled=move || !status.get().is_open() || draft.with(String::is_empty)
                >
                    {w.send}
                </button>
            </form>
        </section>
    }
}

/// One sent message and what became of it. Text goes in as a text node, never as HTML.
fn entry_row(entry: &EchoEntry) -> impl IntoView + use<> {
    let w = crate::i18n::words();
    let (state, detail) = match entry.outcome {
        Outcome::Pending => ("pending", w.echo_waiting.to_owned()),
        Outcome::Echoed { rtt_ms } => ("echoed", (w.echo_rtt)(&tenths(rtt_ms))),
        Outcome::Lost => ("lost", w.echo_lost.to_owned()),
    };
    view! {
        <li class=format!("entry entry-{state}") data-testid="echo-entry" data-state=state>
            <span class="entry-text">{entry.text.clone()}</span>
            <span class="entry-detail">{detail}</span>
        </li>
    }
}

/// `ms` with one decimal, e.g. `12.3`, without `f64` formatting (`{:.1}` pulls about 10 KB of
/// float-printing code into the wasm; see bench/results/profile.md).
fn tenths(ms: f64) -> String {
    // Saturating cast: a negative or NaN time (a clock step) shows as 0.0.
    let tenths = (ms * 10.0).round() as u64;
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::tenths;

    #[test]
    fn times_show_one_rounded_decimal() {
        assert_eq!(tenths(12.34), "12.3");
        assert_eq!(tenths(0.05), "0.1");
        assert_eq!(tenths(7.0), "7.0");
        assert_eq!(tenths(-1.0), "0.0");
    }
}
