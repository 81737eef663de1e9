//! `cargo xtask emoji`: writes the emoji picker's data, `frontend/emoji.json`, from the
//! `emojibase-data` npm package (Unicode CLDR names and keywords in English and Korean, and
//! GitHub's shortcodes), fetched with `npm pack` into a temporary directory.
//!
//! The file is committed: building or serving the app never needs npm. It is an asset of its
//! own, fetched by the app when the picker first opens (or a `:shortcode` is first typed),
//! never part of the wasm. Run this again to move to a newer emojibase release.
//!
//! Each entry is `[emoji, skin, shortcodes, english, korean]`, in CLDR's order: `skin` is 1
//! when the emoji takes a skin tone by the simple rule the app applies (the tone modifier
//! right after its first code point, a variation selector there dropped; checked here against
//! every tone emojibase lists, else 0), `shortcodes` are space-separated, and each language is
//! its name then its keywords, separated by `|`. Components (the tone and hair swatches) and
//! lone regional indicators are left out.

use std::process::Command;

use serde_json::{Value, json};

use crate::{Result, run, workspace_root};

/// The emojibase-data release the file is made from.
const RELEASE: &str = "emojibase-data@17.0.0";
/// emojibase's group of components (skin tones, hair styles): not emoji to pick.
const COMPONENT_GROUP: u64 = 2;

/// `emoji` with skin tone `modifier`, by the app's rule (see the module docs).
fn with_tone(emoji: &str, modifier: char) -> String {
    let mut chars = emoji.chars();
    let mut out: String = chars.next().into_iter().collect();
    out.push(modifier);
    let rest = chars.as_str();
    out.push_str(rest.strip_prefix('\u{fe0f}').unwrap_or(rest));
    out
}

/// The JSON file at `path` in the unpacked package.
fn read(dir: &std::path::Path, path: &str) -> Result<Value> {
    let text = std::fs::read_to_string(dir.join("package").join(path))
        .map_err(|e| format!("reading {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("parsing {path}: {e}"))
}

/// Name and keywords, `|`-separated.
fn words(entry: &Value) -> String {
    let mut words = vec![entry["label"].as_str().unwrap_or_default().to_owned()];
    if let Some(tags) = entry["tags"].as_array() {
        words.extend(tags.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    words.join("|")
}

/// Fetches the package, writes `frontend/emoji.json`.
pub fn emoji() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("emojibase-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    run(Command::new("npm")
        .args(["pack", RELEASE, "--silent"])
        .current_dir(&dir))?;
    let tarball = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(std::result::Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
        .ok_or("npm pack wrote no tarball")?;
    run(Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .current_dir(&dir))?;
    let english = read(&dir, "en/compact.json")?;
    let korean = read(&dir, "ko/compact.json")?;
    let shortcodes = read(&dir, "en/shortcodes/github.json")?;
    let korean_of = |hexcode: &str| {
        korean
            .as_array()
            .and_then(|all| all.iter().find(|k| k["hexcode"] == hexcode))
            .map(words)
            .unwrap_or_default()
    };
    let mut entries: Vec<&Value> = english
        .as_array()
        .ok_or("en/compact.json is not a list")?
        .iter()
        .filter(|e| e["group"].as_u64().is_some_and(|g| g != COMPONENT_GROUP))
        .collect();
    entries.sort_by_key(|e| e["order"].as_u64());
    let tones = [
        '\u{1f3fb}',
        '\u{1f3fc}',
        '\u{1f3fd}',
        '\u{1f3fe}',
        '\u{1f3ff}',
    ];
    let out: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let hexcode = e["hexcode"].as_str().unwrap_or_default();
            let emoji = e["unicode"].as_str().unwrap_or_default();
            let skins: Vec<&str> = e["skins"]
                .as_array()
                .map(|s| s.iter().filter_map(|s| s["unicode"].as_str()).collect())
                .unwrap_or_default();
            let skin = skins.len() == tones.len()
                && skins
                    .iter()
                    .zip(tones)
                    .all(|(skin, tone)| *skin == with_tone(emoji, tone));
            let codes = match &shortcodes[hexcode] {
                Value::String(code) => code.clone(),
                Value::Array(codes) => codes
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            };
            json!([emoji, u8::from(skin), codes, words(e), korean_of(hexcode)])
        })
        .collect();
    // One entry per line: a new release's change reads as a diff of lines.
    let lines: Vec<String> = out.iter().map(Value::to_string).collect();
    let file = workspace_root().join("frontend").join("emoji.json");
    std::fs::write(&file, format!("[\n{}\n]\n", lines.join(",\n")))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("wrote {} emoji to {}", out.len(), file.display());
    Ok(())
}
