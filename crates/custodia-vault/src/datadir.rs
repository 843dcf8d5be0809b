//! The data directory: its layout, configuration file and master secret.
//!
//! ```text
//! custodia-data/            (0700)
//!   config.toml             listen address, TLS files, where the master secret comes from
//!   schema.toml             the customer schema this data was created with
//!   policy.toml             the access policy (roles, grants, training rules)
//!   master.key              (0600) the master secret, unless a passphrase is used
//!   custodia.db[-wal,-shm]  the store: ciphertexts, blind indexes, audit log
//!   tls/cert.pem, key.pem   the HTTPS certificate (key 0600)
//! ```

use crate::error::VaultError;
use custodia_crypto::MasterSecret;
use custodia_store::open::Storage;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable holding the passphrase, when one is used.
pub const PASSPHRASE_ENV: &str = "CUSTODIA_PASSPHRASE";

/// Where the master secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum MasterConfig {
    /// A key file (relative paths are inside the data directory).
    KeyFile {
        /// Path of the key file.
        key_file: PathBuf,
    },
    /// Argon2id over a passphrase from `CUSTODIA_PASSPHRASE` or a prompt.
    Passphrase {
        /// Hex salt, created at init.
        salt: String,
    },
}

/// TLS certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address `serve` listens on unless `--listen` is given.
    pub listen: String,
    /// Certificate files.
    pub tls: TlsConfig,
    /// Master secret source.
    pub master: MasterConfig,
    /// Where the erasure ledger lives. Keep it apart from backups (another
    /// disk or mount): restores replay it so erased customers stay erased.
    #[serde(default = "default_ledger")]
    pub erasure_ledger: PathBuf,
    /// Data-subject requests.
    #[serde(default)]
    pub rights: RightsConfig,
    /// Retention runs inside `serve`.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Scheduled backups inside `serve` (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupConfig>,
    /// Where records live: absent for the embedded SQLite file
    /// (`custodia.db` here), or a `postgres://` URL shared by several
    /// servers. `--storage` / `CUSTODIA_STORAGE` override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Roles of the command line's local operators.
    #[serde(default)]
    pub operator: OperatorConfig,
    /// The customers' privacy portal.
    #[serde(default)]
    pub portal: PortalConfig,
    /// Outgoing mail (portal codes go to the customer's own address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailConfig>,
    /// An SMS gateway reached by an HTTPS webhook (portal codes by text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsConfig>,
    /// Staff sign-in limits.
    #[serde(default)]
    pub sign_in: SignInConfig,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR
    /// ranges, e.g. `["10.0.0.0/8"]`); a request from anywhere else is
    /// counted against its own address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Connection limits and timeouts of `serve`.
    #[serde(default)]
    pub http: HttpConfig,
    /// The company's time zone, as an offset from UTC (`"+08:00"`): a
    /// privacy notice takes effect at midnight of its effective date here.
    #[serde(default)]
    pub utc_offset: UtcOffset,
    /// The staff console.
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// `[console]` of `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Seconds a revealed value stays on screen (5 to 600).
    pub reveal_seconds: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { reveal_seconds: 60 }
    }
}

/// A fixed offset from UTC, written `+08:00` / `-05:00` in `config.toml`
/// (a zone with summer time gives its standard offset: a notice then
/// takes effect at most an hour off midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcOffset(pub chrono::FixedOffset);

