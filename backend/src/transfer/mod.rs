//! Data in and out of the server (#33): exports (a room, a user's own data, the whole server)
//! and imports (our own export, a Slack workspace export), both modes.
//!
//! # Layout
//! - `model.rs`: what an import writes, whatever it was read from: rooms, then each room's
//!   messages in their original order, with the reactions, edits, replies and files they
//!   carry. Every reader turns its source into these items; one writer stores them through
//!   the chat's own rules, so that both modes and every source import the same way.
//! - `slack.rs`: the reader of a Slack workspace export (its ZIP), streaming one day file
//!   at a time; docs/IMPORT-SLACK.md says what it carries.
//! - `slack_fixture.rs`: a small Slack export built in code, for the reader's tests, the
//!   import's and the browser's (hidden from the docs; not for production use).

pub mod model;
pub mod slack;
#[doc(hidden)]
pub mod slack_fixture;
