//! What the chat's pieces share: [`ChatCtx`] (the state, the socket, the composer's draft, the
//! images and the drawers), provided by [`super::ChatPage`] and read by every piece.
//!
//! A leaf of the page: it imports no other piece, so every piece can import it.

use leptos::{prelude::*, task::spawn_local};
use shared::{ClientMsg, RoomName, UserToken, paths};

use crate::{
    chat_state::{ChatState, Target},
    client::{Connection, ConnectionStatus},
    i18n::words,
};

/// What the chat's pieces share; every field is a cheap, copyable handle.
#[derive(Clone, Copy)]
pub struct ChatCtx {
    /// The state, updated by server events and user actions.
    pub state: RwSignal<ChatState>,
    /// The socket's status.
    pub status: ReadSignal<ConnectionStatus>,
    pub(super) connection: StoredValue<Option<Connection>, LocalStorage>,
    /// The nickname is a login's (accounts, jwt): it cannot be changed here.
    pub logged_in: bool,
    /// The composer's text (an edit puts the message's text here).
    pub draft: RwSignal<String>,
    /// A quote was clicked whose original is not loaded: older pages are asked for until it
    /// is, then it is scrolled to.
    pub seeking: RwSignal<Option<shared::MessageId>>,
    /// The line last scrolled to from a quote: marked (`sought`) until another is, also when
    /// it is drawn again (the list draws only the lines near the view).
    pub sought: RwSignal<Option<shared::MessageId>>,
    /// The page is not being looked at (another tab, minimised): new messages stay unread,
    /// the title counts mentions, notifications may show.
    pub hidden: Signal<bool>,
    /// The user turned browser notifications on (and the browser allows them).
    pub notifying: RwSignal<bool>,
    /// The chat socket's URL (the API is on the same server).
    pub(super) url: StoredValue<String>,
    /// How upload requests name the user.
    pub(super) uploader: StoredValue<Uploader>,
    /// Images shown and files downloaded: their `blob:` URLs by id, once downloaded.
    pub(super) images: RwSignal<std::collections::HashMap<shared::UploadId, String>>,
    /// Images and files asked for (so a re-render does not ask again).
    pub(super) asked: StoredValue<std::collections::HashSet<shared::UploadId>>,
    /// The image shown full size, if any.
    pub(super) lightbox: RwSignal<Option<String>>,
    /// An upload in progress: the percentage sent.
    pub(super) uploading: RwSignal<Option<u32>>,
    /// On a narrow screen, the side panel drawn over the conversation, if any.
    pub(super) drawer: RwSignal<Option<Drawer>>,
    /// The search the results panel shows (see `search.rs`).
    pub(super) search: SearchSignals,
    /// The emoji picker's data is in (see `emoji.rs`).
    pub(super) emoji_ready: RwSignal<bool>,
    /// The emoji picker is open…
    pub(super) picker_open: RwSignal<bool>,
    /// …to react to this line (else for the composer).
    pub(super) picker_for: RwSignal<Option<shared::MessageId>>,
}

/// The search the results panel shows, asked from the search box. Its results are the
/// state's ([`ChatState::search`]); these are what the state does not keep, in signals of
/// types the app has already (a struct of its own in one signal would add that signal's
/// code to the wasm).
#[derive(Clone, Copy)]
pub(super) struct SearchSignals {
    /// What was typed: the panel is open while `Some`.
    pub(super) query: RwSignal<Option<String>>,
    /// Best matches first (else newest first); a next page is asked in the same order.
    pub(super) best: RwSignal<bool>,
    /// The notices when it was asked: how many, and the last one's length. A notice that
    /// comes while a page is out is the server's refusal of it (a filter it cannot read,
    /// the rate limit).
    pub(super) notices: RwSignal<(u32, u32)>,
    /// How many results there were when the next page was asked for: it is out while there
    /// are as many still.
    pub(super) more: RwSignal<Option<u32>>,
}

/// The chat's side panels, which a narrow screen (below the stylesheet's breakpoint) shows as
/// drawers over the conversation, one at a time, from buttons in the conversation's header.
/// Wide screens show both beside it, and these buttons are hidden there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drawer {
    /// The room list (left).
    Rooms,
    /// The members of the current room (right).
    Members,
}