impl Default for UtcOffset {
    fn default() -> Self {
        UtcOffset(chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is an offset"))
    }
}

impl UtcOffset {
    /// Midnight at the start of `date` here, in ms since the epoch.
    pub fn midnight_ms(&self, date: chrono::NaiveDate) -> i64 {
        let local = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        (local - chrono::Duration::seconds(self.0.local_minus_utc() as i64))
            .and_utc()
            .timestamp_millis()
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.trim().parse::<chrono::FixedOffset>().map(UtcOffset).map_err(|_| {
            serde::de::Error::custom(format!(
                "utc_offset {text:?} is not an offset written like +08:00 or -05:00"
            ))
        })
    }
}

/// `[http]` of `config.toml`: what one client may hold of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A connection is closed when a request's headers have not all
    /// arrived this long after it became ready for one: half-sent headers,
    /// and kept-alive connections with no request under way.
    pub header_read_timeout_ms: u64,
    /// The TLS handshake must finish within this.
    pub handshake_timeout_ms: u64,
    /// Connections open at once from one address (a trusted proxy's are not
    /// counted: it carries many clients); further ones are closed at once.
    /// 0: no limit.
    pub max_connections_per_address: usize,
    /// Connections open at once in all.
    pub max_connections: usize,
    /// Text detections (`POST /v1/detect`) one caller may ask for a minute
    /// (0: no limit).
    pub detect_per_minute: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_ms: 10_000,
            handshake_timeout_ms: 10_000,
            max_connections_per_address: 128,
            max_connections: 4096,
            detect_per_minute: 120,
        }
    }
}

/// `[sign_in]` of `config.toml`: how failures are counted. Counters live
/// in the database, so they survive restarts and every server on one
/// PostgreSQL database shares them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInConfig {
    /// Wrong passwords for one account from one address (or from one
    /// remembered browser) before that address is shut out of that account
    /// for `password_lock_minutes`. Other addresses, other accounts and
    /// the owner's remembered browsers are not affected.
    pub password_failures: u32,
    /// Length of that lockout, and of the window failures are counted in.
    pub password_lock_minutes: u32,
    /// Wrong second-factor codes after a right password before the second
    /// factor is locked for `code_lock_minutes` (except in the owner's
    /// remembered browsers) and the owner is alerted.
    pub code_failures: u32,
    /// Length of that lock.
    pub code_lock_minutes: u32,
    /// Failed sign-ins from one address (any account) in 15 minutes after
    /// which each further attempt from it waits `address_delay_ms` first.
    /// Right credentials still get in.
    pub address_failures: u32,
    /// That wait.
    pub address_delay_ms: u64,
    /// Days a browser is remembered after a sign-in (the device cookie).
    pub device_days: u32,
    /// Password checks (Argon2id) computed at once; further sign-ins queue
    /// and, after a few seconds, are told to retry.
    pub concurrent_checks: usize,
    /// Invalid API tokens from one address in 10 minutes before it is
    /// answered 429 (a valid token still works).
    pub token_failures: u32,
    /// Seconds a confirmed second-factor code covers revealing personal
    /// data in a staff session (1 to 86 400; default 15 minutes): after
    /// that, a reveal asks for a fresh code first (step-up).
    pub step_up_seconds: u32,
}

impl Default for SignInConfig {
    fn default() -> Self {
        SignInConfig {
            password_failures: 5,
            password_lock_minutes: 15,
            code_failures: 5,
            code_lock_minutes: 15,
            address_failures: 50,
            address_delay_ms: 2000,
            device_days: 90,
            concurrent_checks: 2,
            step_up_seconds: 900,
            token_failures: 20,
        }
    }
}

/// `[operator]` of `config.toml`: the roles the command line acts with.
///
/// Whoever runs the command line holds the data directory and the master
/// key and could read everything anyway; these roles are a guardrail (the
/// command line reveals, exports and changes only what they allow, and its
/// refusals are audited) and a record of who did what, not a boundary.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// Roles of every operator not named in `by_name` (empty: none; the
    /// command line then refuses every operation that needs a role).
    pub roles: Vec<String>,
    /// Roles per operator name, replacing `roles` for that operator.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub by_name: std::collections::BTreeMap<String, Vec<String>>,
}

impl OperatorConfig {
    /// The roles `name` acts with.
    pub fn roles_of(&self, name: &str) -> Vec<String> {
        self.by_name.get(name).unwrap_or(&self.roles).clone()
    }
}

