//! Retention runs: every record is checked against the retention periods
//! of the notice in force; customers none of whose purposes still keep
//! data are erased whole, fields no remaining purpose keeps are erased
//! alone (crypto-shredding, one destruction certificate per page of
//! records), customers under legal hold are left alone and reported, and
//! records not reviewed for the configured time are flagged for a
//! data-quality review (定期审查和更新客户信息).

use crate::access::authz::{attrs_of, Job, Principal};
use crate::progress::Progress;
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::policy::Permission;
use custodia_core::retention::{self, Facts};
use custodia_core::{CustomerId, FieldName, Purpose};
use custodia_store::prelude::*;
use custodia_store::{Applied, Lifecycle, Mutation, StoredCustomer};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How a run behaves.
#[derive(Debug, Clone, Default)]
pub struct RetentionOptions {
    /// Report only; destroy nothing.
    pub dry_run: bool,
    /// Evaluate as of this day (default: today). A day in the future is
    /// allowed for dry runs only.
    pub as_of: Option<chrono::NaiveDate>,
}

/// What a run did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, Default)]
pub struct RetentionReport {
    /// The day evaluated.
    pub as_of: String,
    /// Nothing was destroyed.
    pub dry_run: bool,
    /// The notice version applied.
    pub notice_version: u32,
    /// Records looked at.
    pub scanned: u64,
    /// Customers erased whole.
    pub customers_erased: u64,
    /// Customers that lost some fields.
    pub customers_trimmed: u64,
    /// Fields erased, by name.
    pub fields_erased: BTreeMap<String, u64>,
    /// Customers that would have been touched but are under legal hold.
    pub held: u64,
    /// Required fields no purpose keeps any more but which a record cannot lose (kept; review the notice).
    pub required_kept: u64,
    /// Records not reviewed within the configured time.
    pub stale_for_review: u64,
    /// The first of them (at most 100).
    pub stale_sample: Vec<CustomerId>,
    /// Certificates issued.
    pub certificates: Vec<String>,
    /// Wall time.
    pub seconds: f64,
}

const PAGE: usize = 1000;
/// Erasures per transaction (and per certificate).
const ERASE_BATCH: usize = 10_000;

