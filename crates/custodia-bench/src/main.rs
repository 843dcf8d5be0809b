//! `custodia-bench`: the performance targets, measured the way a user runs
//! Custodia (the real `custodia` binary, real files, real HTTPS), each
//! beside its baseline in the same run. Results go to docs/BENCHMARKS.md.
//!
//! The benchmarks drive the product through its public, caller-checked
//! operations only (as the local operator of the data directory, with the
//! roles `[operator]` in its config.toml gives), so what they measure
//! includes every check a user's request passes.
//!
//! ```sh
//! cargo build --release -p custodia -p custodia-bench
//! target/release/custodia-bench import --rows 1000000
//! ```
//! The `custodia` binary is looked for beside this one (or in
//! `CUSTODIA_BIN`).

mod bench;
mod console;
mod deid;
mod rights;

use clap::Parser;

/// Custodia's benchmarks.
#[derive(Parser, Debug)]
#[command(name = "custodia-bench", version, about)]
struct Args {
    #[command(subcommand)]
    cmd: bench::BenchCmd,
}

fn main() {
    let args = Args::parse();
    match bench::run(args.cmd) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
