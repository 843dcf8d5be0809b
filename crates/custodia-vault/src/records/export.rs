//! Streaming export to CSV or JSON, masked unless revealed for a purpose.

use crate::access::authz::{attrs_of, Principal};
use crate::progress::Progress;
use crate::records::input::CustomerView;
use crate::{now_ms, Access, Reveal, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::policy::Permission;
use custodia_store::prelude::*;
use rayon::prelude::*;
use serde::Serialize;
use std::io::Write;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV with a header: id, external_id, created_at, updated_at, fields….
    Csv,
    /// One JSON array of customer objects.
    Json,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// Records written.
    pub records: u64,
    /// Whether clear values were included.
    pub revealed: bool,
    /// Customers left out because the purpose needs a consent they have
    /// not given (or withdrew).
    pub without_consent: u64,
}

const PAGE: usize = 1000;

impl Vault {
    /// Write every customer the caller may export to `out`. Needs `export`
    /// of whole records for the access's purpose, and `reveal` of each
    /// field shown in clear; customers outside those grants' scope, and
    /// those the purpose may not be used for, are left out.
    pub fn export(
        &self,
        p: &Principal,
        out: &mut dyn Write,
        format: ExportFormat,
        access: &Access,
        progress: &dyn Progress,
    ) -> Result<ExportReport, VaultError> {
        let purpose = &access.purpose;
        let revealed: Vec<custodia_core::FieldName> = match &access.reveal {
            Reveal::None => Vec::new(),
            Reveal::Fields(f) => f.clone(),
            // Every personal field the notice lets this purpose see.
            Reveal::All => {
                let state = self.notices();
                let listed: Vec<custodia_core::FieldName> = state
                    .current()
                    .and_then(|n| n.purpose(purpose.as_str()))
                    .map(|pn| pn.fields.clone())
                    .unwrap_or_default();
                self.schema()
                    .fields()
                    .iter()
                    .filter(|f| f.classification.is_encrypted() && listed.contains(&f.name))
                    .map(|f| f.name.clone())
                    .collect()
            }
        };
        let mut checks = vec![(Permission::Export, None)];
        for f in &revealed {
            checks.push((Permission::Reveal, self.schema().field(f.as_str())));
        }
        for (perm, field) in &checks {
            let d = self.decide_anywhere(p, *perm, *field, Some(purpose));
            if !d.allowed {
                let e = self.refusal(p, *perm, *field, Some(purpose), &d);
                self.audit_refusal(p, None, Some(purpose), &e);
                return Err(e);
            }
        }
        let actor = p.actor();
        let purpose_logged = Some(purpose.clone());
        let fields = revealed.clone();
        let fmt = if format == ExportFormat::Csv { "csv" } else { "json" };
        let event = |detail: String, outcome: Outcome| {
            let mut e = AuditEvent::new(now_ms(), &actor, Action::Export);
            e.purpose = purpose_logged.clone();
            e.fields = fields.clone();
            e.detail = Some(detail);
            e.outcome = outcome;
            e
        };
        // Recorded before the first byte leaves, so an interrupted export is
        // still on the record.
        self.audit(vec![event(format!("started format={fmt}"), Outcome::Ok)])?;
        let (total, _) = self.store().counts(self.refresh_kek()?)?;
        progress.start(total, "records");
        let may = |rec: &custodia_store::StoredCustomer| -> Result<bool, VaultError> {
            let attrs = attrs_of(rec)?;
            Ok(self.sees(p, rec.id, &attrs)
                && checks
                    .iter()
                    .all(|(perm, field)| self.decide(p, *perm, *field, Some(&attrs), Some(purpose)).allowed))
        };
        let result = self.export_pages(p, &may, out, format, access, progress);
        progress.finish();
        match result {
            Ok((records, without_consent)) => {
                self.audit(vec![event(
                    format!("finished format={fmt} records={records} left_out_without_consent={without_consent}"),
                    Outcome::Ok,
                )])?;
                Ok(ExportReport {
                    records,
                    revealed: !revealed.is_empty(),
                    without_consent,
                })
            }
            Err(e) => {
                let _ = self.audit(vec![event(
                    format!("failed format={fmt} code={}", e.code()),
                    Outcome::Failed,
                )]);
                Err(e)
            }
        }
    }

    fn export_pages(
        &self,
        p: &Principal,
        may: &(dyn Fn(&custodia_store::StoredCustomer) -> Result<bool, VaultError> + Sync),
        out: &mut dyn Write,
        format: ExportFormat,
        access: &Access,
        progress: &dyn Progress,
    ) -> Result<(u64, u64), VaultError> {
        let io = |e: std::io::Error| VaultError::Io(format!("writing the export: {e}"));
        let names: Vec<String> = self.schema().fields().iter().map(|f| f.name.to_string()).collect();
        match format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                let mut header = vec![
                    "id".to_string(),
                    "external_id".into(),
                    "created_at".into(),
                    "updated_at".into(),
                ];
                header.extend(names.iter().cloned());
                w.write_record(&header).map_err(|e| VaultError::Io(e.to_string()))?;
                let n = self.each_view(p, may, access, progress, |v| {
                    let mut row = vec![
                        v.id.to_string(),
                        v.external_id.clone().unwrap_or_default(),
                        v.created_at.clone(),
                        v.updated_at.clone(),
                    ];
                    row.extend(names.iter().map(|f| v.fields.get(f).cloned().unwrap_or_default()));
                    w.write_record(&row).map_err(|e| VaultError::Io(e.to_string()))
                })?;
                w.flush().map_err(io)?;
                Ok(n)
            }
            ExportFormat::Json => {
                out.write_all(b"[").map_err(io)?;
                let mut first = true;
                let n = self.each_view(p, may, access, progress, |v| {
                    out.write_all(if first { b"\n" } else { b",\n" }).map_err(io)?;
                    first = false;
                    serde_json::to_writer(&mut *out, &v).map_err(|e| VaultError::Io(e.to_string()))
                })?;
                out.write_all(b"\n]\n").map_err(io)?;
                Ok(n)
            }
        }
    }

    /// Visit every record's view in creation order, decrypting a page at a
    /// time on every core. Returns the records visited and those left out
    /// for want of consent to the reveal's purpose.
    fn each_view(
        &self,
        p: &Principal,
        may: &(dyn Fn(&custodia_store::StoredCustomer) -> Result<bool, VaultError> + Sync),
        access: &Access,
        progress: &dyn Progress,
        mut f: impl FnMut(CustomerView) -> Result<(), VaultError>,
    ) -> Result<(u64, u64), VaultError> {
        let mut cursor = 0;
        let mut n = 0u64;
        let mut left_out = 0u64;
        loop {
            let (page, next) = self.store().scan(cursor, PAGE)?;
            if page.is_empty() {
                return Ok((n, left_out));
            }
            cursor = next;
            let views: Vec<Result<Option<CustomerView>, VaultError>> = page
                .par_iter()
                .map(|r| {
                    if !may(r)? {
                        return Ok(None);
                    }
                    self.view_as(p, r, &attrs_of(r)?, access).map(Some)
                })
                .collect();
            for v in views {
                match v {
                    Ok(Some(v)) => f(v)?,
                    Ok(None) => continue,
                    Err(VaultError::ConsentRequired { .. } | VaultError::ProcessingStopped { .. }) => {
                        left_out += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                n += 1;
            }
            progress.advance(page.len() as u64);
        }
    }
}
