//! Fuzz target: see `shared::checks::server_frame` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::checks::server_frame(data));
