//! Encrypted backups: an online, consistent snapshot of the store,
//! encrypted in chunks under a per-backup key (see
//! `custodia-crypto::backup`), verified without restoring, restored into a
//! new data directory — where the erasure ledger, kept apart from the
//! backups, is replayed at the first open, so a backup taken before an
//! erasure never brings the erased customer back.

use crate::datadir::{write_private, MasterConfig};
use crate::progress::Progress;
use crate::{now_ms, DataDir, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_crypto::backup::{self, BackupError, BackupKey, BackupReader, BackupWriter, RecipientWrap};
use custodia_store::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The plaintext header of a backup (no personal data, no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackupHeader {
    /// Always `custodia-backup`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Backup id (`bk_…`).
    pub id: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Customers at the time.
    pub customers: u64,
    /// Audit events at the time.
    pub audit_events: u64,
    /// Size of the database snapshot.
    pub db_bytes: u64,
    /// Configuration files of the data directory (config, schema, policy).
    pub files: BTreeMap<String, String>,
    /// The backup key wrapped under a key from the master secret (hex).
    pub wrapped_key: String,
    /// The backup key wrapped for an offline recipient, if one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<RecipientHeader>,
}

/// [`RecipientWrap`] in the header (hex).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecipientHeader {
    /// Recipient's X25519 public key.
    pub public_key: String,
    /// Ephemeral public key.
    pub ephemeral: String,
    /// Wrapped backup key.
    pub wrapped: String,
}

/// What a backup run did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// Backup id.
    pub id: String,
    /// The file.
    pub path: PathBuf,
    /// Customers in it.
    pub customers: u64,
    /// Database bytes.
    pub db_bytes: u64,
    /// File bytes.
    pub file_bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Database bytes per second, in MB (10^6).
    pub mb_per_s: f64,
}

/// What verifying a backup found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The header.
    pub header: BackupHeader,
    /// Chunks authenticated.
    pub chunks: u64,
    /// Plaintext bytes.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// MB/s.
    pub mb_per_s: f64,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Backup id.
    pub id: String,
    /// The new data directory.
    pub to: PathBuf,
    /// Database bytes written.
    pub db_bytes: u64,
    /// Erasures replayed from the ledger (None when the restored directory
    /// was not opened: the first open replays them).
    pub erasures_replayed: Option<usize>,
    /// Wall time.
    pub seconds: f64,
    /// MB/s.
    pub mb_per_s: f64,
}

