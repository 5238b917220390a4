#![no_main]
//! See fuzz/src/harness.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::harness::decode_deflate(data));
