//! Image uploads: `POST /api/uploads?room=ROOM` stores an image for a room (201 and its
//! [`Image`]), `GET /api/uploads/ROOM/ID` serves it to those who may read the room; a `say`
//! names the image by its id, and the session fills in what was stored.
//!
//! The type comes from the bytes (PNG, JPEG, GIF and WebP, read by `imagesize`), never from
//! the name; a declared `Content-Type` naming another image type is refused as a lie, and so
//! is anything that is not one of the four. Who asks is named as on the chat socket
//! ([`crate::auth::Auth::http_user`]); the room's policy decides (the hub's copy).
//!
//! An upload is refused before its body is read when it can be: past the address's upload
//! rate (`--max-uploads-per-ip`), from nobody, from someone who is not in the room now (so no
//! room that does not exist gets a directory), over `--max-upload-bytes`, the user's quota for
//! the day (`--upload-quota`) or the space left (`--max-uploads-total`) by its declared
//! length. The body must then arrive within `--body-timeout`.
//!
//! # Layout
//! - `store.rs`: the checks, storing and finding images, a message's image ([`attach`]);
//!   no HTTP.
//! - `http.rs`: the two routes.
//! - `quota.rs`: what uploads have cost (per user per day, the total), in memory or Redis.
//! - `sweep.rs`: the removal of records no message uses after `--upload-grace`, and of
//!   objects no room has.
//!
//! # On disk (under `--uploads-dir`, `DATA_DIR/uploads` by default; shared by cluster nodes)
//! - `objects/ID`: the bytes, named by their SHA-256 (content-addressed: one copy however
//!   many rooms use it), written to a temporary file and renamed, so a reader never sees a
//!   half-written image.
//! - `rooms/ROOM/ID`: this room has the image; the file holds its [`Image`] as JSON (written
//!   the same way). A request for an image through a room that does not have it is a 404, so
//!   an image posted in a private room cannot be fetched through a public one.

mod http;
mod quota;
pub mod store;
mod sweep;

pub use self::{
    http::configure,
    store::{Refused, Uploads, attach, find, sniff},
};
