#![no_main]
//! Fuzz target `differential`: see `agentauthz_fuzz::differential`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agentauthz_fuzz::targets::differential(data);
});
