//! How the release app looks and is used, checked through WebDriver: in Korean (desktop and
//! phone, light and dark), by keyboard only, and at phone size in both browsers.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use super::nothing_refused;
use crate::{Result, webdriver};

/// A browser set up in Korean gets the app in Korean (the page's language, the nickname
/// screen, the chat); the switch in the top bar turns it into English, and the choice
/// survives a reload. Screenshots of the Korean chat at both sizes, light and dark.
pub(super) fn language_check(base: &str, shots: &Path) -> Result<Vec<PathBuf>> {
    let korean = webdriver::Chrome::start_in(Some("ko-KR,ko"))?;
    korean.goto(base)?;
    korean.wait_for(
        "a Korean browser gets the nickname screen in Korean",
        "return document.documentElement.lang === 'ko' && document.title === '채팅' && \
           document.querySelector('[data-testid=nick-submit]')?.textContent === '채팅 시작';",
        Duration::from_secs(20),
    )?;
    korean.type_into(&korean.find("[data-testid=nick-input]")?, "민수")?;
    korean.click(&korean.find("[data-testid=nick-submit]")?)?;
    korean.wait_for(
        "the chat is in Korean",
        "const s = document.querySelector('[data-testid=status]'); \
         return !!s && s.textContent.includes('온라인') && \
           document.querySelector('[data-testid=composer-send]')?.textContent.trim() === '보내기';",
        Duration::from_secs(20),
    )?;
    korean.type_into(
        &korean.find("[data-testid=composer-input]")?,
        "한국어로 된 채팅입니다\u{E007}",
    )?;
    korean.wait_for(
        "the Korean user's message is sent",
        "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')] \
           .some(l => l.textContent.includes('한국어로 된 채팅입니다'));",
        Duration::from_secs(10),
    )?;
    let mut taken = Vec::new();
    for (width, height, size) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        korean.set_window_size(width, height)?;
        for dark in [false, true] {
            if !korean.prefer_dark(dark)? {
                return Err("the Korean check needs Chromium (dark mode emulation)".into());
            }
            korean.wait_for(
                "the colour scheme applies",
                &format!("return matchMedia('(prefers-color-scheme: dark)').matches === {dark};"),
                Duration::from_secs(5),
            )?;
            let scheme = if dark { "dark" } else { "light" };
            let path = shots.join(format!("served-ko-{size}-{scheme}.png"));
            korean.screenshot(&path)?;
            taken.push(path);
        }
    }
    korean.click(&korean.find("[data-testid=lang-switch]")?)?;
    let english = "return document.documentElement.lang === 'en' && \
         document.querySelector('[data-testid=composer-send]')?.textContent.trim() === 'Send';";
    korean.wait_for(
        "the switch reloads the app in English",
        english,
        Duration::from_secs(20),
    )?;
    korean.goto(base)?;
    korean.wait_for(
        "English is kept across a reload",
        english,
        Duration::from_secs(20),
    )?;
    Ok(taken)
}

/// Waits until the conversation titled `title` is shown and the drawer `panel` has closed.
fn shown_with_drawer_closed(chrome: &webdriver::Chrome, title: &str, panel: &str) -> Result<()> {
    chrome.wait_for(
        &format!("{title} is shown and the drawer {panel} closed"),
        &format!(
            "return document.querySelector('[data-testid=conversation-title]')?.textContent \
               === {title:?} \
             && getComputedStyle(document.querySelector({panel:?})).visibility === 'hidden';"
        ),
        Duration::from_secs(10),
    )
}

/// Types `text` into the composer with Enter and waits until it is shown as sent.
fn send_and_see_sent(chrome: &webdriver::Chrome, text: &str) -> Result<()> {
    chrome.type_into(
        &chrome.find("[data-testid=composer-input]")?,
        &format!("{text}\u{E007}"),
    )?;
    chrome.wait_for(
        &format!("{text:?} is shown as sent"),
        &format!(
            "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')]\
             .some(l => l.textContent.includes({text:?}));"
        ),
        Duration::from_secs(10),
    )
}

/// Opens a drawer with its header button and waits until it is in place (it slides in).
fn open_drawer(chrome: &webdriver::Chrome, toggle: &str, panel: &str) -> Result<()> {
    chrome.click(&chrome.find(&format!("[data-testid={toggle}]"))?)?;
    chrome.wait_for(
        &format!("the drawer {panel} is open"),
        &format!(
            "const p = document.querySelector({panel:?}); const r = p.getBoundingClientRect(); \
             return getComputedStyle(p).visibility === 'visible' && r.left >= 0 \
               && r.right <= window.innerWidth;"
        ),
        Duration::from_secs(5),
    )
}

