//! Command definitions and their implementations.

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
    #[arg(long, global = true, env = "CUSTODIA_DATA_DIR", default_value = "custodia-data")]
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
    Notice(crate::privacy_cmd::NoticeCmd),
    /// Consents: record, list, signed receipts, verification, statistics.
    #[command(subcommand)]
    Consent(crate::privacy_cmd::ConsentCmd),
    /// The customers' privacy portal: issue entry codes.
    #[command(subcommand)]
    Portal(crate::privacy_cmd::PortalCmd),
    /// Data-subject requests: intake, verification, deadlines, carrying out.
    #[command(subcommand)]
    Requests(crate::rights_cmd::RequestsCmd),
    /// Erase a customer, or some fields, by crypto-shredding (prints the certificate).
    Erase(crate::rights_cmd::EraseArgs),
    /// Legal holds (they block destruction).
    #[command(subcommand)]
    Hold(crate::rights_cmd::HoldCmd),
    /// Set a customer's contract end, last activity, or mark it reviewed.
    Lifecycle(crate::rights_cmd::LifecycleArgs),
    /// Data-quality reviews.
    #[command(subcommand)]
    Records(crate::rights_cmd::RecordsCmd),
    /// Retention: destroy what no purpose keeps any more.
    #[command(subcommand)]
    Retention(crate::rights_cmd::RetentionCmd),
    /// The erasure ledger.
    #[command(subcommand)]
    Ledger(crate::rights_cmd::LedgerCmd),
    /// Destruction certificates.
    #[command(subcommand)]
    Certificate(crate::rights_cmd::CertificateCmd),
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
    Backup(crate::rights_cmd::BackupCmd),
    /// Find personal information in UTF-8 text (a file or `-`): one JSON object per finding.
    Detect(crate::deid_cmd::DetectArgs),
    /// Classify the columns of a CSV before import and propose a schema.
    Scan(crate::deid_cmd::ScanArgs),
    /// The value behind a vault token (audited; the purpose must cover its field).
    Detokenize(crate::deid_cmd::DetokenizeArgs),
    /// Counts, key versions and the state of the controls (bootstrap
    /// token, break-glass tokens, separation of duties).
    Status,
    /// Emergency access: a short-lived token allowed everything, opened
    /// with an administrator's password and authenticator code and a
    /// reason; loud in the audit log.
    BreakGlass(BreakGlassArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default: the configuration's, 127.0.0.1:8443).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS (allowed on loopback only).
    #[arg(long)]
    pub insecure_http: bool,
    /// PEM certificate to use instead of the generated self-signed one.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Run no background jobs (retention, scheduled backups): for
    /// benchmarks, whose numbers must not include an hourly job's scan.
    #[arg(long, hide = true)]
    pub no_background_jobs: bool,
}

