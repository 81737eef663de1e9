//! The inline half of the formatter: a paragraph's text to [`Inline`] nodes.
//!
//! Code spans, links, mentions and line breaks are read in one pass, left to right, which
//! also lists the runs of `*`, `_` and `~~` that may open or close a span. Those are then
//! paired as CommonMark's "process emphasis" does, over a linked list of the pieces (an
//! opener that found no closer of a class is not looked at again for that class, as with
//! CommonMark's `openers_bottom`), so a hostile text costs about what any text of its length
//! does. Last, the pieces become the tree, without recursion.

use super::{Inline, MAX_NESTING};
use crate::chat::mention_name;

/// No piece (the end of a list).
const NONE: usize = usize::MAX;

/// The nodes of a paragraph `text`.
pub(super) fn inlines(text: &str) -> Vec<Inline> {
    let mut pieces = Pieces::read(text);
    pieces.pair();
    pieces.tree()
}

/// What a piece is.
enum Piece {
    /// A finished node: text, code, link, mention or line break.
    Node(Inline),
    /// A run of `*`, `_` or `~`: what its delimiter has left (text, unless paired).
    Run { delimiter: usize },
    /// An emphasis, strong or strikethrough span of `width` times `ch` on each side, over the
    /// pieces from `first` on.
    Span { ch: u8, width: usize, first: usize },
}

/// A piece in its list (the paragraph's, or a span's).
struct Linked {
    piece: Piece,
    prev: usize,
    next: usize,
}

/// A run of `*`, `_` or `~~` that may open or close a span, in the list of such runs still
/// waiting for a partner.
struct Delimiter {
    /// Its piece (a [`Piece::Run`]).
    piece: usize,
    ch: u8,
    /// The run's length as typed (the rule of three counts it, not what is left).
    length: usize,
    /// What is left of the run: what spans have not taken.
    count: usize,
    can_open: bool,
    can_close: bool,
    prev: usize,
    next: usize,
}

impl Delimiter {
    /// Which openers this closer may pair with, for skipping those that did not pair with an
    /// earlier closer of the same class.
    fn class(&self) -> usize {
        let ch = match self.ch {
            b'*' => 0,
            b'_' => 1,
            _ => 2,
        };
        (ch * 3 + self.length % 3) * 2 + usize::from(self.can_open)
    }

    /// Whether `self` can open a span that `closer` closes.
    fn pairs_with(&self, closer: &Delimiter) -> bool {
        // The rule of three: a run that can both open and close does not pair with one whose
        // length makes a multiple of 3 with its own, unless both are multiples of 3
        // (`*foo**bar*` is one emphasis).
        self.ch == closer.ch
            && self.can_open
            && (self.ch == b'~'
                || !(self.can_close || closer.can_open)
                || !(self.length + closer.length).is_multiple_of(3)
                || self.length.is_multiple_of(3) && closer.length.is_multiple_of(3))
    }
}

/// A paragraph's pieces: in one arena, each in its list.
struct Pieces {
    pieces: Vec<Linked>,
    delimiters: Vec<Delimiter>,
}

/// CommonMark's punctuation, without Unicode's tables: anything not a letter, a digit or a
/// space.
fn is_punctuation(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace()
}

