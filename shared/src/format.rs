//! Message formatting: the small subset of Markdown a message may use, read from the text as
//! typed into a tree of a few kinds of nodes ([`Block`], [`Inline`]) that the app turns into
//! DOM nodes, one element per node (never HTML).
//!
//! The text as typed is what is sent, stored, searched and quoted; the server never formats
//! it. Every client formats it alike, with [`format()`]: pure Rust, no tables, no regex, so it
//! stays small in the browser app.
//!
//! # The subset
//!
//! Blocks, read line by line (a line ends at `\n`; a `\r` before it is dropped):
//! - **Paragraph**: consecutive lines that are not blank; a blank line ends it. Its line
//!   breaks are kept ([`Inline::LineBreak`]); spaces and tabs at the ends of its lines are not.
//! - **Fenced code block** ([`Block::CodeBlock`]): a line of three or more backticks (after
//!   any indentation), then an optional info string (the language: ```` ```rust ````; one
//!   holding a backtick makes the line a paragraph with code spans instead). It ends at a line
//!   of at least as many backticks and nothing else but spaces, or else at the end of the
//!   message, quote or list item it is in. Its lines are kept verbatim (less the opening
//!   fence's indentation); nothing inside is formatted.
//! - **Block quote**: consecutive lines starting with `>` (after any indentation; a space or
//!   tab right after the `>` belongs to it); what follows the markers is read again as blocks.
//!   A line without `>` ends the quote. Unlike CommonMark there is no "lazy" continuation:
//!   in a chat, the line after a quote is the answer to it.
//! - **List**: an item starts with a marker, `-` or `*` (bullets) or 1 to 9 digits and `.` or
//!   `)` (ordered), then a space, a tab or the end of the line. The item holds the rest of its
//!   line and the next lines indented at least as far as that rest starts (blank lines too,
//!   when an indented line follows them), read again as blocks, so lists nest. Items with the
//!   same bullet, or the same ordered delimiter, make one list, blank lines between them
//!   allowed; an ordered list keeps its first number. An item interrupts a paragraph only if
//!   it is not empty and, when ordered, starts at 1 (as in CommonMark: `in\n2024. we` is one
//!   paragraph).
//! - Quotes and lists nest at most [`MAX_NESTING`] deep; a marker deeper than that is text.
//! - Nothing else is a block: headings, rules, tables, indented code and HTML are text.
//!
//! Inline, within a paragraph, left to right:
//! - **Code span** ([`Inline::Code`]): a run of backticks up to the next run of exactly as
//!   many. The content is kept as typed, less one space (or line break) at each end when it
//!   has one at both and is not all spaces (`` `` `a` `` `` is the code `` `a` ``); nothing
//!   inside is formatted. A run that finds no partner is text.
//! - **Link** ([`Inline::Link`]), where a word starts (not right after a letter or digit):
//!   `http://` or `https://` followed by a letter or digit, or `mailto:` followed by an
//!   address with an `@` (any case: `HTTPS://`). It runs up to a space, a control character,
//!   `<`, `>`, `"` or a backtick, less what it ends with of `.`, `,`, `:`, `;`, `!`, `?`, `'`,
//!   `*`, `_`, `~`, and `)` or `]` beyond those the link opened (`https://example.com/a_(b)`
//!   keeps its parenthesis; `(see https://example.com)` does not). Its target is exactly that
//!   text. **Only these three schemes ever make a link**: there are no `[text](url)` links,
//!   no `<url>` autolinks, no entities and no HTML, so `javascript:`, `data:` or
//!   `<javascript:alert(1)>` in any case or spelling are text.
//! - **Mention** ([`Inline::Mention`]): `@` and a name, read by the rule of
//!   [`crate::Text::mentions`] (the longest run of letters, digits, `-` and `_`), so what is
//!   shown as a mention is what that message mentions. Inside code or a link it is not one.
//! - **Emphasis** `*a*` or `_a_`, **strong** `**a**` or `__a__`, **strikethrough** `~~a~~`:
//!   CommonMark's delimiter runs and their rules (left- and right-flanking runs, no `_` within
//!   a word: `foo_bar_baz` is text, the rule of three: `**foo*` is `*` and an emphasised
//!   `foo`), with runs of exactly two `~` for strikethrough. Punctuation there is any
//!   character neither a letter, a digit nor a space (emoji and symbols included). A
//!   delimiter that pairs with nothing is text. Spans nest at most [`MAX_NESTING`] deep;
//!   deeper ones stay their markers around their content.
//! - Everything else is text as typed: HTML, entities and backslashes included (there are no
//!   escapes: a literal `*` that would pair goes in a code span).
//!
//! # What the markup takes
//! Formatting drops only these characters of a text: spaces, tabs, `\r` and `\n`; `*`, `_`,
//! `~` and backticks; and at the start of a line (after its indentation and the markers
//! before), `>` and list markers (`-` or `*`, or digits and `.` or `)`, before a space, a tab
//! or the line's end). Every other character is in the tree, in order: in a text, code,
//! link or code block node, an info string, or a mention (shown as `@` and its name). The
//! fuzz target and the property tests hold [`format()`] to this (`checks::format`).

