//! Entry point of the wasm binary that trunk builds: allocator, panic hook, logging, mount.

/// Talc instead of the standard library's dlmalloc: a few kilobytes less wasm, and faster.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    console_error_panic_hook::set_once();
    // Logging is a convenience; the app works without it.
    let _ = console_log::init_with_level(log::Level::Info);
    frontend::i18n::init();
    leptos::mount::mount_to_body(frontend::App);
}
