//! The `custodia` command: CLI commands, a small HTTPS client used by the
//! benchmarks and integration tests, and the benchmarks themselves.

pub mod bench;
mod bench_deid;
mod bench_rights;
pub mod cli;
pub mod client;
pub mod deid_cmd;
pub mod privacy_cmd;
mod progress;
pub mod rights_cmd;
