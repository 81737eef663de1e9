//! What a page says of itself, read from the start of its HTML: `og:title`, `og:description`,
//! `og:image`, else `<title>` and `<meta name="description">`.
//!
//! A bounded scan of the `<head>` rather than an HTML parser crate: everything wanted is in
//! `<meta>` attributes and the `<title>` text, which a tag scanner reads exactly; a full
//! parser (html5ever and its tree) would add a large dependency to read four strings, and a
//! tree we never walk. The scan is linear in the (already capped) body, stops at `<body` or
//! `</head>`, skips comments, scripts and styles, and never allocates more than the strings
//! it returns. Entities: the five named ones, `&nbsp;` and numeric references; others stay
//! as written (a title reads a little odd, nothing more).

/// What was found (raw: [`clean`] makes it fit to show).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// `og:title`, else the `<title>` text.
    pub title: Option<String>,
    /// `og:description`, else `<meta name="description">`.
    pub description: Option<String>,
    /// `og:image` (as written: relative to the page, perhaps).
    pub image: Option<String>,
}

/// Reads `html`'s head.
pub fn read_head(html: &str) -> Head {
    let (mut og_title, mut title, mut og_description, mut description, mut image) =
        (None, None, None, None, None);
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    // Every round moves `at` forward: the loop ends.
    while let Some(found) = lower[at..].find('<') {
        let start = at + found;
        let rest = &lower[start + 1..];
        if rest.starts_with("!--") {
            at = lower[start..]
                .find("-->")
                .map_or(lower.len(), |end| start + end + 3);
            continue;
        }
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '!' || c == '?'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let tag_end = lower[start..]
            .find('>')
            .map_or(lower.len(), |end| start + end);
        match name {
            "body" | "/head" => break,
            "meta" => {
                let attributes = attributes(&html[start + 1 + name_len..tag_end]);
                let get = |key: &str| {
                    attributes
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(key))
                        .map(|(_, value)| value.as_str())
                };
                let content = get("content").map(decode);
                let kind = get("property")
                    .or_else(|| get("name"))
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let slot = match kind.as_str() {
                    "og:title" => &mut og_title,
                    "og:description" => &mut og_description,
                    "description" => &mut description,
                    "og:image" | "og:image:url" | "og:image:secure_url" => &mut image,
                    _ => &mut None,
                };
                if slot.is_none() {
                    *slot = content;
                }
            }
            "title" => {
                let text_start = (tag_end + 1).min(html.len());
                let text_end = lower[text_start..]
                    .find("</title")
                    .map_or(lower.len(), |end| text_start + end);
                if title.is_none() {
                    title = Some(decode(&html[text_start..text_end]));
                }
                at = text_end;
                continue;
            }
            "script" | "style" => {
                let close = if name == "script" {
                    "</script"
                } else {
                    "</style"
                };
                at = lower[tag_end.min(lower.len())..]
                    .find(close)
                    .map_or(lower.len(), |end| tag_end + end);
                continue;
            }
            _ => {}
        }
        at = (tag_end + 1).min(lower.len());
    }
    Head {
        title: og_title.or(title),
        description: og_description.or(description),
        image,
    }
}

/// A tag's attributes (after its name, up to its `>`), names as written, values raw.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    // Every round consumes at least one character: the loop ends.
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            return out;
        }
        let name_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len())
            .max(1);
        let name = &rest[..name_end];
        rest = rest[name_end..].trim_start();
        let Some(after) = rest.strip_prefix('=') else {
            out.push((name.to_owned(), String::new()));
            continue;
        };
        let after = after.trim_start();
        let (value, next) = match after.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let body = &after[1..];
                match body.find(quote) {
                    Some(end) => (&body[..end], &body[end + 1..]),
                    None => (body, ""),
                }
            }
            _ => {
                let end = after
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out.push((name.to_owned(), value.to_owned()));
        rest = next;
    }
}

/// `text` with its character references decoded (those listed in the module docs).
fn decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&end| end <= 10);
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` fit to show in a preview: control characters and bidirectional controls gone,
/// white space (line and paragraph separators included) collapsed to single spaces, trimmed,
/// and cut to `max` characters (the last being "…" when cut) at a character boundary.
pub fn clean(text: &str, max: usize) -> String {
    let kept: String = text
        .chars()
        .filter(|&c| {
            !matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
                && (c.is_whitespace() || !c.is_control())
        })
        .collect();
    // `split_whitespace` splits at every Unicode white space, line separators included.
    let joined = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    if max == 0 {
        return String::new();
    }
    match joined.char_indices().nth(max) {
        Some(_) => {
            let cut = joined
                .char_indices()
                .nth(max - 1)
                .map_or(joined.len(), |(at, _)| at);
            format!("{}…", joined[..cut].trim_end())
        }
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_graph_first_then_the_title_and_description() {
        let html = r#"<!doctype html><html><head>
            <meta charset="utf-8">
            <title>Plain &amp; simple</title>
            <meta name="description" content="the plain one">
            <META PROPERTY='og:title' CONTENT='The OG &quot;title&quot;'>
            <meta property=og:description content=unquoted>
            <meta content="/img/a.png" property="og:image" />
            </head><body><meta property="og:title" content="not in the head">"#;
        assert_eq!(
            read_head(html),
            Head {
                title: Some("The OG \"title\"".into()),
                description: Some("unquoted".into()),
                image: Some("/img/a.png".into()),
            }
        );
        let plain =
            "<head><title>Only &#x1F600; &#65;</title><meta name=Description content='d'></head>";
        assert_eq!(
            read_head(plain),
            Head {
                title: Some("Only 😀 A".into()),
                description: Some("d".into()),
                image: None,
            }
        );
    }

    #[test]
    fn comments_scripts_and_the_body_hide_nothing_they_should_not() {
        let html = r#"<head><!-- <meta property="og:title" content="commented"> -->
            <script>var s = '<meta property="og:title" content="scripted">';</script>
            <style>/* <title>styled</title> */</style>
            <title>real</title></head>
            <body><title>late</title>"#;
        assert_eq!(read_head(html).title.as_deref(), Some("real"));
        assert_eq!(read_head("<body><title>x</title>").title, None);
        // Unclosed everything: no panic, no endless loop.
        for broken in [
            "<",
            "<meta",
            "<meta content='x",
            "<title>t",
            "<!--",
            "<script>",
            "&#xFFFFFFFF;",
            "<meta a=>",
        ] {
            let _ = read_head(broken);
        }
    }

    #[test]
    fn cleaning_strips_controls_and_bidi_and_cuts_on_characters() {
        assert_eq!(clean("  a\u{202E}b\u{0007}\n\n c\u{2029}d  ", 50), "ab c d");
        assert_eq!(clean("가나다라마바", 4), "가나다…");
        assert_eq!(clean("abcd", 4), "abcd");
        assert_eq!(clean("ab cd", 3), "ab…");
        assert_eq!(clean("", 3), "");
        assert!(clean(&"😀".repeat(1000), 200).chars().count() == 200);
    }
}
