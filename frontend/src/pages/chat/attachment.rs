//! A file attached to a line: a card with its name, size and type (both as the server read
//! them) and a download link.
//!
//! The download names the user in a header as every upload request does, which a plain
//! `<a href>` to the server cannot: the first click fetches the bytes into a `blob:` URL (kept
//! with the images', [`ChatCtx::images`]), points the link at it and clicks it again; later
//! clicks save it at once. Nothing is fetched for a file nobody asks for. The server serves
//! it as `application/octet-stream`, so the browser saves it rather than showing it. The card
//! has nothing reactive: a line is drawn again when it changes.

use leptos::{prelude::*, task::spawn_local};
use shared::{File, RoomName};
use wasm_bindgen::JsCast as _;

use super::ctx::ChatCtx;
use crate::chat_state::{Line, Target};

/// The card of `line`'s file, if it has one (room lines only: only rooms have uploads).
pub(super) fn card(ctx: ChatCtx, line: &Line) -> Option<AnyView> {
    let file = line.file.clone()?;
    let room = ctx.state.with_untracked(|s| match &s.current {
        Some(Target::Room(room)) => Some(room.clone()),
        _ => None,
    })?;
    Some(file_card(ctx, room, *file))
}

/// The card of `file`, attached to a line of `room`.
fn file_card(ctx: ChatCtx, room: RoomName, file: File) -> AnyView {
    let w = crate::i18n::words();
    let meta = format!("{} · {}", human_size(file.bytes), file.mime);
    let title = (w.download_title)(&file.name);
    let key = StoredValue::new((room, file.id));
    let on_click = move |ev: web_sys::MouseEvent| {
        let Some(link) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        else {
            return;
        };
        let (room, id) = key.get_value();
        if let Some(url) = ctx.images.with_untracked(|urls| urls.get(&id).cloned()) {
            // This click's own default action saves it.
            link.set_href(&url);
            return;
        }
        ev.prevent_default();
        // One fetch at a time (a second click while it runs does nothing).
        if link.has_attribute("aria-busy") {
            return;
        }
        let _ = link.set_attribute("aria-busy", "true");
        spawn_local(async move {
            if let Some(url) = ctx.fetch_upload(room, id).await {
                link.set_href(&url);
                link.click();
            }
            let _ = link.remove_attribute("aria-busy");
        });
    };
    view! {
        <div class="file-card" data-testid="file-card">
            <span class="file-name">{file.name.clone()}</span>
            <span class="file-meta">{meta}</span>
            <a class="file-download" data-testid="file-download" download=file.name title=title
                href="#" on:click=on_click>{w.download}</a>
        </div>
    }
    .into_any()
}

/// `bytes` for people, in whole integers (no float formatting in the wasm): "512 B",
/// "1.5 KB", "23.0 MB", "1024.0 GB" (multiples of 1024, tenths cut, not rounded).
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KB", "MB", "GB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let (mut scale, mut unit) = (1024_u64, 0);
    while unit + 1 < UNITS.len() && bytes / scale >= 1024 {
        scale *= 1024;
        unit += 1;
    }
    let tenths = bytes.saturating_mul(10) / scale;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_are_said_in_whole_tenths() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KB");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(1024 * 1024 - 1), "1023.9 KB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024 * 1024), "5120.0 GB");
    }
}