impl Pieces {
    fn read(text: &str) -> Self {
        let mut pieces = Pieces {
            pieces: Vec::new(),
            delimiters: Vec::new(),
        };
        let bytes = text.as_bytes();
        // The loop steps byte by byte but slices only at ASCII bytes and at the ends of what
        // it read: always at char boundaries.
        let mut at = 0;
        let mut plain = 0;
        while let Some(&byte) = bytes.get(at) {
            let start = at;
            let node = match byte {
                b'`' => {
                    let length = run(bytes, at);
                    at += length;
                    let Some(close) = partner(bytes, length, at) else {
                        continue;
                    };
                    let code = code_content(&text[at..close]);
                    at = close + length;
                    Piece::Node(Inline::Code(code.to_owned()))
                }
                b'*' | b'_' | b'~' => {
                    let length = run(bytes, at);
                    at += length;
                    let before = text[..start].chars().next_back();
                    let after = text[at..].chars().next();
                    let (can_open, can_close) = flanking(byte, before, after);
                    if !(can_open || can_close) || byte == b'~' && length != 2 {
                        continue;
                    }
                    pieces.text(&text[plain..start]);
                    let piece = pieces.push(Piece::Run {
                        delimiter: pieces.delimiters.len(),
                    });
                    pieces.delimiters.push(Delimiter {
                        piece,
                        ch: byte,
                        length,
                        count: length,
                        can_open,
                        can_close,
                        prev: pieces.delimiters.len().wrapping_sub(1),
                        next: pieces.delimiters.len() + 1,
                    });
                    plain = at;
                    continue;
                }
                b'\n' => {
                    at += 1;
                    Piece::Node(Inline::LineBreak)
                }
                b'@' => {
                    at += 1;
                    let name = mention_name(&text[at..]);
                    if name.is_empty() {
                        continue;
                    }
                    at += name.len();
                    Piece::Node(Inline::Mention {
                        name: name.to_owned(),
                    })
                }
                b'h' | b'H' | b'm' | b'M' => {
                    let Some(length) = link_at(text, at) else {
                        at += 1;
                        continue;
                    };
                    at += length;
                    let href = &text[start..at];
                    Piece::Node(Inline::Link {
                        href: href.to_owned(),
                        text: href.to_owned(),
                    })
                }
                _ => {
                    at += 1;
                    continue;
                }
            };
            pieces.text(&text[plain..start]);
            pieces.push(node);
            plain = at;
        }
        pieces.text(&text[plain..]);
        if let Some(last) = pieces.delimiters.last_mut() {
            last.next = NONE;
        }
        pieces
    }

    /// Appends a piece to the paragraph's list; returns its index.
    fn push(&mut self, piece: Piece) -> usize {
        let at = self.pieces.len();
        if let Some(last) = self.pieces.last_mut() {
            last.next = at;
        }
        self.pieces.push(Linked {
            piece,
            prev: at.wrapping_sub(1),
            next: NONE,
        });
        at
    }

    fn text(&mut self, text: &str) {
        if !text.is_empty() {
            self.push(Piece::Node(Inline::Text(text.to_owned())));
        }
    }

    /// Takes `delimiter` off the list of those waiting for a partner.
    fn unlink(&mut self, delimiter: usize) {
        let (prev, next) = (
            self.delimiters[delimiter].prev,
            self.delimiters[delimiter].next,
        );
        if let Some(before) = self.delimiters.get_mut(prev) {
            before.next = next;
        }
        if let Some(after) = self.delimiters.get_mut(next) {
            after.prev = prev;
        }
    }

    /// Pairs openers with closers into spans (CommonMark's "process emphasis").
    fn pair(&mut self) {
        // Per class of closer: the first delimiter that may still open for it (those before
        // found no partner in an earlier closer of that class, so none in a later one).
        let mut bottom = [0; 18];
        let mut closer = if self.delimiters.is_empty() { NONE } else { 0 };
        while let Some(close) = self.delimiters.get(closer) {
            if !close.can_close {
                closer = close.next;
                continue;
            }
            let class = close.class();
            let mut opener = close.prev;
            while let Some(open) = self.delimiters.get(opener)
                && opener >= bottom[class]
                && !open.pairs_with(close)
            {
                opener = open.prev;
            }
            if opener == NONE || opener < bottom[class] {
                bottom[class] = closer;
                let (next, can_open) = (close.next, close.can_open);
                if !can_open {
                    self.unlink(closer);
                }
                closer = next;
                continue;
            }
            let width =
                if close.ch == b'~' || close.count >= 2 && self.delimiters[opener].count >= 2 {
                    2
                } else {
                    1
                };
            self.wrap(opener, closer, width);
            // The delimiters between the two can no longer pair: they are text in the span.
            self.delimiters[opener].next = closer;
            self.delimiters[closer].prev = opener;
            self.delimiters[opener].count -= width;
            if self.delimiters[opener].count == 0 {
                self.unlink(opener);
            }
            self.delimiters[closer].count -= width;
            if self.delimiters[closer].count == 0 {
                let next = self.delimiters[closer].next;
                self.unlink(closer);
                closer = next;
            }
        }
    }