fn day(ms: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

fn ms_of(d: chrono::NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|x| x.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// Lifecycle dates to set (None leaves a date as it is).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleInput {
    /// When the contract ended (YYYY-MM-DD).
    #[serde(default)]
    pub contract_end: Option<String>,
    /// Last activity (YYYY-MM-DD).
    #[serde(default)]
    pub last_activity: Option<String>,
    /// Mark the record reviewed today (data-quality review).
    #[serde(default)]
    pub reviewed: bool,
}

/// The legal basis retention erasures cite.
const BASIS: &str = "PIPL Art. 19, 47(1)(2); GDPR Art. 5(1)(e), 17(1)(a)";

impl Vault {
    fn finish_retention_batch(
        &self,
        actor: &str,
        submitted: crate::rights::erasure::SubmittedErasure,
        reason: &str,
        report: &mut RetentionReport,
    ) -> Result<(), VaultError> {
        let (_, held_now, cert) = self.erase_batch_finish(actor, submitted, reason, BASIS)?;
        // A hold set since the run started.
        for _ in &held_now {
            report.held += 1;
            report.customers_erased = report.customers_erased.saturating_sub(1);
        }
        if let Some(c) = cert {
            report.certificates.push(c.id);
        }
        Ok(())
    }

    /// Set a customer's lifecycle dates (contract end, last activity) or
    /// mark it reviewed. Needs `write` and `delete` of the whole record for
    /// `purpose` (the dates schedule its destruction).
    pub fn set_lifecycle(
        &self,
        p: &Principal,
        customer: &str,
        input: &LifecycleInput,
        purpose: &Purpose,
    ) -> Result<Lifecycle, VaultError> {
        let (rec, attrs) = self.require_record(p, customer, Permission::Write, purpose)?;
        // The dates decide when retention destroys the record: setting
        // them is a deletion scheduled, so it needs delete as well.
        self.require(p, Permission::Delete, None, Some(&attrs), Some(purpose), Some(rec.id))?;
        let cid = rec.id;
        let actor = p.actor();
        let date = |s: &str, what: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(ms_of)
                .map_err(|_| VaultError::Input(format!("{what} is not a date written YYYY-MM-DD")))
        };
        let mut l = self.store().lifecycle(&cid)?.unwrap_or(Lifecycle {
            customer: Some(cid),
            ..Default::default()
        });
        let mut what = Vec::new();
        if let Some(c) = &input.contract_end {
            l.contract_end_ms = Some(date(c, "contract_end")?);
            what.push(format!("contract_end={c}"));
        }
        if let Some(a) = &input.last_activity {
            l.last_activity_ms = Some(date(a, "last_activity")?);
            what.push(format!("last_activity={a}"));
        }
        if input.reviewed {
            l.reviewed_ms = Some(now_ms());
            what.push("reviewed".into());
        }
        if what.is_empty() {
            return Err(VaultError::Input("set contract_end, last_activity or reviewed".into()));
        }
        let mut e = AuditEvent::new(now_ms(), &actor, Action::Update);
        e.customer = Some(cid);
        e.purpose = Some(purpose.clone());
        e.detail = Some(format!("lifecycle: {}", what.join(" ")));
        match self
            .apply_one(vec![Mutation::PutLifecycle {
                lifecycle: l.clone(),
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(l),
            _ => Err(VaultError::NotFound(cid.to_string())),
        }
    }

    /// Records not reviewed for `days` (the review date, else creation),
    /// oldest first, among the customers the caller sees. Needs
    /// `handle_requests`.
    pub fn stale_records(&self, p: &Principal, days: u32, limit: usize) -> Result<Vec<CustomerId>, VaultError> {
        self.require_admin(p, Permission::HandleRequests)?;
        let cutoff = now_ms() - days as i64 * 86_400_000;
        let reviewed: HashMap<CustomerId, i64> = self
            .store()
            .lifecycles()?
            .into_iter()
            .filter_map(|l| Some((l.customer?, l.reviewed_ms?)))
            .collect();
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let (page, next) = self.store().scan(cursor, PAGE)?;
            if page.is_empty() {
                return Ok(out);
            }
            cursor = next;
            for r in page {
                let last = reviewed.get(&r.id).copied().unwrap_or(r.created_ms).max(r.created_ms);
                if last < cutoff && self.sees(p, r.id, &attrs_of(&r)?) {
                    out.push(r.id);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
    }

    /// Run retention over every record. The server's retention job covers
    /// every customer; a person needs `handle_requests` and `delete` for
    /// `legal_obligation` (storage limitation), and a run by them leaves
    /// (and does not report) customers outside their delete grants, dry
    /// runs included.
    pub fn retention_run(
        &self,
        p: &Principal,
        opts: &RetentionOptions,
        progress: &dyn Progress,
    ) -> Result<RetentionReport, VaultError> {
        let basis_purpose = Purpose::new("legal_obligation").expect("a valid purpose id");
        let job = *p == Principal::system(Job::Retention);
        if !job {
            self.require_admin(p, Permission::HandleRequests)?;
            let d = self.decide_anywhere(p, Permission::Delete, None, Some(&basis_purpose));
            if !d.allowed {
                let e = self.refusal(p, Permission::Delete, None, Some(&basis_purpose), &d);
                self.audit_refusal(p, None, Some(&basis_purpose), &e);
                return Err(e);
            }
        }
        let may_delete = |rec: &StoredCustomer| -> Result<bool, VaultError> {
            Ok(job || {
                let attrs = attrs_of(rec)?;
                self.decide(p, Permission::Delete, None, Some(&attrs), Some(&basis_purpose))
                    .allowed
            })
        };
        let actor = p.actor();
        let actor = actor.as_str();
        let started = std::time::Instant::now();
        let today = chrono::Utc::now().date_naive();
        let as_of = opts.as_of.unwrap_or(today);
        if as_of > today && !opts.dry_run {
            return Err(VaultError::Input(
                "a retention run destroys data: it cannot run as of a future day (use --dry-run to preview)".into(),
            ));
        }
        let state = self.notices();
        let notice = state.current().ok_or(VaultError::NoNotice)?.clone();
        let lifecycles: HashMap<CustomerId, Lifecycle> = self
            .store()
            .lifecycles()?
            .into_iter()
            .filter_map(|l| Some((l.customer?, l)))
            .collect();
        let held: HashSet<CustomerId> = self.store().held_customers()?.into_iter().collect();
        let with_consents: HashSet<CustomerId> = self.store().customers_with_consents()?.into_iter().collect();
        let review_cutoff = now_ms() - self.config().retention.review_after_days as i64 * 86_400_000;
        let fields = self.schema().fields();
        let mut report = RetentionReport {
            as_of: as_of.to_string(),
            dry_run: opts.dry_run,
            notice_version: notice.version,
            ..Default::default()
        };
        let mut e = AuditEvent::new(now_ms(), actor, Action::Retention);
        e.detail = Some(format!(
            "retention run started as of {as_of} under notice v{}{}",
            notice.version,
            if opts.dry_run { " (dry run)" } else { "" }
        ));
        self.audit(vec![e])?;
        let (total, _) = self.store().counts(self.refresh_kek()?)?;
        progress.start(total, "records");
        let mut cursor = 0;
        let reason = format!(
            "retention: every purpose that kept this data expired (notice v{}, as of {as_of})",
            notice.version
        );
        let mut in_flight = None;
        let mut batch: Vec<(StoredCustomer, Vec<FieldName>)> = Vec::new();
        let result = (|| -> Result<(), VaultError> {
            loop {
                let (page, next) = self.store().scan(cursor, PAGE)?;
                if page.is_empty() {
                    let submitted = self.erase_batch_submit(actor, &std::mem::take(&mut batch), BASIS)?;
                    for s in [in_flight.take(), Some(submitted)].into_iter().flatten() {
                        self.finish_retention_batch(actor, s, &reason, &mut report)?;
                    }
                    return Ok(());
                }
                cursor = next;
                for rec in &page {
                    if !may_delete(rec)? {
                        continue;
                    }
                    report.scanned += 1;
                    let life = lifecycles.get(&rec.id);
                    let reviewed = life
                        .and_then(|l| l.reviewed_ms)
                        .unwrap_or(rec.created_ms)
                        .max(rec.created_ms);
                    if reviewed < review_cutoff {
                        report.stale_for_review += 1;
                        if report.stale_sample.len() < 100 {
                            report.stale_sample.push(rec.id);
                        }
                    }
                    let mut facts = Facts {
                        collected: day(rec.created_ms),
                        contract_end: life.and_then(|l| l.contract_end_ms).map(day),
                        last_activity: life.and_then(|l| l.last_activity_ms).map(day),
                        consents: BTreeMap::new(),
                    };
                    if with_consents.contains(&rec.id) {
                        let receipts = self.store().consents(&rec.id)?;
                        for (purpose, r) in crate::privacy::consent::latest(&receipts) {
                            if let Ok(p) = Purpose::new(purpose) {
                                facts.consents.insert(p, (r.given, day(r.ts_ms)));
                            }
                        }
                    }
                    let decision = retention::decide(&notice, &facts, as_of);
                    // Which personal fields the record holds (from the sealed
                    // layout: no decryption needed to decide).
                    let present: Vec<FieldName> = custodia_crypto::record_fields(&rec.sealed)?
                        .1
                        .iter()
                        .filter_map(|(code, _)| fields.get(*code as usize).map(|f| f.name.clone()))
                        .collect();
                    let kept_any = present.iter().any(|f| decision.keep.contains(f));
                    let whole = !kept_any;
                    let mut drop: Vec<FieldName> = if whole {
                        Vec::new()
                    } else {
                        present
                            .iter()
                            .filter(|f| !decision.keep.contains(*f))
                            .cloned()
                            .collect()
                    };
                    let before = drop.len();
                    drop.retain(|f| !self.schema().field(f.as_str()).is_some_and(|d| d.required));
                    if drop.len() < before {
                        report.required_kept += 1;
                    }
                    if !whole && drop.is_empty() {
                        continue;
                    }
                    if held.contains(&rec.id) {
                        report.held += 1;
                        continue;
                    }
                    if whole {
                        report.customers_erased += 1;
                    } else {
                        report.customers_trimmed += 1;
                        for f in &drop {
                            *report.fields_erased.entry(f.to_string()).or_default() += 1;
                        }
                    }
                    if !opts.dry_run {
                        batch.push((rec.clone(), drop));
                    }
                }
                // Large transactions: random deletes from the blind indexes
                // dirty most of their leaf pages whatever the batch size, so
                // fewer, larger batches write far fewer pages. Pipelined: a
                // batch commits while the next pages are read.
                if batch.len() >= ERASE_BATCH {
                    let submitted = self.erase_batch_submit(actor, &std::mem::take(&mut batch), BASIS)?;
                    if let Some(prev) = in_flight.replace(submitted) {
                        self.finish_retention_batch(actor, prev, &reason, &mut report)?;
                    }
                }
                progress.advance(page.len() as u64);
            }
        })();
        progress.finish();
        report.seconds = started.elapsed().as_secs_f64();
        let mut e = AuditEvent::new(now_ms(), actor, Action::Retention);
        e.outcome = if result.is_ok() {
            custodia_core::audit::Outcome::Ok
        } else {
            custodia_core::audit::Outcome::Failed
        };
        e.detail = Some(format!(
            "retention run as of {as_of}{}: scanned={} erased={} trimmed={} held={} stale={} certificates={}",
            if opts.dry_run { " (dry run)" } else { "" },
            report.scanned,
            report.customers_erased,
            report.customers_trimmed,
            report.held,
            report.stale_for_review,
            report.certificates.len()
        ));
        self.audit(vec![e])?;
        result?;
        Ok(report)
    }
}
