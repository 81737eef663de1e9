//! The Echo page: type a message, the server sends it back, the page shows the round trip.

use leptos::{html, prelude::*};
use wasm_bindgen::JsCast as _;

use crate::{
    browser::now_ms,
    client::{Choice, Connection, ConnectionEvent, ConnectionStatus, Transport},
    components::{StatusBadge, note},
    echo_log::{EchoEntry, EchoLog, Outcome},
    erase::{dynamic, reactive},
};

/// The Echo page, connected to the echo endpoint at `url` for as long as it is mounted, over
/// the transport picked on the page (WebSocket first).
#[component]
pub fn EchoPage(
    /// WebSocket URL of `/ws/echo`, e.g. `ws://127.0.0.1:8080/ws/echo` (the HTTP transports'
    /// URLs are derived from it).
    #[prop(into)]
    url: String,
) -> impl IntoView {
    let (status, set_status) = signal(ConnectionStatus::Connecting);
    let log = RwSignal::new(EchoLog::default());
    let draft = RwSignal::new(String::new());
    let transport = RwSignal::new(Transport::WebSocket);

    // Owned by the page: unmounting disposes it, which closes the connection.
    let connection = StoredValue::new_local(None::<Connection>);
    Effect::new(move |_| {
        let chosen = transport.get();
        // The old connection closes before the new one opens.
        connection.set_value(None);
        let on_event = move |event| match event {
            // Timed before anything else runs: the round trip is the transport's.
            ConnectionEvent::Text(text) => {
                let at = now_ms();
                log.update(|log| log.receive(crate::json::parse(&text), at));
            }
            // Untracked: a re-render here would hold up the echo's message event, and its
            // time with it. The echo's arrival re-renders with both.
            ConnectionEvent::Sent => {
                let at = now_ms();
                log.update_untracked(|log| log.mark_sent(at));
            }
            ConnectionEvent::Wire(bytes) => log.update_untracked(|log| log.add_wire(chosen, bytes)),
            ConnectionEvent::Closed => log.update(EchoLog::connection_lost),
            ConnectionEvent::Opened | ConnectionEvent::Unauthenticated => {}
        };
        let opened = Connection::open(
            url.clone(),
            None,
            Choice::Only(chosen),
            set_status,
            on_event,
        );
        connection.set_value(Some(opened));
    });

    let send = move || {
        let text = draft.get_untracked();
        if text.is_empty() || !status.get_untracked().is_open() {
            return;
        }
        let over = transport.get_untracked();
        let Some(frame) = log.try_update(|log| log.send(text, over, now_ms())) else {
            return;
        };
        // (Written by hand, `shared::lean_write`: serde's encoder is not in the app.)
        let json = frame.to_json();
        draft.set(String::new());
        // Handed to the transport once the page has painted what this send changed and the
        // browser is idle (the next frame, then an idle callback). Otherwise that frame's
        // style, layout and paint, and the input handling around a key press (which the
        // browser favours over network tasks), run while the echo is in flight and hold up
        // its message event: the round trip would be the page's, not the transport's. In the
        // release check (WebDriver typing): 6.1 ms sent at once, 2.5 after the frame, 1.1
        // when idle, against a bare socket's 0.2 in the same page.
        request_animation_frame(move || {
            let go = wasm_bindgen::closure::Closure::once_into_js(move || {
                connection.try_with_value(|c| {
                    if let Some(c) = c {
                        c.send(json);
                    }
                });
            });
            if let Some(window) = web_sys::window() {
                let _ = window.request_idle_callback(go.unchecked_ref());
            }
        });
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
            <fieldset class="transport-picker">
                <legend>{w.echo_transport}</legend>
                {Transport::ALL
                    .into_iter()
                    .map(|t| {
                        view! {
                            <label>
                                <input type="radio" name="transport"
                                    data-testid=format!("transport-{}", t.key())
                                    prop:checked=reactive(move || transport.get() == t)
                                    on:change=move |_| transport.set(t) />
                                {t.label()}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <table class="transport-stats" data-testid="transport-stats">
                <thead>
                    <tr>
                        <th scope="col">{w.echo_transport}</th>
                        <th scope="col">{w.echo_count}</th>
                        <th scope="col">{w.echo_median}</th>
                        <th scope="col">{w.echo_bytes}</th>
                    </tr>
                </thead>
                <tbody>
                    {Transport::ALL
                        .into_iter()
                        .map(|t| {
                            let median = move || log.with(|log| log.median_rtt(t));
                            view! {
                                <tr data-testid=format!("stats-{}", t.key())>
                                    <th scope="row">{t.label()}</th>
                                    <td data-testid="count">{reactive(move || median().map_or(0, |(_, n)| n).to_string())}</td>
                                    <td data-testid="median" data-us=reactive(move || median().map(|(ms, _)| ((ms * 1000.0) as u64).to_string()))>
                                        {reactive(move || median().map(|(ms, _)| format!("{} ms", tenths(ms))).unwrap_or_default())}
                                    </td>
                                    <td data-testid="bytes">
                                        {reactive(move || log.with(|log| log.bytes_per_message(t)).map(|b| b.to_string()).unwrap_or_default())}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <ol class="echo-log" data-testid="echo-log" node_ref=list aria-live="polite">
                {dynamic(move || {
                    log.with(|log| {
                        if log.entries().is_empty() {
                            view! { <li class="empty">{w.echo_empty}</li> }.into_any()
                        } else {
                            log.entries().iter().map(entry_row).collect_view().into_any()
                        }
                    })
                })}
            </ol>
            {note(move || log.with(|log| log.problem.clone()), "problem", Some("alert"), None)}
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
                    disabled=reactive(move || !status.get().is_open() || draft.with(String::is_empty))
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
