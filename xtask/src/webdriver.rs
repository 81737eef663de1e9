//! Drives Debian's Chromium through chromedriver with the W3C WebDriver protocol (JSON over
//! HTTP), for the end-to-end check of the served release app. Only the handful of commands that
//! check needs; the browser flags come from `frontend/webdriver.json`, shared with the
//! wasm-bindgen-test suite.

use std::{
    path::Path,
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};

use crate::{Result, http, tools, workspace_root};

/// The port in chromedriver's "ChromeDriver was started successfully on port N." line, or
/// in geckodriver's "... Listening on 127.0.0.1:N".
fn started_on_port(line: &str) -> Option<u16> {
    if let Some((_, rest)) = line.split_once("started successfully on port ") {
        return rest.trim_end_matches('.').trim().parse().ok();
    }
    line.split_once("Listening on ")?
        .1
        .trim()
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

/// The key W3C WebDriver uses for element references in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Which browser a [`Chrome`] session drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Debian's Chromium, through chromedriver.
    Chromium,
    /// Debian's Firefox ESR, through geckodriver (installed by the xtask).
    Firefox,
}

/// A WebDriver process (chromedriver or geckodriver) with one headless browser session. The
/// name is historical: it drives Firefox too ([`Chrome::start_with`]).
pub struct Chrome {
    driver: Child,
    addr: String,
    session: String,
    engine: Engine,
}

impl Chrome {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session.
    pub fn start() -> Result<Self> {
        Self::start_with(Engine::Chromium, None, &[])
    }

    /// The same, with the browser's languages set to `languages` (e.g. `ko-KR,ko`): what
    /// `navigator.languages` says, as a browser set up in that language would.
    pub fn start_in(languages: Option<&str>) -> Result<Self> {
        Self::start_with(Engine::Chromium, languages, &[])
    }