/// The roles `init` gives local operators: enough to run every command of
/// the README's first session on one machine. Narrow them per operator
/// (`[operator.by_name]`) once several people share a server.
pub fn default_operator_roles() -> Vec<String> {
    ["data_steward", "privacy_officer", "administrator"]
        .map(String::from)
        .to_vec()
}

/// `[portal]` of `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// The address customers open (the messages carrying their codes link
    /// to `<base_url>/portal/enter`).
    pub base_url: String,
    /// Hours an entry code stays valid.
    pub code_hours: u32,
    /// Hours after staff change a customer's e-mail address or mobile
    /// number during which no portal code goes to it (whoever can change a
    /// contact could otherwise send the customer's portal to themselves).
    pub contact_hold_hours: u32,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            base_url: "https://127.0.0.1:8443".into(),
            code_hours: 72,
            contact_hold_hours: 72,
        }
    }
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailSecurity {
    /// Plain connection upgraded with STARTTLS (required, never optional).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No TLS: allowed only to a server on a loopback address (a local relay).
    None,
}

/// `[mail]` of `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Mail server host name (checked against its certificate).
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS, 25 for a local relay).
    pub port: u16,
    /// `starttls`, `tls` or `none` (loopback only).
    pub security: MailSecurity,
    /// Sender, e.g. `"Privacy <privacy@example.com>"`.
    pub from: String,
    /// User name for SMTP authentication (the password comes from the
    /// environment variable `password_env`, never from this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    #[serde(default = "default_mail_password_env")]
    pub password_env: String,
    /// PEM file of the certificate authority to trust for the mail server
    /// instead of the public web PKI roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Seconds before a connection attempt or command gives up.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_mail_password_env() -> String {
    "CUSTODIA_SMTP_PASSWORD".into()
}

fn default_timeout() -> u64 {
    10
}

/// `[sms]` of `config.toml`: an HTTPS webhook that sends a text message.
/// Custodia POSTs `{"to": "+86…", "text": "…"}` as JSON with the bearer
/// token from `token_env`; any 2xx answer counts as accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The webhook (must be `https://`).
    pub webhook: String,
    /// Environment variable holding the webhook's bearer token.
    #[serde(default = "default_sms_token_env")]
    pub token_env: String,
    /// PEM file of the certificate authority to trust for the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Seconds before the call gives up.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_sms_token_env() -> String {
    "CUSTODIA_SMS_TOKEN".into()
}

fn default_ledger() -> PathBuf {
    PathBuf::from("erasure-ledger.jsonl")
}

/// `[rights]` of `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RightsConfig {
    /// The company's stated PIPL answer period, in mainland working days
    /// (the earlier of this and `pipl_calendar_days` applies; PIPL sets no
    /// period: docs/LEGAL-RULES.md, `pipl-deadline-policy`).
    pub pipl_working_days: u32,
    /// The same in calendar days (GB/T 35273-2020 §8.7: 30). `pipl_days`,
    /// its former name, is read too.
    #[serde(alias = "pipl_days")]
    pub pipl_calendar_days: u32,
    /// What the CCPA's business days are: `federal_and_california` (the
    /// earlier reading, default), `federal`, `california`, `weekdays`.
    pub ccpa_business_days: custodia_core::rights::clock::BusinessDays,
    /// The company's time zone (IANA), in which a request's receipt date
    /// is taken; each regime's own zone is taken too and the earlier
    /// deadline kept.
    pub time_zone: String,
    /// The GDPR lead authority's zone (default Europe/Brussels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gdpr_time_zone: Option<String>,
    /// A holidays file over the bundled calendars (relative to the data
    /// directory), written by `custodia holidays load`.
    pub holidays_file: PathBuf,
    /// No longer used (requests are kept with their history; CCPA 11 CCR
    /// §7101 asks for at least 24 months). Read so older configurations
    /// open; `custodia status` says to remove it.
    #[serde(default, skip_serializing)]
    pub keep_request_months: Option<u32>,
}

