//! The fuzz harnesses, shared with the crash-regression tests in `crates/ws-proto/tests`.
#[path = "harness.rs"]
pub mod harness;
