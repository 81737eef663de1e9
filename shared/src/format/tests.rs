//! Golden cases: texts and their trees. Most trees are written in a compact HTML-like form
//! ([`html`]: one tag per node, text escaped as CommonMark's examples escape it, so cases
//! taken from the CommonMark and GFM specs read like theirs); a few are spelled out as values.

use super::{Block, Inline, format};

/// The tree of `text` in tags: `<p>`, `<pre info="..">`, `<blockquote>`, `<ul>`/`<ol
/// start=N>` with `<li>`, `<em>`, `<strong>`, `<del>`, `<code>`, `<a href="..">`,
/// `<@name>` for a mention, `<br>`.
fn html(text: &str) -> String {
    let mut out = String::new();
    blocks(&format(text), &mut out);
    out
}

fn blocks(blocks: &[Block], out: &mut String) {
    for block in blocks {
        match block {
            Block::Paragraph(inlines) => {
                out.push_str("<p>");
                self::inlines(inlines, out);
                out.push_str("</p>");
            }
            Block::CodeBlock { info, text } => {
                out.push_str(&format!("<pre info=\"{}\">", escape(info)));
                out.push_str(&escape(text));
                out.push_str("</pre>");
            }
            Block::Quote(inner) => {
                out.push_str("<blockquote>");
                self::blocks(inner, out);
                out.push_str("</blockquote>");
            }
            Block::List { start, items } => {
                let tag = match start {
                    None => "ul".to_owned(),
                    Some(start) => format!("ol start={start}"),
                };
                out.push_str(&format!("<{tag}>"));
                for item in items {
                    out.push_str("<li>");
                    self::blocks(item, out);
                    out.push_str("</li>");
                }
                out.push_str(if start.is_some() { "</ol>" } else { "</ul>" });
            }
        }
    }
}

fn inlines(inlines: &[Inline], out: &mut String) {
    for inline in inlines {
        let (tag, inner) = match inline {
            Inline::Text(text) => {
                out.push_str(&escape(text));
                continue;
            }
            Inline::Code(code) => {
                out.push_str(&format!("<code>{}</code>", escape(code)));
                continue;
            }
            Inline::Link { href, text } => {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape(href),
                    escape(text)
                ));
                continue;
            }
            Inline::Mention { name } => {
                out.push_str(&format!("<@{name}>"));
                continue;
            }
            Inline::LineBreak => {
                out.push_str("<br>");
                continue;
            }
            Inline::Emphasis(inner) => ("em", inner),
            Inline::Strong(inner) => ("strong", inner),
            Inline::Strike(inner) => ("del", inner),
        };
        out.push_str(&format!("<{tag}>"));
        self::inlines(inner, out);
        out.push_str(&format!("</{tag}>"));
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Asserts each text's tree, and that the tree keeps the formatter's promises.
fn cases(cases: &[(&str, &str)]) {
    for (text, tree) in cases {
        assert_eq!(html(text), *tree, "{text:?}");
        if let Err(broken) = crate::checks::format_holds(text) {
            panic!("{broken}: {text:?}");
        }
    }
}

fn text(text: &str) -> Inline {
    Inline::Text(text.to_owned())
}

#[test]
fn the_tree_as_values() {
    assert_eq!(
        format("Hi @Ann, see https://example.com/a_(b).\n**bold** `code`"),
        [Block::Paragraph(vec![
            text("Hi "),
            Inline::Mention {
                name: "Ann".to_owned()
            },
            text(", see "),
            Inline::Link {
                href: "https://example.com/a_(b)".to_owned(),
                text: "https://example.com/a_(b)".to_owned(),
            },
            text("."),
            Inline::LineBreak,
            Inline::Strong(vec![text("bold")]),
            text(" "),
            Inline::Code("code".to_owned()),
        ])]
    );
    assert_eq!(
        format("```rust\nlet x = 1;\n```\n> *quoted*\n\n3. a\n4. b"),
        [
            Block::CodeBlock {
                info: "rust".to_owned(),
                text: "let x = 1;".to_owned(),
            },
            Block::Quote(vec![Block::Paragraph(vec![Inline::Emphasis(vec![text(
                "quoted"
            )])])]),
            Block::List {
                start: Some(3),
                items: vec![
                    vec![Block::Paragraph(vec![text("a")])],
                    vec![Block::Paragraph(vec![text("b")])],
                ],
            },
        ]
    );
    assert_eq!(
        format("- ~~done~~\n-"),
        [Block::List {
            start: None,
            items: vec![
                vec![Block::Paragraph(vec![Inline::Strike(vec![text("done")])])],
                vec![],
            ],
        }]
    );
    assert_eq!(format(""), []);
    assert_eq!(format(" \n\t\n"), []);
}

