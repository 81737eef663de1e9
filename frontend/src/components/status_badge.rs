//! The connection status pill: connecting / online / reconnecting in N s.

use leptos::prelude::*;

use crate::client::ConnectionStatus;

/// Shows `status` in words, with a colour per state (see `style.css`).
#[component]
pub fn StatusBadge(
    /// The connection's current status.
    #[prop(into)]
    status: Signal<ConnectionStatus>,
) -> impl IntoView {
    let class = move || match status.get() {
        ConnectionStatus::Connecting => "status status-connecting",
        ConnectionStatus::Open => "status status-open",
        ConnectionStatus::Closed { .. } => "status status-closed",
    };
    let label = move || match status.get() {
        ConnectionStatus::Connecting => "connecting…".to_owned(),
        ConnectionStatus::Open => "online".to_owned(),
        ConnectionStatus::Closed {
            reason,
            retry_in_secs,
        } => format!("offline ({reason}): reconnecting in {retry_in_secs} s"),
    };
    view! {
        <span class=class role="status" data-testid="status">
            <span class="status-dot" aria-hidden="true"></span>
            {label}
        </span>
    }
}
