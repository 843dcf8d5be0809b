//! # custodia-vault
//!
//! The encrypted customer vault: the application service that turns
//! requests ("create this customer", "show me this phone number for
//! customer service") into validated, encrypted, blind-indexed, audited
//! changes in a store. The HTTPS server and the command line are thin
//! shells around it.
//!
//! Every operation takes its caller (a [`access::authz::Principal`]) and decides
//! itself — authorization, purpose, consent, training, MFA and separation
//! of duties — for every caller alike. The store, the key ring and the
//! decrypting helpers are private to this crate, so no shell can go around
//! an operation:
//!
//! ```compile_fail
//! fn bypass(v: &custodia_vault::Vault) { let _ = v.store(); }
//! ```
//! ```compile_fail
//! fn bypass(v: &custodia_vault::Vault) { let _ = v.keys(); }
//! ```
//! ```compile_fail
//! fn bypass(v: &custodia_vault::Vault, r: &custodia_store::StoredCustomer) { let _ = v.decrypt(r); }
//! ```
//! ```compile_fail
//! fn bypass(v: &custodia_vault::Vault, d: &custodia_core::FieldDef) { let _ = v.lookup(d, "x"); }
//! ```
//! ```compile_fail
//! fn bypass(v: &custodia_vault::Vault, r: &custodia_store::StoredCustomer, a: &custodia_vault::Access) {
//!     let _ = v.view(r, a);
//! }
//! ```
//! ```compile_fail
//! fn bypass(v: &custodia_vault::Vault) { let _ = v.audit(Vec::new()); }
//! ```
//!
//! Rules kept here, whoever calls:
//! * unknown fields, missing required fields and invalid values are
//!   refused, all problems of a record reported at once;
//! * personal and sensitive values are encrypted before they leave this
//!   crate; internal fields are stored in clear;
//! * every access to customer data declares a purpose from the catalog;
//!   reads are masked unless a reveal is allowed for that purpose;
//! * every read, reveal, search, write, delete, export and key operation
//!   appends an audit event, durable before the call returns; refusals are
//!   audited too.

pub mod access;
pub mod audit;
pub mod datadir;
pub mod error;
pub mod operations;
pub mod privacy;
pub mod progress;
pub mod records;
pub mod rights;
pub use datadir::{Config, DataDir, MasterChoice};
pub use error::{FieldProblem, VaultError};
pub use progress::{NoProgress, Progress};
pub use records::input::{CustomerView, RecordInput, RecordPatch};
pub use records::{Access, Reveal, MAX_BATCH, MAX_SEARCH};

use access::session;
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::{CustomerId, FieldName, Schema};
use custodia_crypto::{KeyRing, MasterSecret};
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation, Store};
use operations::bootstrap;
use privacy::notice;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// What `init` did.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// Where the master key file was written, when a key file is used.
    pub key_file: Option<std::path::PathBuf>,
}

/// The vault over one data directory.
pub struct Vault {
    dir: DataDir,
    schema: Arc<Schema>,
    keys: Arc<KeyRing>,
    store: Arc<dyn Store>,
    kek_current: AtomicU32,
    kek_checked_ms: AtomicI64,
    /// Blind indexer per schema field position (None: not searchable).
    blind: Vec<Option<Arc<custodia_crypto::BlindIndexer>>>,
    policy: custodia_core::policy::Policy,
    token_failures: session::TokenFailures,
    notice_state: RwLock<Arc<notice::NoticeState>>,
    notice_checked_ms: AtomicI64,
    calendars: RwLock<Arc<custodia_core::rights::calendar::Calendars>>,
    config: Config,
    signer: std::sync::OnceLock<custodia_crypto::jws::DocumentSigner>,
    ledger: std::sync::Mutex<()>,
    replayed_at_open: std::sync::atomic::AtomicUsize,
    bootstrap: bootstrap::BootstrapCache,
    detect_budget: records::deid::CallBudget,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.dir.root().display())
    }
}

/// Current time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const META_CHECK: &str = "key_check";
const META_KEK: &str = "kek_current";