/// CommonMark 0.31's emphasis examples (those without links, HTML or escapes), and the
/// tricky pairs.
#[test]
fn emphasis_and_strong_follow_commonmark() {
    cases(&[
        ("*foo bar*", "<p><em>foo bar</em></p>"),
        ("a * foo bar*", "<p>a * foo bar*</p>"),
        ("a*\"foo\"*", "<p>a*&quot;foo&quot;*</p>"),
        ("foo*bar*", "<p>foo<em>bar</em></p>"),
        ("5*6*78", "<p>5<em>6</em>78</p>"),
        ("_foo bar_", "<p><em>foo bar</em></p>"),
        ("_ foo bar_", "<p>_ foo bar_</p>"),
        ("a_\"foo\"_", "<p>a_&quot;foo&quot;_</p>"),
        ("foo_bar_", "<p>foo_bar_</p>"),
        ("5_6_78", "<p>5_6_78</p>"),
        ("пристаням_стремятся_", "<p>пристаням_стремятся_</p>"),
        ("aa_\"bb\"_cc", "<p>aa_&quot;bb&quot;_cc</p>"),
        ("foo-_(bar)_", "<p>foo-<em>(bar)</em></p>"),
        ("_foo*", "<p>_foo*</p>"),
        ("*foo bar *", "<p>*foo bar *</p>"),
        ("*(*foo)", "<p>*(*foo)</p>"),
        ("*(*foo*)*", "<p><em>(<em>foo</em>)</em></p>"),
        ("*foo*bar", "<p><em>foo</em>bar</p>"),
        ("_foo bar _", "<p>_foo bar _</p>"),
        ("_(_foo_)_", "<p><em>(<em>foo</em>)</em></p>"),
        ("_foo_bar", "<p>_foo_bar</p>"),
        ("_foo_bar_baz_", "<p><em>foo_bar_baz</em></p>"),
        ("_(bar)_.", "<p><em>(bar)</em>.</p>"),
        ("**foo bar**", "<p><strong>foo bar</strong></p>"),
        ("** foo bar**", "<p>** foo bar**</p>"),
        ("foo**bar**", "<p>foo<strong>bar</strong></p>"),
        ("__foo bar__", "<p><strong>foo bar</strong></p>"),
        ("__\nfoo bar__", "<p>__<br>foo bar__</p>"),
        ("foo__bar__", "<p>foo__bar__</p>"),
        (
            "__foo, __bar__, baz__",
            "<p><strong>foo, <strong>bar</strong>, baz</strong></p>",
        ),
        ("foo-__(bar)__", "<p>foo-<strong>(bar)</strong></p>"),
        ("**(**foo)", "<p>**(**foo)</p>"),
        ("*(**foo**)*", "<p><em>(<strong>foo</strong>)</em></p>"),
        (
            "**Gomphocarpus (*Gomphocarpus physocarpus*, syn.\n*Asclepias physocarpa*)**",
            "<p><strong>Gomphocarpus (<em>Gomphocarpus physocarpus</em>, syn.<br>\
             <em>Asclepias physocarpa</em>)</strong></p>",
        ),
        (
            "**foo \"*bar*\" foo**",
            "<p><strong>foo &quot;<em>bar</em>&quot; foo</strong></p>",
        ),
        ("**foo**bar", "<p><strong>foo</strong>bar</p>"),
        ("_(__foo__)_", "<p><em>(<strong>foo</strong>)</em></p>"),
        ("__foo__bar", "<p>__foo__bar</p>"),
        ("__foo__bar__baz__", "<p><strong>foo__bar__baz</strong></p>"),
        ("*foo\nbar*", "<p><em>foo<br>bar</em></p>"),
        (
            "_foo __bar__ baz_",
            "<p><em>foo <strong>bar</strong> baz</em></p>",
        ),
        ("_foo _bar_ baz_", "<p><em>foo <em>bar</em> baz</em></p>"),
        ("__foo_ bar_", "<p><em><em>foo</em> bar</em></p>"),
        ("*foo *bar**", "<p><em>foo <em>bar</em></em></p>"),
        (
            "*foo**bar**baz*",
            "<p><em>foo<strong>bar</strong>baz</em></p>",
        ),
        ("*foo**bar*", "<p><em>foo**bar</em></p>"),
        ("***foo** bar*", "<p><em><strong>foo</strong> bar</em></p>"),
        ("*foo **bar***", "<p><em>foo <strong>bar</strong></em></p>"),
        ("*foo**bar***", "<p><em>foo<strong>bar</strong></em></p>"),
        (
            "foo***bar***baz",
            "<p>foo<em><strong>bar</strong></em>baz</p>",
        ),
        (
            "foo******bar*********baz",
            "<p>foo<strong><strong><strong>bar</strong></strong></strong>***baz</p>",
        ),
        (
            "*foo **bar *baz* bim** bop*",
            "<p><em>foo <strong>bar <em>baz</em> bim</strong> bop</em></p>",
        ),
        (
            "** is not an empty emphasis",
            "<p>** is not an empty emphasis</p>",
        ),
        (
            "**** is not an empty strong",
            "<p>**** is not an empty strong</p>",
        ),
        ("foo ***", "<p>foo ***</p>"),
        ("foo *_*", "<p>foo <em>_</em></p>"),
        ("foo *****", "<p>foo *****</p>"),
        ("foo _*_", "<p>foo <em>*</em></p>"),
        // Runs of different lengths: the rest stays text.
        ("**foo*", "<p>*<em>foo</em></p>"),
        ("*foo**", "<p><em>foo</em>*</p>"),
        ("***foo**", "<p>*<strong>foo</strong></p>"),
        ("****foo*", "<p>***<em>foo</em></p>"),
        ("**foo***", "<p><strong>foo</strong>*</p>"),
        ("*foo****", "<p><em>foo</em>***</p>"),
        ("__foo_", "<p>_<em>foo</em></p>"),
        ("_foo__", "<p><em>foo</em>_</p>"),
        ("*_foo_*", "<p><em><em>foo</em></em></p>"),
        ("_*foo*_", "<p><em><em>foo</em></em></p>"),
        (
            "****foo****",
            "<p><strong><strong>foo</strong></strong></p>",
        ),
        (
            "______foo______",
            "<p><strong><strong><strong>foo</strong></strong></strong></p>",
        ),
        ("***foo***", "<p><em><strong>foo</strong></em></p>"),
        (
            "_____foo_____",
            "<p><em><strong><strong>foo</strong></strong></em></p>",
        ),
        ("*foo _bar* baz_", "<p><em>foo _bar</em> baz_</p>"),
        (
            "*foo __bar *baz bim__ bam*",
            "<p><em>foo <strong>bar *baz bim</strong> bam</em></p>",
        ),
        ("**foo **bar baz**", "<p>**foo <strong>bar baz</strong></p>"),
        ("*foo *bar baz*", "<p>*foo <em>bar baz</em></p>"),
        ("*a `*`*", "<p><em>a <code>*</code></em></p>"),
        ("_a `_`_", "<p><em>a <code>_</code></em></p>"),
        // No `[text](url)` links: the brackets are text, the URL is an autolink.
        (
            "*foo [bar](https://x.org)*",
            "<p><em>foo [bar](<a href=\"https://x.org\">https://x.org</a>)</em></p>",
        ),
        // No `_` emphasis within words.
        ("foo_bar_baz", "<p>foo_bar_baz</p>"),
        (
            "snake_case_name and _real_",
            "<p>snake_case_name and <em>real</em></p>",
        ),
    ]);
}