/// How to get at a backup's key.
pub enum KeySource<'a> {
    /// Through the master secret of an open vault.
    Vault(&'a Vault),
    /// With an offline recipient's X25519 secret key.
    Recipient(&'a [u8; 32]),
}

fn hex(b: &[u8]) -> String {
    custodia_core::audit::to_hex(b)
}

fn unhex(s: &str) -> Result<Vec<u8>, VaultError> {
    custodia_core::audit::from_hex(s).ok_or_else(|| VaultError::Input("bad hex in the backup header".into()))
}

fn unhex32(s: &str) -> Result<[u8; 32], VaultError> {
    unhex(s)?
        .try_into()
        .map_err(|_| VaultError::Input("a key in the backup header is not 32 bytes".into()))
}

fn berr(e: BackupError) -> VaultError {
    match e {
        BackupError::Io(m) => VaultError::Io(m),
        other => VaultError::Input(other.to_string()),
    }
}

/// Parse a recipient public or secret key written as 64 hex digits.
pub fn parse_key_hex(s: &str) -> Result<[u8; 32], VaultError> {
    unhex32(s.trim())
}

fn open_backup(path: &Path) -> Result<(std::io::BufReader<std::fs::File>, Vec<u8>, BackupHeader), VaultError> {
    let f = std::fs::File::open(path).map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let raw = backup::read_header(&mut r).map_err(berr)?;
    let header: BackupHeader =
        serde_json::from_slice(&raw).map_err(|e| VaultError::Input(format!("backup header: {e}")))?;
    if header.format != "custodia-backup" || header.version != 1 {
        return Err(VaultError::Input("not a Custodia backup this version can read".into()));
    }
    Ok((r, raw, header))
}

fn backup_key(h: &BackupHeader, key: &KeySource<'_>) -> Result<BackupKey, VaultError> {
    match key {
        KeySource::Vault(v) => BackupKey::unwrap(&v.backup_wrap_key(), &h.id, &unhex(&h.wrapped_key)?).map_err(|_| {
            VaultError::Input(
                "this data directory's master secret does not open the backup (another directory's backup, or altered)"
                    .into(),
            )
        }),
        KeySource::Recipient(secret) => {
            let r = h
                .recipient
                .as_ref()
                .ok_or_else(|| VaultError::Input("the backup was not made for an offline recipient".into()))?;
            let w = RecipientWrap {
                recipient: unhex32(&r.public_key)?,
                ephemeral: unhex32(&r.ephemeral)?,
                wrapped: unhex(&r.wrapped)?,
            };
            BackupKey::unwrap_with(secret, &w, &h.id)
                .map_err(|_| VaultError::Input("this recipient key does not open the backup".into()))
        }
    }
}

/// Decrypt a backup's content into `out`, checking every chunk.
fn decrypt_into(
    r: impl Read,
    raw: &[u8],
    key: &BackupKey,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<(u64, u64), VaultError> {
    let mut reader = BackupReader::new(r, raw, key);
    let mut bytes = 0u64;
    let mut first = true;
    while let Some(chunk) = reader.next_chunk().map_err(berr)? {
        if first {
            if !chunk.starts_with(b"SQLite format 3\0") {
                return Err(VaultError::Input("the backup's content is not a database".into()));
            }
            first = false;
        }
        out.write_all(&chunk)?;
        bytes += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
    }
    if first {
        return Err(VaultError::Input("the backup is empty".into()));
    }
    Ok((reader.chunks(), bytes))
}

/// Verify a backup without restoring it: every chunk authenticates, it
/// ends where it should, and it holds a database.
pub fn verify(path: &Path, key: KeySource<'_>, progress: &dyn Progress) -> Result<VerifyReport, VaultError> {
    let started = std::time::Instant::now();
    let (r, raw, header) = open_backup(path)?;
    let k = backup_key(&header, &key)?;
    progress.start(header.db_bytes, "bytes");
    let result = decrypt_into(r, &raw, &k, &mut std::io::sink(), progress);
    progress.finish();
    let (chunks, bytes) = result?;
    if bytes != header.db_bytes {
        return Err(VaultError::Input(format!(
            "the backup holds {bytes} bytes, its header says {}",
            header.db_bytes
        )));
    }
    let seconds = started.elapsed().as_secs_f64();
    if let KeySource::Vault(v) = key {
        let mut e = AuditEvent::new(now_ms(), "system", Action::Backup);
        e.detail = Some(format!("backup {} verified: {chunks} chunks, {bytes} bytes", header.id));
        v.audit(vec![e])?;
    }
    Ok(VerifyReport {
        header,
        chunks,
        bytes,
        seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
    })
}

/// Restore into a new data directory `to`, without opening it (for an
/// offline recipient who does not hold the master secret). The erasure
/// ledger at `ledger` is copied in; the first open replays it.
pub fn restore_files(
    path: &Path,
    to: &DataDir,
    key: KeySource<'_>,
    ledger: Option<&Path>,
    key_file: Option<&Path>,
    progress: &dyn Progress,
) -> Result<RestoreReport, VaultError> {
    let started = std::time::Instant::now();
    let (r, raw, header) = open_backup(path)?;
    let k = backup_key(&header, &key)?;
    let root = to.root();
    if root.exists() && std::fs::read_dir(root).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(VaultError::Input(format!(
            "{} exists and is not empty; restore into a new directory",
            root.display()
        )));
    }
    std::fs::create_dir_all(root)?;
    std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    for (name, text) in &header.files {
        if !matches!(name.as_str(), "config.toml" | "schema.toml" | "policy.toml") {
            return Err(VaultError::Input(format!(
                "unexpected file {name:?} in the backup header"
            )));
        }
        write_private(&root.join(name), text.as_bytes(), 0o600)?;
    }
    let config = to.config()?;
    // The master key file, when it lived inside the data directory.
    if let (MasterConfig::KeyFile { key_file: kf }, Some(src)) = (&config.master, key_file) {
        if kf.is_relative() {
            let text = std::fs::read(src).map_err(|e| VaultError::Io(format!("{}: {e}", src.display())))?;
            write_private(&to.resolve(kf), &text, 0o600)?;
        }
    }
    // The ledger, when it lives inside the data directory (an absolute path
    // points at the shared ledger already).
    if config.erasure_ledger.is_relative() {
        if let Some(l) = ledger.filter(|l| l.exists()) {
            let text = std::fs::read(l).map_err(|e| VaultError::Io(format!("{}: {e}", l.display())))?;
            write_private(&to.ledger_path(&config), &text, 0o600)?;
        }
    }
    let tmp = root.join("custodia.db.restoring");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| VaultError::Io(format!("{}: {e}", tmp.display())))?;
    progress.start(header.db_bytes, "bytes");
    let result = {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut out);
        let r = decrypt_into(r, &raw, &k, &mut w, progress);
        w.flush().map_err(VaultError::from).and(r)
    };
    progress.finish();
    let (_, bytes) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    out.sync_all()?;
    std::fs::rename(&tmp, to.db_path())?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(RestoreReport {
        id: header.id,
        to: root.to_owned(),
        db_bytes: bytes,
        erasures_replayed: None,
        seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
    })
}

