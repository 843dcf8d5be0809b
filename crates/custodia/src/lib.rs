//! The `custodia` command: CLI commands, and a small HTTPS client used by
//! the benchmarks (crate `custodia-bench`) and the integration tests.

pub mod cli;
pub mod client;
pub mod deid_cmd;
pub mod privacy_cmd;
pub mod progress;
pub mod rights_cmd;