mod inline;
#[cfg(test)]
mod tests;

/// How deep quotes and lists nest, and separately emphasis, strong and strikethrough spans.
/// Deeper markup stays text, so a hostile message cannot make a tree too deep to show.
pub const MAX_NESTING: usize = 16;

/// A block of a formatted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Text, its line breaks kept.
    Paragraph(Vec<Inline>),
    /// A fenced code block, shown verbatim.
    CodeBlock {
        /// What followed the opening fence (usually a language), trimmed; may be empty.
        info: String,
        /// The lines between the fences, joined by `\n`, as typed.
        text: String,
    },
    /// A block quote and the blocks it holds.
    Quote(Vec<Block>),
    /// A bullet or ordered list.
    List {
        /// `None` for bullets; an ordered list's first number otherwise.
        start: Option<u32>,
        /// Each item's blocks (an item may be empty).
        items: Vec<Vec<Block>>,
    },
}

/// A piece of a paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// Plain text, as typed (never empty; two are never side by side).
    Text(String),
    /// `*emphasis*` or `_emphasis_`.
    Emphasis(Vec<Inline>),
    /// `**strong**` or `__strong__`.
    Strong(Vec<Inline>),
    /// `~~strikethrough~~`.
    Strike(Vec<Inline>),
    /// A code span's content, verbatim.
    Code(String),
    /// An `http`, `https` or `mailto` link (the only schemes that ever make one).
    Link {
        /// The link's target: exactly the text typed.
        href: String,
        /// What to show: the same text.
        text: String,
    },
    /// `@name`: a mention of [`crate::Text::mentions`]'s rule.
    Mention {
        /// The name as typed, without the `@` (lower-cased, it is what `mentions` finds).
        name: String,
    },
    /// A line break within a paragraph.
    LineBreak,
}

/// The formatted tree of a message's text (see the module docs for the subset).
pub fn format(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    blocks(&lines, 0)
}

/// The target of the first `http` or `https` link of `text` as [`format()`] shows it (in
/// reading order, quotes and lists included; never inside code): the link a server's
/// preview is of.
pub fn first_link(text: &str) -> Option<String> {
    fn in_inlines(inlines: &[Inline]) -> Option<&str> {
        inlines.iter().find_map(|inline| match inline {
            Inline::Link { href, .. } => {
                let scheme = href.split(':').next().unwrap_or_default();
                (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                    .then_some(href.as_str())
            }
            Inline::Emphasis(inner) | Inline::Strong(inner) | Inline::Strike(inner) => {
                in_inlines(inner)
            }
            _ => None,
        })
    }
    fn in_blocks(blocks: &[Block]) -> Option<&str> {
        blocks.iter().find_map(|block| match block {
            Block::Paragraph(inlines) => in_inlines(inlines),
            Block::Quote(inner) => in_blocks(inner),
            Block::List { items, .. } => items.iter().find_map(|item| in_blocks(item)),
            Block::CodeBlock { .. } => None,
        })
    }
    in_blocks(&format(text)).map(str::to_owned)
}

/// The blocks of `lines`, which are nested `depth` deep in quotes and list items.
fn blocks(lines: &[&str], depth: usize) -> Vec<Block> {
    let nest = depth < MAX_NESTING;
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        if is_blank(line) {
            i += 1;
        } else if let Some(fence) = Fence::open(line) {
            i = fence.block(lines, i + 1, &mut out);
        } else if nest && let Some(rest) = quote_marker(line) {
            let mut inner = vec![rest];
            i += 1;
            while let Some(rest) = lines.get(i).and_then(|line| quote_marker(line)) {
                inner.push(rest);
                i += 1;
            }
            out.push(Block::Quote(blocks(&inner, depth + 1)));
        } else if nest && let Some(marker) = Marker::read(line) {
            i = list(lines, i, marker, depth, &mut out);
        } else {
            let start = i;
            i += 1;
            while let Some(&line) = lines.get(i)
                && !is_blank(line)
                && !interrupts(line, nest)
            {
                i += 1;
            }
            let text: Vec<&str> = lines[start..i]
                .iter()
                .map(|line| line.trim_matches(SPACE))
                .collect();
            out.push(Block::Paragraph(inline::inlines(&text.join("\n"))));
        }
    }
    out
}

/// The characters of indentation and of the space after a marker.
const SPACE: [char; 2] = [' ', '\t'];

fn is_blank(line: &str) -> bool {
    line.trim_start_matches(SPACE).is_empty()
}

/// Whether `line` starts a block that ends the paragraph before it.
fn interrupts(line: &str, nest: bool) -> bool {
    Fence::open(line).is_some()
        || nest
            && (quote_marker(line).is_some()
                || Marker::read(line).is_some_and(|marker| {
                    !is_blank(marker.rest) && marker.start.is_none_or(|start| start == 1)
                }))
}

