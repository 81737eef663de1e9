//! A link preview's card under a message's bubble (`--link-previews`, made by the server):
//! the page's title as a link, its description, and its image, which is a copy in the room's
//! uploads loaded from our server like any image (never from the linked site).

use leptos::prelude::*;
use shared::{LinkPreview, RoomName};

use super::ctx::ChatCtx;
use crate::erase::dynamic;

/// The card of `preview`, on a line of `room`. The link is the message's own first link (the
/// rule `RoomMessage::apply` keeps a preview by), so it is `http` or `https`; it opens in a
/// new tab, without the opener, a referrer, or our endorsement. Its text is the title, which
/// the server never leaves empty.
pub(super) fn preview_card(ctx: ChatCtx, room: Option<RoomName>, preview: LinkPreview) -> AnyView {
    let LinkPreview {
        url,
        title,
        description,
        image,
    } = preview;
    let image = image.zip(room).map(|(image, room)| {
        let src = StoredValue::new((room, image.id));
        let src = move || src.with_value(|(room, id)| ctx.image_url(room, id));
        // Decorative: the title says what it is.
        dynamic(move || src().map(|src| view! { <img src=src alt="" /> }).into_any())
    });
    // (An empty description is an empty paragraph, which takes no room: fewer bytes of wasm
    // than a second view.)
    view! {
        <div class="preview" data-testid="preview">
            {image}
            <a href=url target="_blank" rel="noopener noreferrer nofollow ugc">{title}</a>
            <p>{description}</p>
        </div>
    }
    .into_any()
}
