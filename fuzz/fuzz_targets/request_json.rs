#![no_main]
//! Fuzz target `request_json`: see `agentauthz_fuzz::request_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agentauthz_fuzz::targets::request_json(data);
});
