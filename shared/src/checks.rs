//! Properties of the decoder that must hold for *any* input, shared by the fuzz targets
//! (`fuzz/`, run by `cargo xtask fuzz`) and the regression tests over the committed corpus
//! (`shared/tests/fuzz_corpus.rs`, part of the normal suite). Each function panics when a
//! property is broken, which is what both harnesses detect.

use serde::de::DeserializeOwned;

use crate::{
    ClientMsg, ClientMsgId, EchoFrame, Image, Nick, RoomName, ServerMsg, Text, UserToken,
    auth::{ApiError, SessionInfo},
    chat::mention_name,
    decode, encode,
    format::{Block, Inline, MAX_NESTING},
    lean::{Json, Lean, read},
};

/// Decoding a client frame never panics; whatever decodes re-encodes to something that decodes
/// to the same message.
pub fn client_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = ClientMsg::parse(text) {
        let again = encode(&message).expect("a decoded message encodes");
        assert_eq!(
            ClientMsg::parse(&again).expect("re-encoded message decodes"),
            message
        );
        // The browser app's own encoder writes what decodes to it too.
        assert_eq!(
            ClientMsg::parse(&message.to_json()).expect("the app's encoding decodes"),
            message
        );
    }
}

/// The same for server frames, with both decoders of them: serde's (the reference) and
/// [`ServerMsg::parse`] (the browser app's).
pub fn server_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = decode::<ServerMsg>(text) {
        let again = encode(&message).expect("a decoded message encodes");
        assert_eq!(
            decode::<ServerMsg>(&again).expect("re-encoded message decodes"),
            message
        );
        assert_eq!(
            ServerMsg::parse(&again).expect("the app's decoder reads what serde reads"),
            message
        );
    }
    // The browser app's decoder accepts nothing the wire format cannot say: what it reads
    // encodes to a frame serde reads back the same.
    if let Ok(message) = ServerMsg::parse(text) {
        let again = encode(&message).expect("a decoded message encodes");
        assert_eq!(
            decode::<ServerMsg>(&again).expect("serde reads what the app's decoder read"),
            message
        );
    }
}

