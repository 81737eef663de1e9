//! The name a file is shown and downloaded under ([`sanitised`]): what the uploader's browser
//! said (`?name=`), made safe to show in a page and to put in a `Content-Disposition` header.
//!
//! The rule (also in docs/PROTOCOL.md "Files"):
//! 1. NFC, so a name from a keyboard or file system that decomposes (macOS keeps Hangul as
//!    jamo) is the name people typed; otherwise the characters are kept as they are
//!    (Korean, other scripts and emoji included).
//! 2. Dropped: control characters (C0, DEL, C1), line and paragraph separators, and invisible
//!    formatting characters (general category Cf: direction overrides and isolates,
//!    zero-width characters) except joiners and tags inside emoji sequences, as in nicknames
//!    ([`crate::names`]). No name can turn the text around it or hide a line break.
//! 3. Path separators and the characters file systems refuse in names (`/ \ : * ? " < > |`)
//!    become `_`: a name is never a path.
//! 4. Spaces and dots are trimmed at both ends (no hidden `.name`, no `..`, nothing Windows
//!    would drop).
//! 5. At most [`MAX_BYTES`] bytes of UTF-8 (file systems' 255, with room to spare): a longer
//!    name is cut at a character boundary before its extension, which is kept (if it is
//!    short: at most [`MAX_EXTENSION_BYTES`]).
//! 6. Never empty: what is left of nothing is [`FALLBACK`].

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// The longest name, in bytes of UTF-8.
pub const MAX_BYTES: usize = 150;

/// The longest extension kept whole when a name is cut (`.docx`, `.tar.gz`'s `gz`).
pub const MAX_EXTENSION_BYTES: usize = 16;

/// The name of a file whose given name had nothing left (or that was given none).
pub const FALLBACK: &str = "file";

/// `given`, as the rule in the module's docs makes it.
pub fn sanitised(given: &str) -> String {
    let normal: Vec<char> = given.nfc().collect();
    let kept: String = normal
        .iter()
        .enumerate()
        .filter(|&(i, &c)| match c.general_category() {
            GeneralCategory::Control
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator => false,
            GeneralCategory::Format => crate::names::in_emoji_sequence(&normal, i),
            _ => true,
        })
        .map(|(_, &c)| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    let trimmed = kept.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let name = shortened(trimmed);
    if name.is_empty() {
        FALLBACK.to_owned()
    } else {
        name
    }
}

/// `name` within [`MAX_BYTES`], its short extension kept.
fn shortened(name: &str) -> String {
    if name.len() <= MAX_BYTES {
        return name.to_owned();
    }
    let extension = name
        .rfind('.')
        .filter(|&dot| dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES + 1)
        .map_or("", |dot| &name[dot..]);
    let room = MAX_BYTES - extension.len();
    let cut = (0..=room)
        .rev()
        .find(|&i| name.is_char_boundary(i))
        .unwrap_or(0);
    let stem = name[..cut].trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{stem}{extension}")
}

/// `name` in ASCII, for the `filename=` of a `Content-Disposition` that old clients read
/// (new ones read `filename*`, in UTF-8): every other character is `_`.
pub fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_names_and_emoji_are_kept_and_made_nfc() {
        assert_eq!(sanitised("회의록 2026-12.pdf"), "회의록 2026-12.pdf");
        // The jamo of 한 (as macOS file systems keep it) become the syllable.
        assert_eq!(sanitised("\u{1112}\u{1161}\u{11AB}.txt"), "한.txt");
        assert_eq!(sanitised("👩‍💻 notes.md"), "👩‍💻 notes.md");
    }

    #[test]
    fn paths_and_reserved_characters_are_not_names() {
        assert_eq!(sanitised("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitised("C:\\Users\\a\\x.exe"), "C__Users_a_x.exe");
        assert_eq!(sanitised("a\"b<c>d|e?f*g"), "a_b_c_d_e_f_g");
        assert_eq!(sanitised(".hidden"), "hidden");
        assert_eq!(sanitised(" name. "), "name");
    }

    #[test]
    fn control_and_direction_characters_are_dropped() {
        assert_eq!(sanitised("evil\u{202E}fdp.exe"), "evilfdp.exe");
        assert_eq!(sanitised("a\u{2066}b\u{2069}\u{200B}c.txt"), "abc.txt");
        assert_eq!(
            sanitised("line\r\nbreak\u{0}\u{7f}\u{85}\u{2028}.log"),
            "linebreak.log"
        );
    }

    #[test]
    fn a_name_is_never_empty() {
        for given in ["", "   ", "..", "/", "\u{202E}", "\u{0}\u{1}"] {
            let name = sanitised(given);
            assert!(!name.is_empty(), "{given:?}");
            assert!(name == FALLBACK || name == "_", "{given:?} -> {name:?}");
        }
    }

    #[test]
    fn long_names_are_cut_before_their_extension() {
        let name = sanitised(&format!("{}.pdf", "가".repeat(100)));
        assert!(name.len() <= MAX_BYTES, "{}", name.len());
        assert!(name.ends_with("가.pdf"), "{name}");
        let name = sanitised(&"x".repeat(400));
        assert_eq!(name.len(), MAX_BYTES);
        // An "extension" too long to be one is cut like the rest.
        let name = sanitised(&format!("a.{}", "y".repeat(300)));
        assert_eq!(name.len(), MAX_BYTES);
    }

    #[test]
    fn the_ascii_fallback_is_ascii() {
        assert_eq!(ascii_fallback("회의 notes.pdf"), "__ notes.pdf");
    }
}