#[derive(Args, Debug)]
pub struct BreakGlassArgs {
    /// The administrator who opens it (their password comes from
    /// CUSTODIA_ADMIN_PASSWORD or a prompt).
    #[arg(long)]
    pub admin: String,
    /// Their current authenticator code (or a recovery code).
    #[arg(long)]
    pub code: String,
    /// Why (recorded in the audit log; no personal data).
    #[arg(long)]
    pub reason: String,
    /// Minutes the token works (at most 60).
    #[arg(long, default_value_t = 30)]
    pub minutes: u32,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Customer schema (TOML); the default schema when omitted.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Derive the master secret from a passphrase (CUSTODIA_PASSPHRASE or a prompt) instead of a key file.
    #[arg(long, conflicts_with = "key_file")]
    pub passphrase: bool,
    /// Where to create the master key file (keep it outside the data directory in production).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The purpose the records are collected for (e.g. contract_performance).
    #[arg(long)]
    pub purpose: String,
    /// Write rejected rows here (line, reason, original columns).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Rename a column: CSV_NAME=FIELD (repeatable).
    #[arg(long = "map", value_name = "CSV_NAME=FIELD")]
    pub map: Vec<String>,
    /// Rows per transaction.
    #[arg(long, default_value_t = 2000)]
    pub chunk: usize,
    /// How the consents in a `consents` column were collected: web, app, paper, phone, in_person.
    #[arg(long)]
    pub consent_channel: Option<String>,
    /// Language of the consent text shown (en or zh), for rows without a locale.
    #[arg(long)]
    pub consent_language: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RevealArgs {
    /// Show clear values (of the fields the purpose and your roles allow).
    #[arg(long)]
    pub reveal: bool,
    /// Declared purpose, from the schema's catalog (every access to customer data declares one).
    #[arg(long)]
    pub purpose: String,
    /// Reveal only these fields (comma-separated).
    #[arg(long)]
    pub fields: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum CustomerCmd {
    /// Create a customer from FIELD=VALUE pairs.
    Add {
        /// FIELD=VALUE (repeatable).
        #[arg(required = true, value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// The company's own key.
        #[arg(long)]
        external_id: Option<String>,
        /// The purpose the record is collected for.
        #[arg(long)]
        purpose: String,
    },
    /// Show a customer (masked unless --reveal --purpose).
    Get {
        /// Customer id (cus_…).
        id: String,
        #[command(flatten)]
        reveal: RevealArgs,
    },
    /// Exact-match search on a searchable field.
    Find {
        /// The field.
        #[arg(long)]
        field: String,
        /// The value.
        #[arg(long)]
        value: String,
        /// Most results.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        reveal: RevealArgs,
    },
    /// Change fields: FIELD=VALUE sets, FIELD= removes.
    Update {
        /// Customer id.
        id: String,
        /// FIELD=VALUE (repeatable); an empty value removes the field.
        #[arg(required = true, value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Refuse if the record is no longer at this version.
        #[arg(long)]
        if_version: Option<i64>,
        /// The purpose you change it for.
        #[arg(long)]
        purpose: String,
    },
    /// Delete a customer (destroys its data key).
    Delete {
        /// Customer id.
        id: String,
        /// The purpose you delete it for (e.g. legal_obligation).
        #[arg(long)]
        purpose: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub reveal: RevealArgs,
    /// De-identify under this profile (TOML: per-field rules, quasi-identifiers, k, l)
    /// and write CSV with records in classes smaller than k suppressed.
    #[arg(long, value_name = "PROFILE", conflicts_with_all = ["reveal", "fields", "format"])]
    pub deidentify: Option<PathBuf>,
    /// With --deidentify: write the report (k, l, suppressed, risk) as JSON here.
    #[arg(long, requires = "deidentify")]
    pub report: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check the whole hash chain; exit 1 and name each break if broken.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the most recent events.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        count: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// New key-encryption-key version; rewrap every data key (resumable, online).
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Issue a new bootstrap token (the old one stops working) and print it
    /// once; refused once an administrator exists.
    Reset,
    /// Issue an API token for a service account (printed once). An account with data roles needs review_access as well as manage_accounts.
    Issue {
        /// The service account.
        #[arg(long)]
        account: String,
        /// Limit the token to these actions (repeatable; default: what the roles allow).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Days until it expires.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Switch the bootstrap token off (it also goes off by itself when the first administrator exists).
    DisableBootstrap,
    /// List API tokens (no secrets).
    List,
    /// Revoke an API token by id.
    Revoke {
        /// Token id (tok_…).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create an account. With --email, staff get a one-time setup link there and choose their own
    /// password; without, the password comes from CUSTODIA_NEW_PASSWORD or a prompt. Roles that reach
    /// personal data or can approve wait for a second person (`custodia user approve`).
    Add {
        /// Login name.
        name: String,
        /// Role from the policy (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// A service account (API tokens, no password, no MFA).
        #[arg(long)]
        service: bool,
        /// The staff member's e-mail address (the setup link goes there).
        #[arg(long, conflicts_with = "service")]
        email: Option<String>,
    },
    /// List accounts.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one account.
    Show {
        /// Login name.
        name: String,
    },
    /// Replace an account's roles (administrative roles need manage_accounts, the others review_access);
    /// roles taken away go at once, roles that reach personal data or can approve wait for a second person.
    Roles {
        /// Login name.
        name: String,
        /// Every role the account holds afterwards (repeatable; none to take all away).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Ask to record a staff member's e-mail address (links and alerts go there): a second person
    /// approves; then the old links stop and the old address is told.
    Email {
        /// Login name.
        name: String,
        /// The address.
        email: String,
    },
    /// E-mail a staff member a one-time link: set up the account, or (--mfa) enroll MFA again.
    /// Nobody but the person sees the link, secret or recovery codes.
    SendLink {
        /// Login name.
        name: String,
        /// An MFA enrollment link (after a reset) instead of a setup link.
        #[arg(long)]
        mfa: bool,
    },
    /// Disable an account: its sessions and tokens stop at once.
    Disable {
        /// Login name.
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Enable a disabled account.
    Enable {
        /// Login name.
        name: String,
    },
    /// Clear an account's sign-in counters (addresses shut out, a locked second factor).
    Unlock {
        /// Login name.
        name: String,
    },
    /// Delete an account: secrets, address and roles removed, sessions and tokens stopped, the name kept.
    Delete {
        /// Login name.
        name: String,
    },
    /// Ask for a staff member's MFA to be reset; once a second person approves, an enrollment link goes
    /// to their address.
    ResetMfa {
        /// Login name.
        name: String,
    },
    /// Changes waiting for a second person's approval (--all: decided ones too).
    Approvals {
        /// Also the decided ones.
        #[arg(long)]
        all: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending change (someone other than whoever asked and the account changed).
    Approve {
        /// Approval id (apr_…).
        id: String,
    },
    /// Reject a pending change, or withdraw your own.
    Reject {
        /// Approval id (apr_…).
        id: String,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TrainingCmd {
    /// Record a completed course.
    Add {
        /// Account.
        name: String,
        /// Course id, e.g. privacy_basics.
        #[arg(long)]
        course: String,
        /// Completion date (YYYY-MM-DD); today when omitted.
        #[arg(long)]
        completed: Option<chrono::NaiveDate>,
        /// Score 0-100 (below the course's pass mark it is recorded but does not count).
        #[arg(long)]
        score: i64,
        /// Days the training stays valid (default and most: the course's validity in the policy).
        #[arg(long)]
        valid_days: Option<i64>,
    },
    /// Import training records from CSV: account,course,completed,score,expires.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Validate a policy file (default: the data directory's) against the schema.
    Check {
        /// Policy file.
        file: Option<PathBuf>,
    },
    /// How the policy decides a request, and which rule decided.
    Explain {
        /// Account name.
        #[arg(long = "as")]
        account: String,
        /// Customer id (for scoped grants).
        #[arg(long)]
        customer: Option<String>,
        /// Field.
        #[arg(long)]
        field: Option<String>,
        /// Action: read_masked, reveal, write, delete, export, manage_policy, read_audit, ...
        #[arg(long)]
        action: String,
        /// Declared purpose.
        #[arg(long)]
        purpose: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReviewCmd {
    /// Every grant with holder, scope, last use and use count; flagged findings.
    Report {
        /// Flag grants unused for this many days.
        #[arg(long, default_value_t = 90)]
        unused_days: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Open a campaign over every role assignment.
    Start,
    /// Certify or revoke one role assignment.
    Decide {
        /// Campaign id.
        campaign: String,
        /// Account.
        account: String,
        /// Role.
        role: String,
        /// Keep the role.
        #[arg(long, conflicts_with = "revoke", required_unless_present = "revoke")]
        certify: bool,
        /// Remove the role.
        #[arg(long)]
        revoke: bool,
        /// Reviewer's note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Show a campaign's items and decisions.
    Show {
        /// Campaign id.
        campaign: String,
    },
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The data directory whose embedded database is moved.
    #[arg(long)]
    pub from: PathBuf,
    /// The empty PostgreSQL database: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    #[arg(long, hide_env_values = true)]
    pub to: String,
    /// Leave config.toml as it is (by default its `storage` is set to the target).
    #[arg(long)]
    pub keep_config: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many customers.
    pub count: u64,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Random seed (same seed, same data).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First customer number (external ids are `CRM-<number>`).
    #[arg(long, default_value_t = 1)]
    pub start: u64,
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
        .map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))
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
    let actor = format!("operator:{operator}");
    match cli.cmd {
        Cmd::Serve(a) => {
            init_logging("info");
            serve(&dir, operator, a)
        }
        Cmd::Init(a) => {
            init_logging("warn");
            let schema = match &a.schema {
                Some(p) => {
                    Some(std::fs::read_to_string(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?)
                }
                None => None,
            };
            let master = if a.passphrase {
                let p = match std::env::var(custodia_vault::datadir::PASSPHRASE_ENV) {
                    Ok(p) => Zeroizing::new(p),
                    Err(_) => {
                        let p = prompt_passphrase()?;
                        let again = prompt_passphrase()?;
                        if *p != *again {
                            return Err(VaultError::Input("the passphrases differ".into()));
                        }
                        p
                    }
                };
                MasterChoice::Passphrase(p)
            } else {
                MasterChoice::KeyFile(a.key_file.clone())
            };
            let (_, report) = Vault::init(&dir, schema.as_deref(), master, &actor)?;
            println!("initialized {}", dir.root().display());
            if let Some(k) = report.key_file {
                warn_key_file(&k);
            }
            Ok(0)
        }
        Cmd::Import(a) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            let file =
                std::fs::File::open(&a.file).map_err(|e| VaultError::Io(format!("{}: {e}", a.file.display())))?;
            let size = file.metadata().ok().map(|m| m.len());
            let mut opts = ImportOptions {
                chunk: a.chunk,
                consent_channel: a.consent_channel.clone(),
                consent_language: a.consent_language.clone(),
                ..ImportOptions::new(v.purpose(&a.purpose)?)
            };
            for (k, val) in parse_pairs(&a.map)? {
                opts.rename.insert(k.to_lowercase(), val);
            }
            // Rejected rows hold personal data in clear: private, never overwritten.
            let mut rejects_file = match &a.rejects {
                Some(path) => Some(std::io::BufWriter::new(create_private(path)?)),
                None => None,
            };
            let bar = Bar::new("import");
            let report = v.import(
                &p,
                std::io::BufReader::with_capacity(1 << 20, file),
                size,
                &opts,
                rejects_file.as_mut().map(|w| w as &mut dyn Write),
                &bar,
            )?;
            if let Some(mut w) = rejects_file {
                w.flush()?;
            }
            print_json(&serde_json::json!({
                "rows_read": report.rows_read, "accepted": report.accepted(), "created": report.created,
                "existing": report.existing, "rejected": report.rejected,
                "rejects": report.rejects.iter().map(|r| serde_json::json!({"line": r.line, "reason": r.reason()})).collect::<Vec<_>>(),
            }))?;
            Ok(if report.rejected > 0 { 3 } else { 0 })
        }
        Cmd::Customer(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            match c {
                CustomerCmd::Add {
                    set,
                    external_id,
                    purpose,
                } => {
                    let input = RecordInput {
                        external_id,
                        fields: parse_pairs(&set)?.into_iter().collect(),
                        consents: Vec::new(),
                    };
                    print_json(&v.create(&p, &input, &v.purpose(&purpose)?)?)?;
                }
                CustomerCmd::Get { id, reveal } => {
                    let acc = access(&v, &reveal)?;
                    print_json(&v.get(&p, &id, &acc)?)?;
                }
                CustomerCmd::Find {
                    field,
                    value,
                    limit,
                    reveal,
                } => {
                    let acc = access(&v, &reveal)?;
                    let found = v.find(&p, &field, &value, &acc, limit)?;
                    print_json(&found)?;
                    if found.is_empty() {
                        return Ok(4);
                    }
                }
                CustomerCmd::Update {
                    id,
                    set,
                    if_version,
                    purpose,
                } => {
                    let patch: RecordPatch = parse_pairs(&set)?
                        .into_iter()
                        .map(|(k, val)| (k, if val.is_empty() { None } else { Some(val) }))
                        .collect();
                    print_json(&v.update(&p, &id, &patch, if_version, &v.purpose(&purpose)?)?)?;
                }
                CustomerCmd::Delete { id, purpose } => {
                    // Crypto-shredding with a tombstone and a signed certificate.
                    let erased = v.delete(&p, &id, &v.purpose(&purpose)?)?;
                    eprintln!("deleted {id}; certificate {}", erased.certificate_id);
                    print_json(&erased)?;
                }
            }
            Ok(0)
        }
        Cmd::Export(a) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            if let Some(profile) = &a.deidentify {
                return crate::deid_cmd::export_deidentified(
                    &v,
                    &p,
                    &v.purpose(&a.reveal.purpose)?,
                    profile,
                    a.output.as_deref(),
                    a.report.as_deref(),
                );
            }
            let acc = access(&v, &a.reveal)?;
            let format = match a.format {
                Format::Csv => ExportFormat::Csv,
                Format::Json => ExportFormat::Json,
            };
            let bar = Bar::new("export");
            let report = match &a.output {
                Some(path) => {
                    let mut w = std::io::BufWriter::new(create_private(path)?);
                    let r = v.export(&p, &mut w, format, &acc, &bar)?;
                    w.flush()?;
                    r
                }
                None => {
                    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
                    let r = v.export(&p, &mut w, format, &acc, &bar)?;
                    w.flush()?;
                    r
                }
            };
            eprintln!(
                "exported {} customers{}{}",
                report.records,
                if report.revealed {
                    " (clear values: handle as personal data)"
                } else {
                    " (masked)"
                },
                if report.without_consent > 0 {
                    format!("; left out {} without consent to the purpose", report.without_consent)
                } else {
                    String::new()
                }
            );
            Ok(0)
        }
        Cmd::Audit(a) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            match a {
                AuditCmd::Verify { json } => {
                    let r = v.audit_verify(&p)?;
                    if json {
                        print_json(&r)?;
                    } else if r.ok {
                        println!("audit log intact: {} events verified", r.events);
                    } else {
                        println!(
                            "audit log BROKEN: {} events checked, {} problem(s):",
                            r.events,
                            r.problems.len()
                        );
                        for p in &r.problems {
                            println!("  - {p}");
                        }
                    }
                    Ok(if r.ok { 0 } else { 1 })
                }
                AuditCmd::Tail { count, json } => {
                    for e in v.audit_tail(&p, count)? {
                        if json {
                            println!(
                                "{}",
                                serde_json::to_string(&e).map_err(|e| VaultError::Io(e.to_string()))?
                            );
                        } else {
                            let ev = &e.event;
                            let ts = custodia_vault::records::input::rfc3339(ev.ts_ms);
                            let who = ev.customer.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
                            let fields = ev.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",");
                            println!(
                                "{:>8} {ts} {:<16} {:<13} {:<7} {who} {}{}{}",
                                e.seq,
                                ev.actor,
                                ev.action.as_str(),
                                ev.outcome.as_str(),
                                if fields.is_empty() {
                                    String::new()
                                } else {
                                    format!("fields={fields} ")
                                },
                                ev.purpose.as_ref().map(|p| format!("purpose={p} ")).unwrap_or_default(),
                                ev.detail.as_deref().unwrap_or("")
                            );
                        }
                    }
                    Ok(0)
                }
            }
        }
        Cmd::Keys(KeysCmd::Rotate) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            let bar = Bar::new("rotate");
            let r = v.rotate(&p, &bar)?;
            print_json(&r)?;
            Ok(0)
        }
        Cmd::Token(t) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            match t {
                TokenCmd::Reset => {
                    let t = v.issue_bootstrap_token(&p)?;
                    println!("{}", t.as_str());
                    eprintln!("the previous bootstrap token no longer works; store this one now, it is not shown again. It creates the first administrator only (POST /v1/accounts).");
                }
                TokenCmd::Issue { account, scopes, days } => {
                    let scopes = scopes
                        .iter()
                        .map(|s| {
                            custodia_core::policy::Permission::parse(s)
                                .ok_or_else(|| VaultError::Input(format!("unknown scope {s:?}")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let issued = v.issue_token(&p, &account, &scopes, days)?;
                    print_json(&issued)?;
                    eprintln!("store the token now; only its digest is kept");
                }
                TokenCmd::List => print_json(&v.tokens(&p)?)?,
                TokenCmd::DisableBootstrap => {
                    v.disable_bootstrap(&p)?;
                    println!("the bootstrap token no longer works (within 5 seconds on running servers)");
                }
                TokenCmd::Revoke { id } => {
                    v.revoke_token(&p, &id)?;
                    println!("revoked {id}");
                }
            }
            Ok(0)
        }
        Cmd::Migrate(a) => {
            init_logging("warn");
            migrate(operator, a)
        }
        Cmd::DemoData(a) => {
            let bar = Bar::new("generate");
            custodia_vault::Progress::start(&bar, a.count, "records");
            let write = |w: &mut dyn Write| {
                custodia_vault::operations::demo::write_demo_csv(w, a.count, a.start, a.seed, |n| {
                    custodia_vault::Progress::advance(&bar, n)
                })
            };
            match &a.output {
                Some(path) => {
                    // Synthetic, but shaped like personal data: private too.
                    let mut f = std::io::BufWriter::new(create_private(path)?);
                    write(&mut f)?;
                    f.flush()?;
                }
                None => write(&mut std::io::BufWriter::new(std::io::stdout().lock()))?,
            }
            custodia_vault::Progress::finish(&bar);
            Ok(0)
        }
        Cmd::User(u) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            user(&v, &p, u)
        }
        Cmd::Training(TrainingCmd::Import { file }) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            let text = std::fs::read(&file).map_err(|e| VaultError::Io(format!("{}: {e}", file.display())))?;
            let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(&text[..]);
            let header: Vec<String> = rdr
                .headers()
                .map_err(|e| VaultError::Input(format!("CSV header: {e}")))?
                .iter()
                .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
                .collect();
            let want = ["account", "course", "completed", "score", "expires"];
            if header != want {
                return Err(VaultError::Input(format!("the header must be {}", want.join(","))));
            }
            let (mut read, mut ok, mut not_passed, mut rejected) = (0u64, 0u64, 0u64, Vec::new());
            for (i, rec) in rdr.records().enumerate() {
                read += 1;
                let line = i as u64 + 2;
                let result = (|| -> Result<bool, String> {
                    let rec = rec.map_err(|e| e.to_string())?;
                    if rec.len() != 5 {
                        return Err(format!("has {} columns, the header has 5", rec.len()));
                    }
                    let date = |s: &str, what: &str| {
                        chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                            .map_err(|_| format!("{what} is not a date written YYYY-MM-DD"))
                    };
                    let score: i64 = rec[3].trim().parse().map_err(|_| "score is not a number".to_string())?;
                    let (completed, expires) = (date(&rec[2], "completed")?, date(&rec[4], "expires")?);
                    v.record_training(&p, rec[0].trim(), rec[1].trim(), completed, score, Some(expires))
                        .map(|t| t.passed)
                        .map_err(|e| e.to_string())
                })();
                match result {
                    Ok(true) => ok += 1,
                    Ok(false) => {
                        ok += 1;
                        not_passed += 1;
                    }
                    Err(reason) => rejected.push(serde_json::json!({"line": line, "reason": reason})),
                }
            }
            print_json(
                &serde_json::json!({"rows_read": read, "accepted": ok, "below_pass_mark": not_passed, "rejected": rejected.len(), "rejects": rejected}),
            )?;
            Ok(if rejected.is_empty() { 0 } else { 3 })
        }
        Cmd::Training(TrainingCmd::Add {
            name,
            course,
            completed,
            score,
            valid_days,
        }) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            let completed = completed.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let expires = valid_days.map(|d| completed + chrono::Duration::days(d));
            let t = v.record_training(&p, &name, &course, completed, score, expires)?;
            if t.passed {
                println!(
                    "recorded: {name} passed {course} on {completed}, valid until {}",
                    t.expires
                );
            } else {
                println!(
                    "recorded: {name} took {course} on {completed} with score {score}, below the pass mark: it does not count"
                );
            }
            Ok(0)
        }
        Cmd::Policy(PolicyCmd::Check { file }) => {
            let path = file.unwrap_or_else(|| dir.policy_path());
            let text =
                std::fs::read_to_string(&path).map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))?;
            let schema_text = std::fs::read_to_string(dir.schema_path())
                .unwrap_or_else(|_| custodia_core::schema::DEFAULT_SCHEMA_TOML.to_owned());
            let schema =
                custodia_core::Schema::from_toml(&schema_text).map_err(|e| VaultError::Config(e.to_string()))?;
            match custodia_core::policy::Policy::from_toml(&text, &schema) {
                Ok(p) => {
                    println!("{}: ok ({} roles)", path.display(), p.roles().len());
                    Ok(0)
                }
                Err(errs) => {
                    for e in &errs {
                        eprintln!("{}:{e}", path.display());
                    }
                    Ok(1)
                }
            }
        }
        Cmd::Policy(PolicyCmd::Explain {
            account,
            customer,
            field,
            action,
            purpose,
            json,
        }) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            let perm = custodia_core::policy::Permission::parse(&action).ok_or_else(|| {
                VaultError::Input(format!(
                    "unknown action {action:?}; use one of: {}",
                    custodia_core::policy::Permission::ALL
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let d = v.explain(
                &p,
                &account,
                customer.as_deref(),
                field.as_deref(),
                perm,
                purpose.as_deref(),
            )?;
            if json {
                print_json(&serde_json::json!({
                    "allowed": d.allowed,
                    "reason": d.reason.as_ref().map(|r| format!("{r:?}")),
                    "rule": d.rule.as_ref().map(|r| serde_json::json!({"role": r.role, "grant": r.grant, "line": r.line})),
                    "explanation": d.to_string(),
                }))?;
            } else {
                println!("{d}");
            }
            Ok(if d.allowed { 0 } else { 5 })
        }
        Cmd::Review(r) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            review(&v, &p, r)
        }
        Cmd::Notice(n) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::privacy_cmd::notice_cmd(&v, &p, n)
        }
        Cmd::Consent(c) => {
            init_logging("warn");
            crate::privacy_cmd::consent_cmd(&dir, operator, c)
        }
        Cmd::Portal(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::privacy_cmd::portal_cmd(&v, &p, c)
        }
        Cmd::Requests(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::requests(&v, &p, c)
        }
        Cmd::Erase(a) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::erase(&v, &p, a)
        }
        Cmd::Hold(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::hold(&v, &p, c)
        }
        Cmd::Lifecycle(a) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::lifecycle(&v, &p, a)
        }
        Cmd::Records(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::records(&v, &p, c)
        }
        Cmd::Retention(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::retention(&v, &p, c)
        }
        Cmd::Ledger(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::ledger(&v, &p, c)
        }
        Cmd::Certificate(c) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::rights_cmd::certificate(&v, &p, c)
        }
        Cmd::VerifyCertificate { file, public_key } => {
            init_logging("warn");
            crate::rights_cmd::verify_certificate(&dir, &file, public_key.as_deref())
        }
        Cmd::Backup(c) => {
            init_logging("warn");
            crate::rights_cmd::backup_cmd(&dir, operator, c)
        }
        Cmd::Detect(a) => crate::deid_cmd::detect(&a),
        Cmd::Scan(a) => crate::deid_cmd::scan(&a),
        Cmd::Detokenize(a) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            crate::deid_cmd::detokenize(&v, &p, &a)
        }
        Cmd::Status => {
            let (v, p) = open_as(&dir, operator)?;
            print_json(&v.status(&p)?)?;
            Ok(0)
        }
        Cmd::BreakGlass(a) => {
            init_logging("warn");
            let (v, p) = open_as(&dir, operator)?;
            let password = match std::env::var("CUSTODIA_ADMIN_PASSWORD") {
                Ok(pw) => Zeroizing::new(pw),
                Err(_) if std::io::stdin().is_terminal() => Zeroizing::new(rpassword::prompt_password(format!(
                    "Password of administrator {}: ",
                    a.admin
                ))?),
                Err(_) => {
                    return Err(VaultError::Input(
                        "set CUSTODIA_ADMIN_PASSWORD or run on a terminal to type the administrator's password".into(),
                    ))
                }
            };
            let t = v.break_glass(&p, &a.admin, &password, &a.code, &a.reason, a.minutes)?;
            eprintln!(
                "BREAK-GLASS token {} opened for {} until {}: every use is in the audit log. Revoke it when done: custodia token revoke {}",
                t.id, t.account, t.expires_at, t.id
            );
            println!("{}", t.token.as_str());
            Ok(0)
        }
    }
}

fn read_new_password(name: &str) -> Result<Zeroizing<String>, VaultError> {
    if let Ok(p) = std::env::var("CUSTODIA_NEW_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(VaultError::Input(
            "set CUSTODIA_NEW_PASSWORD or run on a terminal to type the password".into(),
        ));
    }
    let p = Zeroizing::new(rpassword::prompt_password(format!("New password for {name}: "))?);
    let again = Zeroizing::new(rpassword::prompt_password("Again: ")?);
    if *p != *again {
        return Err(VaultError::Input("the passwords differ".into()));
    }
    Ok(p)
}

fn user(v: &Vault, p: &Principal, cmd: UserCmd) -> Result<i32, VaultError> {
    use custodia_vault::access::identity::AccountKind;
    match cmd {
        UserCmd::Add {
            name,
            roles,
            service,
            email,
        } => {
            let (kind, pass) = if service {
                (AccountKind::Service, None)
            } else if email.is_some() {
                (AccountKind::Staff, None)
            } else {
                (AccountKind::Staff, Some(read_new_password(&name)?))
            };
            let a = match &email {
                Some(e) => v.invite_staff(p, &name, &roles, e)?,
                None => v.create_account(p, &name, kind, &roles, pass.as_deref().map(|p| p.as_str()))?,
            };
            print_json(&a)?;
            for ap in &a.pending_approvals {
                eprintln!(
                    "note: roles {} wait for a second person's approval: custodia user approve {}",
                    ap.roles.join(", "),
                    ap.id
                );
            }
            if let Some(to) = &a.email {
                eprintln!("a setup link went to {to}: {name} chooses a password there and, if the roles need it, adds an authenticator");
            } else if kind == AccountKind::Staff
                && (a.mfa_required
                    || a.pending_approvals.iter().any(|x| {
                        x.roles
                            .iter()
                            .any(|r| v.policy().role(r).is_some_and(|r| r.requires_mfa))
                    }))
            {
                eprintln!("note: these roles need MFA: {name} enrolls it after signing in at /mfa/enroll (record an e-mail address with `custodia user email {name} ADDRESS` to send a link instead)");
            }
        }
        UserCmd::List { json } => {
            let all = v.accounts(p)?;
            if json {
                print_json(&all)?;
            } else {
                println!(
                    "{:<24} {:<8} {:<6} {:<9} {:<9} ROLES",
                    "NAME", "KIND", "MFA", "TRAINING", "STATE"
                );
                for a in all {
                    let mfa = if a.kind == custodia_core::accounts::AccountKind::Service {
                        "n/a"
                    } else if a.mfa_enrolled {
                        "yes"
                    } else if a.mfa_required {
                        "NEEDED"
                    } else {
                        "no"
                    };
                    let trained = if a.trainings.iter().any(|t| t.valid) {
                        "valid"
                    } else if a.trainings.is_empty() {
                        "none"
                    } else {
                        "expired"
                    };
                    let state = if a.deleted {
                        "deleted"
                    } else if a.disabled {
                        "disabled"
                    } else if !a.pending_approvals.is_empty() {
                        "pending"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<24} {:<8} {:<6} {:<9} {:<9} {}",
                        a.name,
                        a.kind,
                        mfa,
                        trained,
                        state,
                        a.roles.join(",")
                    );
                }
            }
        }
        UserCmd::Show { name } => print_json(&v.account(p, &name)?)?,
        UserCmd::Roles { name, roles } => {
            let a = v.set_roles(p, &name, &roles)?;
            print_json(&a)?;
            for ap in &a.pending_approvals {
                eprintln!(
                    "note: roles {} wait for a second person's approval: custodia user approve {}",
                    ap.roles.join(", "),
                    ap.id
                );
            }
        }
        UserCmd::Email { name, email } => print_json(&v.set_email(p, &name, &email)?)?,
        UserCmd::SendLink { name, mfa } => {
            let kind = if mfa {
                custodia_vault::access::staff::LinkKind::Mfa
            } else {
                custodia_vault::access::staff::LinkKind::Setup
            };
            print_json(&v.send_link(p, &name, kind)?)?;
        }
        UserCmd::Disable { name, reason } => print_json(&v.set_disabled(p, &name, true, reason.as_deref())?)?,
        UserCmd::Enable { name } => print_json(&v.set_disabled(p, &name, false, None)?)?,
        UserCmd::Unlock { name } => {
            v.unlock(p, &name)?;
            println!("sign-in counters of {name} cleared");
        }
        UserCmd::Delete { name } => {
            v.delete_account(p, &name)?;
            println!("account {name} deleted (the name stays taken; the audit trail keeps it)");
        }
        UserCmd::ResetMfa { name } => {
            let a = v.request_mfa_reset(p, &name)?;
            print_json(&a)?;
            eprintln!("waiting for a second person: custodia user approve {}", a.id);
        }
        UserCmd::Approvals { all, json } => {
            let list = v.approvals(p, !all)?;
            if json {
                print_json(&list)?;
            } else {
                println!(
                    "{:<22} {:<12} {:<20} {:<10} {:<28} ROLES",
                    "ID", "KIND", "ACCOUNT", "STATE", "ASKED BY"
                );
                for a in list {
                    println!(
                        "{:<22} {:<12} {:<20} {:<10} {:<28} {}",
                        a.id,
                        serde_json::to_value(a.kind)
                            .ok()
                            .and_then(|k| k.as_str().map(String::from))
                            .unwrap_or_default(),
                        a.account,
                        serde_json::to_value(a.state)
                            .ok()
                            .and_then(|k| k.as_str().map(String::from))
                            .unwrap_or_default(),
                        a.requested_by,
                        a.roles.join(",")
                    );
                }
            }
        }
        UserCmd::Approve { id } => print_json(&v.approve(p, &id)?)?,
        UserCmd::Reject { id, note } => print_json(&v.reject(p, &id, note.as_deref())?)?,
    }
    Ok(0)
}

