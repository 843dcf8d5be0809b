//! # custodia-vault
//!
//! The encrypted customer vault: the application service that turns
//! requests ("create this customer", "show me this phone number for
//! customer service") into validated, encrypted, blind-indexed, audited
//! changes in a [`Store`]. The HTTPS server and the CLI are thin shells
//! around it.
//!
//! Rules kept here, whoever calls:
//! * unknown fields, missing required fields and invalid values are
//!   refused, all problems of a record reported at once;
//! * personal and sensitive values are encrypted before they leave this
//!   crate; internal fields are stored in clear;
//! * reads are masked unless a reveal declares a purpose from the catalog;
//! * every read, reveal, search, write, delete, export and key operation
//!   appends an audit event, durable before the call returns.

pub mod audit;
pub mod authz;
pub mod backup;
pub mod consent;
pub mod datadir;
pub mod deid;
pub mod demo;
pub mod erasure;
pub mod error;
pub mod export;
pub mod identity;
pub mod import;
pub mod notice;
pub mod portal;
pub mod progress;
pub mod record;
pub mod retention;
pub mod review;
pub mod rights;
pub mod rotate;
pub mod session;

pub use datadir::{Config, DataDir, MasterChoice};
pub use error::{FieldProblem, VaultError};
pub use progress::{NoProgress, Progress};
pub use record::{CustomerView, RecordInput, RecordPatch};

use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::{Classification, CustomerId, FieldName, Purpose, Schema, Validator};
use custodia_crypto::{DataKey, FieldCipher, KeyRing, MasterSecret, WrappedKey};
use custodia_store::{Applied, Mutation, Store, StoredCustomer};
use record::rfc3339;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// Most records in one batch create.
pub const MAX_BATCH: usize = 1000;
/// Most records a search returns.
pub const MAX_SEARCH: usize = 1000;

/// How values are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Masked per the schema.
    Masked,
    /// Clear values of `fields` (all fields when `None`) for `purpose`.
    Reveal {
        /// The declared purpose (from the catalog).
        purpose: Purpose,
        /// Limit the reveal to these fields (minimum necessary).
        fields: Option<Vec<FieldName>>,
    },
}

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
    throttle: session::Throttle,
    notice_state: RwLock<Arc<notice::NoticeState>>,
    notice_checked_ms: AtomicI64,
    config: Config,
    signer: std::sync::OnceLock<custodia_crypto::jws::DocumentSigner>,
    ledger: std::sync::Mutex<()>,
    replayed_at_open: std::sync::atomic::AtomicUsize,
}