/// GFM's strikethrough, with runs of exactly two tildes.
#[test]
fn strikethrough_takes_two_tildes() {
    cases(&[
        ("~~Hi~~ Hello, world!", "<p><del>Hi</del> Hello, world!</p>"),
        (
            "~~strike **and** this~~",
            "<p><del>strike <strong>and</strong> this</del></p>",
        ),
        ("~one~ and ~~~three~~~", "<p>~one~ and ~~~three~~~</p>"),
        ("~~ not ~~", "<p>~~ not ~~</p>"),
        (
            "This ~~has a\n\nnew paragraph~~.",
            "<p>This ~~has a</p><p>new paragraph~~.</p>",
        ),
        ("~~a~~b~~c~~", "<p><del>a</del>b<del>c</del></p>"),
    ]);
}

/// CommonMark's code span examples (without escapes, links or HTML); a code span's line
/// breaks are kept, where CommonMark makes them spaces.
#[test]
fn code_spans_follow_commonmark() {
    cases(&[
        ("`foo`", "<p><code>foo</code></p>"),
        ("`` foo ` bar ``", "<p><code>foo ` bar</code></p>"),
        ("` `` `", "<p><code>``</code></p>"),
        ("`  ``  `", "<p><code> `` </code></p>"),
        ("` a`", "<p><code> a</code></p>"),
        ("` `\n`  `", "<p><code> </code><br><code>  </code></p>"),
        (
            "``\nfoo\nbar  \nbaz\n``",
            "<p><code>foo\nbar\nbaz</code></p>",
        ),
        ("`foo   bar \nbaz`", "<p><code>foo   bar\nbaz</code></p>"),
        ("`foo\\`bar`", "<p><code>foo\\</code>bar`</p>"),
        ("``foo`bar``", "<p><code>foo`bar</code></p>"),
        ("` foo `` bar `", "<p><code>foo `` bar</code></p>"),
        ("*foo`*`", "<p>*foo<code>*</code></p>"),
        (
            "`<a href=\"`\">`",
            "<p><code>&lt;a href=&quot;</code>&quot;&gt;`</p>",
        ),
        (
            "`<https://foo.bar.baz>`",
            "<p><code>&lt;https://foo.bar.baz&gt;</code></p>",
        ),
        ("```foo``", "<p>```foo``</p>"),
        ("`foo", "<p>`foo</p>"),
        ("`foo``bar``", "<p>`foo<code>bar</code></p>"),
        // The tricky one: two backticks around a code with one.
        ("`` `a` ``", "<p><code>`a`</code></p>"),
        // Nothing is formatted inside.
        (
            "`*a* **b** ~~c~~ @ann https://x.org`",
            "<p><code>*a* **b** ~~c~~ @ann https://x.org</code></p>",
        ),
    ]);
}

