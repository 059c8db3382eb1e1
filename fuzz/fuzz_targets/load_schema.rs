#![no_main]
//! Fuzz target `load_schema`: see `agentauthz_fuzz::load_schema`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agentauthz_fuzz::targets::load_schema(data);
});
