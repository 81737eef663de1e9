//! Our own export (docs/EXPORT.md, format 1) read back as [`Item`]s: `export.jsonl` line by
//! line (never whole in memory), each message's file looked up by name in the same ZIP.
//! `room` lines become [`Item::Room`]s and `message` lines [`Item::Message`]s; `direct` and
//! `read` lines, and types this version does not know, are passed over.

use std::{
    fs::File,
    io::{BufRead as _, BufReader, Read as _},
    path::Path,
};

use serde::Deserialize;
use shared::{Emoji, Nick, RoomName};
use zip::ZipArchive;

use super::{
    ReadError, Sink,
    model::{self, Item},
};

/// The entry that makes a ZIP ours, and must come first in it.
pub const JSONL: &str = "export.jsonl";
/// The newest format this reader knows.
pub const FORMAT: u32 = 1;
/// The longest line read: a message's text is at most 64 KiB, escaped at most six times
/// over, with room for its reactions.
const MAX_LINE: u64 = 1024 * 1024;

/// One line of `export.jsonl` (what the import needs of it).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Export {
        format: u32,
    },
    Room {
        room: RoomName,
        #[serde(default)]
        topic: Option<String>,
        #[serde(default)]
        private: bool,
        #[serde(default)]
        members: Vec<Nick>,
    },
    Message(Box<MessageLine>),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageLine {
    room: RoomName,
    #[serde(deserialize_with = "id")]
    id: String,
    from: Nick,
    ts: u64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    edited: bool,
    #[serde(default, deserialize_with = "optional_id")]
    reply_to: Option<String>,
    #[serde(default)]
    reactions: Vec<ReactionLine>,
    #[serde(default)]
    file: Option<FileLine>,
    #[serde(default)]
    image: Option<ImageLine>,
}

/// A message id as the format writes it (a string), or as a number (taken the same).
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(u64),
}

impl From<Id> for String {
    fn from(id: Id) -> Self {
        match id {
            Id::Text(text) => text,
            Id::Number(number) => number.to_string(),
        }
    }
}

fn id<'de, D: serde::Deserializer<'de>>(from: D) -> Result<String, D::Error> {
    Id::deserialize(from).map(String::from)
}

fn optional_id<'de, D: serde::Deserializer<'de>>(from: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Id>::deserialize(from)?.map(String::from))
}

#[derive(Deserialize)]
struct ReactionLine {
    emoji: Emoji,
    users: Vec<Nick>,
}

#[derive(Deserialize)]
struct FileLine {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct ImageLine {
    id: String,
    mime: String,
}

/// Reads the export at `path` into `sink`, in its order. `max_file_bytes`: a file larger
/// than this is not read (its message comes without it; the writer would refuse it anyway).
pub fn read(path: &Path, max_file_bytes: u64, sink: &mut Sink<'_>) -> Result<(), ReadError> {
    let mut lines = ZipArchive::new(File::open(path)?).map_err(ReadError::zip)?;
    let mut files = ZipArchive::new(File::open(path)?).map_err(ReadError::zip)?;
    let jsonl = lines.by_name(JSONL).map_err(ReadError::zip)?;
    let mut jsonl = BufReader::new(jsonl);
    let mut line = String::new();
    let mut number = 0u64;
    let mut header = false;
    loop {
        line.clear();
        number += 1;
        let read = jsonl
            .by_ref()
            .take(MAX_LINE + 1)
            .read_line(&mut line)
            .map_err(|err| ReadError::Bad(format!("{JSONL} line {number}: {err}")))?;
        if read == 0 {
            break;
        }
        if line.len() as u64 > MAX_LINE {
            return Err(ReadError::Bad(format!(
                "{JSONL} line {number} is longer than {MAX_LINE} bytes"
            )));
        }
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|err| ReadError::Bad(format!("{JSONL} line {number}: {err}")))?;
        let item = match parsed {
            Line::Export { format } if format > FORMAT => {
                return Err(ReadError::Bad(format!(
                    "this export is in format {format}; this server reads format {FORMAT} at \
                     most (import it into a newer server)"
                )));
            }
            Line::Export { .. } => {
                header = true;
                continue;
            }
            _ if !header => {
                return Err(ReadError::Bad(format!(
                    "{JSONL} does not start with its \"export\" line"
                )));
            }
            Line::Other => continue,
            Line::Room {
                room,
                topic,
                private,
                members,
            } => Item::Room(model::Room {
                name: room,
                topic,
                private,
                members,
            }),
            Line::Message(message) => Item::Message(Box::new(message_item(
                *message,
                &mut files,
                max_file_bytes,
            )?)),
        };
        if sink(item).is_err() {
            // The writer has stopped (and says why).
            return Ok(());
        }
    }
    if header {
        Ok(())
    } else {
        Err(ReadError::Bad(format!("{JSONL} is empty")))
    }
}

