//! Property tests of the message formatter (`shared::format`): thousands of random texts,
//! made mostly of markup and of what looks like links and mentions, each held to
//! `checks::format_holds` (links only `http`, `https` and `mailto`; mentions by
//! `Text::mentions`' rule; nothing lost or reordered but markup; bounded nesting). A failing
//! text is shrunk before it is reported. No dependency: a fixed-seed xorshift generator, so
//! a failure reproduces; `FORMAT_CASES=N` and `FORMAT_SEED=S` run more cases, or others.

use shared::format::{Block, Inline, format};

/// What texts are made of: markup of every kind, near-misses of it, link schemes allowed
/// and not, mention-like pieces, case-folding traps, Korean and emoji.
const PIECES: &[&str] = &[
    "a",
    "b",
    "Z",
    "7",
    "강조",
    "👋",
    "👨‍👩‍👧",
    "İ",
    "ΑΣ",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\n",
    "\n\n",
    "\r\n",
    "\r",
    "*",
    "*",
    "**",
    "***",
    "_",
    "_",
    "__",
    "~",
    "~~",
    "~~",
    "~~~",
    "`",
    "`",
    "``",
    "```",
    "```rust\n",
    "\n```\n",
    "> ",
    ">",
    "- ",
    "* ",
    "1. ",
    "2) ",
    "10. ",
    "    ",
    "http://",
    "https://",
    "HTTPS://",
    "mailto:",
    "ann@x.org",
    "x.org/",
    "javascript:",
    "JavaScript:",
    "data:",
    "vbscript:",
    "&#106;",
    "&#58;",
    "<",
    ">",
    "(",
    ")",
    "[",
    "]",
    ".",
    ",",
    "!",
    "?",
    "'",
    "\"",
    ":",
    "@",
    "@ann",
    "@Bo_b",
    "-",
    "+",
    "#",
    "\\",
    "=",
    "/",
];

/// xorshift64*: small, fast and good enough to pick pieces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 33) as usize % n
    }

    fn text(&mut self) -> Vec<&'static str> {
        let length = self.below(48);
        (0..length)
            .map(|_| PIECES[self.below(PIECES.len())])
            .collect()
    }
}

/// The promise `pieces` break, if any (a panic of the formatter counts).
fn broken(pieces: &[&str]) -> Option<String> {
    let text = pieces.concat();
    match std::panic::catch_unwind(|| shared::checks::format_holds(&text)) {
        Ok(Ok(())) => None,
        Ok(Err(broken)) => Some(broken),
        Err(_) => Some("the formatter panicked".to_owned()),
    }
}

/// `pieces` less every piece it can lose and still break a promise.
fn shrink(mut pieces: Vec<&'static str>) -> Vec<&'static str> {
    let mut at = 0;
    while at < pieces.len() {
        let mut fewer = pieces.clone();
        fewer.remove(at);
        if broken(&fewer).is_some() {
            pieces = fewer;
        } else {
            at += 1;
        }
    }
    pieces
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

type Kinds = std::collections::BTreeSet<&'static str>;

/// Adds the kinds of node `blocks` hold, by name, to `seen`.
fn block_kinds(blocks: &[Block], seen: &mut Kinds) {
    for block in blocks {
        let kind = match block {
            Block::Paragraph(inner) => {
                inline_kinds(inner, seen);
                "paragraph"
            }
            Block::CodeBlock { .. } => "code block",
            Block::Quote(inner) => {
                block_kinds(inner, seen);
                "quote"
            }
            Block::List { items, .. } => {
                items.iter().for_each(|item| block_kinds(item, seen));
                "list"
            }
        };
        seen.insert(kind);
    }
}

fn inline_kinds(inlines: &[Inline], seen: &mut Kinds) {
    for inline in inlines {
        let kind = match inline {
            Inline::Text(_) => "text",
            Inline::Emphasis(inner) => {
                inline_kinds(inner, seen);
                "emphasis"
            }
            Inline::Strong(inner) => {
                inline_kinds(inner, seen);
                "strong"
            }
            Inline::Strike(inner) => {
                inline_kinds(inner, seen);
                "strike"
            }
            Inline::Code(_) => "code",
            Inline::Link { .. } => "link",
            Inline::Mention { .. } => "mention",
            Inline::LineBreak => "line break",
        };
        seen.insert(kind);
    }
}

#[test]
fn any_text_keeps_the_formatters_promises() {
    let cases = env_number("FORMAT_CASES", 4_000);
    let mut rng = Rng(env_number("FORMAT_SEED", 0x5eed_cafe_f00d_0031) | 1);
    let mut seen = Kinds::new();
    for _ in 0..cases {
        let pieces = rng.text();
        if broken(&pieces).is_some() {
            let small = shrink(pieces);
            panic!(
                "{}\nsmallest text found: {:?}",
                broken(&small).unwrap_or_default(),
                small.concat()
            );
        }
        block_kinds(&format(&pieces.concat()), &mut seen);
    }
    // The texts reach every kind of node, so every kind was checked.
    assert_eq!(seen.len(), 12, "only {seen:?}");
}

#[test]
fn dangerous_schemes_never_link_whatever_surrounds_them() {
    let schemes = [
        "javascript:",
        "JAVASCRIPT:",
        "jAvAsCrIpT:",
        " javascript:",
        "java\tscript:",
        "java\nscript:",
        "&#106;avascript:",
        "javascript&#58;",
        "data:",
        "vbscript:",
        "file:",
        "blob:",
    ];
    let around = [
        "", "<", "(", "[x](", "*", "_", "`", "> ", "- ", "https:", "mailto:", "@",
    ];
    for scheme in schemes {
        for before in around {
            for after in around {
                let text = format!("{before}{scheme}alert(1){after}");
                shared::checks::format_holds(&text).unwrap();
                let links = format!("{:?}", format(&text)).matches("Link").count();
                let allowed = text.matches("https://").count() + text.matches("mailto:").count();
                assert!(links <= allowed, "{text:?}");
            }
        }
    }
}