pub(crate) fn u32_meta(v: Option<Vec<u8>>) -> Option<u32> {
    v.and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.parse().ok())
}

impl Vault {
    /// Create a new data directory with `schema_toml` (the default schema
    /// when `None`) and open it.
    pub fn init(
        dir: &DataDir,
        schema_toml: Option<&str>,
        master: MasterChoice,
        actor: &str,
    ) -> Result<(Vault, InitReport), VaultError> {
        let text = schema_toml.unwrap_or(custodia_core::schema::DEFAULT_SCHEMA_TOML);
        let schema = Schema::from_toml(text).map_err(|e| VaultError::Config(format!("schema: {e}")))?;
        let key_file = match &master {
            MasterChoice::KeyFile(p) => Some(dir.resolve(p.as_deref().unwrap_or(std::path::Path::new("master.key")))),
            MasterChoice::Passphrase(_) => None,
        };
        let (secret, _config) = dir.create(text, master)?;
        let keys = KeyRing::open(secret, None)?;
        let vault = Vault::assemble(dir.clone(), schema, keys)?;
        if vault.store.meta(META_CHECK)?.is_some() {
            // A shared database that another server initialized: its master
            // secret is the one that counts; never overwrite its key check.
            // Take back the files this call wrote.
            drop(vault);
            for p in [dir.config_path(), dir.schema_path(), dir.policy_path()]
                .into_iter()
                .chain(key_file.clone())
            {
                let _ = std::fs::remove_file(p);
            }
            return Err(VaultError::Config(format!(
                "the storage already holds a vault initialized by another server; instead of init, copy its \
                 config.toml, schema.toml, policy.toml and master key into {}",
                dir.root().display()
            )));
        }
        let mut e = AuditEvent::new(now_ms(), actor, Action::Init);
        e.detail = Some("data directory created".into());
        vault.apply_one(vec![
            Mutation::SetMeta {
                key: META_CHECK.into(),
                value: vault.keys.check_value().to_vec(),
            },
            Mutation::SetMeta {
                key: META_KEK.into(),
                value: b"1".to_vec(),
            },
            Mutation::Audit(vec![e]),
        ])?;
        vault.kek_current.store(1, Ordering::SeqCst);
        vault.ensure_default_notice(actor)?;
        Ok((vault, InitReport { key_file }))
    }

    /// Open an initialized data directory; `passphrase` is called only if
    /// the master secret is passphrase-based and the environment has none.
    pub fn open(
        dir: &DataDir,
        passphrase: &dyn Fn() -> Result<Zeroizing<String>, VaultError>,
    ) -> Result<Vault, VaultError> {
        if !dir.is_initialized() {
            return Err(VaultError::NotInitialized(dir.root().display().to_string()));
        }
        let config = dir.config()?;
        let secret = dir.master(&config, passphrase)?;
        Vault::open_with(dir, secret)
    }

    /// Open with an already loaded master secret.
    pub fn open_with(dir: &DataDir, secret: MasterSecret) -> Result<Vault, VaultError> {
        let text = std::fs::read_to_string(dir.schema_path())
            .map_err(|e| VaultError::Config(format!("{}: {e}", dir.schema_path().display())))?;
        let schema = Schema::from_toml(&text).map_err(|e| VaultError::Config(format!("schema: {e}")))?;
        // Check the secret before anything else touches the store.
        let keys = KeyRing::open(secret, None)?;
        let vault = Vault::assemble(dir.clone(), schema, keys)?;
        let check = vault.store.meta(META_CHECK)?;
        match check {
            Some(c) => {
                let want = vault.keys.check_value();
                let diff = c.iter().zip(want.iter()).fold(0u8, |a, (x, y)| a | (x ^ y));
                if c.len() != 32 || diff != 0 {
                    return Err(custodia_crypto::CryptoError::WrongSecret.into());
                }
            }
            None => return Err(VaultError::NotInitialized(dir.root().display().to_string())),
        }
        vault.refresh_kek()?;
        vault.ensure_default_notice("system")?;
        let replayed = vault.reconcile_ledger()?;
        vault.replayed_at_open.store(replayed, Ordering::SeqCst);
        if replayed > 0 {
            tracing::warn!(
                replayed,
                "erasures replayed from the erasure ledger (the database was older than the ledger)"
            );
        }
        Ok(vault)
    }