fn review(v: &Vault, p: &Principal, cmd: ReviewCmd) -> Result<i32, VaultError> {
    match cmd {
        ReviewCmd::Report { unused_days, json } => {
            let r = v.review_report(p, unused_days)?;
            if json {
                print_json(&r)?;
                return Ok(0);
            }
            println!(
                "Access review, {} (unused window {} days)\n",
                r.generated_at, r.unused_days
            );
            println!(
                "{:<20} {:<16} {:>2} {:<28} {:>5} {:<24} FLAGS",
                "ACCOUNT", "ROLE", "#", "PERMISSIONS", "USES", "LAST USE"
            );
            for g in &r.grants {
                let mut flags = g.flags.join(",");
                if !g.unused_permissions.is_empty() && g.uses > 0 {
                    flags.push_str(&format!(" (never: {})", g.unused_permissions.join(",")));
                }
                println!(
                    "{:<20} {:<16} {:>2} {:<28} {:>5} {:<24} {flags}",
                    g.account,
                    g.role,
                    g.grant,
                    g.permissions.join(","),
                    g.uses,
                    g.last_use.as_deref().unwrap_or("never")
                );
                println!(
                    "{:<40} scope: {}; purposes: {}",
                    "",
                    g.scope,
                    if g.purposes.is_empty() {
                        "-".into()
                    } else {
                        g.purposes.join(",")
                    }
                );
            }
            if !r.accounts.is_empty() {
                println!("\nAccounts needing attention:");
                for a in &r.accounts {
                    println!("  {:<20} {}", a.account, a.flags.join(", "));
                }
            }
        }
        ReviewCmd::Start => {
            let (id, items) = v.start_review(p)?;
            println!("{id}");
            eprintln!(
                "{} role assignments to certify or revoke: custodia review decide {id} ACCOUNT ROLE --certify|--revoke",
                items.len()
            );
        }
        ReviewCmd::Decide {
            campaign,
            account,
            role,
            certify,
            revoke,
            note,
        } => {
            debug_assert!(certify != revoke);
            v.decide_review(p, &campaign, &account, &role, certify, note.as_deref())?;
            println!(
                "{}: {} {role} of {account}",
                campaign,
                if certify { "certified" } else { "revoked" }
            );
        }
        ReviewCmd::Show { campaign } => {
            for i in v.review_items(p, &campaign)? {
                println!(
                    "{:<20} {:<16} {:<8} {}",
                    i.account,
                    i.role,
                    i.decision.as_deref().unwrap_or("open"),
                    i.note.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(0)
}

fn warn_key_file(k: &std::path::Path) {
    eprintln!(
        "warning: the master key is in {} (mode 0600). Anyone with this file and the data directory can read every customer.\n         In production keep it outside the data directory (init --key-file /secure/path) or use --passphrase; back it up separately.",
        k.display()
    );
}

/// The jobs `serve` runs by itself: retention every `[retention]
/// every_minutes` (the first a few seconds after start), and backups every
/// `[backup] every_hours` when configured.
/// How often a server on shared storage brings its erasure ledger up to date.
const LEDGER_SYNC: std::time::Duration = std::time::Duration::from_secs(60);

fn spawn_jobs(vault: Arc<Vault>) {
    let cfg = vault.config().clone();
    std::thread::Builder::new()
        .name("custodia-jobs".into())
        .spawn(move || {
            let start = std::time::Instant::now();
            let mut next_retention =
                (cfg.retention.every_minutes > 0).then(|| start + std::time::Duration::from_secs(3));
            let mut next_backup = cfg
                .backup
                .as_ref()
                .map(|b| start + std::time::Duration::from_secs(b.every_hours.max(1) as u64 * 3600));
            // Servers sharing PostgreSQL: copy the others' erasures into this
            // directory's ledger (and replay any the database lost).
            let shared = vault.dir().storage(Some(&cfg)).is_ok_and(|s| s.is_postgres());
            let mut next_ledger = shared.then(|| start + LEDGER_SYNC);
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let now = std::time::Instant::now();
                if next_ledger.is_some_and(|t| now >= t) {
                    match vault.sync_erasure_ledger(&Principal::system(Job::LedgerSync)) {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(replayed = n, "erasures replayed from the erasure ledger"),
                        Err(e) => tracing::error!(error = %e, "erasure ledger sync failed"),
                    }
                    next_ledger = Some(now + LEDGER_SYNC);
                }
                if next_retention.is_some_and(|t| now >= t) {
                    match vault.retention_run(
                        &Principal::system(Job::Retention),
                        &Default::default(),
                        &custodia_vault::NoProgress,
                    ) {
                        Ok(r) => tracing::info!(
                            erased = r.customers_erased,
                            trimmed = r.customers_trimmed,
                            held = r.held,
                            stale = r.stale_for_review,
                            "retention run"
                        ),
                        Err(e) => tracing::error!(error = %e, "retention run failed"),
                    }
                    next_retention =
                        Some(now + std::time::Duration::from_secs(cfg.retention.every_minutes as u64 * 60));
                }
                if next_backup.is_some_and(|t| now >= t) {
                    match vault.scheduled_backup(&Principal::system(Job::Backup), &custodia_vault::NoProgress) {
                        Ok(Some(r)) => tracing::info!(path = %r.path.display(), bytes = r.db_bytes, "scheduled backup"),
                        Ok(None) => {}
                        Err(e) => tracing::error!(error = %e, "scheduled backup failed"),
                    }
                    let hours = cfg.backup.as_ref().map(|b| b.every_hours.max(1)).unwrap_or(24) as u64;
                    next_backup = Some(now + std::time::Duration::from_secs(hours * 3600));
                }
            }
        })
        .expect("a thread starts");
}

/// `custodia migrate`: copy, verify, repoint. Needs `manage_keys`.
fn migrate(operator: &str, a: MigrateArgs) -> Result<i32, VaultError> {
    let src = DataDir::new(&a.from);
    if !src.is_initialized() {
        return Err(VaultError::NotInitialized(src.root().display().to_string()));
    }
    let started = std::time::Instant::now();
    let report = {
        // The master secret must open the source; the vault checks its
        // operator holds manage_keys before anything is copied.
        let (v, p) = open_as(&src, operator)?;
        let bar = Bar::new("migrate");
        v.migrate_to_postgres(&p, &a.to, &bar)?
    };
    let copied_s = started.elapsed().as_secs_f64();
    // Verify on the target what a server will use: the chain, end to end.
    let target = Vault::open(&src.clone().with_storage(Some(a.to.clone())), &prompt_passphrase)?;
    let verify = target.audit_verify(&target.operator(operator))?;
    let audit_rows = report
        .tables
        .iter()
        .find(|(t, _)| t == "audit")
        .map(|(_, n)| *n)
        .unwrap_or(0);
    if !verify.ok || verify.events < audit_rows {
        return Err(VaultError::Config(format!(
            "the audit chain does not verify on the target ({} events checked, {} problems); the target keeps \
             the copy for inspection, config.toml is unchanged",
            verify.events,
            verify.problems.len()
        )));
    }
    drop(target);
    if !a.keep_config {
        src.set_storage(&a.to)?;
    }
    print_json(&serde_json::json!({
        "rows": report.rows,
        "tables": report.tables.iter().map(|(t, n)| (t.clone(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
        "audit_events_verified": verify.events,
        "copy_seconds": (copied_s * 100.0).round() / 100.0,
        "config_updated": !a.keep_config,
        "note": "the embedded database custodia.db is left as it was; remove it once the servers run on PostgreSQL",
    }))?;
    Ok(0)
}

fn serve(dir: &DataDir, operator: &str, a: ServeArgs) -> Result<i32, VaultError> {
    let actor = format!("operator:{operator}");
    let vault = if dir.is_initialized() {
        open(dir)?
    } else {
        let (v, report) = Vault::init(dir, None, MasterChoice::KeyFile(None), &actor)?;
        eprintln!("initialized a new data directory at {}", dir.root().display());
        if let Some(k) = report.key_file {
            warn_key_file(&k);
        }
        v
    };
    let config = dir.config()?;
    custodia_server::parse_proxies(&config.trusted_proxies).map_err(VaultError::Config)?;
    let listen: SocketAddr = match a.listen {
        Some(l) => l,
        None => config
            .listen
            .parse()
            .map_err(|_| VaultError::Config(format!("listen address {:?} is not host:port", config.listen)))?,
    };
    let transport = if a.insecure_http {
        eprintln!("warning: serving plain HTTP (--insecure-http); use only for local debugging");
        Transport::InsecureHttp
    } else {
        let (cert, key) = match (a.tls_cert, a.tls_key) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let (c, k) = (dir.resolve(&config.tls.cert), dir.resolve(&config.tls.key));
                if tls::ensure_self_signed(&c, &k).map_err(|e| VaultError::Config(e.to_string()))? {
                    eprintln!("created a self-signed certificate for localhost: {}", c.display());
                }
                (c, k)
            }
        };
        Transport::Tls(tls::server_config(&cert, &key).map_err(|e| VaultError::Config(e.to_string()))?)
    };
    // The first server prints the bootstrap token, which creates the first
    // administrator and nothing else.
    let p = vault.operator(operator);
    let token = match vault.bootstrap_status()? {
        custodia_vault::operations::bootstrap::BootstrapStatus::NeverIssued if !vault.administrator_exists()? => {
            match vault.issue_bootstrap_token(&p) {
                Ok(t) => BootstrapLine::New(t),
                Err(e) => {
                    eprintln!("warning: no bootstrap token: {e}");
                    BootstrapLine::Off
                }
            }
        }
        custodia_vault::operations::bootstrap::BootstrapStatus::Active => BootstrapLine::Earlier,
        _ => BootstrapLine::Off,
    };
    let vault = Arc::new(vault);
    if !a.no_background_jobs {
        spawn_jobs(vault.clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| VaultError::Io(e.to_string()))?;
    rt.block_on(async move {
        let https = matches!(transport, Transport::Tls(_));
        let bound = custodia_server::bind(listen, transport)
            .await
            .map_err(|e| VaultError::Config(e.to_string()))?;
        let addr = bound.local_addr();
        let scheme = if https { "https" } else { "http" };
        // A supervisor that stopped reading stdout must not bring the
        // server down: write errors here are ignored (println! would panic).
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Custodia is listening on {scheme}://{addr}");
        let _ = match token {
            BootstrapLine::New(t) => writeln!(
                out,
                "Bootstrap token (shown once; it creates the first administrator only, POST /v1/accounts): {}",
                t.as_str()
            ),
            BootstrapLine::Earlier => writeln!(
                out,
                "Bootstrap token: issued earlier and unused (`custodia token reset` issues a new one)"
            ),
            BootstrapLine::Off => writeln!(out, "Staff sign in at {scheme}://{addr}/login"),
        };
        let _ = out.flush();
        drop(out);
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            tracing::info!("shutting down");
        };
        custodia_server::serve(bound, vault, shutdown).await;
        Ok::<_, VaultError>(())
    })?;
    Ok(0)
}

/// What `serve` says about the bootstrap token.
enum BootstrapLine {
    /// Issued now (shown once).
    New(Zeroizing<String>),
    /// Issued by an earlier start and still unused.
    Earlier,
    /// Off: an administrator exists (or it was disabled).
    Off,
}