impl Default for RightsConfig {
    fn default() -> Self {
        RightsConfig {
            pipl_working_days: 15,
            pipl_calendar_days: 30,
            ccpa_business_days: Default::default(),
            time_zone: "Asia/Shanghai".into(),
            gdpr_time_zone: None,
            holidays_file: PathBuf::from("holidays.toml"),
            keep_request_months: None,
        }
    }
}

impl RightsConfig {
    /// Check the settings; the message names the setting.
    pub fn check(&self) -> Result<(), String> {
        self.pipl_policy()
            .check()
            .map_err(|e| format!("[rights] {}", e.replace("pipl.", "pipl_")))?;
        self.zone()?;
        self.gdpr_zone()?;
        Ok(())
    }

    /// The PIPL policy.
    pub fn pipl_policy(&self) -> custodia_core::rights::clock::PiplPolicy {
        custodia_core::rights::clock::PiplPolicy {
            working_days: self.pipl_working_days,
            calendar_days: self.pipl_calendar_days,
        }
    }

    /// The company's zone.
    pub fn zone(&self) -> Result<chrono_tz::Tz, String> {
        self.time_zone.parse().map_err(|_| {
            format!(
                "[rights] time_zone = {:?} is not an IANA time zone (e.g. Asia/Shanghai, America/Los_Angeles)",
                self.time_zone
            )
        })
    }

    /// The GDPR zone, if set.
    pub fn gdpr_zone(&self) -> Result<Option<chrono_tz::Tz>, String> {
        self.gdpr_time_zone
            .as_deref()
            .map(|z| {
                z.parse().map_err(|_| {
                    format!("[rights] gdpr_time_zone = {z:?} is not an IANA time zone (e.g. Europe/Dublin)")
                })
            })
            .transpose()
    }
}

/// `[retention]` of `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Minutes between retention runs inside `serve` (0: off).
    pub every_minutes: u32,
    /// Records not reviewed for this many days are flagged for a data-quality review.
    pub review_after_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            every_minutes: 60,
            review_after_days: 365,
        }
    }
}

/// `[backup]` of `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Directory the backups go to.
    pub dir: PathBuf,
    /// Hours between backups.
    #[serde(default = "default_backup_hours")]
    pub every_hours: u32,
    /// How many backups to keep (older ones are deleted).
    #[serde(default = "default_backup_keep")]
    pub keep: u32,
}

fn default_backup_hours() -> u32 {
    24
}

fn default_backup_keep() -> u32 {
    7
}

/// How `init` should protect the master secret.
pub enum MasterChoice {
    /// Generate a random secret into a key file at this path (default:
    /// `master.key` inside the data directory).
    KeyFile(Option<PathBuf>),
    /// Derive from this passphrase.
    Passphrase(Zeroizing<String>),
}

/// First line of a written `config.toml`.
const CONFIG_HEADER: &str = "# Custodia configuration. Relative paths are inside this directory.\n";

/// A data directory on disk: configuration, keys, schema and policy, and
/// (unless the configuration names PostgreSQL) the embedded database.
#[derive(Clone)]
pub struct DataDir {
    root: PathBuf,
    storage: Option<String>,
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The storage URL may carry a password: never print it.
        write!(f, "DataDir({})", self.root.display())
    }
}

