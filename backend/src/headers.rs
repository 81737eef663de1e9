//! Security headers on every response, the app's Content-Security-Policy among them.
//!
//! The policy fits a wasm app served from here: scripts only from this origin and the inline
//! bootstrap `trunk` writes into `index.html` (allowed by its hash, computed when the server
//! starts, not by `'unsafe-inline'`), `'wasm-unsafe-eval'` to compile the wasm, sockets and
//! fetches only to this origin, no plugins, no framing (`frame-ancestors 'none'`), and the
//! service worker and the web app manifest only from this origin (`worker-src`,
//! `manifest-src`: `default-src` would allow the same, said outright for the reader).

use actix_web::middleware::DefaultHeaders;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The headers for every response, with `policy` (from [`content_security_policy`]) as the
/// Content-Security-Policy. (Built per worker: the middleware is not `Send`.)
pub fn default_headers(policy: &str) -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", policy.to_owned()))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        // For browsers older than `frame-ancestors`.
        .add(("X-Frame-Options", "DENY"))
}

/// The policy for a page whose HTML is `index` (its inline scripts are allowed by hash).
pub fn content_security_policy(index: &str) -> String {
    let hashes: String = inline_scripts(index)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
         report-uri {}",
        shared::paths::CSP_REPORT
    )
}

/// The contents of each `<script>` element without a `src` in `html`, exactly as a browser
/// hashes them (everything between the start tag's `>` and `</script>`).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find("<script")?;
            let tag_end = start + rest[start..].find('>')?;
            let body_end = tag_end + rest[tag_end..].find("</script>")?;
            let tag = &rest[start..tag_end];
            let body = &rest[tag_end + 1..body_end];
            rest = &rest[body_end + "</script>".len()..];
            if !tag.contains("src=") {
                return Some(body);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_their_hash_and_external_ones_are_not_listed() {
        let html = "<script src=\"/a.js\"></script><script type=\"module\">run()</script>";
        let scripts: Vec<&str> = inline_scripts(html).collect();
        assert_eq!(scripts, ["run()"]);
        let policy = content_security_policy(html);
        // sha256("run()") in base64.
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"run()"));
        assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn a_page_without_inline_scripts_gets_the_policy_without_hashes() {
        let policy = content_security_policy("<title>x</title>");
        assert!(policy.starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval';"));
    }
}