/// Clicks, through WebDriver (so it must be visible and not covered), the first element
/// matching `selector` whose text contains `text`.
fn click_text(chrome: &webdriver::Chrome, selector: &str, text: &str) -> Result<()> {
    chrome.wait_for(
        &format!("an element {selector} with {text:?} to click"),
        &format!(
            "document.querySelectorAll('[data-pick]').forEach(e => e.removeAttribute('data-pick')); \
             const e = [...document.querySelectorAll({selector:?})] \
               .find(e => e.textContent.includes({text:?})); \
             if (e) e.setAttribute('data-pick', ''); return !!e;"
        ),
        Duration::from_secs(10),
    )?;
    chrome.click(&chrome.find("[data-pick]")?).map_err(|err| {
        // What was where: the picked element's list, each item with its box.
        let layout = chrome.script(
            "const e = document.querySelector('[data-pick]'); \
             const list = e && (e.closest('ul') || e.parentElement); \
             return list ? [...list.children].map(c => { const r = c.getBoundingClientRect(); \
               return `${c.outerHTML.slice(0, 300)} at x=${r.x} y=${r.y} ${r.width}x${r.height}`; \
             }).join('\\n') : 'nothing picked';",
        );
        format!(
            "{err}\nthe items around it:\n{}",
            layout.map_or_else(|e| e, |v| v.as_str().unwrap_or_default().to_owned())
        )
    })
}

/// A third person uses the chat with the keyboard only, from the nickname screen: picks a
/// nickname, creates a room and writes in it, then writes a direct message to `peer` (who
/// joins that room), reaching every field and button with Tab. No pointer event reaches the
/// page (counted by a listener).
pub(super) fn keyboard_only_check(base: &str, peer: &webdriver::Chrome) -> Result<()> {
    let keys = webdriver::Chrome::start()?;
    keys.goto(base)?;
    keys.find("[data-testid=nick-input]")?;
    keys.script(
        "window.pointerEvents = 0; \
         for (const kind of ['pointerdown', 'mousedown', 'touchstart']) \
           addEventListener(kind, () => window.pointerEvents++, true); \
         return true;",
    )?;
    let testid = |id: &str| format!("el.dataset.testid === '{id}'");
    keys.tab_to(&testid("nick-input"), false, 20)?;
    keys.press("Kim\u{E007}")?;
    keys.wait_for(
        "Kim is in the chat",
        "return !!document.querySelector('[data-testid=composer-input]');",
        Duration::from_secs(20),
    )?;
    keys.tab_to(&testid("join-input"), false, 40)?;
    keys.press("keys\u{E007}")?;
    keys.wait_for(
        "the new room is open",
        "return document.querySelector('[data-testid=conversation-title]')?.textContent \
           === '# keys';",
        Duration::from_secs(10),
    )?;
    keys.tab_to(&testid("composer-input"), false, 40)?;
    keys.press("typed without a mouse\u{E007}")?;
    keys.wait_for(
        "the room message is sent",
        "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')] \
           .some(l => l.textContent.includes('typed without a mouse'));",
        Duration::from_secs(10),
    )?;
    // The peer comes in, so that Kim can pick Alice among the room's members.
    peer.type_into(&peer.find("[data-testid=join-input]")?, "keys\u{E007}")?;
    keys.wait_for(
        "Alice is among the members",
        "return [...document.querySelectorAll('button.member')] \
           .some(b => b.textContent.includes('Alice'));",
        Duration::from_secs(10),
    )?;
    keys.tab_to(
        "el.classList.contains('member') && el.textContent.includes('Alice')",
        false,
        40,
    )?;
    keys.press("\u{E007}")?;
    keys.wait_for(
        "the direct conversation is open",
        "return document.querySelector('[data-testid=conversation-title]')?.textContent \
           === '@ Alice';",
        Duration::from_secs(10),
    )?;
    // The composer comes before the members panel: back up to it.
    keys.tab_to(&testid("composer-input"), true, 40)?;
    keys.press("a direct one, by keyboard\u{E007}")?;
    // Alice (with a pointer: she is not the one under test) opens it and reads it.
    peer.wait_for(
        "Alice's sidebar lists the direct conversation with Kim",
        "const b = [...document.querySelectorAll('.sidebar button.room')] \
           .find(b => b.textContent.includes('Kim')); \
         if (b) b.click(); return !!b;",
        Duration::from_secs(10),
    )?;
    peer.wait_for(
        "Alice reads Kim's direct message",
        "return [...document.querySelectorAll('[data-testid=line]')] \
           .some(l => l.textContent.includes('a direct one, by keyboard'));",
        Duration::from_secs(10),
    )?;
    let pointer = keys.script("return window.pointerEvents;")?;
    if pointer != 0 {
        return Err(format!(
            "the keyboard-only check caused {pointer} pointer events"
        ));
    }
    Ok(())
}

