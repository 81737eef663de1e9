//! The one folding rule of search: what a message's text is indexed as and what a query is
//! matched as, so that "Café", "cafe" and "ＣＡＦＥ" are the same word and 회의 is found in
//! "내일회의는". Folded per character (compatibility forms, lower case, and for Latin, Greek
//! and Cyrillic letters their accents dropped), so that a match in the folded text maps
//! back to the original characters for highlighting.
//!
//! Accents are only dropped below U+2000 and in Latin Extended Additional: elsewhere a
//! combining mark is part of the letter (a Japanese dakuten makes ガ another kana than カ).

use unicode_normalization::{UnicodeNormalization as _, char::is_combining_mark};

/// `text` as the index and queries see it (see the module's docs).
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.nfc() {
        fold_char(c, &mut folded);
    }
    folded
}

/// `text` folded, with, for each byte of the folded text, where the original character it
/// comes from starts and ends in `text` (whose NFC form must be `text` itself: what the
/// server stores is normalized, and a search result's text is what was stored).
pub fn fold_mapped(text: &str) -> (String, Vec<(u32, u32)>) {
    let mut folded = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    for (start, c) in text.char_indices() {
        let before = folded.len();
        fold_char(c, &mut folded);
        let span = (start as u32, (start + c.len_utf8()) as u32);
        map.extend(std::iter::repeat_n(span, folded.len() - before));
    }
    (folded, map)
}

fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    // Hangul syllables and the common ideographs and kana fold to themselves (the bulk of
    // Korean, Chinese and Japanese text: no tables to look at).
    if ('\u{AC00}'..='\u{D7A3}').contains(&c)
        || ('\u{4E00}'..='\u{9FFF}').contains(&c)
        || ('\u{3041}'..='\u{3096}').contains(&c)
        || ('\u{30A1}'..='\u{30FA}').contains(&c)
    {
        out.push(c);
        return;
    }
    let accents_drop = c < '\u{2000}' || ('\u{1E00}'..='\u{1EFF}').contains(&c);
    let start = out.len();
    for d in std::iter::once(c).nfkd().flat_map(char::to_lowercase) {
        if !(accents_drop && is_combining_mark(d)) {
            out.push(d);
        }
    }
    // Recomposed: a decomposed Hangul syllable or kana with its mark is one character again.
    if out[start..].chars().count() > 1 {
        let composed: String = out[start..].nfc().collect();
        out.truncate(start);
        out.push_str(&composed);
    }
}

/// Whether `c` is written without spaces between words (Hangul, kana, Han): such text is
/// indexed by each character and each pair, so one- and two-character queries find it.
pub fn is_unspaced(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'
        | '\u{3040}'..='\u{30FF}'
        | '\u{3130}'..='\u{318F}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{AC00}'..='\u{D7A3}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FF66}'..='\u{FF9F}'
        | '\u{20000}'..='\u{2FA1F}')
}

/// The folded text as the short-word index reads it: words as they are, and each run of
/// unspaced script spelled out as its characters and pairs (`내일회` → `내 내일 일 일회 회`),
/// each its own token. One- and two-character queries are looked up there; longer ones in
/// the trigram index.
pub fn short_tokens(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len() * 3);
    let mut previous: Option<char> = None;
    for c in folded.chars() {
        if is_unspaced(c) {
            out.push(' ');
            if let Some(p) = previous {
                out.push(p);
                out.push(c);
                out.push(' ');
            }
            out.push(c);
            previous = Some(c);
        } else {
            if previous.take().is_some() {
                out.push(' ');
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_width_and_latin_accents_fold_and_cjk_stays() {
        assert_eq!(fold("Café ÉTÉ"), "cafe ete");
        assert_eq!(fold("ＣＯＮＦＩＧ ﬁle"), "config file");
        assert_eq!(fold("내일회의는 3시"), "내일회의는 3시");
        assert_eq!(
            fold("ガス カス"),
            "ガス カス",
            "the dakuten is part of the kana"
        );
        // Half-width kana are the same kana (a half-width voiced mark stays a mark of its
        // own: folded per character, it cannot join the kana before it).
        assert_eq!(fold("ｶｽ"), "カス");
        assert_eq!(fold("Straße İstanbul"), "straße istanbul");
        // Decomposed Hangul (as some systems send it) is the same syllable.
        assert_eq!(fold("\u{1112}\u{1161}\u{11AB}"), "한");
    }

    #[test]
    fn each_folded_byte_maps_back_to_its_character() {
        let text = "Ｃafé 회의";
        let (folded, map) = fold_mapped(text);
        assert_eq!(folded, "cafe 회의");
        let start = folded.find("회의").unwrap();
        let (from, _) = map[start];
        let (_, to) = map[start + "회의".len() - 1];
        assert_eq!(&text[from as usize..to as usize], "회의");
        let (from, to) = (map[0].0, map[0].1);
        assert_eq!(&text[from as usize..to as usize], "Ｃ");
    }

    #[test]
    fn unspaced_runs_are_spelled_as_characters_and_pairs() {
        let tokens = short_tokens("내일회의는 3시 ok");
        let tokens: Vec<&str> = tokens.split_whitespace().collect();
        assert_eq!(
            tokens,
            [
                "내", "내일", "일", "일회", "회", "회의", "의", "의는", "는", "3", "시", "ok"
            ]
        );
    }
}
