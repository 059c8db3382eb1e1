#![no_main]
//! Fuzz target `load_policies`: see `agentauthz_fuzz::load_policies`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agentauthz_fuzz::targets::load_policies(data);
});