/// Every validator accepts only values that keep its documented rules.
pub fn names(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(nick) = Nick::try_from(text) {
        let chars = nick.as_str().chars().count();
        assert!((1..=Nick::MAX_CHARS).contains(&chars));
        assert!(!nick.as_str().chars().any(char::is_control));
        assert_eq!(nick.as_str().trim(), nick.as_str());
    }
    if let Ok(room) = RoomName::try_from(text) {
        let name = room.as_str();
        assert!((1..=RoomName::MAX_CHARS).contains(&name.chars().count()));
        // Stored lower-case, so `Lobby` and `lobby` are one room.
        assert_eq!(name.to_lowercase(), name);
        assert_eq!(name, text.to_lowercase());
        assert!(
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(
            RoomName::try_from(name).ok().as_ref(),
            Some(&room),
            "normalising is stable"
        );
    }
    for (token, lengths) in [
        (ClientMsgId::try_from(text).map(String::from), 1..=64),
        (UserToken::try_from(text).map(String::from), 16..=128),
    ] {
        let Ok(token) = token else { continue };
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(lengths.contains(&token.len()), "{} bytes", token.len());
        assert_eq!(token, text, "kept exactly as given");
    }
    if let Ok(message) = Text::try_from(text) {
        assert!(!message.as_str().trim().is_empty() && message.as_str().len() <= Text::MAX_BYTES);
    }
}

/// [`crate::format::format`] keeps its documented promises for any text (see
/// [`format_holds`]).
pub fn format(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(broken) = format_holds(text) {
        panic!("{broken}\ntext: {text:?}");
    }
}

/// The promises of [`crate::format::format`] for `text`, or the first one broken:
/// - **links**: every link's target is `http://` or `https://` and a letter or digit, or
///   `mailto:` (in any case), holds no space or control character, is shown as itself and is
///   a slice of the text;
/// - **mentions**: every mention's name is one [`Text::mentions`] finds in the text, read by
///   its rule; no text node holds an `@` that starts a name (none is missed outside code
///   and links);
/// - **shape**: no text node is empty, holds a line break or sits next to another; quotes
///   and lists nest at most [`MAX_NESTING`] deep, and so do spans;
/// - **nothing lost or reordered**: what the tree shows (its text, code, links, `@` and
///   names of mentions, info strings and code blocks, a line break between blocks) is the
///   text less some characters, in order; and only markup characters are missing from it
///   (spaces, tabs, `\r`, `\n`, `*`, `_`, `~`, backticks, and at the start of a line `>` and
///   list markers); `~`, `*` and `_` only as many as the spans made of them take (and `*`
///   bullets).
///
/// The node kinds are those of [`crate::format::Block`] and [`crate::format::Inline`]: the
/// type allows no other.
pub fn format_holds(text: &str) -> Result<(), String> {
    let tree = crate::format::format(text);
    let mut walk = FormatWalk {
        source: text,
        mentions: Text::try_from(text).ok().map(|text| text.mentions()),
        shown: String::new(),
        spans: [0; 3],
    };
    walk.blocks(&tree, 0)?;
    let shown = walk.shown;
    if !is_subsequence(&shown, text.chars()) {
        return Err(format!(
            "the tree shows what the text does not say, in this order: {shown:?}"
        ));
    }
    let unmarked: String = text
        .split('\n')
        .flat_map(|line| unmarked(line.strip_suffix('\r').unwrap_or(line)).chars())
        .collect();
    let kept: String = unmarked.chars().filter(|c| !MARKUP.contains(c)).collect();
    if !is_subsequence(&kept, shown.chars().filter(|c| !MARKUP.contains(c))) {
        return Err(format!(
            "the tree lost text: it shows {shown:?}, which lacks some of {kept:?}"
        ));
    }
    // Delimiters are dropped only by the spans they make (two on each side of a strong or
    // strikethrough, one of an emphasis) and, for `*`, as bullets.
    let count = |text: &str, set: &[char]| text.chars().filter(|c| set.contains(c)).count();
    let [emphasis, strong, strike] = walk.spans;
    if count(text, &['~']) != count(&shown, &['~']) + 4 * strike {
        return Err(format!("tildes lost: the tree shows {shown:?}"));
    }
    let stars = count(text, &['*', '_']);
    let used = count(&shown, &['*', '_']) + 2 * emphasis + 4 * strong;
    if used > stars || used < count(&unmarked, &['*', '_']) {
        return Err(format!("`*` or `_` lost: the tree shows {shown:?}"));
    }
    Ok(())
}

/// The characters formatting may drop anywhere.
const MARKUP: [char; 8] = [' ', '\t', '\r', '\n', '*', '_', '~', '`'];

/// `line` less what may be block markers at its start: indentation, `>`, and list markers.
fn unmarked(line: &str) -> &str {
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        let digits = trimmed.len()
            - trimmed
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        let marker = match trimmed[digits..].chars().next() {
            Some('>') if digits == 0 => 1,
            Some('-' | '*') if digits == 0 => 1,
            Some('.' | ')') if (1..=9).contains(&digits) => digits + 1,
            _ => return trimmed,
        };
        let after = &trimmed[marker..];
        if !(trimmed.starts_with('>') || after.is_empty() || after.starts_with([' ', '\t'])) {
            return trimmed;
        }
        rest = after;
    }
}

/// Whether `needle`'s characters are in `haystack`, in order.
fn is_subsequence(needle: &str, mut haystack: impl Iterator<Item = char>) -> bool {
    needle.chars().all(|c| haystack.any(|h| h == c))
}

/// A walk over a formatted tree, checking each node and gathering what it shows.
struct FormatWalk<'a> {
    source: &'a str,
    /// `None` for a text that is not a valid message (too long): mentions go unchecked.
    mentions: Option<Vec<String>>,
    shown: String,
    /// How many emphasis, strong and strikethrough spans the tree holds.
    spans: [usize; 3],
}