/// How upload requests name the user, as the chat socket does.
#[derive(Clone)]
pub(super) enum Uploader {
    /// Open mode: the browser token, in a header.
    Token(UserToken),
    /// Accounts mode: the session cookie.
    Cookie,
    /// JWT mode: the page's token, as a bearer token.
    Jwt,
}

impl ChatCtx {
    /// The header naming the user on an upload request.
    pub(super) async fn credential(&self) -> crate::uploads::Credential {
        match self.uploader.get_value() {
            Uploader::Token(token) => Some((paths::TOKEN_HEADER, token.as_str().to_owned())),
            Uploader::Cookie => None,
            Uploader::Jwt => crate::api::page_jwt()
                .await
                .map(|jwt| ("authorization", format!("Bearer {jwt}"))),
        }
    }

    /// The `blob:` URL of `image` (or file) of `room` once downloaded (asked for on first
    /// use).
    pub(super) fn image_url(&self, room: &RoomName, image: &shared::UploadId) -> Option<String> {
        if let Some(url) = self.images.with(|images| images.get(image).cloned()) {
            return Some(url);
        }
        let first = self
            .asked
            .try_update_value(|asked| asked.insert(image.clone()));
        if first == Some(true) {
            let (ctx, room, image) = (*self, room.clone(), image.clone());
            spawn_local(async move {
                ctx.fetch_upload(room, image).await;
            });
        }
        None
    }

    /// Downloads upload `id` (an image or a file) of `room` into a `blob:` URL, kept in
    /// [`ChatCtx::images`] for the page; `None` (logged) if it could not be.
    pub(super) async fn fetch_upload(self, room: RoomName, id: shared::UploadId) -> Option<String> {
        let credential = self.credential().await;
        let url = self.url.get_value();
        match crate::uploads::download(&url, &room, &id, credential).await {
            Ok(blob) => {
                self.images.update(|images| {
                    images.insert(id, blob.clone());
                });
                Some(blob)
            }
            Err(err) => {
                log::warn!("{err}");
                None
            }
        }
    }

    /// Uploads `file` for the current room, then sends it with the composer's text: as an
    /// image or as a file, as the server read its bytes.
    pub(super) fn send_upload(&self, file: web_sys::File) {
        let ctx = *self;
        let Some(Target::Room(room)) = ctx.state.with_untracked(|s| s.current.clone()) else {
            ctx.state
                .update(|s| s.notices.push(words().images_rooms_only.into()));
            return;
        };
        ctx.uploading.set(Some(0));
        spawn_local(async move {
            let credential = ctx.credential().await;
            let url = ctx.url.get_value();
            let progress = move |sent| ctx.uploading.set(Some(sent));
            let uploaded = crate::uploads::upload(&url, &room, file, credential, progress).await;
            ctx.uploading.set(None);
            let (image, file, icon) = match uploaded {
                Ok(crate::uploads::Uploaded::Image(image)) => (Some(image), None, "🖼"),
                Ok(crate::uploads::Uploaded::File(file)) => (None, Some(Box::new(file)), "📎"),
                Err(reason) => {
                    ctx.state
                        .update(|s| s.notices.push((words().image_not_sent)(&reason)));
                    return;
                }
            };
            let caption = ctx.draft.get_untracked();
            let caption = if caption.trim().is_empty() {
                icon.to_owned()
            } else {
                caption
            };
            match ctx
                .state
                .try_update(|s| s.compose_with(&caption, image, file))
            {
                Some(Ok(request)) => {
                    if ctx.status.get_untracked().is_open() {
                        ctx.send(&request);
                    }
                    ctx.draft.set(String::new());
                }
                Some(Err(reason)) => ctx.state.update(|s| s.notices.push(reason)),
                None => {}
            }
        });
    }
}

impl ChatCtx {
    /// Sends a request if a socket is open (the composer is disabled otherwise).
    pub fn send(&self, request: &ClientMsg) {
        // The hand-written encoder (`shared::lean_write`): serde's weighed 3 KB of wasm.
        let json = request.to_json();
        self.connection.with_value(|c| {
            if let Some(c) = c {
                c.send(json);
            }
        });
    }
}