impl Vault {
    fn backup_wrap_key(&self) -> custodia_crypto::Key32 {
        self.keys().derive_subkey("backup-wrap-v1")
    }

    /// Take an online, consistent, encrypted backup into `path` (a new
    /// file), optionally also openable by an offline recipient's key.
    pub fn backup_create(
        &self,
        p: &crate::access::authz::Principal,
        path: &Path,
        recipient: Option<&[u8; 32]>,
        progress: &dyn Progress,
    ) -> Result<BackupReport, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ManageKeys)?;
        self.create_backup(&p.actor(), path, recipient, progress)
    }

    fn create_backup(
        &self,
        actor: &str,
        path: &Path,
        recipient: Option<&[u8; 32]>,
        progress: &dyn Progress,
    ) -> Result<BackupReport, VaultError> {
        let started = std::time::Instant::now();
        let id = {
            let mut b = [0u8; 8];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
            format!("bk_{}", hex(&b))
        };
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| crate::datadir::new_file_error(path, e))?;
        let tmp = self.dir().root().join(format!(".snapshot-{id}.db"));
        let result = self.backup_into(actor, &id, &tmp, &mut out, recipient, progress);
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(tmp.with_extension("db-journal"));
        let (customers, db_bytes) = match result {
            Ok(x) => x,
            Err(e) => {
                drop(out);
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        out.sync_all()?;
        let file_bytes = out.metadata()?.len();
        let seconds = started.elapsed().as_secs_f64();
        let mut e = AuditEvent::new(now_ms(), actor, Action::Backup);
        e.detail = Some(format!(
            "backup {id} created: {customers} customers, {db_bytes} bytes{}",
            if recipient.is_some() {
                ", also for an offline recipient"
            } else {
                ""
            }
        ));
        self.audit(vec![e])?;
        Ok(BackupReport {
            id,
            path: path.to_owned(),
            customers,
            db_bytes,
            file_bytes,
            seconds,
            mb_per_s: db_bytes as f64 / 1e6 / seconds.max(1e-9),
        })
    }

    fn backup_into(
        &self,
        _actor: &str,
        id: &str,
        tmp: &Path,
        out: &mut std::fs::File,
        recipient: Option<&[u8; 32]>,
        progress: &dyn Progress,
    ) -> Result<(u64, u64), VaultError> {
        let (customers, _) = self.store().counts(self.refresh_kek()?)?;
        let (audit_events, _) = self.store().audit_head()?;
        // The snapshot holds only what the store holds: ciphertexts and
        // blind indexes, no clear personal data; it lives for the seconds
        // the encryption takes, inside the data directory (0700).
        progress.start(0, "bytes");
        let db_bytes = self.store().snapshot(tmp)?;
        progress.finish();
        let mut files = BTreeMap::new();
        for (name, p) in [
            ("config.toml", self.dir().config_path()),
            ("schema.toml", self.dir().schema_path()),
            ("policy.toml", self.dir().policy_path()),
        ] {
            files.insert(
                name.to_owned(),
                std::fs::read_to_string(&p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?,
            );
        }
        let key = BackupKey::generate();
        let header = BackupHeader {
            format: "custodia-backup".into(),
            version: 1,
            id: id.to_owned(),
            created_at: crate::records::input::rfc3339(now_ms()),
            customers,
            audit_events,
            db_bytes,
            files,
            wrapped_key: hex(&key.wrap(&self.backup_wrap_key(), id)),
            recipient: recipient.map(|pk| {
                let w = key.wrap_for(pk, id);
                RecipientHeader {
                    public_key: hex(&w.recipient),
                    ephemeral: hex(&w.ephemeral),
                    wrapped: hex(&w.wrapped),
                }
            }),
        };
        let raw = serde_json::to_vec(&header).expect("a header serializes");
        let mut w = BackupWriter::new(std::io::BufWriter::with_capacity(1 << 20, out), &raw, &key).map_err(berr)?;
        let mut src = std::fs::File::open(tmp).map_err(|e| VaultError::Io(format!("snapshot: {e}")))?;
        progress.start(db_bytes, "bytes");
        let mut buf = vec![0u8; backup::CHUNK];
        loop {
            let n = read_full(&mut src, &mut buf)?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).map_err(berr)?;
            progress.advance(n as u64);
        }
        progress.finish();
        let (mut inner, _) = w.finish().map_err(berr)?;
        inner.flush()?;
        Ok((customers, db_bytes))
    }

    /// Verify a backup with this directory's master secret.
    pub fn backup_verify(
        &self,
        p: &crate::access::authz::Principal,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<VerifyReport, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ManageKeys)?;
        verify(path, KeySource::Vault(self), progress)
    }

    /// Restore a backup into a new data directory `to`, copying this
    /// directory's erasure ledger and (when it lives inside the directory)
    /// master key file, then open it once so the ledger is replayed: every
    /// customer erased since the backup was taken is erased again before
    /// anyone can read the restored data.
    pub fn backup_restore(
        &self,
        p: &crate::access::authz::Principal,
        path: &Path,
        to: &DataDir,
        progress: &dyn Progress,
    ) -> Result<RestoreReport, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ManageKeys)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let started = std::time::Instant::now();
        let key_file = match &self.config().master {
            MasterConfig::KeyFile { key_file } => Some(self.dir().resolve(key_file)),
            MasterConfig::Passphrase { .. } => None,
        };
        let ledger = self.dir().ledger_path(self.config());
        let mut report = restore_files(
            path,
            to,
            KeySource::Vault(self),
            Some(&ledger),
            key_file.as_deref(),
            progress,
        )?;
        let restored = Vault::open_with(to, self.keys().master_copy())?;
        let replayed = restored.erasures_replayed_at_open();
        let mut e = AuditEvent::new(now_ms(), actor, Action::Backup);
        e.detail = Some(format!(
            "restored from backup {} ({}); {replayed} erasures replayed from the ledger",
            report.id,
            path.display()
        ));
        restored.audit(vec![e.clone()])?;
        e.detail = Some(format!("backup {} restored into {}", report.id, to.root().display()));
        self.audit(vec![e])?;
        report.erasures_replayed = Some(replayed);
        report.seconds = started.elapsed().as_secs_f64();
        report.mb_per_s = report.db_bytes as f64 / 1e6 / report.seconds.max(1e-9);
        Ok(report)
    }

    /// Take the scheduled backup (config `[backup]`) and delete the oldest
    /// beyond `keep`. Returns `None` when backups are not configured.
    pub fn scheduled_backup(
        &self,
        p: &crate::access::authz::Principal,
        progress: &dyn Progress,
    ) -> Result<Option<BackupReport>, VaultError> {
        self.require_job(p, crate::access::authz::Job::Backup)?;
        let Some(cfg) = self.config().backup.clone() else {
            return Ok(None);
        };
        let dir = self.dir().resolve(&cfg.dir);
        std::fs::create_dir_all(&dir)?;
        let name = format!("custodia-{}.backup", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
        let report = self.create_backup(&p.actor(), &dir.join(name), None, progress)?;
        let mut existing: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("custodia-") && n.ends_with(".backup"))
            })
            .collect();
        existing.sort();
        let keep = cfg.keep.max(1) as usize;
        while existing.len() > keep {
            let old = existing.remove(0);
            std::fs::remove_file(&old)?;
            let mut e = AuditEvent::new(now_ms(), "system:schedule", Action::Backup);
            e.detail = Some(format!("old backup {} deleted (keep {keep})", old.display()));
            self.audit(vec![e])?;
        }
        Ok(Some(report))
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
