//! Shared code of the fuzz targets. `targets.rs` is also compiled into
//! `core/tests/fuzz_regressions.rs`, which replays `fuzz/regressions/` as a
//! normal `cargo test`, so a crash input is checked by exactly the code the
//! fuzzer ran.

pub mod targets;
