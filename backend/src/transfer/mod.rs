//! Data in and out of the server (#33): exports (a room, a user's own data, the whole server)
//! and imports (our own export, a Slack workspace export), both modes.
//!
//! # Layout
//! - `model.rs`: what an import writes, whatever it was read from: rooms, then each room's
//!   messages in their original order, with the reactions, edits, replies and files they
//!   carry. Every reader turns its source into these items; one writer stores them through
//!   the chat's own rules, so that both modes and every source import the same way.
//! - `export.rs`: the export (a room, a user's own data, the server) as docs/EXPORT.md
//!   describes it, written page by page to any writer; the admin API's endpoint and
//!   `backend export` both use it.
//! - `stream.rs`: the writer an HTTP answer's body is read from (a bounded channel).

pub mod export;
pub mod model;
pub mod stream;