impl FormatWalk<'_> {
    fn blocks(&mut self, blocks: &[Block], depth: usize) -> Result<(), String> {
        if depth > MAX_NESTING + 1 {
            return Err(format!("blocks nested {depth} deep"));
        }
        for (n, block) in blocks.iter().enumerate() {
            if n > 0 {
                self.shown.push('\n');
            }
            match block {
                Block::Paragraph(inlines) => self.inlines(inlines, 0)?,
                Block::CodeBlock { info, text } => {
                    self.shown.push_str(info);
                    self.shown.push_str(text);
                }
                Block::Quote(blocks) => self.blocks(blocks, depth + 1)?,
                Block::List { items, .. } => {
                    for (n, item) in items.iter().enumerate() {
                        if n > 0 {
                            self.shown.push('\n');
                        }
                        self.blocks(item, depth + 1)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn inlines(&mut self, inlines: &[Inline], depth: usize) -> Result<(), String> {
        if depth > MAX_NESTING {
            return Err(format!("spans nested {depth} deep"));
        }
        for (n, inline) in inlines.iter().enumerate() {
            match inline {
                Inline::Text(text) => {
                    if text.is_empty() || text.contains('\n') {
                        return Err(format!("a text node {text:?}"));
                    }
                    if n > 0 && matches!(inlines[n - 1], Inline::Text(_)) {
                        return Err(format!("two text nodes side by side, before {text:?}"));
                    }
                    if text
                        .match_indices('@')
                        .any(|(at, _)| !mention_name(&text[at + 1..]).is_empty())
                    {
                        return Err(format!("a mention left in text: {text:?}"));
                    }
                    self.shown.push_str(text);
                }
                Inline::Emphasis(inner) | Inline::Strong(inner) | Inline::Strike(inner) => {
                    let kind = match inline {
                        Inline::Emphasis(_) => 0,
                        Inline::Strong(_) => 1,
                        _ => 2,
                    };
                    self.spans[kind] += 1;
                    self.inlines(inner, depth + 1)?;
                }
                Inline::Code(code) => self.shown.push_str(code),
                Inline::Link { href, text } => {
                    let scheme = ["http://", "https://", "mailto:"]
                        .into_iter()
                        .find(|scheme| {
                            href.get(..scheme.len())
                                .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
                        });
                    let Some(scheme) = scheme else {
                        return Err(format!("a link to {href:?}"));
                    };
                    let after = &href[scheme.len()..];
                    let sound = if scheme == "mailto:" {
                        after.contains('@')
                    } else {
                        after.starts_with(char::is_alphanumeric)
                    };
                    if !sound
                        || href.contains(|c: char| c.is_whitespace() || c.is_control())
                        || text != href
                        || !self.source.contains(href.as_str())
                    {
                        return Err(format!("a link to {href:?} showing {text:?}"));
                    }
                    self.shown.push_str(text);
                }
                Inline::Mention { name } => {
                    let lower: String = name.chars().flat_map(char::to_lowercase).collect();
                    if name.is_empty()
                        || mention_name(name) != name
                        || self
                            .mentions
                            .as_ref()
                            .is_some_and(|names| !names.contains(&lower))
                    {
                        return Err(format!(
                            "a mention of {name:?}, not among {:?}",
                            self.mentions
                        ));
                    }
                    self.shown.push('@');
                    self.shown.push_str(name);
                }
                Inline::LineBreak => self.shown.push('\n'),
            }
        }
        Ok(())
    }
}

/// Server frames, valid and not, on which [`crate::lean::read`] must agree with serde's
/// decoder over any [`Json`] tree: every kind of value the decoder reads (objects, arrays,
/// maps, strings, integers at their limits, booleans, `null`, absent fields, unknown tags).
pub const LEAN_FRAMES: &[&str] = &[
    r#"{"type":"welcome","user":"Ann","limits":{"max_text_chars":4000,"max_rooms":20,"rate_per_sec":5,"rate_burst":10,"typing_timeout_ms":5000}}"#,
    r#"{"type":"welcome","user":"Ann","limits":{"max_text_chars":4000,"max_rooms":20,"rate_per_sec":5,"rate_burst":10,"typing_timeout_ms":5000,"max_reactions":20,"max_reactions_per_user":10,"max_owned_rooms":20}}"#,
    r#"{"type":"said","id":7,"room":"lobby","seq":3,"from":"Ann","text":"안녕 👋","ts":1700000000000,"client_id":"c-1","reply_to":{"id":6,"seq":2,"from":"Bob","text":"hi"},"image":{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"image/png","width":1,"height":4294967295,"bytes":3}}"#,
    r#"{"type":"said","id":7,"room":"lobby","seq":3,"from":"Ann","text":"a","ts":9007199254740991,"client_id":"c-1","reply_to":null}"#,
    r#"{"type":"said","id":8,"room":"lobby","seq":4,"from":"Ann","text":"log","ts":1,"client_id":"c-2","file":{"id":"0000000000000000000000000000000000000000000000000000000000000000","name":"서버 로그.txt","mime":"text/plain","bytes":0}}"#,
    r#"{"type":"said","id":8,"room":"lobby","seq":4,"from":"Ann","text":"log","ts":1,"client_id":"c-2","file":{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"text/plain","bytes":1}}"#,
    r#"{"type":"history","room":"lobby","mode":"latest","messages":[{"id":1,"seq":1,"from":"Ann","text":"x","ts":1,"client_id":"c","file":{"id":"0000000000000000000000000000000000000000000000000000000000000000","name":"a.pdf","mime":"application/pdf","bytes":9007199254740991}}],"changes":[],"more_before":false,"epoch":"e1"}"#,
    r#"{"type":"history","room":"lobby","mode":"catch_up","messages":[{"id":1,"seq":1,"from":"Ann","text":"x","ts":1,"client_id":"c","edited":true,"reactions":[{"emoji":"👍","users":["Bob","Cy"]}]}],"changes":[{"id":2,"seq":2,"from":"Ann","ts":2,"client_id":"d","target":1,"change":{"kind":"reacted","emoji":"👍","on":true}}],"more_before":false,"epoch":"e1"}"#,
    r#"{"type":"read_positions","rooms":{"lobby":3,"b":0},"directs":{"Bob":9007199254740991}}"#,
    r#"{"type":"members","room":"lobby","after":null,"members":["Ann"],"more":true}"#,
    r#"{"type":"room_policy","room":"lobby","owner":null,"private":false,"max_members":null}"#,
    r#"{"type":"moderated","room":"a","by":"b","action":{"kind":"muted","user":"c","until_ms":5}}"#,
    r#"{"type":"error","code":"rate_limited","message":"slow down","client_id":"c-9"}"#,
    r#"{"type":"presence","room":"a","count":2,"joined":[],"left":["x"],"extra":{"ignored":[1,2]}}"#,
    "not json",
    "[1]",
    "null",
    r#"{"room":"a"}"#,
    r#"{"type":"dance"}"#,
    r#"{"type":7}"#,
    r#"{"type":"left"}"#,
    r#"{"type":"left","room":"a b"}"#,
    r#"{"type":"left","room":7}"#,
    r#"{"type":"left","room":null}"#,
    r#"{"type":"typing","room":"a","user":"b","active":"yes"}"#,
    r#"{"type":"reauthed","expires_in_ms":-1}"#,
    r#"{"type":"reauthed","expires_in_ms":1.5}"#,
    r#"{"type":"reauthed","expires_in_ms":"1"}"#,
    r#"{"type":"rooms","rooms":[{"name":"a","members":4294967296}]}"#,
    r#"{"type":"rooms","rooms":{"name":"a"}}"#,
    r#"{"type":"error","code":"bogus","message":"m"}"#,
    r#"{"type":"read_positions","rooms":null}"#,
    r#"{"type":"read_positions","rooms":[1]}"#,
    r#"{"type":"read_positions","rooms":{"a b":1}}"#,
    r#"{"type":"moderated","room":"a","by":"b","action":{"kind":"hugged","user":"c"}}"#,
    r#"{"type":"moderated","room":"a","by":"b","action":{"kind":"muted","user":"c"}}"#,
];

/// The account API's answers, valid and not (see [`LEAN_FRAMES`]).
pub const LEAN_SESSIONS: &[&str] = &[
    r#"{"mode":"open","user":null}"#,
    r#"{"mode":"accounts","user":"Ann"}"#,
    r#"{"mode":"jwt"}"#,
    r#"{"mode":"ldap","user":null}"#,
    r#"{"user":"Ann"}"#,
    r#"{"mode":"accounts","user":"a b"}"#,
];

/// Refusals of the account API and the upload (see [`LEAN_FRAMES`]).
pub const LEAN_API_ERRORS: &[&str] = &[r#"{"error":"wrong password"}"#, r#"{"error":1}"#, "{}"];

/// Echo frames (see [`LEAN_FRAMES`]); their serde impl refuses unknown fields.
pub const LEAN_ECHOES: &[&str] = &[
    r#"{"id":1,"text":"hi"}"#,
    r#"{"id":1,"text":"hi","more":0}"#,
    r#"{"id":-1,"text":"hi"}"#,
    r#"{"text":"hi"}"#,
];

/// The upload's answer (an [`crate::Image`]; see [`LEAN_FRAMES`]).
pub const LEAN_IMAGES: &[&str] = &[
    r#"{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"image/webp","width":640,"height":480,"bytes":12345}"#,
    r#"{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"image/svg+xml","width":640,"height":480,"bytes":12345}"#,
    r#"{"id":"../etc/passwd","mime":"image/png","width":1,"height":1,"bytes":1}"#,
];

/// The upload's answer for a file (a [`crate::File`]; see [`LEAN_FRAMES`]).
pub const LEAN_FILES: &[&str] = &[
    r#"{"id":"0000000000000000000000000000000000000000000000000000000000000000","name":"report.pdf","mime":"application/pdf","bytes":12345}"#,
    r#"{"id":"0000000000000000000000000000000000000000000000000000000000000000","name":"a","mime":7,"bytes":1}"#,
    r#"{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"image/webp","width":640,"height":480,"bytes":12345}"#,
];

/// [`crate::lean::read`] over the trees `parse` builds reads every text of the lists above as
/// serde's decoder does: the same value, or both refuse (`parse` returns `None` for what is
/// not JSON). Run over serde_json's tree natively and over the browser's in the browser suite.
/// (Not on integers above 2^53 - 1: the browser's tree refuses those, see [`crate::lean`].)
pub fn lean_agrees_with_serde<J: Json>(parse: impl Fn(&str) -> Option<J>) {
    agree::<ServerMsg, J>(LEAN_FRAMES, &parse);
    agree::<SessionInfo, J>(LEAN_SESSIONS, &parse);
    agree::<ApiError, J>(LEAN_API_ERRORS, &parse);
    agree::<EchoFrame, J>(LEAN_ECHOES, &parse);
    agree::<Image, J>(LEAN_IMAGES, &parse);
    agree::<crate::File, J>(LEAN_FILES, &parse);
}

fn agree<T, J>(texts: &[&str], parse: &impl Fn(&str) -> Option<J>)
where
    T: Lean + DeserializeOwned + PartialEq + std::fmt::Debug,
    J: Json,
{
    for text in texts {
        let serde = decode::<T>(text).ok();
        let lean = parse(text).and_then(|tree| read::<T, J>(&tree).ok());
        assert_eq!(lean, serde, "{text}");
    }
}