/// A new record, validated and sealed, ready to insert.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The stored form.
    pub customer: StoredCustomer,
    /// The fields it holds.
    pub fields: Vec<FieldName>,
    /// Consent receipts given with it.
    pub consents: Vec<custodia_store::ConsentRecord>,
    /// Vault tokens for personal information found in its free text.
    pub tokens: Vec<custodia_store::VaultToken>,
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
        Ok(Vault {
            config,
            signer: std::sync::OnceLock::new(),
            ledger: std::sync::Mutex::new(()),
            replayed_at_open: std::sync::atomic::AtomicUsize::new(0),
            notice_state: RwLock::new(Arc::default()),
            notice_checked_ms: AtomicI64::new(0),
            throttle: session::Throttle::default(),
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
    pub(crate) fn throttle(&self) -> &session::Throttle {
        &self.throttle
    }

    /// The access policy (`policy.toml` in the data directory).
    pub fn policy(&self) -> &custodia_core::policy::Policy {
        &self.policy
    }

    /// The key ring (for the server's token hashing and the like).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }
    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
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
    fn current_kek(&self) -> Result<u32, VaultError> {
        if now_ms() - self.kek_checked_ms.load(Ordering::Relaxed) > 2000 {
            return self.refresh_kek();
        }
        Ok(self.kek_current.load(Ordering::Relaxed))
    }

    /// A validator for today's date and the schema's region.
    pub fn validator(&self) -> Validator {
        Validator::new(self.schema.default_region(), chrono::Utc::now().date_naive())
    }

    /// Accept a purpose only if the catalog lists it.
    pub fn purpose(&self, p: &str) -> Result<Purpose, VaultError> {
        match self.schema.purpose(p) {
            Some(d) => Ok(d.id.clone()),
            None => Err(VaultError::UnknownPurpose(p.chars().take(64).collect())),
        }
    }

    /// Build an [`Access`] from the usual request parameters.
    pub fn access(&self, reveal: bool, purpose: Option<&str>, fields: Option<&str>) -> Result<Access, VaultError> {
        if !reveal {
            return Ok(Access::Masked);
        }
        let purpose = self.purpose(purpose.filter(|p| !p.is_empty()).ok_or(VaultError::PurposeRequired)?)?;
        let fields = match fields.filter(|f| !f.is_empty()) {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                let mut problems = Vec::new();
                for name in list.split(',').map(str::trim) {
                    match self.schema.field(name) {
                        Some(f) => out.push(f.name.clone()),
                        None => problems.push(unknown_field(name)),
                    }
                }
                if !problems.is_empty() {
                    return Err(VaultError::Invalid(problems));
                }
                Some(out)
            }
        };
        Ok(Access::Reveal { purpose, fields })
    }

    fn apply_one(&self, muts: Vec<Mutation>) -> Result<Vec<Applied>, VaultError> {
        let results = self.store.apply(muts)?;
        results.into_iter().map(|r| r.map_err(VaultError::from)).collect()
    }

    /// Record an audit event on its own (denials, verifications).
    pub fn audit(&self, events: Vec<AuditEvent>) -> Result<(), VaultError> {
        self.apply_one(vec![Mutation::Audit(events)]).map(|_| ())
    }

    /// Validate and encrypt a new record, with the consents given with it.
    /// Pure CPU work (no store access), so imports run it on every core.
    /// Applies the minimum-necessary rule: every personal field must be
    /// needed by a purpose of `notices` in force for this customer.
    pub fn seal_new(
        &self,
        input: &RecordInput,
        validator: &Validator,
        kek: u32,
        now: i64,
        notices: &notice::NoticeState,
        actor: &str,
    ) -> Result<Sealed, VaultError> {
        let mut problems = Vec::new();
        let mut clear: Vec<(usize, &custodia_core::FieldDef, String)> = Vec::with_capacity(input.fields.len());
        for (name, raw) in &input.fields {
            match self.schema.index_of(name) {
                None => problems.push(unknown_field(name)),
                Some(i) => {
                    let def = &self.schema.fields()[i];
                    if raw.trim().is_empty() {
                        continue;
                    }
                    match validator.check(def, raw) {
                        Ok(v) => clear.push((i, def, v)),
                        Err(e) => problems.push(FieldProblem {
                            field: name.clone(),
                            code: e.code().into(),
                            message: e.to_string(),
                        }),
                    }
                }
            }
        }
        for def in self.schema.fields() {
            if def.required
                && !clear.iter().any(|(_, d, _)| d.name == def.name)
                && !problems.iter().any(|p| p.field == def.name.as_str())
            {
                problems.push(FieldProblem {
                    field: def.name.to_string(),
                    code: "required".into(),
                    message: "is required".into(),
                });
            }
        }
        let external_id = match &input.external_id {
            Some(e) => match check_external_id(e) {
                Ok(v) => Some(v),
                Err(p) => {
                    problems.push(p);
                    None
                }
            },
            None => None,
        };
        let mut random = [0u8; 10];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
        let id = CustomerId::from_parts(now as u64, random);
        let mut receipts = Vec::with_capacity(input.consents.len());
        if problems.is_empty() {
            // Age matters only for the consents given with the record.
            let age = notices.current().filter(|_| !input.consents.is_empty()).and_then(|n| {
                let values: BTreeMap<String, String> =
                    clear.iter().map(|(_, d, v)| (d.name.to_string(), v.clone())).collect();
                self.age_of(n, &values)
            });
            for (i, c) in input.consents.iter().enumerate() {
                match self.prepare_receipt(notices, id, age, c, &format!("consents[{i}]"), actor, now) {
                    Ok(r) if r.given => receipts.push(r),
                    Ok(_) => problems.push(FieldProblem {
                        field: format!("consents[{i}].action"),
                        code: "withdraw_on_create".into(),
                        message: "a new customer has no consent to withdraw".into(),
                    }),
                    Err(p) => problems.push(p),
                }
            }
            let given: Vec<&str> = receipts.iter().map(|r| r.purpose.as_str()).collect();
            let names: Vec<&FieldName> = clear.iter().map(|(_, d, _)| &d.name).collect();
            problems.extend(self.unnecessary(notices, &names, &|p| given.contains(&p.as_str())));
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        let dk = DataKey::generate();
        let cipher = dk.cipher(id, 1);
        let wrapped = self.keys.kek(kek)?.wrap(&id, &dk);
        // Free text: personal information found in it is redacted,
        // tokenized or refused, as the schema says.
        let mut tokens = Vec::new();
        let mut scan_problems = Vec::new();
        for (_, def, v) in clear.iter_mut() {
            if let Some(action) = def.scan {
                match self.scan_free_text(id, &cipher, &def.name, action, v, now) {
                    Ok((text, t)) => {
                        *v = text;
                        tokens.extend(t);
                    }
                    Err(p) => scan_problems.push(p),
                }
            }
        }
        if !scan_problems.is_empty() {
            return Err(VaultError::Invalid(scan_problems));
        }
        let mut sealed = Vec::new();
        let mut attrs = BTreeMap::new();
        let mut blind = Vec::new();
        for (i, def, v) in &clear {
            if let Some(b) = &self.blind[*i] {
                blind.push((def.name.clone(), b.index(v)));
            }
            if def.classification.is_encrypted() {
                sealed.push((*i as u8, &def.name, v.as_bytes()));
            } else {
                attrs.insert(def.name.as_str(), v.as_str());
            }
        }
        let names = clear.iter().map(|(_, d, _)| d.name.clone()).collect();
        Ok(Sealed {
            customer: StoredCustomer {
                id,
                external_id,
                version: 1,
                kek_version: kek,
                dk_version: 1,
                wrapped_dk: wrapped.0,
                sealed: cipher.seal_record(&sealed),
                attrs: serde_json::to_string(&attrs).expect("string map serializes"),
                blind,
                created_ms: now,
                updated_ms: now,
                flags: 0,
            },
            fields: names,
            consents: receipts,
            tokens,
        })
    }

    fn event(&self, actor: &str, action: Action, customer: Option<CustomerId>) -> AuditEvent {
        let mut e = AuditEvent::new(now_ms(), actor, action);
        e.customer = customer;
        e
    }

    /// Create one customer.
    pub fn create(&self, actor: &str, input: &RecordInput) -> Result<CustomerView, VaultError> {
        let mut r = self.create_batch(actor, std::slice::from_ref(input))?;
        r.pop().expect("one result per input")
    }

    /// Create up to [`MAX_BATCH`] customers; each succeeds or fails alone.
    /// A record whose external id exists already is reported as a conflict
    /// naming the existing customer.
    pub fn create_batch(
        &self,
        actor: &str,
        inputs: &[RecordInput],
    ) -> Result<Vec<Result<CustomerView, VaultError>>, VaultError> {
        if inputs.len() > MAX_BATCH {
            return Err(VaultError::BatchTooLarge {
                max: MAX_BATCH,
                got: inputs.len(),
            });
        }
        let validator = self.validator();
        let kek = self.current_kek()?;
        let now = now_ms();
        let notices = self.notices();
        let sealed: Vec<Result<Sealed, VaultError>> = inputs
            .iter()
            .map(|i| self.seal_new(i, &validator, kek, now, &notices, actor))
            .collect();
        let mut muts = Vec::new();
        for s in sealed.iter().flatten() {
            let mut e = self.event(actor, Action::Create, Some(s.customer.id));
            e.fields = s.fields.clone();
            let mut events = vec![e];
            events.extend(self.consent_events(actor, &s.consents));
            muts.push(Mutation::Insert {
                customer: Box::new(s.customer.clone()),
                consents: s.consents.clone(),
                events,
            });
        }
        // Tokens follow their records (a skipped insert leaves them out:
        // the store refuses tokens of a customer it does not hold).
        let token_muts: Vec<Mutation> = sealed
            .iter()
            .flatten()
            .filter(|s| !s.tokens.is_empty())
            .map(|s| Mutation::PutVaultTokens {
                customer: s.customer.id,
                replace: Vec::new(),
                tokens: s.tokens.clone(),
                events: Vec::new(),
            })
            .collect();
        let n_records = muts.len();
        muts.extend(token_muts);
        let mut applied = if muts.is_empty() {
            Vec::new()
        } else {
            let mut all = self.store.apply(muts)?;
            all.truncate(n_records);
            all
        }
        .into_iter();
        let mut out = Vec::with_capacity(inputs.len());
        for s in sealed {
            out.push(match s {
                Err(e) => Err(e),
                Ok(Sealed { customer: rec, .. }) => match applied.next().expect("one result per mutation") {
                    Ok(Applied::Done) => self.view(&rec, &Access::Masked),
                    Ok(Applied::ExternalIdExists(existing)) => Err(VaultError::Invalid(vec![FieldProblem {
                        field: "external_id".into(),
                        code: "duplicate_external_id".into(),
                        message: format!("belongs to existing customer {existing}"),
                    }])),
                    Ok(other) => Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
                    Err(e) => Err(e.into()),
                },
            });
        }
        Ok(out)
    }

    pub(crate) fn cipher_for(&self, rec: &StoredCustomer) -> Result<FieldCipher, VaultError> {
        let kek = self.keys.kek(rec.kek_version)?;
        let dk = kek.unwrap_key(&rec.id, &WrappedKey(rec.wrapped_dk.clone()))?;
        Ok(dk.cipher(rec.id, rec.dk_version))
    }

    /// Decrypt a stored record into clear values (normalized form).
    pub fn decrypt(&self, rec: &StoredCustomer) -> Result<BTreeMap<String, String>, VaultError> {
        let mut out: BTreeMap<String, String> = serde_json::from_str(&rec.attrs)
            .map_err(|_| VaultError::Store(custodia_store::StoreError::Corrupt("attributes".into())))?;
        let cipher = self.cipher_for(rec)?;
        let fields = self.schema.fields();
        for (code, pt) in cipher.open_record(&rec.sealed, &|c| fields.get(c as usize).map(|f| &f.name))? {
            let v = String::from_utf8(pt).map_err(|_| custodia_crypto::CryptoError::Decrypt)?;
            out.insert(fields[code as usize].name.to_string(), v);
        }
        Ok(out)
    }

    /// The view of a record under `access` (a reveal is checked against
    /// the notice and the customer's consents for its purpose).
    pub fn view(&self, rec: &StoredCustomer, access: &Access) -> Result<CustomerView, VaultError> {
        let purpose = match access {
            Access::Masked => None,
            Access::Reveal { purpose, .. } => Some(purpose),
        };
        self.view_for(rec, access, purpose)
    }

    /// The view of a record under `access` for a declared `purpose`: the
    /// purpose must be described in the notice in force and, when it rests
    /// on consent, consented to; the view holds only the personal fields
    /// the notice lists for it (purpose limitation). Without a purpose
    /// (local administration), every field is shown masked.
    pub fn view_for(
        &self,
        rec: &StoredCustomer,
        access: &Access,
        purpose: Option<&Purpose>,
    ) -> Result<CustomerView, VaultError> {
        let mut clear = self.decrypt(rec)?;
        if let Some(p) = purpose {
            let allowed = self.gate(rec.id, rec.flags, &clear, p)?;
            if let Access::Reveal {
                fields: Some(asked), ..
            } = access
            {
                let outside: Vec<String> = asked
                    .iter()
                    .filter(|f| !allowed.contains(*f))
                    .filter(|f| {
                        self.schema
                            .field(f.as_str())
                            .is_some_and(|d| d.classification.is_encrypted())
                    })
                    .map(|f| f.to_string())
                    .collect();
                if !outside.is_empty() {
                    return Err(VaultError::PurposeLimitation {
                        purpose: p.to_string(),
                        version: self.notices().current().map(|n| n.version).unwrap_or(0),
                        fields: outside,
                    });
                }
            }
            let schema = self.schema.clone();
            clear.retain(|name, _| {
                schema
                    .field(name)
                    .is_some_and(|d| !d.classification.is_encrypted() || allowed.contains(&d.name))
            });
        }
        let (purpose, reveal_all, reveal): (Option<Purpose>, bool, &[FieldName]) = match access {
            Access::Masked => (None, false, &[]),
            Access::Reveal { purpose, fields: None } => (Some(purpose.clone()), true, &[]),
            Access::Reveal {
                purpose,
                fields: Some(f),
            } => (Some(purpose.clone()), false, f),
        };
        let mut fields = BTreeMap::new();
        let mut revealed = Vec::new();
        for def in self.schema.fields() {
            let Some(v) = clear.get(def.name.as_str()) else {
                continue;
            };
            let show = def.classification == Classification::Internal || reveal_all || reveal.contains(&def.name);
            if show && def.classification != Classification::Internal {
                revealed.push(def.name.clone());
            }
            fields.insert(def.name.to_string(), if show { v.clone() } else { def.mask.apply(v) });
        }
        Ok(CustomerView {
            id: rec.id,
            external_id: rec.external_id.clone(),
            version: rec.version,
            created_at: rfc3339(rec.created_ms),
            updated_at: rfc3339(rec.updated_ms),
            fields,
            revealed,
            purpose,
        })
    }

    pub(crate) fn read_event(&self, actor: &str, access: &Access, view: &CustomerView) -> AuditEvent {
        match access {
            Access::Masked => self.event(actor, Action::Read, Some(view.id)),
            Access::Reveal { purpose, .. } => {
                let mut e = self.event(actor, Action::Reveal, Some(view.id));
                e.purpose = Some(purpose.clone());
                e.fields = view.revealed.clone();
                e
            }
        }
    }

    /// Read one customer.
    pub fn get(&self, actor: &str, id: &str, access: &Access) -> Result<CustomerView, VaultError> {
        let (view, pending) = self.get_submitted(actor, id, access)?;
        for r in pending.wait()? {
            r?;
        }
        Ok(view)
    }

    /// Read one customer and submit its audit event; the caller must wait
    /// for the returned [`custodia_store::Pending`] before showing the view
    /// to anyone (the event must be durable first).
    pub fn get_submitted(
        &self,
        actor: &str,
        id: &str,
        access: &Access,
    ) -> Result<(CustomerView, custodia_store::Pending), VaultError> {
        let id: CustomerId = id
            .parse()
            .map_err(|e: custodia_core::IdError| VaultError::Input(e.to_string()))?;
        let rec = self
            .store
            .get(&id)?
            .ok_or_else(|| VaultError::NotFound(id.to_string()))?;
        let view = self.view(&rec, access)?;
        let pending = self
            .store
            .submit(vec![Mutation::Audit(vec![self.read_event(actor, access, &view)])]);
        Ok((view, pending))
    }

    /// Exact-match search on a searchable field.
    pub fn find(
        &self,
        actor: &str,
        field: &str,
        value: &str,
        access: &Access,
        limit: usize,
    ) -> Result<Vec<CustomerView>, VaultError> {
        let def = self
            .schema
            .field(field)
            .ok_or_else(|| VaultError::Invalid(vec![unknown_field(field)]))?;
        if !def.searchable {
            return Err(VaultError::NotSearchable(field.into()));
        }
        let mut search = self.event(actor, Action::Search, None);
        search.fields = vec![def.name.clone()];
        let normalized = match self.validator().check(def, value) {
            Ok(v) => v,
            // An invalid value cannot be stored, so it matches nothing.
            Err(_) => {
                search.detail = Some("matches=0 invalid_value".into());
                self.audit(vec![search])?;
                return Ok(Vec::new());
            }
        };
        let mut out = Vec::new();
        let mut without_consent = 0;
        for rec in self.lookup(def, &normalized)? {
            match self.view(&rec, access) {
                Ok(v) => out.push(v),
                Err(VaultError::ConsentRequired { .. } | VaultError::ProcessingStopped { .. }) => without_consent += 1,
                Err(e) => return Err(e),
            }
            if out.len() >= limit.clamp(1, MAX_SEARCH) {
                break;
            }
        }
        search.detail = Some(if without_consent > 0 {
            format!("matches={} left_out_without_consent={without_consent}", out.len())
        } else {
            format!("matches={}", out.len())
        });
        let mut events = vec![search];
        events.extend(out.iter().map(|v| self.read_event(actor, access, v)));
        self.audit(events)?;
        Ok(out)
    }

    /// The records whose `def` field equals the normalized value: blind-index
    /// candidates, confirmed by decrypting (indexes may collide). Not audited;
    /// callers record the access.
    pub fn lookup(&self, def: &custodia_core::FieldDef, normalized: &str) -> Result<Vec<StoredCustomer>, VaultError> {
        let hash = self.keys.blind(def.name.as_str()).index(normalized);
        let mut out = Vec::new();
        for rec in self.store.find_blind(&def.name, hash)? {
            let same = if def.classification.is_encrypted() {
                let code = self.schema.index_of(def.name.as_str()).expect("a schema field") as u8;
                self.cipher_for(&rec)?
                    .open_field(&rec.sealed, code, &def.name)?
                    .as_deref()
                    == Some(normalized.as_bytes())
            } else {
                self.decrypt(&rec)?.get(def.name.as_str()).map(String::as_str) == Some(normalized)
            };
            if same {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Normalize and validate a value for `field` (as a write would).
    pub fn normalize(&self, field: &str, value: &str) -> Result<String, VaultError> {
        let def = self
            .schema
            .field(field)
            .ok_or_else(|| VaultError::Invalid(vec![unknown_field(field)]))?;
        self.validator().check(def, value).map_err(|e| {
            VaultError::Invalid(vec![FieldProblem {
                field: field.into(),
                code: e.code().into(),
                message: e.to_string(),
            }])
        })
    }

    /// Change fields of a customer. With `expected_version`, refuse if the
    /// record changed since the caller read it.
    pub fn update(
        &self,
        actor: &str,
        id: &str,
        patch: &RecordPatch,
        expected_version: Option<i64>,
    ) -> Result<CustomerView, VaultError> {
        self.update_for(actor, id, patch, expected_version, None)
    }

    /// [`Vault::update`] for a declared purpose: the purpose must be usable
    /// for this customer and list every personal field set; and whatever
    /// the purpose, each field set must be needed by a purpose in force for
    /// the customer (minimum necessary).
    pub fn update_for(
        &self,
        actor: &str,
        id: &str,
        patch: &RecordPatch,
        expected_version: Option<i64>,
        purpose: Option<&Purpose>,
    ) -> Result<CustomerView, VaultError> {
        let id: CustomerId = id
            .parse()
            .map_err(|e: custodia_core::IdError| VaultError::Input(e.to_string()))?;
        let validator = self.validator();
        let mut problems = Vec::new();
        let mut changes: Vec<(&custodia_core::FieldDef, Option<String>)> = Vec::new();
        for (name, value) in patch {
            match self.schema.field(name) {
                None => problems.push(unknown_field(name)),
                Some(def) => match value.as_deref().map(str::trim) {
                    None | Some("") if def.required => problems.push(FieldProblem {
                        field: name.clone(),
                        code: "required".into(),
                        message: "is required and cannot be removed".into(),
                    }),
                    None | Some("") => changes.push((def, None)),
                    Some(raw) => match validator.check(def, raw) {
                        Ok(v) => changes.push((def, Some(v))),
                        Err(e) => problems.push(FieldProblem {
                            field: name.clone(),
                            code: e.code().into(),
                            message: e.to_string(),
                        }),
                    },
                },
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        if changes.is_empty() {
            return Err(VaultError::Input("the update names no fields".into()));
        }
        let rec = self
            .store
            .get(&id)?
            .ok_or_else(|| VaultError::NotFound(id.to_string()))?;
        if let Some(v) = expected_version {
            if v != rec.version {
                return Err(VaultError::VersionConflict { current: rec.version });
            }
        }
        let set: Vec<&FieldName> = changes
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(d, _)| &d.name)
            .collect();
        {
            let current = self.decrypt(&rec)?;
            if let Some(p) = purpose {
                let allowed = self.gate(id, rec.flags, &current, p)?;
                let outside: Vec<String> = set
                    .iter()
                    .filter(|f| !allowed.contains(**f))
                    .filter(|f| {
                        self.schema
                            .field(f.as_str())
                            .is_some_and(|d| d.classification.is_encrypted())
                    })
                    .map(|f| f.to_string())
                    .collect();
                if !outside.is_empty() {
                    return Err(VaultError::PurposeLimitation {
                        purpose: p.to_string(),
                        version: self.notices().current().map(|n| n.version).unwrap_or(0),
                        fields: outside,
                    });
                }
            }
            let notices = self.notices();
            // The customer's consents are looked up only when a field is not
            // needed by a purpose that rests on something else.
            if !self.unnecessary(&notices, &set, &|_| false).is_empty() {
                let age = notices.current().and_then(|n| self.age_of(n, &current));
                let consented = self.consented_purposes(&notices, id, age)?;
                let problems = self.unnecessary(&notices, &set, &|p| consented.contains(p));
                if !problems.is_empty() {
                    return Err(VaultError::Invalid(problems));
                }
            }
        }
        // Every field is re-sealed under a fresh base nonce (see the record
        // format in custodia-crypto), so the current values are opened first.
        let cipher = self.cipher_for(&rec)?;
        let fields = self.schema.fields();
        let mut values: BTreeMap<u8, Vec<u8>> = cipher
            .open_record(&rec.sealed, &|c| fields.get(c as usize).map(|f| &f.name))?
            .into_iter()
            .collect();
        let mut attrs: BTreeMap<String, String> = serde_json::from_str(&rec.attrs)
            .map_err(|_| VaultError::Store(custodia_store::StoreError::Corrupt("attributes".into())))?;
        let mut blind = rec.blind.clone();
        // Free text is scanned as on creation; the field's earlier tokens
        // go with its earlier text.
        let now = now_ms();
        let mut tokens = Vec::new();
        let mut rescanned = Vec::new();
        let mut scan_problems = Vec::new();
        for (def, value) in changes.iter_mut() {
            let Some(action) = def.scan else { continue };
            rescanned.push(def.name.to_string());
            if let Some(v) = value.as_mut() {
                match self.scan_free_text(id, &cipher, &def.name, action, v, now) {
                    Ok((text, t)) => {
                        *v = text;
                        tokens.extend(t);
                    }
                    Err(p) => scan_problems.push(p),
                }
            }
        }
        if !scan_problems.is_empty() {
            return Err(VaultError::Invalid(scan_problems));
        }
        for (def, value) in &changes {
            let code = self.schema.index_of(def.name.as_str()).expect("a schema field");
            values.remove(&(code as u8));
            attrs.remove(def.name.as_str());
            blind.retain(|(n, _)| n != &def.name);
            if let Some(v) = value {
                if let Some(b) = &self.blind[code] {
                    blind.push((def.name.clone(), b.index(v)));
                }
                if def.classification.is_encrypted() {
                    values.insert(code as u8, v.as_bytes().to_vec());
                } else {
                    attrs.insert(def.name.to_string(), v.clone());
                }
            }
        }
        let items: Vec<(u8, &FieldName, &[u8])> = values
            .iter()
            .map(|(c, v)| (*c, &fields[*c as usize].name, v.as_slice()))
            .collect();
        let sealed = cipher.seal_record(&items);
        let updated = StoredCustomer {
            sealed,
            attrs: serde_json::to_string(&attrs).expect("string map serializes"),
            blind,
            updated_ms: now,
            ..rec.clone()
        };
        let mut e = self.event(actor, Action::Update, Some(id));
        e.fields = changes.iter().map(|(d, _)| d.name.clone()).collect();
        let mut muts = vec![Mutation::Update {
            customer: Box::new(updated.clone()),
            events: vec![e],
        }];
        if !rescanned.is_empty() {
            muts.push(Mutation::PutVaultTokens {
                customer: id,
                replace: rescanned,
                tokens,
                events: Vec::new(),
            });
        }
        match self.apply_one(muts)?.into_iter().next() {
            Some(Applied::Done) => self.view(
                &StoredCustomer {
                    version: rec.version + 1,
                    ..updated
                },
                &Access::Masked,
            ),
            Some(Applied::VersionConflict(current)) => Err(VaultError::VersionConflict { current }),
            Some(Applied::NotFound) => Err(VaultError::NotFound(id.to_string())),
            other => Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
        }
    }

    /// Delete a customer by crypto-shredding: the record, its wrapped data
    /// key and blind entries go, a tombstone and a signed destruction
    /// certificate stay, and the erasure ledger keeps it deleted through
    /// restores. Refused while a legal hold stands.
    pub fn delete(&self, actor: &str, id: &str) -> Result<erasure::Erased, VaultError> {
        self.erase_customer(actor, id, "deletion by an authorised operator")
    }

    /// Record counts: customers, and customers under an old KEK.
    pub fn counts(&self) -> Result<(u64, u64), VaultError> {
        let kek = self.refresh_kek()?;
        Ok(self.store.counts(kek)?)
    }
}

const MINIMAL_POLICY: &str = "# Custodia access policy. The default roles did not fit this data directory's schema;\n# add roles and grants here (see the default policy in the Custodia sources for the format).\nversion = 1\n\n[[roles]]\nid = \"administrator\"\nname_en = \"System administrator\"\nname_zh = \"系统管理员\"\n\n  [[roles.grants]]\n  actions = [\"manage_accounts\", \"manage_keys\"]\n\n[[roles]]\nid = \"privacy_officer\"\nname_en = \"Privacy officer\"\nname_zh = \"个人信息保护负责人\"\n\n  [[roles.grants]]\n  actions = [\"manage_policy\", \"read_audit\", \"review_access\", \"manage_training\", \"handle_requests\"]\n";

/// Load `policy.toml` from the data directory, writing the default policy
/// there first if the directory has none.
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

fn check_external_id(e: &str) -> Result<String, FieldProblem> {
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

/// Whether an outcome counts as a denial (for audit details).
pub fn denied(e: &VaultError) -> Outcome {
    match e {
        VaultError::PurposeRequired | VaultError::UnknownPurpose(_) => Outcome::Denied,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod consent_tests;
#[cfg(test)]
mod deid_tests;
#[cfg(test)]
mod rights_tests;
#[cfg(test)]
mod tests;