/// CommonMark's fenced code examples for backtick fences.
#[test]
fn fenced_code_follows_commonmark() {
    cases(&[
        ("```\n<\n >\n```", "<pre info=\"\">&lt;\n &gt;</pre>"),
        ("``\nfoo\n``", "<p><code>foo</code></p>"),
        ("```\naaa\n~~~\n```", "<pre info=\"\">aaa\n~~~</pre>"),
        ("````\naaa\n```\n``````", "<pre info=\"\">aaa\n```</pre>"),
        ("```", "<pre info=\"\"></pre>"),
        ("`````\n\n```\naaa", "<pre info=\"\">\n```\naaa</pre>"),
        (
            "> ```\n> aaa\n\nbbb",
            "<blockquote><pre info=\"\">aaa</pre></blockquote><p>bbb</p>",
        ),
        ("```\n\n  \n```", "<pre info=\"\">\n  </pre>"),
        (" ```\n aaa\naaa\n```", "<pre info=\"\">aaa\naaa</pre>"),
        (
            "  ```\naaa\n  aaa\naaa\n  ```",
            "<pre info=\"\">aaa\naaa\naaa</pre>",
        ),
        ("```\naaa\n  ```", "<pre info=\"\">aaa</pre>"),
        ("``` ```\naaa", "<p><code> </code><br>aaa</p>"),
        (
            "foo\n```\nbar\n```\nbaz",
            "<p>foo</p><pre info=\"\">bar</pre><p>baz</p>",
        ),
        (
            "```ruby\ndef foo(x)\n  return 3\nend\n```",
            "<pre info=\"ruby\">def foo(x)\n  return 3\nend</pre>",
        ),
        ("````;\n````", "<pre info=\";\"></pre>"),
        ("``` aa ```\nfoo", "<p><code>aa</code><br>foo</p>"),
        ("```\n``` aaa\n```", "<pre info=\"\">``` aaa</pre>"),
        // Unclosed: to the end of the message, or of its quote or list item.
        (
            "```\nunclosed\n\n*still code*",
            "<pre info=\"\">unclosed\n\n*still code*</pre>",
        ),
        (
            "> ```\n> open\nafter",
            "<blockquote><pre info=\"\">open</pre></blockquote><p>after</p>",
        ),
        // Verbatim: whitespace kept, nothing formatted, HTML is text.
        (
            "```html\n\t<b>*x*</b>  \n  @ann https://x.org\n```",
            "<pre info=\"html\">\t&lt;b&gt;*x*&lt;/b&gt;  \n  @ann https://x.org</pre>",
        ),
        // Tilde fences are not in the subset.
        ("~~~\ncode\n~~~", "<p>~~~<br>code<br>~~~</p>"),
    ]);
}

