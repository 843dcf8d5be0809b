//! Moving an embedded data directory's records into PostgreSQL, as an
//! operation of the vault like any other: the caller needs `manage_keys`
//! (the copy holds every ciphertext, key wrap and audit event), the start
//! is in the audit log (so it is part of what is copied), and refusals
//! are audited.

use crate::access::authz::Principal;
use crate::progress::Progress;
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::policy::Permission;
use custodia_store::migrate::MigrateReport;
use custodia_store::open::Storage;

impl Vault {
    /// Copy this (embedded) vault's database into the empty PostgreSQL
    /// database at `url`, row for row. Needs `manage_keys`. The caller
    /// verifies the target (e.g. its audit chain) before pointing the data
    /// directory at it.
    pub fn migrate_to_postgres(
        &self,
        p: &Principal,
        url: &str,
        progress: &dyn Progress,
    ) -> Result<MigrateReport, VaultError> {
        self.require_admin(p, Permission::ManageKeys)?;
        let dir = self.dir();
        let config = dir.config()?;
        if dir.storage(Some(&config))?.is_postgres() {
            return Err(VaultError::Input(format!(
                "{} already keeps its records in PostgreSQL; migrate moves an embedded database",
                dir.root().display()
            )));
        }
        let target = Storage::parse(url, &dir.db_path())?;
        if !target.is_postgres() {
            return Err(VaultError::Input("--to must be a postgres:// URL".into()));
        }
        let mut e = AuditEvent::new(now_ms(), p.actor(), Action::Backup);
        e.detail = Some(format!("database copy (migration) to {target} started"));
        self.audit(vec![e])?;
        let total = custodia_store::migrate::count_rows(&dir.db_path())?;
        progress.start(total, "rows");
        let report = custodia_store::migrate::sqlite_to_postgres(&dir.db_path(), url, &|n| progress.advance(n));
        progress.finish();
        Ok(report?)
    }
}
