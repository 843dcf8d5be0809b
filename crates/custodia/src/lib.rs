//! The `custodia` command: CLI commands, and a small HTTPS client used by
//! the benchmarks (crate `custodia-bench`) and the integration tests.

pub mod cli;
pub mod client;
pub mod progress;
