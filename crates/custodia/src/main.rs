//! `custodia`: the command-line entry point. Every command works on one
//! data directory (`--data-dir`, env `CUSTODIA_DATA_DIR`, default
//! `./custodia-data`). Failures print one line to stderr and exit non-zero.

use clap::Parser;

// Imports allocate many small buffers on several threads at once; glibc's
// allocator spends a fifth of the time on its locks there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A panic must not print its payload: it could hold a value.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error at {at} (a bug; please report it)");
    }));
    let args = custodia::cli::Cli::parse();
    if !matches!(args.cmd, custodia::cli::Cmd::Serve(_)) {
        // A command piped into `head` ends quietly when the pipe closes, as
        // Unix tools do. Not for `serve`: a client closing its socket must
        // not end the server.
        // SAFETY: setting a signal's disposition to the default, before any
        // thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let code = match custodia::cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    std::process::exit(code);
}