/// CommonMark's block quote examples, less laziness: a line without `>` ends the quote.
#[test]
fn block_quotes_follow_commonmark_without_laziness() {
    cases(&[
        (
            "> # Foo\n> bar\n> baz",
            "<blockquote><p># Foo<br>bar<br>baz</p></blockquote>",
        ),
        (
            "># Foo\n>bar\n> baz",
            "<blockquote><p># Foo<br>bar<br>baz</p></blockquote>",
        ),
        (
            "   > # Foo\n   > bar\n > baz",
            "<blockquote><p># Foo<br>bar<br>baz</p></blockquote>",
        ),
        // CommonMark would take `baz` into the quote (a lazy line); a chat answers it.
        (
            "> # Foo\n> bar\nbaz",
            "<blockquote><p># Foo<br>bar</p></blockquote><p>baz</p>",
        ),
        (
            "> foo\n---",
            "<blockquote><p>foo</p></blockquote><p>---</p>",
        ),
        (">", "<blockquote></blockquote>"),
        (">\n>  \n> ", "<blockquote></blockquote>"),
        (">\n> foo\n>  ", "<blockquote><p>foo</p></blockquote>"),
        (
            "> foo\n\n> bar",
            "<blockquote><p>foo</p></blockquote><blockquote><p>bar</p></blockquote>",
        ),
        ("> foo\n> bar", "<blockquote><p>foo<br>bar</p></blockquote>"),
        (
            "> foo\n>\n> bar",
            "<blockquote><p>foo</p><p>bar</p></blockquote>",
        ),
        (
            "foo\n> bar",
            "<p>foo</p><blockquote><p>bar</p></blockquote>",
        ),
        (
            "> aaa\n***\n> bbb",
            "<blockquote><p>aaa</p></blockquote><p>***</p><blockquote><p>bbb</p></blockquote>",
        ),
        (
            "> > > foo\n> > bar",
            "<blockquote><blockquote><blockquote><p>foo</p></blockquote><p>bar</p>\
             </blockquote></blockquote>",
        ),
        (
            ">>> foo\n> bar\n>>baz",
            "<blockquote><blockquote><blockquote><p>foo</p></blockquote></blockquote><p>bar</p>\
             <blockquote><p>baz</p></blockquote></blockquote>",
        ),
        (
            "> quoted\nmy answer",
            "<blockquote><p>quoted</p></blockquote><p>my answer</p>",
        ),
    ]);
}

/// CommonMark's list examples (bullets `-` and `*`, ordered `.` and `)`), less laziness and
/// indented code.
#[test]
fn lists_follow_commonmark_without_laziness() {
    cases(&[
        ("- one\n\n two", "<ul><li><p>one</p></li></ul><p>two</p>"),
        ("- one\n\n  two", "<ul><li><p>one</p><p>two</p></li></ul>"),
        (
            " -    one\n\n     two",
            "<ul><li><p>one</p></li></ul><p>two</p>",
        ),
        (
            " -    one\n\n      two",
            "<ul><li><p>one</p><p>two</p></li></ul>",
        ),
        (
            "   > > 1.  one\n>>\n>>     two",
            "<blockquote><blockquote><ol start=1><li><p>one</p><p>two</p></li></ol>\
             </blockquote></blockquote>",
        ),
        ("-one\n\n2.two", "<p>-one</p><p>2.two</p>"),
        ("- foo\n\n\n  bar", "<ul><li><p>foo</p><p>bar</p></li></ul>"),
        (
            "123456789. ok",
            "<ol start=123456789><li><p>ok</p></li></ol>",
        ),
        ("1234567890. not ok", "<p>1234567890. not ok</p>"),
        ("0. ok", "<ol start=0><li><p>ok</p></li></ol>"),
        ("003. ok", "<ol start=3><li><p>ok</p></li></ol>"),
        ("-1. not ok", "<p>-1. not ok</p>"),
        (
            "-\n  foo\n-\n  ```\n  bar\n  ```",
            "<ul><li><p>foo</p></li><li><pre info=\"\">bar</pre></li></ul>",
        ),
        ("-   \n  foo", "<ul><li><p>foo</p></li></ul>"),
        (
            "- foo\n-\n- bar",
            "<ul><li><p>foo</p></li><li></li><li><p>bar</p></li></ul>",
        ),
        (
            "1. foo\n2.\n3. bar",
            "<ol start=1><li><p>foo</p></li><li></li><li><p>bar</p></li></ol>",
        ),
        ("*", "<ul><li></li></ul>"),
        ("foo\n*", "<p>foo<br>*</p>"),
        ("foo\n1.", "<p>foo<br>1.</p>"),
        (
            "- foo\n- bar\n+ baz",
            "<ul><li><p>foo</p></li><li><p>bar</p></li></ul><p>+ baz</p>",
        ),
        (
            "1. foo\n2. bar\n3) baz",
            "<ol start=1><li><p>foo</p></li><li><p>bar</p></li></ol>\
             <ol start=3><li><p>baz</p></li></ol>",
        ),
        (
            "- a\n- b\n\n- c\n* d",
            "<ul><li><p>a</p></li><li><p>b</p></li><li><p>c</p></li></ul>\
             <ul><li><p>d</p></li></ul>",
        ),
        (
            "Foo\n- bar\n- baz",
            "<p>Foo</p><ul><li><p>bar</p></li><li><p>baz</p></li></ul>",
        ),
        (
            "The number of windows in my house is\n14.  The number of doors is 6.",
            "<p>The number of windows in my house is<br>14.  The number of doors is 6.</p>",
        ),
        (
            "The number of windows in my house is\n1.  The number of doors is 6.",
            "<p>The number of windows in my house is</p>\
             <ol start=1><li><p>The number of doors is 6.</p></li></ol>",
        ),
        (
            "- foo\n  - bar\n    - baz\n      - boo",
            "<ul><li><p>foo</p><ul><li><p>bar</p><ul><li><p>baz</p><ul><li><p>boo</p>\
             </li></ul></li></ul></li></ul></li></ul>",
        ),
        (
            "10) foo\n    - bar",
            "<ol start=10><li><p>foo</p><ul><li><p>bar</p></li></ul></li></ol>",
        ),
        ("- - foo", "<ul><li><ul><li><p>foo</p></li></ul></li></ul>"),
        (
            "1. - 2. foo",
            "<ol start=1><li><ul><li><ol start=2><li><p>foo</p></li></ol></li></ul></li></ol>",
        ),
        ("* a *", "<ul><li><p>a *</p></li></ul>"),
        (
            "- a\n  > b\n  ```\n  c\n  ```\n- d",
            "<ul><li><p>a</p><blockquote><p>b</p></blockquote><pre info=\"\">c</pre></li>\
             <li><p>d</p></li></ul>",
        ),
        // Not lazy: an unindented line ends the list.
        ("- item\nafter", "<ul><li><p>item</p></li></ul><p>after</p>"),
        ("in\n2024. we", "<p>in<br>2024. we</p>"),
    ]);
}