    /// Moves the pieces between the runs of `opener` and `closer` into a new span between them.
    fn wrap(&mut self, opener: usize, closer: usize, width: usize) {
        let ch = self.delimiters[closer].ch;
        let (open, close) = (self.delimiters[opener].piece, self.delimiters[closer].piece);
        let first = self.pieces[open].next;
        let span = self.pieces.len();
        if first != close {
            let last = self.pieces[close].prev;
            self.pieces[last].next = NONE;
            self.pieces[first].prev = NONE;
        }
        self.pieces.push(Linked {
            piece: Piece::Span {
                ch,
                width,
                first: if first == close { NONE } else { first },
            },
            prev: open,
            next: close,
        });
        self.pieces[open].next = span;
        self.pieces[close].prev = span;
    }

    /// The tree: the paragraph's list from its first piece (which no span ever takes), spans
    /// as nodes, or as their markers around their content when nested deeper than
    /// [`MAX_NESTING`].
    fn tree(mut self) -> Vec<Inline> {
        /// A list being read.
        struct Frame {
            /// Its next piece.
            next: usize,
            /// Its span's marker and width.
            ch: u8,
            width: usize,
            /// The span is a node (its pieces fill a vector of their own), not shown as its
            /// markers (its pieces go to the vector of the span around it).
            node: bool,
        }
        // One vector per span made a node, the paragraph's at the bottom.
        let mut done: Vec<Vec<Inline>> = vec![Vec::new()];
        let mut frames = vec![Frame {
            next: if self.pieces.is_empty() { NONE } else { 0 },
            ch: b'*',
            width: 0,
            node: false,
        }];
        while let Some(frame) = frames.last_mut() {
            let Some(linked) = self.pieces.get_mut(frame.next) else {
                let Some(frame) = frames.pop().filter(|_| !frames.is_empty()) else {
                    break;
                };
                if !frame.node {
                    add_markers(&mut done, frame.ch, frame.width);
                    continue;
                }
                let children = done.pop().unwrap_or_default();
                let span = match (frame.ch, frame.width) {
                    (b'~', _) => Inline::Strike(children),
                    (_, 1) => Inline::Emphasis(children),
                    _ => Inline::Strong(children),
                };
                if let Some(parent) = done.last_mut() {
                    parent.push(span);
                }
                continue;
            };
            frame.next = linked.next;
            match std::mem::replace(&mut linked.piece, Piece::Node(Inline::LineBreak)) {
                Piece::Node(Inline::Text(text)) => add_text(&mut done, &text),
                Piece::Node(node) => {
                    if let Some(current) = done.last_mut() {
                        current.push(node);
                    }
                }
                Piece::Run { delimiter } => {
                    if let Some(run) = self.delimiters.get(delimiter) {
                        add_markers(&mut done, run.ch, run.count);
                    }
                }
                Piece::Span { ch, width, first } => {
                    let node = done.len() <= MAX_NESTING;
                    if node {
                        done.push(Vec::new());
                    } else {
                        add_markers(&mut done, ch, width);
                    }
                    frames.push(Frame {
                        next: first,
                        ch,
                        width,
                        node,
                    });
                }
            }
        }
        done.pop().unwrap_or_default()
    }
}

/// Appends text to the innermost vector being filled, joining it to text there.
fn add_text(done: &mut [Vec<Inline>], text: &str) {
    let Some(current) = done.last_mut() else {
        return;
    };
    match current.last_mut() {
        Some(Inline::Text(before)) => before.push_str(text),
        _ if !text.is_empty() => current.push(Inline::Text(text.to_owned())),
        _ => {}
    }
}