/// The width of `line`'s indentation in columns (a tab goes to the next multiple of 4), and
/// the rest of the line.
fn indentation(line: &str) -> (usize, &str) {
    let mut columns = 0;
    for (at, c) in line.char_indices() {
        match c {
            ' ' => columns += 1,
            '\t' => columns += 4 - columns % 4,
            _ => return (columns, &line[at..]),
        }
    }
    (columns, "")
}

/// `line` less up to `columns` columns of indentation (a tab that straddles the limit goes).
fn unindent(line: &str, columns: usize) -> &str {
    let mut seen = 0;
    for (at, c) in line.char_indices() {
        if seen >= columns {
            return &line[at..];
        }
        match c {
            ' ' => seen += 1,
            '\t' => seen += 4 - seen % 4,
            _ => return &line[at..],
        }
    }
    ""
}

/// What follows a block quote's `>` (and the space or tab after it), if `line` starts one.
fn quote_marker(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(SPACE).strip_prefix('>')?;
    Some(rest.strip_prefix(SPACE).unwrap_or(rest))
}

/// An opening code fence.
struct Fence<'a> {
    /// Its indentation in columns, taken off the content lines.
    indent: usize,
    /// How many backticks.
    ticks: usize,
    info: &'a str,
}

impl<'a> Fence<'a> {
    fn open(line: &'a str) -> Option<Self> {
        let (indent, rest) = indentation(line);
        let ticks = rest.len() - rest.trim_start_matches('`').len();
        let info = &rest[ticks..];
        (ticks >= 3 && !info.contains('`')).then(|| Fence {
            indent,
            ticks,
            info: info.trim_matches(SPACE),
        })
    }

    /// Whether `line` closes this fence.
    fn closes(&self, line: &str) -> bool {
        let rest = line.trim_start_matches(SPACE);
        let after = rest.trim_start_matches('`');
        rest.len() - after.len() >= self.ticks && is_blank(after)
    }

    /// Pushes the code block whose content starts at `lines[i]`; returns the index of the
    /// line after it.
    fn block(&self, lines: &[&str], mut i: usize, out: &mut Vec<Block>) -> usize {
        let mut text: Vec<&str> = Vec::new();
        while let Some(&line) = lines.get(i) {
            i += 1;
            if self.closes(line) {
                break;
            }
            text.push(unindent(line, self.indent));
        }
        out.push(Block::CodeBlock {
            info: self.info.to_owned(),
            text: text.join("\n"),
        });
        i
    }
}

/// A list item's marker, read off its first line.
struct Marker<'a> {
    /// `-` or `*` for bullets, `.` or `)` for ordered items: items of one list share it.
    kind: char,
    /// An ordered item's number.
    start: Option<u32>,
    /// The column where the item's content starts: its later lines are indented this far.
    content: usize,
    /// The rest of the first line.
    rest: &'a str,
}

impl<'a> Marker<'a> {
    fn read(line: &'a str) -> Option<Self> {
        let (indent, after) = indentation(line);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (kind, start, width) = match after[digits..].chars().next()? {
            kind @ ('-' | '*') if digits == 0 => (kind, None, 1),
            kind @ ('.' | ')') if (1..=9).contains(&digits) => {
                (kind, after[..digits].parse().ok(), digits + 1)
            }
            _ => return None,
        };
        let after = &after[width..];
        if !(after.is_empty() || after.starts_with(SPACE)) {
            return None;
        }
        let (gap, rest) = indentation(after);
        // Like CommonMark: one space after the marker when the line is empty after it or
        // the gap is wide (there it would be indented code, which this subset does not have).
        let (gap, rest) = if rest.is_empty() || gap > 4 {
            (1, &after[1.min(after.len())..])
        } else {
            (gap, rest)
        };
        Some(Marker {
            kind,
            start,
            content: indent + width + gap,
            rest,
        })
    }
}

/// Pushes the list whose first item starts at `lines[i]`; returns the index of the line after
/// it.
fn list<'a>(
    lines: &[&'a str],
    mut i: usize,
    mut marker: Marker<'a>,
    depth: usize,
    out: &mut Vec<Block>,
) -> usize {
    let start = marker.start;
    let mut items = Vec::new();
    loop {
        let mut item = vec![marker.rest];
        i += 1;
        while let Some(&line) = lines.get(i) {
            let next = if is_blank(line) {
                // Blank lines belong to the item if an indented line follows them.
                lines[i..]
                    .iter()
                    .position(|line| !is_blank(line))
                    .map_or(lines.len(), |blanks| i + blanks)
            } else {
                i
            };
            match lines.get(next) {
                Some(line) if indentation(line).0 >= marker.content => {
                    item.extend(
                        lines[i..=next]
                            .iter()
                            .map(|line| unindent(line, marker.content)),
                    );
                    i = next + 1;
                }
                _ => break,
            }
        }
        items.push(blocks(&item, depth + 1));
        let next = lines[i..]
            .iter()
            .position(|line| !is_blank(line))
            .map(|blanks| i + blanks);
        match next.and_then(|next| Some((next, Marker::read(lines[next])?))) {
            Some((next, following)) if following.kind == marker.kind => {
                i = next;
                marker = following;
            }
            _ => break,
        }
    }
    out.push(Block::List { start, items });
    i
}