/// Links: GFM's extended autolinks for `http`, `https` and `mailto` only.
#[test]
fn only_http_https_and_mailto_make_links() {
    cases(&[
        (
            "https://example.com/a_(b)",
            "<p><a href=\"https://example.com/a_(b)\">https://example.com/a_(b)</a></p>",
        ),
        (
            "Visit https://encrypted.google.com/search?q=Markup+(business)",
            "<p>Visit <a href=\"https://encrypted.google.com/search?q=Markup+(business)\">\
             https://encrypted.google.com/search?q=Markup+(business)</a></p>",
        ),
        (
            "(https://www.google.com/search?q=Markup+(business))",
            "<p>(<a href=\"https://www.google.com/search?q=Markup+(business)\">\
             https://www.google.com/search?q=Markup+(business)</a>)</p>",
        ),
        (
            "https://www.google.com/search?q=(business))+ok",
            "<p><a href=\"https://www.google.com/search?q=(business))+ok\">\
             https://www.google.com/search?q=(business))+ok</a></p>",
        ),
        (
            "see http://a.org/x.y?z=1&w=2#h, then.",
            "<p>see <a href=\"http://a.org/x.y?z=1&amp;w=2#h\">http://a.org/x.y?z=1&amp;w=2#h</a>, \
             then.</p>",
        ),
        (
            "[https://a.org/x] and [https://a.org/[y]]",
            "<p>[<a href=\"https://a.org/x\">https://a.org/x</a>] and \
             [<a href=\"https://a.org/[y]\">https://a.org/[y]</a>]</p>",
        ),
        (
            "'https://a.org/!?' \"https://b.org\"",
            "<p>'<a href=\"https://a.org/\">https://a.org/</a>!?' \
             &quot;<a href=\"https://b.org\">https://b.org</a>&quot;</p>",
        ),
        (
            "HTTPS://EXAMPLE.COM",
            "<p><a href=\"HTTPS://EXAMPLE.COM\">HTTPS://EXAMPLE.COM</a></p>",
        ),
        (
            "mailto:foo@bar.example, MAILTO:A@B.C",
            "<p><a href=\"mailto:foo@bar.example\">mailto:foo@bar.example</a>, \
             <a href=\"MAILTO:A@B.C\">MAILTO:A@B.C</a></p>",
        ),
        (
            "**https://a.org** _https://b.org_",
            "<p><strong><a href=\"https://a.org\">https://a.org</a></strong> \
             <em><a href=\"https://b.org\">https://b.org</a></em></p>",
        ),
        (
            "https://a.org/@ann/foo_bar_baz",
            "<p><a href=\"https://a.org/@ann/foo_bar_baz\">https://a.org/@ann/foo_bar_baz</a></p>",
        ),
        (
            "https://a.org/`x`",
            "<p><a href=\"https://a.org/\">https://a.org/</a><code>x</code></p>",
        ),
        (
            "자세히는 https://ko.wikipedia.org/wiki/서울 참고",
            "<p>자세히는 <a href=\"https://ko.wikipedia.org/wiki/서울\">\
             https://ko.wikipedia.org/wiki/서울</a> 참고</p>",
        ),
        // `<...>` is not a link form: the brackets are text around a plain autolink.
        (
            "<https://foo.bar.baz>",
            "<p>&lt;<a href=\"https://foo.bar.baz\">https://foo.bar.baz</a>&gt;</p>",
        ),
        // Not links: no scheme but these three, nothing before them in a word, something
        // after them.
        ("www.commonmark.org", "<p>www.commonmark.org</p>"),
        (
            "xhttps://a.org 5http://a.org",
            "<p>xhttps://a.org 5http://a.org</p>",
        ),
        (
            "http:// https://. http:///x",
            "<p>http:// https://. http:///x</p>",
        ),
        // (`@x` is a mention, as `Text::mentions` reads it.)
        (
            "mailto:nobody mailto:@x",
            "<p>mailto:nobody mailto:<@x></p>",
        ),
        (
            "ftp://a.org file:///etc/passwd",
            "<p>ftp://a.org file:///etc/passwd</p>",
        ),
    ]);
}