    /// A session of `engine`, optionally with the browser's languages set, and with `prefs`
    /// added to the browser's preferences.
    pub fn start_with(
        engine: Engine,
        languages: Option<&str>,
        prefs: &[(&str, Value)],
    ) -> Result<Self> {
        let (program, port_arg) = match engine {
            Engine::Chromium => (tools::CHROMEDRIVER.into(), "--port=0"),
            Engine::Firefox => (tools::ensure_geckodriver()?, "--port=0"),
        };
        // Port 0: the driver binds a free port itself and names it on stdout. (Choosing one
        // here by binding and dropping a listener would race with every other process.)
        let mut driver = tools::command(&program)
            .arg(port_arg)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", program.display()))?;
        let stdout = driver.stdout.take().ok_or("driver stdout not captured")?;
        let Some(port) = tools::await_stdout_line(stdout, started_on_port, Duration::from_secs(20))
        else {
            let _ = driver.kill();
            let _ = driver.wait();
            return Err(format!(
                "{} did not report its port within 20 s",
                program.display()
            ));
        };
        let mut chrome = Self {
            driver,
            addr: format!("127.0.0.1:{port}"),
            session: String::new(),
            engine,
        };
        chrome.wait_until_ready()?;
        let key = match engine {
            Engine::Chromium => "goog:chromeOptions",
            Engine::Firefox => "moz:firefoxOptions",
        };
        let mut options = browser_options(key)?;
        if engine == Engine::Chromium
            && let Some(args) = options.get_mut("args").and_then(Value::as_array_mut)
        {
            args.push("--window-size=1280,800".into());
            if let Some(languages) = languages {
                let first = languages.split(',').next().unwrap_or(languages);
                args.push(format!("--lang={first}").into());
            }
        }
        if let Some(options) = options.as_object_mut() {
            let all = options.entry("prefs").or_insert_with(|| json!({}));
            if let Some(languages) = languages {
                all["intl.accept_languages"] = languages.into();
            }
            for (name, value) in prefs {
                all[*name] = value.clone();
            }
        }
        // The implicit wait: a find waits (up to 10 s) for its element to appear, since the
        // app renders after asynchronous work (loading the wasm, asking the server how it
        // knows its users) rather than at the page's load event.
        let created = chrome.call(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                key: options,
                "timeouts": {"implicit": 10_000},
            }}}),
        )?;
        chrome.session = created["sessionId"]
            .as_str()
            .ok_or("the driver returned no session id")?
            .to_owned();
        if engine == Engine::Firefox {
            chrome.set_window_size(1280, 800)?;
        }
        Ok(chrome)
    }

    fn wait_until_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = self.call("GET", "/status", Value::Null)
                && status["ready"] == true
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready within 20 s".to_owned());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends one WebDriver command and returns its `value`, or the driver's error message.
    fn call(&self, method: &str, path: &str, body: Value) -> Result<Value> {
        let body = (!body.is_null()).then(|| body.to_string());
        let response = http::request(&self.addr, method, path, body.as_deref())?;
        let mut parsed: Value = serde_json::from_slice(&response.body)
            .map_err(|err| format!("chromedriver sent invalid JSON for {method} {path}: {err}"))?;
        let value = parsed["value"].take();
        if response.status == 200 {
            Ok(value)
        } else {
            Err(format!(
                "WebDriver {method} {path} failed ({}): {}",
                response.status,
                value["message"].as_str().unwrap_or("no message")
            ))
        }
    }

    fn session_call(&self, method: &str, path: &str, body: Value) -> Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// The browser this session drives.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Opens `url` in the tab.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.session_call("POST", "/url", json!({ "url": url }))
            .map(drop)
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    pub fn script(&self, script: &str) -> Result<Value> {
        self.session_call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Runs `script` as an asynchronous function body: its result is what it passes to the
    /// callback that comes as its last argument (`arguments[arguments.length - 1]`).
    pub fn script_async(&self, script: &str) -> Result<Value> {
        self.session_call(
            "POST",
            "/execute/async",
            json!({"script": script, "args": []}),
        )
    }

    /// Polls `script` every 50 ms until it returns `true`, for at most `timeout`.
    pub fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            // A poll that throws (an element missing for a moment) says which wait it was.
            let done = self
                .script(script)
                .map_err(|err| format!("while waiting until {what}: {err}"))?;
            if done == true {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out after {timeout:?} waiting until {what}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The WebDriver reference of the element matching the CSS `selector`.
    pub fn find(&self, selector: &str) -> Result<String> {
        let found = self.session_call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": selector}),
        )?;
        found[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no element reference for {selector}: {found}"))
    }

    /// Types `text` into the element, as a user would.
    pub fn type_into(&self, element: &str, text: &str) -> Result<()> {
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .map(drop)
    }

    /// Clicks the element.
    pub fn click(&self, element: &str) -> Result<()> {
        self.session_call("POST", &format!("/element/{element}/click"), json!({}))
            .map(drop)
    }

    /// Presses and releases each key of `keys` in turn on whatever has the focus, through
    /// WebDriver's keyboard input source only (no pointer). Special keys are WebDriver's code
    /// points: U+E004 Tab, U+E007 Enter, U+E008 Shift (held until the end of `keys`).
    pub fn press(&self, keys: &str) -> Result<()> {
        let mut actions = Vec::new();
        let mut shift = false;
        for key in keys.chars() {
            let value = key.to_string();
            if key == '\u{E008}' {
                shift = true;
                actions.push(json!({"type": "keyDown", "value": value}));
                continue;
            }
            actions.push(json!({"type": "keyDown", "value": value}));
            actions.push(json!({"type": "keyUp", "value": value}));
        }
        if shift {
            actions.push(json!({"type": "keyUp", "value": "\u{E008}"}));
        }
        self.session_call(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .map(drop)
    }

    /// Presses Tab (Shift+Tab if `backwards`) until `is_target`, a script expression about
    /// `document.activeElement` (named `el`), holds: at most `max` presses.
    pub fn tab_to(&self, is_target: &str, backwards: bool, max: usize) -> Result<()> {
        let check = format!("const el = document.activeElement; return !!el && ({is_target});");
        let key = if backwards {
            "\u{E008}\u{E004}"
        } else {
            "\u{E004}"
        };
        for _ in 0..max {
            if self.script(&check)? == true {
                return Ok(());
            }
            self.press(key)?;
        }
        Err(format!("{max} presses of Tab did not reach {is_target}"))
    }

    /// Resizes the window (headless: the viewport) to `width` × `height` CSS pixels.
    pub fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.session_call(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .map(drop)
    }

    /// Runs the DevTools protocol command `cmd` with `params` on the page's target (Chromium
    /// only: chromedriver's `goog/cdp/execute`), and returns its result. No events come back.
    pub fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        if self.engine != Engine::Chromium {
            return Err(format!("{cmd}: DevTools commands need Chromium"));
        }
        self.session_call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    /// Makes the page see `prefers-color-scheme: dark` (or light) through the DevTools
    /// protocol, as a system in dark mode would. Chromium only: false (nothing done) in
    /// Firefox, whose WebDriver has no such command.
    pub fn prefer_dark(&self, dark: bool) -> Result<bool> {
        if self.engine != Engine::Chromium {
            return Ok(false);
        }
        let scheme = if dark { "dark" } else { "light" };
        self.session_call(
            "POST",
            "/goog/cdp/execute",
            json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            }),
        )
        .map(|_| true)
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let encoded = self.session_call("GET", "/screenshot", Value::Null)?;
        let png = BASE64
            .decode(encoded.as_str().ok_or("screenshot is not a string")?)
            .map_err(|err| format!("screenshot is not valid base64: {err}"))?;
        std::fs::write(path, png).map_err(|err| format!("cannot write {}: {err}", path.display()))
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Best effort: the driver is killed next either way.
            let _ = self.call("DELETE", &format!("/session/{}", self.session), Value::Null);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The browser's options (`goog:chromeOptions` or `moz:firefoxOptions`) from
/// `frontend/webdriver.json`.
fn browser_options(key: &str) -> Result<Value> {
    let path = workspace_root().join("frontend").join("webdriver.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let mut config: Value = serde_json::from_str(&text)
        .map_err(|err| format!("{} is not valid JSON: {err}", path.display()))?;
    match config[key].take() {
        Value::Null => Err(format!("{} has no {key}", path.display())),
        options => Ok(options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_chromedrivers_start_line() {
        assert_eq!(
            started_on_port("ChromeDriver was started successfully on port 33971."),
            Some(33971)
        );
        assert_eq!(started_on_port("Starting ChromeDriver 156 on port 0"), None);
        assert_eq!(
            started_on_port("1796109816706\tgeckodriver\tINFO\tListening on 127.0.0.1:32811"),
            Some(32811)
        );
    }
}
