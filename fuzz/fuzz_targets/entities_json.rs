#![no_main]
//! Fuzz target `entities_json`: see `agentauthz_fuzz::entities_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agentauthz_fuzz::targets::entities_json(data);
});