    fn assemble(dir: DataDir, schema: Schema, keys: KeyRing) -> Result<Vault, VaultError> {
        let fields: Vec<(FieldName, bool)> = schema.fields().iter().map(|f| (f.name.clone(), f.searchable)).collect();
        let chain = keys.audit_chain();
        let linker: custodia_store::ChainLinker = Arc::new(move |prev: &[u8; 32], data: &[u8]| chain.link(prev, data));
        let config = dir.config()?;
        let store = custodia_store::open::open_store(&dir.storage(Some(&config))?, &fields, linker)?;
        let blind = schema
            .fields()
            .iter()
            .map(|f| f.searchable.then(|| keys.blind(f.name.as_str())))
            .collect();
        let policy = load_policy(&dir, &schema)?;
        let calendars = load_calendars(&dir, &config)?;
        Ok(Vault {
            calendars: RwLock::new(Arc::new(calendars)),
            config,
            signer: std::sync::OnceLock::new(),
            ledger: std::sync::Mutex::new(()),
            replayed_at_open: std::sync::atomic::AtomicUsize::new(0),
            bootstrap: bootstrap::BootstrapCache::default(),
            detect_budget: Default::default(),
            notice_state: RwLock::new(Arc::default()),
            notice_checked_ms: AtomicI64::new(0),
            token_failures: session::TokenFailures::default(),
            blind,
            policy,
            dir,
            schema: Arc::new(schema),
            keys: Arc::new(keys),
            store,
            kek_current: AtomicU32::new(1),
            kek_checked_ms: AtomicI64::new(0),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }
    /// Erasures replayed from the erasure ledger when this vault was opened
    /// (non-zero after restoring a backup older than the ledger).
    pub fn erasures_replayed_at_open(&self) -> usize {
        self.replayed_at_open.load(Ordering::SeqCst)
    }

    /// The data directory's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The customer schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
    pub(crate) fn bootstrap_cache(&self) -> &bootstrap::BootstrapCache {
        &self.bootstrap
    }

    /// The access policy (`policy.toml` in the data directory).
    pub fn policy(&self) -> &custodia_core::policy::Policy {
        &self.policy
    }

    /// The key ring (never outside this crate).
    pub(crate) fn keys(&self) -> &KeyRing {
        &self.keys
    }
    /// The store (never outside this crate: every access goes through an
    /// operation that checks its caller).
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Re-read the current KEK version (another process may have rotated).
    pub fn refresh_kek(&self) -> Result<u32, VaultError> {
        let v = u32_meta(self.store.meta(META_KEK)?).unwrap_or(1);
        self.kek_current.store(v, Ordering::SeqCst);
        self.kek_checked_ms.store(now_ms(), Ordering::SeqCst);
        Ok(v)
    }

    /// The KEK version new keys are wrapped under.
    pub(crate) fn current_kek_version(&self) -> Result<u32, VaultError> {
        self.current_kek()
    }

    /// The KEK version new keys are wrapped under, re-checked every 2 s.
    pub(crate) fn current_kek(&self) -> Result<u32, VaultError> {
        if now_ms() - self.kek_checked_ms.load(Ordering::Relaxed) > 2000 {
            return self.refresh_kek();
        }
        Ok(self.kek_current.load(Ordering::Relaxed))
    }

    /// Whether the store answers (for health checks; reads nothing personal).
    pub fn health(&self) -> Result<(), VaultError> {
        self.store().audit_head().map(|_| ()).map_err(VaultError::from)
    }

    /// The blind indexer of the schema field at `index` (None: not searchable).
    pub(crate) fn blind_at(&self, index: usize) -> Option<&custodia_crypto::BlindIndexer> {
        self.blind.get(index).and_then(|b| b.as_deref())
    }

    pub(crate) fn apply_one(&self, muts: Vec<Mutation>) -> Result<Vec<Applied>, VaultError> {
        let results = self.store.apply(muts)?;
        results.into_iter().map(|r| r.map_err(VaultError::from)).collect()
    }

    /// Record an audit event on its own (denials, verifications).
    pub(crate) fn audit(&self, events: Vec<AuditEvent>) -> Result<(), VaultError> {
        self.apply_one(vec![Mutation::Audit(events)]).map(|_| ())
    }
}

const MINIMAL_POLICY: &str = "# Custodia access policy. The default roles did not fit this data directory's schema;\n# add roles and grants here (see the default policy in the Custodia sources for the format).\nversion = 1\n\n[[roles]]\nid = \"administrator\"\nname_en = \"System administrator\"\nname_zh = \"系统管理员\"\n\n  [[roles.grants]]\n  actions = [\"manage_accounts\", \"manage_keys\"]\n\n[[roles]]\nid = \"privacy_officer\"\nname_en = \"Privacy officer\"\nname_zh = \"个人信息保护负责人\"\n\n  [[roles.grants]]\n  actions = [\"manage_policy\", \"read_audit\", \"review_access\", \"manage_training\", \"handle_requests\", \"verify_identity\"]\n";

/// Load `policy.toml` from the data directory, writing the default policy
/// there first if the directory has none.
/// The bundled calendars with the company's holidays file over them, if
/// there is one (a file that no longer reads is an error, not ignored).
fn load_calendars(dir: &DataDir, config: &Config) -> Result<custodia_core::rights::calendar::Calendars, VaultError> {
    use custodia_core::rights::calendar::Calendars;
    let path = dir.resolve(&config.rights.holidays_file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Calendars::bundled_with(&text).map_err(|e| VaultError::Config(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Calendars::bundled()),
        Err(e) => Err(VaultError::Config(format!("{}: {e}", path.display()))),
    }
}

fn load_policy(dir: &DataDir, schema: &Schema) -> Result<custodia_core::policy::Policy, VaultError> {
    let path = dir.policy_path();
    if !path.exists() {
        // The default policy names the default schema's fields; with another
        // schema, start from administration roles only.
        let text =
            if custodia_core::policy::Policy::from_toml(custodia_core::policy::DEFAULT_POLICY_TOML, schema).is_ok() {
                custodia_core::policy::DEFAULT_POLICY_TOML
            } else {
                MINIMAL_POLICY
            };
        datadir::write_private(&path, text.as_bytes(), 0o600)?;
    }
    let text = std::fs::read_to_string(&path).map_err(|e| VaultError::Config(format!("{}: {e}", path.display())))?;
    custodia_core::policy::Policy::from_toml(&text, schema).map_err(|errs| {
        VaultError::Config(
            errs.iter()
                .map(|e| format!("{}:{e}", path.display()))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// The problem reported for a field the schema does not declare.
pub fn unknown_field(name: &str) -> FieldProblem {
    FieldProblem {
        field: name.chars().take(64).collect(),
        code: "unknown_field".into(),
        message: "is not a field of the customer schema".into(),
    }
}

pub(crate) fn check_external_id(e: &str) -> Result<String, FieldProblem> {
    let t = e.trim();
    let ok = !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(t.to_owned())
    } else {
        Err(FieldProblem {
            field: "external_id".into(),
            code: "external_id_format".into(),
            message: "must be 1-64 characters of letters, digits, '-', '_', '.', ':'".into(),
        })
    }
}

/// Parse a customer id given by a caller.
pub(crate) fn parse_customer(id: &str) -> Result<CustomerId, VaultError> {
    id.parse()
        .map_err(|e: custodia_core::IdError| VaultError::Input(e.to_string()))
}

/// Whether an outcome counts as a denial (for audit details).
pub fn denied(e: &VaultError) -> Outcome {
    match e {
        VaultError::PurposeRequired | VaultError::UnknownPurpose { .. } => Outcome::Denied,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
