//! Fuzz target: see `shared::checks::format` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::checks::format(data));