#[test]
fn dangerous_urls_stay_text() {
    cases(&[
        (
            "<javascript:alert(1)>",
            "<p>&lt;javascript:alert(1)&gt;</p>",
        ),
        ("javascript:alert(1)", "<p>javascript:alert(1)</p>"),
        ("JaVaScRiPt:alert(1)", "<p>JaVaScRiPt:alert(1)</p>"),
        (" javascript:alert(1)", "<p>javascript:alert(1)</p>"),
        ("java\tscript:alert(1)", "<p>java\tscript:alert(1)</p>"),
        (
            "jav&#x09;ascript:alert(1)",
            "<p>jav&amp;#x09;ascript:alert(1)</p>",
        ),
        (
            "&#106;avascript:alert(1)",
            "<p>&amp;#106;avascript:alert(1)</p>",
        ),
        (
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "<p>data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==</p>",
        ),
        ("vbscript:msgbox(1)", "<p>vbscript:msgbox(1)</p>"),
        (
            "[click](javascript:alert(1))",
            "<p>[click](javascript:alert(1))</p>",
        ),
        (
            "<a href=\"javascript:alert(1)\">x</a>",
            "<p>&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;</p>",
        ),
        (
            "<img src=x onerror=alert(1)><script>alert(1)</script>",
            "<p>&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>",
        ),
        // An https link whose path says javascript is an https link.
        (
            "https://a.org/javascript:alert(1)",
            "<p><a href=\"https://a.org/javascript:alert(1)\">\
             https://a.org/javascript:alert(1)</a></p>",
        ),
        // A scheme glued to one is not at a word's start.
        (
            "javascript:https://a.org",
            "<p>javascript:<a href=\"https://a.org\">https://a.org</a></p>",
        ),
    ]);
}

#[test]
fn mentions_are_what_text_mentions_finds() {
    cases(&[
        ("@ann hi", "<p><@ann> hi</p>"),
        ("hi @Ann, @bob!", "<p>hi <@Ann>, <@bob>!</p>"),
        ("@김민수 님", "<p><@김민수> 님</p>"),
        ("@a_b-c.@ @", "<p><@a_b-c>.@ @</p>"),
        (
            "*@ann* **@bob**",
            "<p><em><@ann></em> <strong><@bob></strong></p>",
        ),
        // `_` belongs to names, so it closes nothing after one.
        ("_@ann_", "<p>_<@ann_></p>"),
        // The rule of `Text::mentions`: any `@` before a name.
        ("ann@example.com", "<p>ann<@example>.com</p>"),
        // Not in code or links.
        (
            "`@ann` https://a.org/@bob",
            "<p><code>@ann</code> <a href=\"https://a.org/@bob\">https://a.org/@bob</a></p>",
        ),
    ]);
    let text = crate::Text::try_from("hi @Ann, *@bob* and @김민수").unwrap();
    let shown: Vec<String> = match &format(text.as_str())[..] {
        [Block::Paragraph(inlines)] => inlines
            .iter()
            .flat_map(|inline| match inline {
                Inline::Mention { name } => vec![name.to_lowercase()],
                Inline::Emphasis(inner) => inner
                    .iter()
                    .filter_map(|inline| match inline {
                        Inline::Mention { name } => Some(name.to_lowercase()),
                        _ => None,
                    })
                    .collect(),
                _ => vec![],
            })
            .collect(),
        tree => panic!("{tree:?}"),
    };
    assert_eq!(shown, text.mentions());
}

