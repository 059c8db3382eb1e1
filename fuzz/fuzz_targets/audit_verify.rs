#![no_main]
//! Fuzz target `audit_verify`: see `agentauthz_fuzz::audit_verify`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agentauthz_fuzz::targets::audit_verify(data);
});