impl DataDir {
    /// The directory at `root` (not yet checked).
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir {
            root: root.into(),
            storage: None,
        }
    }

    /// Use this storage instead of the configured one (`--storage`,
    /// `CUSTODIA_STORAGE`); empty means no override.
    pub fn with_storage(mut self, storage: Option<String>) -> DataDir {
        self.storage = storage.filter(|s| !s.trim().is_empty());
        self
    }

    /// Where records live: the override, else `config.toml`'s `storage`,
    /// else the embedded database file.
    pub fn storage(&self, config: Option<&Config>) -> Result<Storage, VaultError> {
        Ok(Storage::parse(self.storage_setting(config), &self.db_path())?)
    }

    /// The storage setting in force, unparsed ("" for the default).
    fn storage_setting<'a>(&'a self, config: Option<&'a Config>) -> &'a str {
        self.storage
            .as_deref()
            .or_else(|| config.and_then(|c| c.storage.as_deref()))
            .unwrap_or("")
            .trim()
    }

    /// Whether records live outside this directory (PostgreSQL).
    fn external_storage(&self) -> bool {
        // By name only: a URL that does not parse is reported when the
        // store is opened, not taken for a missing directory.
        let config = self.config().ok();
        let setting = self.storage_setting(config.as_ref());
        setting.starts_with("postgres://") || setting.starts_with("postgresql://")
    }
    /// Its path.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `schema.toml`.
    pub fn schema_path(&self) -> PathBuf {
        self.root.join("schema.toml")
    }
    /// `policy.toml`, the access policy.
    pub fn policy_path(&self) -> PathBuf {
        self.root.join("policy.toml")
    }
    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("custodia.db")
    }
    /// The erasure ledger, as configured.
    pub fn ledger_path(&self, config: &Config) -> PathBuf {
        self.resolve(&config.erasure_ledger)
    }
    /// Resolve a configured path against the data directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.root.join(p)
        }
    }
    /// Whether `init` has run here.
    pub fn is_initialized(&self) -> bool {
        self.config_path().is_file() && (self.db_path().is_file() || self.external_storage())
    }

    /// Set `storage` in `config.toml` (after `custodia migrate`), keeping
    /// everything else.
    pub fn set_storage(&self, url: &str) -> Result<(), VaultError> {
        let p = self.config_path();
        let text = std::fs::read_to_string(&p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?;
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| VaultError::Config(format!("{}: {e}", p.display())))?;
        table.insert("storage".into(), toml::Value::String(url.to_owned()));
        let out = format!(
            "{CONFIG_HEADER}{}",
            toml::to_string_pretty(&table).map_err(|e| VaultError::Config(e.to_string()))?
        );
        let tmp = p.with_extension("toml.tmp");
        write_private(&tmp, out.as_bytes(), 0o600)?;
        std::fs::rename(&tmp, &p)?;
        Ok(())
    }

    /// Read `config.toml`.
    pub fn config(&self) -> Result<Config, VaultError> {
        let p = self.config_path();
        let text =
            std::fs::read_to_string(&p).map_err(|_| VaultError::NotInitialized(self.root.display().to_string()))?;
        let c: Config = toml::from_str(&text).map_err(|e| VaultError::Config(format!("{}: {e}", p.display())))?;
        c.rights
            .check()
            .map_err(|e| VaultError::Config(format!("{}: {e}", p.display())))?;
        if !(1..=86_400).contains(&c.sign_in.step_up_seconds) {
            return Err(VaultError::Config(format!(
                "{}: [sign_in] step_up_seconds = {}: must be 1 to 86400",
                p.display(),
                c.sign_in.step_up_seconds
            )));
        }
        if !(5..=600).contains(&c.console.reveal_seconds) {
            return Err(VaultError::Config(format!(
                "{}: [console] reveal_seconds = {}: must be 5 to 600",
                p.display(),
                c.console.reveal_seconds
            )));
        }
        Ok(c)
    }

    /// Create the directory, its configuration and master secret. Returns
    /// the master secret and the config.
    pub(crate) fn create(&self, schema_toml: &str, master: MasterChoice) -> Result<(MasterSecret, Config), VaultError> {
        if self.config_path().exists() || self.db_path().exists() {
            return Err(VaultError::AlreadyInitialized(self.root.display().to_string()));
        }
        std::fs::create_dir_all(&self.root)?;
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))?;
        write_private(&self.schema_path(), schema_toml.as_bytes(), 0o600)?;
        let storage = self.storage(None)?;
        if !storage.is_postgres() {
            // SQLite gives its -wal and -shm files the database file's mode.
            write_private(&self.db_path(), b"", 0o600)?;
        }
        let (secret, master_cfg) = match master {
            MasterChoice::KeyFile(path) => {
                let path = path.unwrap_or_else(|| PathBuf::from("master.key"));
                let secret = MasterSecret::generate();
                let full = self.resolve(&path);
                if full.exists() {
                    return Err(VaultError::Config(format!(
                        "{} exists already; refusing to overwrite a master key",
                        full.display()
                    )));
                }
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                write_private(&full, secret.to_key_file().as_bytes(), 0o600)?;
                (secret, MasterConfig::KeyFile { key_file: path })
            }
            MasterChoice::Passphrase(p) => {
                let mut salt = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
                let secret = MasterSecret::from_passphrase(p.as_bytes(), &salt)?;
                (
                    secret,
                    MasterConfig::Passphrase {
                        salt: custodia_core::audit::to_hex(&salt),
                    },
                )
            }
        };
        let config = Config {
            listen: "127.0.0.1:8443".into(),
            tls: TlsConfig {
                cert: "tls/cert.pem".into(),
                key: "tls/key.pem".into(),
            },
            master: master_cfg,
            erasure_ledger: default_ledger(),
            rights: RightsConfig::default(),
            retention: RetentionConfig::default(),
            backup: None,
            storage: self.storage.clone().filter(|_| storage.is_postgres()),
            operator: OperatorConfig {
                roles: default_operator_roles(),
                by_name: Default::default(),
            },
            portal: PortalConfig::default(),
            mail: None,
            sms: None,
            sign_in: SignInConfig::default(),
            trusted_proxies: Vec::new(),
            http: HttpConfig::default(),
            utc_offset: UtcOffset::default(),
            console: ConsoleConfig::default(),
        };
        let text = format!(
            "{CONFIG_HEADER}{}",
            toml::to_string_pretty(&config).map_err(|e| VaultError::Config(e.to_string()))?
        );
        write_private(&self.config_path(), text.as_bytes(), 0o600)?;
        Ok((secret, config))
    }

    /// Load the master secret as configured. `passphrase` is asked only
    /// when a passphrase is configured and `CUSTODIA_PASSPHRASE` is unset.
    pub fn master(
        &self,
        config: &Config,
        passphrase: &dyn Fn() -> Result<Zeroizing<String>, VaultError>,
    ) -> Result<MasterSecret, VaultError> {
        match &config.master {
            MasterConfig::KeyFile { key_file } => {
                let p = self.resolve(key_file);
                let meta = std::fs::metadata(&p)
                    .map_err(|e| VaultError::Config(format!("master key file {}: {e}", p.display())))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(VaultError::Config(format!(
                        "master key file {} is readable by other users; run chmod 600 on it",
                        p.display()
                    )));
                }
                let text = Zeroizing::new(std::fs::read_to_string(&p)?);
                Ok(MasterSecret::from_key_file(&text)?)
            }
            MasterConfig::Passphrase { salt } => {
                let salt = parse_salt(salt)?;
                let pass = match std::env::var(PASSPHRASE_ENV) {
                    Ok(p) => Zeroizing::new(p),
                    Err(_) => passphrase()?,
                };
                Ok(MasterSecret::from_passphrase(pass.as_bytes(), &salt)?)
            }
        }
    }
}

fn parse_salt(hex: &str) -> Result<[u8; 16], VaultError> {
    let bad = || VaultError::Config("master.salt must be 32 hexadecimal digits".into());
    if hex.len() != 32 {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Write a file readable only by its owner (created new or truncated).
pub fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), VaultError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Why a new file could not be created, in words a person acts on.
pub fn new_file_error(path: &Path, e: std::io::Error) -> VaultError {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    VaultError::Io(match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!(
                "{} exists already; choose a new file name (nothing is overwritten)",
                path.display()
            )
        }
        std::io::ErrorKind::NotFound if parent.is_some_and(|p| !p.exists()) => format!(
            "{}: the folder {} does not exist; create it first (mkdir -p) or choose another",
            path.display(),
            parent.map(|p| p.display().to_string()).unwrap_or_default()
        ),
        _ => format!("{}: {e}", path.display()),
    })
}