#[test]
fn korean_and_emoji_are_kept() {
    cases(&[
        ("**강조**", "<p><strong>강조</strong></p>"),
        (
            "이건 **중요**합니다",
            "<p>이건 <strong>중요</strong>합니다</p>",
        ),
        (
            "_강조_ ~~취소~~ `코드`",
            "<p><em>강조</em> <del>취소</del> <code>코드</code></p>",
        ),
        ("한국어_밑줄_은 그대로", "<p>한국어_밑줄_은 그대로</p>"),
        ("👋 *hi* 🎉", "<p>👋 <em>hi</em> 🎉</p>"),
        ("*👋*", "<p><em>👋</em></p>"),
        ("a*👋*b", "<p>a*👋*b</p>"),
        ("👨‍👩‍👧 **가족** 🇰🇷", "<p>👨‍👩‍👧 <strong>가족</strong> 🇰🇷</p>"),
        (
            "- 하나\n- 둘",
            "<ul><li><p>하나</p></li><li><p>둘</p></li></ul>",
        ),
    ]);
}

#[test]
fn line_breaks_are_kept_and_html_is_text() {
    cases(&[
        ("line1\nline2\n\npara", "<p>line1<br>line2</p><p>para</p>"),
        ("a\r\nb\r\n\r\nc", "<p>a<br>b</p><p>c</p>"),
        ("a  \n  b", "<p>a<br>b</p>"),
        ("a\n\n\n\nb", "<p>a</p><p>b</p>"),
        (
            "<b>bold</b> &amp;",
            "<p>&lt;b&gt;bold&lt;/b&gt; &amp;amp;</p>",
        ),
        ("# not a heading\n---", "<p># not a heading<br>---</p>"),
        // No backslash escapes: the backslash is text, and so is what follows it.
        ("\\*not\\*", "<p>\\<em>not\\</em></p>"),
    ]);
}

#[test]
fn nesting_has_a_limit() {
    let deep = format!("{} x", ">".repeat(40));
    let tree = html(&deep);
    assert_eq!(tree.matches("<blockquote>").count(), super::MAX_NESTING);
    assert!(
        tree.contains(&format!(
            "<p>{} x</p>",
            "&gt;".repeat(40 - super::MAX_NESTING)
        )),
        "{tree}"
    );

    let deep = format!("{0}a{0}", "*".repeat(40));
    let strong = "<strong>".repeat(super::MAX_NESTING);
    let close = "</strong>".repeat(super::MAX_NESTING);
    assert_eq!(
        html(&deep),
        format!("<p>{strong}********a********{close}</p>")
    );

    let deep = "- ".repeat(40) + "x";
    assert_eq!(html(&deep).matches("<ul>").count(), super::MAX_NESTING);
    for text in [
        "*_".repeat(5_000) + "x" + &"_*".repeat(5_000),
        ">".repeat(60_000),
    ] {
        crate::checks::format_holds(&text).unwrap();
    }
}

/// Texts made to be slow for a careless parser: each must take about as long as any other
/// text of its length (a quadratic parser takes minutes here; this one milliseconds).
#[test]
fn hostile_texts_format_quickly() {
    let texts = [
        "*a ".repeat(20_000),
        "a* ".repeat(20_000),
        "*a _b ".repeat(10_000),
        "_a* ".repeat(20_000),
        "`".to_owned() + &"a``".repeat(20_000),
        (1..350).map(|n| "`".repeat(n) + "a").collect(),
        format!("https://a.org/{}", ")".repeat(60_000)),
        format!("https://a.org/{}", "(".repeat(60_000)),
        "- a\n".repeat(15_000),
        "> a\n".repeat(15_000),
        "-\n\n".repeat(20_000),
        format!("- a{}", "\n".repeat(60_000)),
        "  ".repeat(30_000) + "- a\n- b",
        "@a".repeat(30_000),
        "**a*".repeat(15_000),
        "~~a".repeat(20_000),
    ];
    let start = std::time::Instant::now();
    for text in &texts {
        crate::checks::format_holds(text).unwrap();
    }
    // Generous for a debug build on a busy machine: a quadratic pass takes far longer.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_first_link_is_the_first_http_link_shown() {
    use super::first_link;
    let cases: &[(&str, Option<&str>)] = &[
        ("see https://example.com/a.", Some("https://example.com/a")),
        ("mailto:a@b.c then http://x.org", Some("http://x.org")),
        (
            "`https://in.code` and HTTPS://Next.org!",
            Some("HTTPS://Next.org"),
        ),
        (
            "```\nhttps://fenced.org\n```\nhttp://after.org",
            Some("http://after.org"),
        ),
        (
            "> quoted https://q.org\n\n- item http://l.org",
            Some("https://q.org"),
        ),
        ("*look https://em.org*", Some("https://em.org")),
        ("1. first\n2. see http://l.org", Some("http://l.org")),
        ("javascript:alert(1) data:text/html,x", None),
        ("xhttps://glued.org", None),
        ("no links at all", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(first_link(text).as_deref(), *want, "{text:?}");
    }
}
