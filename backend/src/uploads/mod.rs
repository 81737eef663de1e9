//! Uploads: `POST /api/uploads?room=ROOM&name=NAME` stores any file for a room (201 and its
//! [`Upload`]: an [`shared::Image`] or a [`shared::File`]), `GET /api/uploads/ROOM/ID`
//! serves it to those who may read the room; a `say` names the image or file by its id, and
//! the session fills in what was stored.
//!
//! What an upload is comes from the bytes, never from the name or a declared type
//! ([`sniff`]): PNG, JPEG, GIF and WebP with a readable size (`imagesize`) are images, shown in
//! the page, and keep their preview; anything else is a file, only ever downloaded
//! (`Content-Disposition: attachment`, as `application/octet-stream`, with `nosniff` and a
//! sandboxing CSP), its type read by `infer` for showing only. A declared `Content-Type`
//! naming another image type than an image's bytes is refused as a lie. A file's name is the
//! `name` the request gives, sanitised ([`name`]'s rule). Who asks is named as on the chat
//! socket ([`crate::auth::Auth::http_user`]); the room's policy decides (the hub's copy), for
//! images and files alike.
//!
//! An upload is refused before its body is read when it can be: past the address's upload
//! rate (`--max-uploads-per-ip`), from nobody, from someone who is not in the room now (so no
//! room that does not exist gets a directory), over `--max-upload-bytes`, the user's quota for
//! the day (`--upload-quota`) or the space left (`--max-uploads-total`) by its declared
//! length. The body must then arrive within `--body-timeout`.
//!
//! # Layout
//! - `store.rs`: the checks, storing and finding uploads, a message's image or file
//!   ([`attach`]); no HTTP.
//! - `name.rs`: the rule for files' names.
//! - `http.rs`: the two routes.
//! - `quota.rs`: what uploads have cost (per user per day, the total), in memory or Redis.
//! - `sweep.rs`: the removal of records no message uses after `--upload-grace`, and of
//!   objects no room has.
//!
//! # On disk (under `--uploads-dir`, `DATA_DIR/uploads` by default; shared by cluster nodes)
//! - `objects/ID`: the bytes, named by their SHA-256 (content-addressed: one copy however
//!   many rooms use it), written to a temporary file and renamed, so a reader never sees a
//!   half-written upload.
//! - `rooms/ROOM/ID`: this room has the upload; the file holds its [`Upload`] as JSON
//!   (written the same way). A request for an upload through a room that does not have it is
//!   a 404, so one posted in a private room cannot be fetched through a public one.

mod http;
pub mod name;
mod quota;
pub mod store;
mod sweep;

pub use self::{
    http::configure,
    store::{Kind, Refused, Upload, Uploads, attach, find, sniff},
};
