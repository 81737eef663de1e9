//! Data in and out of the server (#33): exports (a room, a user's own data, the whole server)
//! and imports (our own export, a Slack workspace export), both modes.
//!
//! # Layout
//! - `model.rs`: what an import writes, whatever it was read from: rooms, then each room's
//!   messages in their original order, with the reactions, edits, replies and files they
//!   carry. Every reader turns its source into these items; one writer stores them through
//!   the chat's own rules, so that both modes and every source import the same way.
//! - this file: [`Source`] (which reader a file needs, told by what the ZIP holds) and
//!   [`read`], the one door to the readers, which hand each item to a [`Sink`].
//! - `ours.rs`: the reader of our own export (`export.jsonl` line by line, files by name).
//! - `import.rs`: the writer: items stored through the hub (rooms' policies, messages with
//!   their original times, edits, reactions, replies, files), the summary, the one
//!   entrance the admin API and the `backend import` command share.
//! - `ledger.rs`: what each source has had stored (SQLite or Redis), for idempotency, and
//!   `Imports` (the ledger and the one-import-at-a-time flag, in the app state).
//! - `slack.rs`: the reader of a Slack workspace export (its ZIP), streaming one day file
//!   at a time; docs/IMPORT-SLACK.md says what it carries.
//! - `slack_fixture.rs`: a small Slack export built in code, for the reader's tests, the
//!   import's and the browser's (hidden from the docs; not for production use).
//! - `export.rs`: the export (a room, a user's own data, the server) as docs/EXPORT.md
//!   describes it, written page by page to any writer; the admin API's endpoint and
//!   `backend export` both use it.
//! - `stream.rs`: the writer an HTTP answer's body is read from (a bounded channel).

pub mod export;
pub mod import;
pub mod ledger;
pub mod model;
pub mod ours;
pub mod slack;
#[doc(hidden)]
pub mod slack_fixture;
pub mod stream;

use std::{fs::File, path::Path};

use zip::ZipArchive;

/// Where a reader hands each item, in order; `Err(Stopped)` means the writer has stopped
/// (it says why), and the reader returns at once.
pub type Sink<'a> = dyn FnMut(model::Item) -> Result<(), Stopped> + Send + 'a;

/// The writer has stopped taking items.
#[derive(Debug, Clone, Copy)]
pub struct Stopped;

/// Which reader an import file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Our own export: a ZIP holding `export.jsonl`.
    Ours,
    /// A Slack workspace export: a ZIP holding `channels.json` (at its top, or in the one
    /// folder it was zipped in).
    Slack,
}

impl Source {
    /// Its name in ledgers and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ours => "ours",
            Self::Slack => "slack",
        }
    }
}

/// Why an import file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a ZIP, or not one of ours (nor any other source's).
    #[error("{0}")]
    Unknown(String),
    /// A ZIP of a known kind, but wrong inside (bad line, newer format).
    #[error("{0}")]
    Bad(String),
    /// Reading the spooled file failed (not the file's fault).
    #[error("cannot read the import file: {0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    fn zip(err: zip::result::ZipError) -> Self {
        match err {
            zip::result::ZipError::Io(err) => Self::Io(err),
            err => Self::Bad(format!("not a readable ZIP file: {err}")),
        }
    }
}

/// Which source the file at `path` is: a ZIP holding `export.jsonl` is our export, one
/// holding `channels.json` Slack's.
pub fn detect(path: &Path) -> Result<Source, ReadError> {
    let archive = ZipArchive::new(File::open(path)?).map_err(|err| match err {
        zip::result::ZipError::Io(err) if err.kind() != std::io::ErrorKind::UnexpectedEof => {
            ReadError::Io(err)
        }
        _ => ReadError::Unknown(
            "not a ZIP file: an import is our export (a ZIP holding export.jsonl) or a Slack \
             workspace export (a ZIP holding channels.json)"
                .to_owned(),
        ),
    })?;
    if archive.index_for_name(ours::JSONL).is_some() {
        return Ok(Source::Ours);
    }
    // (The Slack reader finds the folder; here a `channels.json` anywhere tells the kind.)
    if archive
        .file_names()
        .filter_map(Result::ok)
        .any(|name| name == "channels.json" || name.ends_with("/channels.json"))
    {
        return Ok(Source::Slack);
    }
    Err(ReadError::Unknown(format!(
        "this ZIP holds neither {} (our export) nor channels.json (a Slack export)",
        ours::JSONL
    )))
}

/// Reads the `source` file at `path` into `sink` (blocking: run it off the async workers).
/// `max_file_bytes`: files larger than this are left out of their messages. Returns what
/// the reader left out, when its source can leave things out (Slack's).
pub fn read(
    source: Source,
    path: &Path,
    max_file_bytes: u64,
    sink: &mut Sink<'_>,
) -> Result<Option<slack::SlackReport>, ReadError> {
    match source {
        Source::Ours => ours::read(path, max_file_bytes, sink).map(|()| None),
        Source::Slack => {
            let mut export = slack::read(File::open(path)?)
                .map_err(|err| ReadError::Bad(err.to_string()))?
                .with_max_file_bytes(max_file_bytes);
            for item in export.by_ref() {
                let item = item.map_err(|err| ReadError::Bad(err.to_string()))?;
                if sink(item).is_err() {
                    // The writer stopped and says why.
                    break;
                }
            }
            Ok(Some(export.report().clone()))
        }
    }
}
