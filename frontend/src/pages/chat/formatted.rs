//! A message's text drawn formatted: the tree [`shared::format::format`] reads from it, made
//! into DOM nodes one element per node, with text only ever set as text (never as HTML).
//!
//! The elements are a fixed few: `p`, `br`, `em`, `strong`, `s`, `code`, `pre`,
//! `blockquote`, `ul`, `ol`, `li`, `a` (only for the links the formatter makes: `http`,
//! `https` and `mailto`, which open in a new tab with `rel="noopener noreferrer nofollow
//! ugc"`), `span.mention`, and a copy button on each code block (whose clicks the message
//! list handles, see [`copy_code`]: one listener for the whole list, none per block).
//!
//! Built with `web_sys` calls rather than `view!`: a recursive tree of views would need a
//! type-erased view per node, and weighs more in the wasm than these few calls.

use shared::format::{Block, Inline};
use wasm_bindgen::JsCast as _;
use web_sys::{Document, Element, Node};

/// The copy button's class: the message list's click handler looks for it.
const COPY_CLASS: &str = "copy-code";

/// Fills `el` with `text` formatted (a directive: `<div use:formatted=text/>`).
pub(super) fn formatted(el: Element, text: String) {
    let Some(doc) = el.owner_document() else {
        return;
    };
    match shared::format::format(&text).as_slice() {
        // Most messages are one paragraph: its content straight in the element, no `p` (one
        // node fewer per line, and the line's box is the text's as before formatting).
        [Block::Paragraph(content)] => inlines(&doc, &el, content),
        tree => blocks(&doc, &el, tree),
    }
}

/// A new element `tag` under `parent`, or `None` if the browser refused (never, in practice).
fn child(doc: &Document, parent: &Node, tag: &str) -> Option<Element> {
    let el = doc.create_element(tag).ok()?;
    parent.append_child(&el).ok()?;
    Some(el)
}

/// Text under `parent`.
fn text(doc: &Document, parent: &Node, text: &str) {
    let _ = parent.append_child(&doc.create_text_node(text));
}

fn blocks(doc: &Document, parent: &Node, list: &[Block]) {
    for block in list {
        match block {
            Block::Paragraph(content) => {
                if let Some(p) = child(doc, parent, "p") {
                    inlines(doc, &p, content);
                }
            }
            Block::CodeBlock { info, text: code } => {
                let Some(pre) = child(doc, parent, "pre") else {
                    continue;
                };
                let _ = pre.set_attribute("tabindex", "0");
                if let Some(el) = child(doc, &pre, "code") {
                    if !info.is_empty() {
                        let _ = el.set_attribute("data-lang", info);
                    }
                    text(doc, &el, code);
                }
                let w = crate::i18n::words();
                if let Some(button) = child(doc, parent, "button") {
                    let _ = button.set_attribute("type", "button");
                    let _ = button.set_attribute("class", COPY_CLASS);
                    let _ = button.set_attribute("data-testid", "copy-code");
                    text(doc, &button, w.copy_code);
                }
            }
            Block::Quote(content) => {
                if let Some(quote) = child(doc, parent, "blockquote") {
                    blocks(doc, &quote, content);
                }
            }
            Block::List { start, items } => {
                let Some(list) = child(doc, parent, if start.is_some() { "ol" } else { "ul" })
                else {
                    continue;
                };
                if let Some(start) = start.filter(|&n| n != 1) {
                    let _ = list.set_attribute("start", &start.to_string());
                }
                for item in items {
                    if let Some(li) = child(doc, &list, "li") {
                        blocks(doc, &li, item);
                    }
                }
            }
        }
    }
}

fn inlines(doc: &Document, parent: &Node, list: &[Inline]) {
    for inline in list {
        let (tag, content) = match inline {
            Inline::Text(t) => {
                text(doc, parent, t);
                continue;
            }
            Inline::LineBreak => {
                child(doc, parent, "br");
                continue;
            }
            Inline::Code(code) => {
                if let Some(el) = child(doc, parent, "code") {
                    text(doc, &el, code);
                }
                continue;
            }
            Inline::Link { href, text: shown } => {
                if let Some(a) = child(doc, parent, "a") {
                    // `href` is one the formatter made: http, https or mailto, nothing else.
                    let _ = a.set_attribute("href", href);
                    let _ = a.set_attribute("target", "_blank");
                    let _ = a.set_attribute("rel", "noopener noreferrer nofollow ugc");
                    text(doc, &a, shown);
                }
                continue;
            }
            Inline::Mention { name } => {
                if let Some(span) = child(doc, parent, "span") {
                    let _ = span.set_attribute("class", "mention");
                    text(doc, &span, &format!("@{name}"));
                }
                continue;
            }
            Inline::Emphasis(content) => ("em", content),
            Inline::Strong(content) => ("strong", content),
            Inline::Strike(content) => ("s", content),
        };
        if let Some(el) = child(doc, parent, tag) {
            inlines(doc, &el, content);
        }
    }
}

/// A click in the message list: if it was on a code block's copy button, copies the block's
/// text (the `pre` before the button) to the clipboard and says so on the button.
pub(super) fn copy_code(ev: &web_sys::MouseEvent) {
    let Some(button) = ev
        .target()
        .and_then(|t| t.dyn_into::<Element>().ok())
        .filter(|el| el.class_name() == COPY_CLASS)
    else {
        return;
    };
    let Some(code) = button
        .previous_element_sibling()
        .and_then(|pre| pre.text_content())
    else {
        return;
    };
    // `navigator.clipboard.writeText`, called through `Reflect`: web-sys's binding is behind
    // an unstable-API flag.
    let clipboard = web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| js_sys::Reflect::get(&n, &"clipboard".into()).ok())
        .filter(|c| !c.is_undefined());
    let Some(clipboard) = clipboard else {
        return;
    };
    let write = js_sys::Reflect::get(&clipboard, &"writeText".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let Some(written) = write
        .and_then(|write| write.call1(&clipboard, &code.into()).ok())
        .and_then(|promise| promise.dyn_into::<js_sys::Promise>().ok())
    else {
        return;
    };
    // Said once the browser has it (it may refuse: no focus, no permission).
    wasm_bindgen_futures::spawn_local(async move {
        if wasm_bindgen_futures::JsFuture::from(written).await.is_ok() {
            button.set_text_content(Some(crate::i18n::words().copied));
        }
    });
}
