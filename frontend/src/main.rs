//! Entry point of the wasm binary that trunk builds: panic hook, logging, mount.

fn main() {
    console_error_panic_hook::set_once();
    // Logging is a convenience; the app works without it.
    let _ = console_log::init_with_level(log::Level::Info);
    frontend::i18n::init();
    leptos::mount::mount_to_body(frontend::App);
}
