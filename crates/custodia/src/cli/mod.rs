//! The command line: [`Cli`] and [`Cmd`] define it, [`run`] dispatches
//! each command to its concern's module — [`records`], [`access`],
//! [`privacy`], [`rights`], [`deid`] and [`operations`] — the way the vault
//! groups its operations. Every command acts as the local operator's
//! principal, so the vault decides what it may do.

pub mod access;
pub mod deid;
pub mod operations;
pub mod privacy;
pub mod records;
pub mod rights;

use access::{PolicyCmd, ReviewCmd, TrainingCmd, UserCmd};
use operations::{AuditCmd, BreakGlassArgs, DemoArgs, InitArgs, KeysCmd, MigrateArgs, ServeArgs, TokenCmd};
use records::{CustomerCmd, ExportArgs, ImportArgs, RevealArgs};

use crate::progress::Bar;
use clap::{Args, Parser, Subcommand, ValueEnum};
use custodia_server::{tls, Transport};
use custodia_vault::access::authz::{Job, Principal};
use custodia_vault::records::export::ExportFormat;
use custodia_vault::records::import::ImportOptions;
use custodia_vault::{Access, DataDir, MasterChoice, RecordInput, RecordPatch, Vault, VaultError};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Custodia: a customer-information vault with privacy built in.
#[derive(Parser, Debug)]
#[command(name = "custodia", version, about, long_about = None)]
pub struct Cli {
    /// The data directory (created by `init` or the first `serve`).
    #[arg(
        long,
        global = true,
        env = "CUSTODIA_DATA_DIR",
        default_value = "custodia-data",
        hide_env_values = true
    )]
    pub data_dir: PathBuf,
    /// Where records live, overriding `storage` in config.toml: a
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` URL shared by several
    /// servers, or `sqlite:PATH`. Default: the data directory's SQLite file.
    #[arg(long, global = true, env = "CUSTODIA_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Serve the HTTPS API (initializes the data directory on first run).
    Serve(ServeArgs),
    /// Create a data directory: configuration, master key, schema, store.
    Init(InitArgs),
    /// Import customers from a CSV file (header names the fields).
    Import(ImportArgs),
    /// Work with single customers.
    #[command(subcommand)]
    Customer(CustomerCmd),
    /// Export every customer (masked unless revealed) as CSV or JSON.
    Export(ExportArgs),
    /// Verify or read the audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Key management.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Write N realistic synthetic customers as CSV (zh_CN and en_US mixed).
    DemoData(DemoArgs),
    /// Move an embedded data directory's records into an empty PostgreSQL
    /// database (verified: row counts and the audit chain), then point the
    /// directory's config.toml at it.
    Migrate(MigrateArgs),
    /// Staff and service accounts, MFA enrollment.
    #[command(subcommand)]
    User(UserCmd),
    /// Staff training records (they gate reveal and export).
    #[command(subcommand)]
    Training(TrainingCmd),
    /// Check the access policy, or explain a decision.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Access reviews: the report, and campaigns that certify or revoke each role.
    #[command(subcommand)]
    Review(ReviewCmd),
    /// Privacy notices: publish a version, show, list, compare.
    #[command(subcommand)]
    Notice(privacy::NoticeCmd),
    /// Working-day calendars: load next year's holidays, show coverage.
    #[command(subcommand)]
    Holidays(privacy::HolidaysCmd),
    /// Consents: record, list, signed receipts, verification, statistics.
    #[command(subcommand)]
    Consent(privacy::ConsentCmd),
    /// The customers' privacy portal: issue entry codes.
    #[command(subcommand)]
    Portal(privacy::PortalCmd),
    /// Data-subject requests: intake, verification, deadlines, carrying out.
    #[command(subcommand)]
    Requests(rights::RequestsCmd),
    /// Erase a customer, or some fields, by crypto-shredding (prints the certificate).
    Erase(rights::EraseArgs),
    /// Legal holds (they block destruction).
    #[command(subcommand)]
    Hold(rights::HoldCmd),
    /// Set a customer's contract end, last activity, or mark it reviewed.
    Lifecycle(rights::LifecycleArgs),
    /// Data-quality reviews.
    #[command(subcommand)]
    Records(rights::RecordsCmd),
    /// Retention: destroy what no purpose keeps any more.
    #[command(subcommand)]
    Retention(rights::RetentionCmd),
    /// The erasure ledger.
    #[command(subcommand)]
    Ledger(rights::LedgerCmd),
    /// Destruction certificates.
    #[command(subcommand)]
    Certificate(rights::CertificateCmd),
    /// Verify a destruction certificate (compact JWS in FILE).
    VerifyCertificate {
        /// The certificate file.
        file: PathBuf,
        /// Public key (JWK, as served at /v1/keys/signing); default: this data directory's.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Encrypted backups: create, verify, restore, recipient keys.
    #[command(subcommand)]
    Backup(rights::BackupCmd),
    /// Find personal information in UTF-8 text (a file or `-`): one JSON object per finding.
    Detect(deid::DetectArgs),
    /// Classify the columns of a CSV before import and propose a schema.
    Scan(deid::ScanArgs),
    /// The value behind a vault token (audited; the purpose must cover its field).
    Detokenize(deid::DetokenizeArgs),
    /// Counts, key versions and the state of the controls (bootstrap
    /// token, break-glass tokens, separation of duties).
    Status,
    /// Emergency access: a short-lived token allowed everything, opened
    /// with an administrator's password and authenticator code and a
    /// reason; loud in the audit log.
    BreakGlass(BreakGlassArgs),
}

/// The local operator the command line acts as: the OS user (by uid, not
/// an environment variable), or `CUSTODIA_OPERATOR` where the system has no
/// name for the user (containers running with an arbitrary uid).
pub fn operator_name() -> Result<String, VaultError> {
    // SAFETY: getuid has no preconditions; getpwuid returns null or a
    // pointer to a static record we copy from at once.
    let name = unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            std::ffi::CStr::from_ptr((*pw).pw_name).to_str().ok().map(str::to_owned)
        }
    };
    match name.filter(|n| !n.is_empty()) {
        Some(n) => Ok(n),
        None => std::env::var("CUSTODIA_OPERATOR")
            .ok()
            .filter(|n| valid_operator(n))
            .ok_or_else(|| {
                VaultError::Config(
                    "this system has no user name for you: set CUSTODIA_OPERATOR to the name the audit log records"
                        .into(),
                )
            }),
    }
}

fn valid_operator(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

/// Open the data directory and the principal its operator acts as.
pub fn open_as(dir: &DataDir, operator: &str) -> Result<(Vault, Principal), VaultError> {
    let v = open(dir)?;
    let p = v.operator(operator);
    Ok((v, p))
}

/// Create a new file readable only by its owner (for personal data and
/// secrets), whatever the umask; refuses to overwrite.
pub fn create_private(path: &std::path::Path) -> Result<std::fs::File, VaultError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| custodia_vault::datadir::new_file_error(path, e))
}

/// Write a new private file (0600) holding `bytes`.
pub fn write_private_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), VaultError> {
    let mut f = create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn prompt_passphrase() -> Result<Zeroizing<String>, VaultError> {
    if !std::io::stdin().is_terminal() {
        return Err(VaultError::Config(format!(
            "the master secret is passphrase-protected: set {}",
            custodia_vault::datadir::PASSPHRASE_ENV
        )));
    }
    rpassword::prompt_password("Custodia passphrase: ")
        .map(Zeroizing::new)
        .map_err(|e| VaultError::Io(e.to_string()))
}

pub fn open(dir: &DataDir) -> Result<Vault, VaultError> {
    Vault::open(dir, &prompt_passphrase)
}

fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, String)>, VaultError> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    VaultError::Input(format!(
                        "expected FIELD=VALUE, got {:?}",
                        p.split('=').next().unwrap_or("")
                    ))
                })
        })
        .collect()
}

fn access(v: &Vault, r: &RevealArgs) -> Result<Access, VaultError> {
    if !r.reveal && r.fields.is_some() {
        return Err(VaultError::Input(
            "--fields names what to reveal: it goes with --reveal".into(),
        ));
    }
    v.access(Some(&r.purpose), r.reveal, r.fields.as_deref())
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> Result<(), VaultError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| VaultError::Io(e.to_string()))?;
    writeln!(out).map_err(VaultError::from)
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTODIA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Run a command as this machine's operator; returns the exit code.
pub fn run(cli: Cli) -> Result<i32, VaultError> {
    // Commands that never open a data directory need no operator name.
    let needs_name = !matches!(
        cli.cmd,
        Cmd::DemoData(_) | Cmd::Detect(_) | Cmd::Scan(_) | Cmd::Policy(PolicyCmd::Check { .. })
    );
    let operator = if needs_name { operator_name()? } else { String::new() };
    run_as(cli, &operator)
}

/// Run a command as the local operator `operator` (tests run commands in
/// process under several operator names).
pub fn run_as(cli: Cli, operator: &str) -> Result<i32, VaultError> {
    let dir = DataDir::new(&cli.data_dir).with_storage(cli.storage.clone());
    let dir = &dir;
    match cli.cmd {
        Cmd::Serve(a) => {
            init_logging("info");
            operations::serve(dir, operator, a)
        }
        Cmd::Init(a) => operations::init(dir, operator, a),
        Cmd::Import(a) => records::import(dir, operator, a),
        Cmd::Customer(c) => records::customer(dir, operator, c),
        Cmd::Export(a) => records::export(dir, operator, a),
        Cmd::Audit(a) => operations::audit(dir, operator, a),
        Cmd::Keys(k) => operations::keys(dir, operator, k),
        Cmd::Token(t) => operations::token(dir, operator, t),
        Cmd::Migrate(a) => {
            init_logging("warn");
            operations::migrate(operator, a)
        }
        Cmd::DemoData(a) => operations::demo(a),
        Cmd::User(u) => with_vault(dir, operator, |v, p| access::user(v, p, u)),
        Cmd::Training(t) => access::training(dir, operator, t),
        Cmd::Policy(c) => access::policy(dir, operator, c),
        Cmd::Review(r) => with_vault(dir, operator, |v, p| access::review(v, p, r)),
        Cmd::Notice(n) => with_vault(dir, operator, |v, p| privacy::notice_cmd(v, p, n)),
        Cmd::Holidays(h) => with_vault(dir, operator, |v, p| privacy::holidays_cmd(v, p, h)),
        Cmd::Consent(c) => {
            init_logging("warn");
            privacy::consent_cmd(dir, operator, c)
        }
        Cmd::Portal(c) => with_vault(dir, operator, |v, p| privacy::portal_cmd(v, p, c)),
        Cmd::Requests(c) => with_vault(dir, operator, |v, p| rights::requests(v, p, c)),
        Cmd::Erase(a) => with_vault(dir, operator, |v, p| rights::erase(v, p, a)),
        Cmd::Hold(c) => with_vault(dir, operator, |v, p| rights::hold(v, p, c)),
        Cmd::Lifecycle(a) => with_vault(dir, operator, |v, p| rights::lifecycle(v, p, a)),
        Cmd::Records(c) => with_vault(dir, operator, |v, p| rights::records(v, p, c)),
        Cmd::Retention(c) => with_vault(dir, operator, |v, p| rights::retention(v, p, c)),
        Cmd::Ledger(c) => with_vault(dir, operator, |v, p| rights::ledger(v, p, c)),
        Cmd::Certificate(c) => with_vault(dir, operator, |v, p| rights::certificate(v, p, c)),
        Cmd::VerifyCertificate { file, public_key } => {
            init_logging("warn");
            rights::verify_certificate(dir, &file, public_key.as_deref())
        }
        Cmd::Backup(c) => {
            init_logging("warn");
            rights::backup_cmd(dir, operator, c)
        }
        Cmd::Detect(a) => deid::detect(&a),
        Cmd::Scan(a) => deid::scan(&a),
        Cmd::Detokenize(a) => with_vault(dir, operator, |v, p| deid::detokenize(v, p, &a)),
        Cmd::Status => {
            let (v, p) = open_as(dir, operator)?;
            print_json(&v.status(&p)?)?;
            Ok(0)
        }
        Cmd::BreakGlass(a) => operations::break_glass(dir, operator, a),
    }
}

/// Open the vault as the local operator and run `f` with it (the shape of
/// most commands).
fn with_vault(
    dir: &DataDir,
    operator: &str,
    f: impl FnOnce(&Vault, &Principal) -> Result<i32, VaultError>,
) -> Result<i32, VaultError> {
    init_logging("warn");
    let (v, p) = open_as(dir, operator)?;
    f(&v, &p)
}