/// Appends `count` times `ch` as text (a run or span marker that stays text).
fn add_markers(done: &mut [Vec<Inline>], ch: u8, count: usize) {
    add_text(done, &char::from(ch).to_string().repeat(count));
}

/// Whether a run of `ch` between `before` and `after` (`None`: the paragraph's ends) may open
/// and may close a span: CommonMark's left- and right-flanking rules.
fn flanking(ch: u8, before: Option<char>, after: Option<char>) -> (bool, bool) {
    let space_before = before.is_none_or(char::is_whitespace);
    let space_after = after.is_none_or(char::is_whitespace);
    let punct_before = before.is_some_and(is_punctuation);
    let punct_after = after.is_some_and(is_punctuation);
    let left = !space_after && (!punct_after || space_before || punct_before);
    let right = !space_before && (!punct_before || space_after || punct_after);
    if ch == b'_' {
        // No `_` emphasis within a word (`snake_case_name`).
        (
            left && (!right || punct_before),
            right && (!left || punct_after),
        )
    } else {
        (left, right)
    }
}

/// The length of the run of the byte at `at`.
fn run(bytes: &[u8], at: usize) -> usize {
    bytes[at..].iter().take_while(|&&b| b == bytes[at]).count()
}

/// Where the first run of exactly `length` backticks at or after `from` starts. A scan, but
/// a cheap one in all: a found run ends a code span, so the tokenizer goes on after it
/// (nothing is scanned twice), and a run that finds none is the last of its length, so that
/// happens once per length (a few hundred lengths at most in a message of 64 KiB).
fn partner(bytes: &[u8], length: usize, mut from: usize) -> Option<usize> {
    while let Some(found) = bytes[from..].iter().position(|&b| b == b'`') {
        let start = from + found;
        let found = run(bytes, start);
        if found == length {
            return Some(start);
        }
        from = start + found;
    }
    None
}

/// A code span's content: one space or line break off each end when both have one and it is
/// not all spaces.
fn code_content(code: &str) -> &str {
    let padded = |c: u8| c == b' ' || c == b'\n';
    let bytes = code.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last))
            if bytes.len() >= 2
                && padded(first)
                && padded(last)
                && !bytes.iter().all(|&b| b == b' ') =>
        {
            &code[1..code.len() - 1]
        }
        _ => code,
    }
}

/// The length of the link at `at` in `text`, if one starts there: where a word starts.
fn link_at(text: &str, at: usize) -> Option<usize> {
    if text[..at]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
    {
        return None;
    }
    link(&text[at..])
}

/// The length of the link `text` starts with, if it starts with one (see the module docs).
fn link(text: &str) -> Option<usize> {
    let has = |prefix: &str| {
        text.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    let scheme = ["https://", "http://", "mailto:"]
        .into_iter()
        .find(|scheme| has(scheme))?;
    let end = text
        .find(|c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '`'))
        .unwrap_or(text.len());
    let mut url = &text[..end];
    // Closing brackets the link did not open are the sentence's, not the link's.
    let open = [url.matches('(').count(), url.matches('[').count()];
    let mut close = [url.matches(')').count(), url.matches(']').count()];
    while let Some(last) = url.chars().next_back() {
        let bracket = match last {
            ')' => 0,
            ']' => 1,
            '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' | '~' => {
                url = &url[..url.len() - 1];
                continue;
            }
            _ => break,
        };
        if close[bracket] <= open[bracket] {
            break;
        }
        close[bracket] -= 1;
        url = &url[..url.len() - 1];
    }
    let rest = &url[scheme.len().min(url.len())..];
    let valid = if scheme == "mailto:" {
        rest.split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.starts_with(char::is_alphanumeric))
    } else {
        url.len() > scheme.len() && rest.starts_with(char::is_alphanumeric)
    };
    valid.then_some(url.len())
}