/// The chat at a phone's size (390 × 844): nothing is wider than the viewport, the composer
/// spans at least 80 % of it, the room list is a drawer that opens from the header and closes
/// once a room is picked; a room message, a direct message (to a member picked in the members
/// drawer), a rename, and the history after a reload. Screenshots in light and dark.
pub(super) fn phone_layout_check(
    chrome: &webdriver::Chrome,
    base: &str,
    shots: &Path,
    renamed: &str,
    label: &str,
) -> Result<Vec<PathBuf>> {
    // CSS pixels in both browsers (Firefox's WebDriver sizes windows in them).
    let (width, height) = (390, 844);
    chrome.set_window_size(width, height)?;
    let narrowest = match chrome.engine() {
        webdriver::Engine::Chromium => 400,
        webdriver::Engine::Firefox => 500,
    };
    chrome
        .wait_for(
            "the viewport is phone-sized",
            &format!("return window.innerWidth <= {narrowest};"),
            Duration::from_secs(10),
        )
        .map_err(|err| {
            let seen = chrome.script(
                "return [window.innerWidth, window.innerHeight, window.devicePixelRatio, \
                   window.outerWidth, screen.width];",
            );
            format!("{err} (asked for {width} x {height}; inner, ratio, outer, screen: {seen:?})")
        })?;
    let fits = chrome.script(
        "const w = window.innerWidth; \
         const wide = [...document.querySelectorAll('body *')] \
           .filter(e => e.getBoundingClientRect().width > w + 0.5) \
           .map(e => e.tagName + '.' + e.className); \
         const composer = document.querySelector('.chat-composer').getBoundingClientRect().width; \
         return {scroll: document.documentElement.scrollWidth, width: w, wide, composer};",
    )?;
    let width = fits["width"].as_f64().unwrap_or(0.0);
    if fits["scroll"].as_f64().unwrap_or(f64::MAX) > width
        || fits["wide"].as_array().is_none_or(|wide| !wide.is_empty())
    {
        return Err(format!(
            "at 390 px something is wider than the viewport: {fits}"
        ));
    }
    if fits["composer"].as_f64().unwrap_or(0.0) < 0.8 * width {
        return Err(format!(
            "at 390 px the composer is under 80 % of the width: {fits}"
        ));
    }
    let sidebar_shown = "const r = document.querySelector('.sidebar').getBoundingClientRect(); \
         return getComputedStyle(document.querySelector('.sidebar')).visibility === 'visible' \
           && r.left >= 0 && r.right <= window.innerWidth;";
    // The resize from a wide window slides the room list out (0.2 s): it must be gone once
    // that ends, before anything asks for it.
    chrome
        .wait_for(
            "the room list is out of the way",
            &format!("return !(() => {{ {sidebar_shown} }})();"),
            Duration::from_secs(5),
        )
        .map_err(|_| "at 390 px the room list covers the conversation before it is asked for")?;
    chrome.click(&chrome.find("[data-testid=open-rooms]")?)?;
    chrome.wait_for(
        "the room drawer opens",
        sidebar_shown,
        Duration::from_secs(5),
    )?;
    chrome.type_into(&chrome.find("[data-testid=join-input]")?, "phones\u{E007}")?;
    shown_with_drawer_closed(chrome, "# phones", ".sidebar")?;
    let text = "폰에서 보냈어요";
    send_and_see_sent(chrome, text)?;
    // A direct message: the room with Alice through the room drawer, Alice through the
    // members drawer.
    open_drawer(chrome, "open-rooms", ".sidebar")?;
    click_text(chrome, ".sidebar button.room", "lobby")?;
    shown_with_drawer_closed(chrome, "# lobby", ".sidebar")?;
    open_drawer(chrome, "open-members", ".members")?;
    click_text(chrome, ".members button.member", "Alice")?;
    shown_with_drawer_closed(chrome, "@ Alice", ".members")?;
    let direct = "폰에서 다이렉트";
    send_and_see_sent(chrome, direct)?;
    // A rename, from the room drawer.
    open_drawer(chrome, "open-rooms", ".sidebar")?;
    click_text(chrome, "[data-testid=me]", "")?;
    chrome.type_into(
        &chrome.find("[data-testid=rename-input]")?,
        &format!("\u{E009}a\u{E009}{renamed}\u{E007}"),
    )?;
    chrome.wait_for(
        "the new nickname is shown",
        &format!("return document.querySelector('[data-testid=me]')?.textContent === {renamed:?};"),
        Duration::from_secs(10),
    )?;
    if chrome.script("return Array.isArray(window.cspRefused);")? != serde_json::json!(true) {
        return Err("the phone-size check lost join_chat's watch on the page's CSP".into());
    }
    nothing_refused(chrome, "the chat at phone size")?;
    // History after a reload: the room written in at phone size shows its message again.
    chrome.goto(base)?;
    open_drawer(chrome, "open-rooms", ".sidebar")?;
    chrome.type_into(&chrome.find("[data-testid=join-input]")?, "phones\u{E007}")?;
    chrome.wait_for(
        "the reloaded page shows the message from history",
        &format!(
            "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')]\
             .some(l => l.textContent.includes({text:?}));"
        ),
        Duration::from_secs(20),
    )?;
    chrome.wait_for(
        "the room drawer has closed",
        "return getComputedStyle(document.querySelector('.sidebar')).visibility === 'hidden';",
        Duration::from_secs(10),
    )?;
    let light = shots.join(format!("served-phone{label}.png"));
    chrome.screenshot(&light)?;
    let mut taken = vec![light];
    if chrome.prefer_dark(true)? {
        chrome.wait_for(
            "the page follows the dark colour scheme",
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            Duration::from_secs(5),
        )?;
        let dark = shots.join(format!("served-phone{label}-dark.png"));
        chrome.screenshot(&dark)?;
        taken.push(dark);
    }
    Ok(taken)
}
