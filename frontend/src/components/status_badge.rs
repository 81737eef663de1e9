//! The connection status pill: connecting / online · transport / reconnecting in N s.

use leptos::prelude::*;

use crate::{client::ConnectionStatus, erase::reactive};

/// Shows `status` in words, with a colour per state (see `style.css`).
#[component]
pub fn StatusBadge(
    /// The connection's current status.
    #[prop(into)]
    status: Signal<ConnectionStatus>,
) -> impl IntoView {
    let class = reactive(move || match status.get() {
        ConnectionStatus::Connecting => "status status-connecting",
        ConnectionStatus::Open(_) => "status status-open",
        ConnectionStatus::Closed { .. } => "status status-closed",
    });
    let transport = reactive(move || match status.get() {
        ConnectionStatus::Open(transport) => transport.key(),
        _ => "",
    });
    let w = crate::i18n::words();
    let label = reactive(move || match status.get() {
        ConnectionStatus::Connecting => w.connecting.to_owned(),
        ConnectionStatus::Open(transport) => format!("{} · {}", w.online, transport.label()),
        ConnectionStatus::Closed {
            reason,
            retry_in_secs,
        } => (w.offline)(&reason, retry_in_secs),
    });
    view! {
        <span class=class role="status" data-testid="status" data-transport=transport>
            <span class="status-dot" aria-hidden="true"></span>
            {label}
        </span>
    }
}