fn message_item(
    line: MessageLine,
    files: &mut ZipArchive<File>,
    max_file_bytes: u64,
) -> Result<model::Message, ReadError> {
    let source = |id: &str| format!("{}/{id}", line.room);
    let file = match (&line.file, &line.image) {
        (Some(file), _) => Some((file.id.as_str(), file.name.clone())),
        (None, Some(image)) => Some((image.id.as_str(), image_name(&image.mime))),
        (None, None) => None,
    };
    let file = match file {
        Some((id, name)) => {
            file_bytes(files, id, max_file_bytes)?.map(|bytes| model::File { name, bytes })
        }
        None => None,
    };
    Ok(model::Message {
        source_id: source(&line.id),
        reply_to: line.reply_to.as_deref().map(source),
        room: line.room,
        from: line.from,
        ts: line.ts,
        text: line.text,
        edited: line.edited,
        reactions: line
            .reactions
            .into_iter()
            .map(|r| (r.emoji, r.users))
            .collect(),
        file,
    })
}

/// An image's name from its type: `image.png` and so on.
fn image_name(mime: &str) -> String {
    let ext = match mime {
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "png",
    };
    format!("image.{ext}")
}

/// The bytes of `files/ID`; `None` (with a warning) when the export lacks them or they are
/// larger than the server takes.
fn file_bytes(
    files: &mut ZipArchive<File>,
    id: &str,
    max_bytes: u64,
) -> Result<Option<Vec<u8>>, ReadError> {
    let name = format!("files/{id}");
    let mut entry = match files.by_name(&name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            tracing::warn!(file = %name, "the export lacks a message's file; imported without it");
            return Ok(None);
        }
        Err(err) => return Err(ReadError::zip(err)),
    };
    if entry.size() > max_bytes {
        tracing::warn!(file = %name, bytes = entry.size(), "a message's file is larger than --max-upload-bytes; imported without it");
        return Ok(None);
    }
    let mut bytes = Vec::new();
    // (The declared size is the archive's word: the read is capped too.)
    entry
        .by_ref()
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| ReadError::Bad(format!("{name}: {err}")))?;
    if bytes.len() as u64 > max_bytes {
        return Ok(None);
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_line_takes_ids_as_strings_or_numbers() {
        let line = r#"{"type":"message","room":"hall","id":17,"seq":1,"from":"ann","ts":5,"text":"hi","edited":false,"reply_to":"16"}"#;
        let Ok(Line::Message(message)) = serde_json::from_str::<Line>(line) else {
            panic!("not read as a message");
        };
        assert_eq!(message.id, "17");
        assert_eq!(message.reply_to.as_deref(), Some("16"));
        let line = r#"{"type":"message","room":"hall","id":"18","from":"ann","ts":5,"text":"hi"}"#;
        let Ok(Line::Message(message)) = serde_json::from_str::<Line>(line) else {
            panic!("not read as a message");
        };
        assert_eq!((message.id.as_str(), message.reply_to), ("18", None));
    }

    #[test]
    fn unknown_lines_are_passed_over() {
        let line = r#"{"type":"something_new","x":1}"#;
        assert!(matches!(
            serde_json::from_str::<Line>(line),
            Ok(Line::Other)
        ));
    }
}
