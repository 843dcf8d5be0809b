//! Data-subject requests: intake (API, CLI, portal), identity
//! verification, the persisted state machine with its statutory clocks,
//! carrying each kind out, and telling recipients (GDPR Art. 19).
//!
//! Every change is one store mutation guarded by the status it expects, so
//! two operators (or a retry after a crash) never apply a step twice; an
//! intake carrying an idempotency key returns the existing request.

use crate::access::authz::{attrs_of, Principal};
use crate::error::FieldProblem;
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::consent::Regime;
use custodia_core::notice::RecipientRole;
use custodia_core::policy::Permission;
use custodia_core::rights::calendar::Calendars;
use custodia_core::rights::clock::{self, ClockConfig, Schedule};
use custodia_core::rights::{self, RequestEvent, RequestFacts, RequestKind, RequestState};
use custodia_core::{CustomerId, FieldName, Purpose};
use custodia_store::prelude::*;
use custodia_store::{
    Applied, Mutation, RecipientNotice, RequestLogEntry, RequestRecord, FLAG_OPTED_OUT, FLAG_RESTRICTED,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Longest note a requester may attach.
pub const MAX_NOTE_CHARS: usize = 2000;

/// Field code under which request notes are sealed (outside the schema's
/// 64 field codes, so never confused with a field).
pub(crate) const REQUEST_CODE: u8 = 255;

pub(crate) fn request_field() -> FieldName {
    FieldName::new("request_detail").expect("a valid name")
}

/// A new request as a caller submits it.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The customer (cus_…).
    pub customer: String,
    /// `access`, `portability`, `rectification`, `erasure`, `restriction`, `objection`, `consent_withdrawal`.
    pub kind: String,
    /// Whose clock applies: `pipl`, `gdpr`, `ccpa` (default: the notice's first regime).
    #[serde(default)]
    pub regime: Option<String>,
    /// Where it came from (`portal`, `api`, `email`, `phone`, `letter`, `in_person`, `cli`).
    #[serde(default)]
    pub channel: Option<String>,
    /// The requester's own words (sealed under the customer's key).
    #[serde(default)]
    pub note: Option<String>,
    /// When it was received, if earlier than now (RFC 3339 or YYYY-MM-DD).
    #[serde(default)]
    pub received_at: Option<String>,
    /// Makes a retried submission return the first one.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// One entry of a customer's access history.
#[derive(Debug, Clone, Serialize)]
pub struct AccessEntry {
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub who: String,
    /// What (`read`, `reveal`, `update`, `export`, …).
    pub action: String,
    /// For which purpose.
    pub purpose: Option<String>,
    /// Which fields (never their values).
    pub fields: Vec<String>,
    /// Allowed or refused.
    pub outcome: String,
}

/// What the queue is narrowed to (each `None`: any).
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// A request kind.
    pub kind: Option<String>,
    /// A regime.
    pub regime: Option<String>,
    /// A state.
    pub state: Option<String>,
}

/// One page of the open queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    /// Open requests matching in all.
    pub total: usize,
    /// This page (from 0; past the end, the last).
    pub page: usize,
    /// Requests a page.
    pub per_page: usize,
    /// This page's requests, soonest deadline first.
    pub rows: Vec<RequestView>,
}

/// Computed clocks by what they depend on.
type ScheduleMemo = std::collections::HashMap<(&'static str, RequestKind, bool, Vec<chrono::NaiveDate>), Schedule>;

/// What loading a holidays file did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HolidaysReport {
    /// Years each calendar now covers.
    pub coverage: BTreeMap<String, Vec<i32>>,
    /// Open requests whose answer deadline moved earlier.
    pub moved_earlier: Vec<String>,
    /// Open requests whose deadline the new data would make later: kept as given.
    pub kept: Vec<String>,
    /// Open requests counted without holiday data before, now covered.
    pub covered: Vec<String>,
}

/// A recipient to tell, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    /// Name.
    pub recipient: String,
    /// When told (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<String>,
    /// Who recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified_by: Option<String>,
}

/// One history entry, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: String,
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Note.
    pub note: String,
}

/// A request as shown to staff.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    /// Request id.
    pub id: String,
    /// Customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
    /// Kind.
    pub kind: String,
    /// State.
    pub status: String,
    /// Regime whose clock applies.
    pub regime: String,
    /// Channel.
    pub channel: String,
    /// Received (RFC 3339).
    pub received_at: String,
    /// Verified (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// How.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
    /// Receipt confirmed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    /// Extended.
    pub extended: bool,
    /// Reason of an extension or denial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Finished (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The deadlines.
    pub due: Schedule,
    /// Days left to answer (negative: overdue); none when finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Whether the answer deadline has passed while still open.
    pub overdue: bool,
    /// Whether receipt confirmation is due and not yet given.
    pub acknowledgement_due: bool,
    /// Recipients to tell.
    pub recipients: Vec<RecipientView>,
    /// History (in single-request views).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryView>,
}

/// What carrying a request out produced.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The request after it.
    pub request: RequestView,
    /// For access and portability: the package for the requester.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<serde_json::Value>,
    /// For portability: the fields as CSV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// For erasure: the destruction certificate (compact JWS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

fn problem(field: &str, code: &str, message: impl Into<String>) -> VaultError {
    VaultError::Invalid(vec![FieldProblem {
        field: field.into(),
        code: code.into(),
        message: message.into(),
    }])
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    format!("{prefix}{}", custodia_core::audit::to_hex(&b))
}

fn parse_when(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp_millis())
        })
}

/// A stored value that does not parse: the database holds something this
/// build did not write. Refused, never read as a default.
fn corrupt(id: &str, what: &str, raw: &str) -> VaultError {
    VaultError::Store(custodia_store::StoreError::Corrupt(format!(
        "request {id}: stored {what} {:?} is not one this build knows",
        raw.chars().take(32).collect::<String>()
    )))
}

fn stored_regime_kind(r: &RequestRecord) -> Result<(Regime, RequestKind), VaultError> {
    let regime = Regime::parse(&r.regime).ok_or_else(|| corrupt(&r.id, "regime", &r.regime))?;
    let kind = RequestKind::parse(&r.kind).ok_or_else(|| corrupt(&r.id, "kind", &r.kind))?;
    Ok((regime, kind))
}

fn stored_state(r: &RequestRecord) -> Result<RequestState, VaultError> {
    RequestState::parse(&r.status).ok_or_else(|| corrupt(&r.id, "status", &r.status))
}

fn rfc(ms: Option<i64>) -> Option<String> {
    ms.map(crate::records::input::rfc3339)
}

/// Channels a request may come through.
pub const CHANNELS: &[&str] = &["portal", "api", "cli", "email", "phone", "letter", "in_person"];

/// Ways a requester's identity may be verified.
pub const VERIFICATION_METHODS: &[&str] = &[
    "portal_code",
    "signed_in_account",
    "id_document",
    "in_person",
    "knowledge_questions",
    "email_confirmation",
    "authorized_agent",
];

impl Vault {
    fn clock_config(&self) -> ClockConfig {
        ClockConfig {
            pipl: self.config().rights.pipl_policy(),
            business_days: self.config().rights.ccpa_business_days,
        }
    }

    /// The company's time zone (checked when the configuration was read).
    pub(crate) fn company_zone(&self) -> chrono_tz::Tz {
        self.config().rights.zone().unwrap_or(chrono_tz::Tz::Asia__Shanghai)
    }

    /// Today's date where the company is: deadlines are dates there.
    fn company_today(&self) -> chrono::NaiveDate {
        clock::date_in(now_ms(), self.company_zone())
    }

    /// The calendars in use: the bundled ones with the company's holidays
    /// file over them.
    pub fn calendars(&self) -> Arc<Calendars> {
        self.calendars.read().expect("calendars").clone()
    }

    /// The deadlines of a request received at `received_ms`, as the law
    /// and the calendars now count them: the receipt date is taken in the
    /// company's zone and in the regime's, and the earlier kept.
    /// The dates a request received at `received_ms` counts from.
    fn receipt_dates(&self, regime: Regime, received_ms: i64) -> Vec<chrono::NaiveDate> {
        let theirs = if regime == Regime::Gdpr {
            self.config().rights.gdpr_zone().ok().flatten()
        } else {
            None
        };
        clock::received_dates(received_ms, self.company_zone(), regime, theirs)
    }

    fn computed_schedule(
        &self,
        regime: Regime,
        kind: RequestKind,
        received_ms: i64,
        extended: bool,
        cals: &Calendars,
    ) -> Schedule {
        let dates = self.receipt_dates(regime, received_ms);
        clock::schedule(regime, kind, &dates, extended, self.clock_config(), cals)
    }

    /// The deadlines of a stored request (a stored regime or kind that does
    /// not parse is an error, never a default clock). A deadline already
    /// given to the requester stands unless the calendars now give an
    /// earlier one.
    pub(crate) fn schedule_of(&self, r: &RequestRecord) -> Result<Schedule, VaultError> {
        let clock = self.store().request_clock(&r.id)?;
        self.schedule_with(r, clock.as_ref(), &self.calendars(), None)
    }

    /// [`Vault::schedule_of`] with the request's stored clock already read.
    /// `memo` keeps computed clocks by what they depend on (regime, kind,
    /// extension, the receipt dates) across the requests of one list.
    fn schedule_with(
        &self,
        r: &RequestRecord,
        clock: Option<&custodia_store::RequestClock>,
        calendars: &Calendars,
        memo: Option<&mut ScheduleMemo>,
    ) -> Result<Schedule, VaultError> {
        let head = custodia_store::RequestHead {
            id: r.id.clone(),
            customer: r.customer,
            kind: r.kind.clone(),
            status: r.status.clone(),
            regime: r.regime.clone(),
            created_ms: r.created_ms,
            extended: r.extended,
        };
        self.schedule_of_head(&head, clock, calendars, memo)
    }

    /// [`Vault::schedule_with`] from what a queue reads of a request.
    fn schedule_of_head(
        &self,
        r: &custodia_store::RequestHead,
        clock: Option<&custodia_store::RequestClock>,
        calendars: &Calendars,
        memo: Option<&mut ScheduleMemo>,
    ) -> Result<Schedule, VaultError> {
        let regime = Regime::parse(&r.regime).ok_or_else(|| corrupt(&r.id, "regime", &r.regime))?;
        let kind = RequestKind::parse(&r.kind).ok_or_else(|| corrupt(&r.id, "kind", &r.kind))?;
        let mut s = match memo {
            None => self.computed_schedule(regime, kind, r.created_ms, r.extended, calendars),
            Some(m) => {
                let key = (
                    regime.as_str(),
                    kind,
                    r.extended,
                    self.receipt_dates(regime, r.created_ms),
                );
                m.entry(key)
                    .or_insert_with(|| self.computed_schedule(regime, kind, r.created_ms, r.extended, calendars))
                    .clone()
            }
        };
        if let Some(given) = clock {
            let parse =
                |v: &str| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| corrupt(&r.id, "deadline", v));
            let respond = parse(&given.respond_by)?;
            if respond < s.original_respond_by {
                if !r.extended {
                    s.respond_by = respond;
                }
                s.original_respond_by = respond;
            }
            if let (Some(a), Some(now)) = (given.acknowledge_by.as_deref(), s.acknowledge_by) {
                s.acknowledge_by = Some(parse(a)?.min(now));
            }
        }
        Ok(s)
    }

    fn clock_record(s: &Schedule, now: i64) -> custodia_store::RequestClock {
        custodia_store::RequestClock {
            respond_by: s.original_respond_by.to_string(),
            acknowledge_by: s.acknowledge_by.map(|d| d.to_string()),
            calendar_gap: s.calendar_gap,
            updated_ms: now,
        }
    }

    /// Load a company holidays file (same layout as the bundled data; the
    /// years it lists replace the bundled ones), keep it in the data
    /// directory, and go over every open request: a deadline the new data
    /// makes earlier moves, with a history entry; one it would make later
    /// stays as given, with a history entry saying so. Needs `manage_policy`.
    pub fn load_holidays(&self, p: &Principal, text: &str) -> Result<HolidaysReport, VaultError> {
        self.require_admin(p, Permission::ManagePolicy)?;
        let cals = Calendars::bundled_with(text).map_err(|e| VaultError::Input(e.to_string()))?;
        let actor = p.actor();
        let path = self.dir().resolve(&self.config().rights.holidays_file);
        let tmp = path.with_extension("toml.tmp");
        crate::datadir::write_private(&tmp, text.as_bytes(), 0o600)?;
        std::fs::rename(&tmp, &path)?;
        let now = now_ms();
        let mut report = HolidaysReport {
            coverage: cals
                .coverage()
                .into_iter()
                .map(|(id, years)| (id.as_str().to_owned(), years))
                .collect(),
            ..Default::default()
        };
        for r in self.store().open_requests()? {
            let (regime, kind) = stored_regime_kind(&r)?;
            let before = self.schedule_of(&r)?;
            let after = self.computed_schedule(regime, kind, r.created_ms, r.extended, &cals);
            let note = if after.original_respond_by < before.original_respond_by {
                report.moved_earlier.push(r.id.clone());
                format!(
                    "holiday data loaded: the answer deadline moves earlier, {} → {}",
                    before.original_respond_by, after.original_respond_by
                )
            } else if after.original_respond_by > before.original_respond_by {
                report.kept.push(r.id.clone());
                format!(
                    "holiday data loaded: it would give {}; the deadline already given, {}, stands",
                    after.original_respond_by, before.original_respond_by
                )
            } else if before.calendar_gap && !after.calendar_gap {
                report.covered.push(r.id.clone());
                format!(
                    "holiday data loaded: the deadline {} is now counted on a covered calendar",
                    after.original_respond_by
                )
            } else {
                continue;
            };
            let given = Schedule {
                original_respond_by: before.original_respond_by.min(after.original_respond_by),
                acknowledge_by: match (before.acknowledge_by, after.acknowledge_by) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                calendar_gap: after.calendar_gap,
                ..after
            };
            let log = RequestLogEntry {
                ts_ms: now,
                actor: actor.clone(),
                from_status: r.status.clone(),
                to_status: r.status.clone(),
                note: note.clone(),
            };
            let e = self.request_event(&actor, &r, format!("{} {}: {note}", r.kind, r.id));
            self.apply_one(vec![Mutation::PutRequest {
                request: Box::new(r.clone()),
                expect_status: Some(r.status.clone()),
                log: vec![log],
                recipients: Vec::new(),
                clock: Some(Self::clock_record(&given, now)),
                events: vec![e],
            }])?;
        }
        *self.calendars.write().expect("calendars") = Arc::new(cals);
        let mut e = AuditEvent::new(now, &actor, Action::Notice);
        e.detail = Some(format!(
            "holiday data loaded ({} bytes); deadlines moved earlier: {}, kept as given: {}",
            text.len(),
            report.moved_earlier.len(),
            report.kept.len()
        ));
        self.apply_one(vec![Mutation::Audit(vec![e])])?;
        Ok(report)
    }

    /// The years each working-day calendar covers. Needs one of the
    /// permissions `custodia status` takes.
    pub fn holiday_coverage(&self, p: &Principal) -> Result<Vec<(String, Vec<i32>)>, VaultError> {
        self.require_any_admin(p, crate::records::STATUS_PERMISSIONS)?;
        Ok(self
            .calendars()
            .coverage()
            .into_iter()
            .map(|(id, years)| (id.as_str().to_owned(), years))
            .collect())
    }

    /// What `custodia status` says about the legal rules in force: a
    /// notice in force that today's checks would refuse, calendars that
    /// do not cover next year (from November on), open requests whose
    /// deadline was counted without holiday data, settings no longer read.
    pub(crate) fn legal_warnings(&self) -> Result<Vec<String>, VaultError> {
        let mut out = Vec::new();
        let state = self.notices();
        if let Some(n) = state.current() {
            for d in n.legal_defects(self.schema()) {
                out.push(format!(
                    "the notice in force (version {}) would be refused today: {}; publish a corrected version",
                    n.version, d.message
                ));
            }
        }
        let cals = self.calendars();
        let today = self.company_today();
        use chrono::Datelike;
        let missing_now = cals.missing_year(today.year());
        if !missing_now.is_empty() {
            out.push(format!(
                "the holiday data does not cover {} for {}: deadlines there are counted in calendar days (never later) and flagged; load the year with custodia holidays load FILE",
                today.year(),
                missing_now.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        if today.month() >= 11 {
            let next = cals.missing_year(today.year() + 1);
            if !next.is_empty() {
                out.push(format!(
                    "the holiday data does not cover {} for {}: load next year's holidays (the State Council notice appears each autumn) with custodia holidays load FILE",
                    today.year() + 1,
                    next.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let gaps = self
            .store()
            .open_requests()?
            .iter()
            .filter(|r| self.schedule_of(r).is_ok_and(|s| s.calendar_gap))
            .count();
        if gaps > 0 {
            out.push(format!(
                "{gaps} open request(s) have a deadline counted without holiday data (calendar_gap): it is the calendar-day count, never later than the law's"
            ));
        }
        if self.config().rights.keep_request_months.is_some() {
            out.push("[rights] keep_request_months is no longer read (requests are kept with their history; 11 CCR §7101 asks for at least 24 months): remove it from config.toml".into());
        }
        Ok(out)
    }

    /// A stored request as shown (`history` loads the log).
    pub(crate) fn request_view_of(&self, r: &RequestRecord, history: bool) -> Result<RequestView, VaultError> {
        let due = self.schedule_of(r)?;
        let recipients = self.store().request_recipients(&r.id)?;
        self.request_view_with(r, due, recipients, self.company_today(), history)
    }

    /// A request's view from its schedule and recipients, read already.
    fn request_view_with(
        &self,
        r: &RequestRecord,
        due: Schedule,
        recipients: Vec<custodia_store::RecipientNotice>,
        today: chrono::NaiveDate,
        history: bool,
    ) -> Result<RequestView, VaultError> {
        let state = stored_state(r)?;
        let open = !state.is_final();
        let left = clock::days_left(today, due.respond_by);
        let recipients = recipients
            .into_iter()
            .map(|n| RecipientView {
                recipient: n.recipient,
                notified_at: rfc(n.notified_ms),
                notified_by: n.notified_by,
            })
            .collect();
        let history = if history {
            self.store()
                .request_log(&r.id)?
                .into_iter()
                .map(|l| HistoryView {
                    at: crate::records::input::rfc3339(l.ts_ms),
                    actor: l.actor,
                    from: l.from_status,
                    to: l.to_status,
                    note: l.note,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(RequestView {
            id: r.id.clone(),
            customer: r.customer,
            kind: r.kind.clone(),
            status: r.status.clone(),
            regime: r.regime.clone(),
            channel: r.channel.clone(),
            received_at: crate::records::input::rfc3339(r.created_ms),
            verified_at: rfc(r.verified_ms),
            verification: r.verification.clone(),
            acknowledged_at: rfc(r.acknowledged_ms),
            extended: r.extended,
            reason: r.reason.clone(),
            completed_at: rfc(r.completed_ms),
            days_left: open.then_some(left),
            overdue: open && left < 0,
            acknowledgement_due: open && r.acknowledged_ms.is_none() && due.acknowledge_by.is_some(),
            due,
            recipients,
            history,
        })
    }

    /// The purpose under which requests are carried out.
    fn dsr() -> Purpose {
        Purpose::new("data_subject_request").expect("a valid purpose id")
    }

    /// Require one of the request permissions (`verify_identity` for the
    /// steps agents take, `handle_requests` for everything).
    fn require_request_role(&self, p: &Principal, verify_is_enough: bool) -> Result<(), VaultError> {
        if verify_is_enough {
            self.require_any_admin(p, &[Permission::HandleRequests, Permission::VerifyIdentity])
        } else {
            self.require_admin(p, Permission::HandleRequests)
        }
    }

    /// A request `p` may act on: one of its customer (for a customer in the
    /// portal), or, for staff, with the request permission and the customer
    /// in the caller's scope. Requests of customers the caller does not see
    /// are as unknown as requests that do not exist.
    fn request_for(&self, p: &Principal, id: &str, verify_is_enough: bool) -> Result<RequestRecord, VaultError> {
        let unknown = || VaultError::NotFound(format!("request {:?}", id.chars().take(64).collect::<String>()));
        if let Some(customer) = p.customer() {
            return match self.store().request(id)? {
                Some(r) if r.customer == Some(customer) => Ok(r),
                _ => {
                    self.audit_refusal(p, Some(customer), None, &unknown());
                    Err(unknown())
                }
            };
        }
        self.require_request_role(p, verify_is_enough)?;
        let r = self.store().request(id)?.ok_or_else(unknown)?;
        if let Some(cid) = r.customer {
            // An erased customer's request stays readable by those who
            // handle requests (its record, and so its scope, is gone).
            if let Some(rec) = self.store().get(&cid)? {
                if !self.sees(p, cid, &attrs_of(&rec)?) {
                    self.audit_refusal(p, Some(cid), None, &unknown());
                    return Err(unknown());
                }
            }
        }
        Ok(r)
    }

    /// Whether a stored request may be listed to `p`.
    fn lists(&self, p: &Principal, r: &RequestRecord) -> Result<bool, VaultError> {
        self.lists_customer(p, r.customer)
    }

    /// Whether a request about `customer` is listed for `p`.
    fn lists_customer(&self, p: &Principal, customer: Option<CustomerId>) -> Result<bool, VaultError> {
        let Some(cid) = customer else { return Ok(true) };
        Ok(match self.store().get(&cid)? {
            Some(rec) => self.sees(p, cid, &attrs_of(&rec)?),
            None => true,
        })
    }

    fn request_event(&self, actor: &str, r: &RequestRecord, detail: String) -> AuditEvent {
        let mut e = AuditEvent::new(now_ms(), actor, Action::Request);
        e.customer = r.customer;
        e.detail = Some(detail);
        e
    }

    /// Receive a request. With an idempotency key already used, returns the
    /// request it created.
    ///
    /// Staff need `verify_identity` or `handle_requests`, and the customer
    /// in their scope; a customer in the portal files their own requests.
    pub fn new_request(&self, p: &Principal, input: &NewRequest) -> Result<RequestView, VaultError> {
        let actor = p.actor();
        let actor = actor.as_str();
        let portal = p.customer().is_some();
        if !portal {
            self.require_request_role(p, true)?;
        }
        if let Some(key) = &input.idempotency_key {
            if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(problem(
                    "idempotency_key",
                    "bad_key",
                    "must be 1-128 printable ASCII characters",
                ));
            }
            if let Some(r) = self.store().request_by_key(key)? {
                // Only to a caller who could act on it.
                let r = self.request_for(p, &r.id, true)?;
                return self.request_view_of(&r, true);
            }
        }
        let kind = RequestKind::parse(&input.kind).ok_or_else(|| {
            problem(
                "kind",
                "unknown_kind",
                "must be access, portability, rectification, erasure, restriction, objection, consent_withdrawal or limit_sensitive (CCPA)",
            )
        })?;
        let notices = self.notices();
        let regime = match &input.regime {
            Some(r) => {
                Regime::parse(r).ok_or_else(|| problem("regime", "unknown_regime", "must be pipl, gdpr or ccpa"))?
            }
            None => notices
                .current()
                .and_then(|n| n.regimes.first().copied())
                .unwrap_or(Regime::Pipl),
        };
        let channel = if portal {
            "portal".to_owned()
        } else {
            input.channel.clone().unwrap_or_else(|| "api".into())
        };
        if !CHANNELS.contains(&channel.as_str()) || (!portal && channel == "portal") {
            return Err(problem(
                "channel",
                "unknown_channel",
                format!("must be one of {}", CHANNELS.join(", ")),
            ));
        }
        if !kind.exists_under(regime) {
            return Err(problem(
                "kind",
                "not_under_regime",
                format!(
                    "{} is a request of the CCPA (Cal. Civ. Code §1798.121); this request's regime is {}",
                    kind.as_str(),
                    regime.as_str()
                ),
            ));
        }
        let now = now_ms();
        let received = match &input.received_at {
            None => now,
            Some(s) => {
                let t = parse_when(s)
                    .ok_or_else(|| problem("received_at", "bad_date", "must be RFC 3339 or YYYY-MM-DD"))?;
                if t > now + 60_000 {
                    return Err(problem("received_at", "future_date", "cannot be in the future"));
                }
                t
            }
        };
        let cid = crate::parse_customer(&input.customer)?;
        let rec = if portal {
            self.require_customer(p, cid)?;
            self.store()
                .get(&cid)?
                .ok_or_else(|| VaultError::NotFound(cid.to_string()))?
        } else {
            self.visible(p, &input.customer)?.0
        };
        let note = input.note.as_deref().unwrap_or("").trim();
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(problem(
                "note",
                "too_long",
                format!("is longer than {MAX_NOTE_CHARS} characters"),
            ));
        }
        if kind == RequestKind::Rectification && note.is_empty() {
            return Err(problem("note", "required", "say what is wrong and what it should be"));
        }
        let detail = if note.is_empty() {
            None
        } else {
            Some(
                self.cipher_for(&rec)?
                    .seal_record(&[(REQUEST_CODE, &request_field(), note.as_bytes())]),
            )
        };
        let r = RequestRecord {
            id: random_id("req_"),
            customer: Some(cid),
            kind: kind.as_str().into(),
            status: RequestState::Received.as_str().into(),
            channel: channel.clone(),
            regime: regime.as_str().into(),
            created_ms: received,
            updated_ms: now,
            idem_key: input.idempotency_key.clone(),
            detail,
            ..Default::default()
        };
        let e = self.request_event(
            actor,
            &r,
            format!("{} {} received via {} ({})", r.kind, r.id, channel, r.regime),
        );
        let log = RequestLogEntry {
            ts_ms: now,
            actor: actor.into(),
            from_status: String::new(),
            to_status: r.status.clone(),
            note: format!("received via {channel}"),
        };
        let given = self.computed_schedule(regime, kind, received, false, &self.calendars());
        match self
            .apply_one(vec![Mutation::PutRequest {
                request: Box::new(r.clone()),
                expect_status: None,
                log: vec![log],
                recipients: Vec::new(),
                clock: Some(Self::clock_record(&given, now)),
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => self.request_view_of(&r, true),
            // A concurrent submission with the same key won.
            _ => match input.idempotency_key.as_deref().map(|k| self.store().request_by_key(k)) {
                Some(Ok(Some(existing))) => self.request_view_of(&existing, true),
                _ => Err(VaultError::Input("the request could not be stored; retry".into())),
            },
        }
    }

    /// One request with its history. Needs `verify_identity` or
    /// `handle_requests`, and the customer in the caller's scope.
    pub fn request(&self, p: &Principal, id: &str) -> Result<RequestView, VaultError> {
        let r = self.request_for(p, id, true)?;
        self.request_view_of(&r, true)
    }

    fn load_request(&self, id: &str) -> Result<RequestRecord, VaultError> {
        self.store()
            .request(id)?
            .ok_or_else(|| VaultError::NotFound(format!("request {:?}", id.chars().take(64).collect::<String>())))
    }

    /// Apply `event` to a request, writing `changed` fields, guarded by the
    /// status read.
    fn advance(
        &self,
        actor: &str,
        id: &str,
        event: RequestEvent,
        note: &str,
        change: impl FnOnce(&mut RequestRecord),
    ) -> Result<RequestRecord, VaultError> {
        let r = self.load_request(id)?;
        let state =
            RequestState::parse(&r.status).ok_or_else(|| VaultError::Config(format!("request {id}: bad status")))?;
        let kind = RequestKind::parse(&r.kind).ok_or_else(|| VaultError::Config(format!("request {id}: bad kind")))?;
        let facts = RequestFacts {
            kind,
            verified: r.verified_ms.is_some(),
            extended: r.extended,
        };
        let next = rights::transition(state, event, facts).map_err(|e| VaultError::RequestState(e.to_string()))?;
        let mut updated = r.clone();
        updated.status = next.as_str().into();
        updated.updated_ms = now_ms();
        change(&mut updated);
        let log = RequestLogEntry {
            ts_ms: updated.updated_ms,
            actor: actor.into(),
            from_status: r.status.clone(),
            to_status: updated.status.clone(),
            note: note.into(),
        };
        let e = self.request_event(
            actor,
            &updated,
            format!(
                "{} {}: {} → {}{}",
                r.kind,
                r.id,
                r.status,
                updated.status,
                if note.is_empty() {
                    String::new()
                } else {
                    format!(" ({note})")
                }
            ),
        );
        match self
            .apply_one(vec![Mutation::PutRequest {
                request: Box::new(updated.clone()),
                expect_status: Some(r.status.clone()),
                log: vec![log],
                recipients: Vec::new(),
                clock: None,
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(updated),
            _ => Err(VaultError::RequestState(format!(
                "request {id} changed meanwhile (it was {}); read it again",
                r.status
            ))),
        }
    }

    /// Record that the requester's identity was verified, and how.
    ///
    /// Needs `verify_identity` or `handle_requests`. A customer in the
    /// portal verifies their own request by the code they entered with,
    /// which went to their own contact on file.
    pub fn verify_request(&self, p: &Principal, id: &str, method: &str) -> Result<RequestView, VaultError> {
        self.request_for(p, id, true)?;
        if p.customer().is_some() && method != "portal_code" {
            return Err(self.forbid(p, None, "a customer verifies only by the portal code"));
        }
        if p.customer().is_none() && method == "portal_code" {
            return Err(problem(
                "method",
                "portal_only",
                "portal_code is recorded by the portal itself; staff name how they verified",
            ));
        }
        let actor = p.actor();
        let actor = actor.as_str();
        if !VERIFICATION_METHODS.contains(&method) {
            return Err(problem(
                "method",
                "unknown_method",
                format!("must be one of {}", VERIFICATION_METHODS.join(", ")),
            ));
        }
        let now = now_ms();
        // A portal code proves the requester holds the contact it went to;
        // whoever sent it stands behind that, so the request counts as
        // verified by them (and they may not complete it where the policy
        // separates the two).
        let by = p.code_from().unwrap_or(actor).to_owned();
        let detail = if p.customer().is_some() {
            format!("identity verified by {method} (sent by {by})")
        } else {
            format!("identity verified by {method}")
        };
        let r = self.advance(actor, id, RequestEvent::Verify, &detail, |r| {
            r.verified_ms = Some(now);
            r.verified_by = Some(by.clone());
            r.verification = Some(method.into());
        })?;
        self.request_view_of(&r, true)
    }

    /// Record that work on a request started (optional: `carry_out` completes
    /// from any open state once the identity is verified).
    pub fn start_request(&self, p: &Principal, id: &str) -> Result<RequestView, VaultError> {
        self.request_for(p, id, false)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let r = self.advance(actor, id, RequestEvent::Start, "work started", |_| {})?;
        self.request_view_of(&r, true)
    }

    /// Record that receipt was confirmed to the requester.
    pub fn acknowledge_request(&self, p: &Principal, id: &str) -> Result<RequestView, VaultError> {
        self.request_for(p, id, false)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let r = self.load_request(id)?;
        if stored_state(&r)?.is_final() {
            return Err(VaultError::RequestState(format!(
                "request {id} is already {}",
                r.status
            )));
        }
        if r.acknowledged_ms.is_some() {
            return self.request_view_of(&r, true);
        }
        let mut updated = r.clone();
        updated.acknowledged_ms = Some(now_ms());
        updated.updated_ms = now_ms();
        let e = self.request_event(actor, &updated, format!("{} {}: receipt confirmed", r.kind, r.id));
        let log = RequestLogEntry {
            ts_ms: updated.updated_ms,
            actor: actor.into(),
            from_status: r.status.clone(),
            to_status: r.status.clone(),
            note: "receipt confirmed to the requester".into(),
        };
        match self
            .apply_one(vec![Mutation::PutRequest {
                request: Box::new(updated.clone()),
                expect_status: Some(r.status.clone()),
                log: vec![log],
                recipients: Vec::new(),
                clock: None,
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => self.request_view_of(&updated, true),
            _ => Err(VaultError::RequestState(format!(
                "request {id} changed meanwhile; read it again"
            ))),
        }
    }

    /// Extend the deadline once, with the reason told to the requester,
    /// where the law allows it and before its notice deadline.
    pub fn extend_request(&self, p: &Principal, id: &str, reason: &str) -> Result<RequestView, VaultError> {
        self.request_for(p, id, false)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(problem(
                "reason",
                "required",
                "give the reason told to the requester (at most 500 characters)",
            ));
        }
        let r = self.load_request(id)?;
        let (regime, kind) = stored_regime_kind(&r)?;
        if !clock::extendable(regime, kind) {
            return Err(VaultError::RequestState(format!(
                "{} does not allow extending a {} request",
                regime.as_str().to_uppercase(),
                r.kind
            )));
        }
        let due = self.schedule_of(&r)?;
        let today = self.company_today();
        if let Some(by) = due.extension_notice_by {
            if today > by {
                return Err(VaultError::RequestState(format!(
                    "an extension had to be announced by {by} ({})",
                    due.citations.join("; ")
                )));
            }
        }
        let reason_owned = reason.to_owned();
        let r = self.advance(actor, id, RequestEvent::Extend, reason, |r| {
            r.extended = true;
            r.reason = Some(reason_owned);
        })?;
        self.request_view_of(&r, true)
    }

    /// Refuse a request, with the reason told to the requester.
    pub fn deny_request(&self, p: &Principal, id: &str, reason: &str) -> Result<RequestView, VaultError> {
        self.request_for(p, id, false)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(problem(
                "reason",
                "required",
                "give the reason told to the requester (at most 500 characters)",
            ));
        }
        let now = now_ms();
        let reason_owned = reason.to_owned();
        let r = self.advance(actor, id, RequestEvent::Deny, reason, |r| {
            r.reason = Some(reason_owned);
            r.completed_ms = Some(now);
        })?;
        self.request_view_of(&r, true)
    }

    /// Requests still open whose answer is due within `within_days` (or
    /// overdue), soonest first, plus those whose receipt confirmation is due.
    ///
    /// Needs `verify_identity` or `handle_requests`; only requests of
    /// customers in the caller's scope.
    pub fn requests_due(&self, p: &Principal, within_days: i64) -> Result<Vec<RequestView>, VaultError> {
        self.require_request_role(p, true)?;
        let mut out = Vec::new();
        for r in self.store().open_requests()? {
            if !self.lists(p, &r)? {
                continue;
            }
            let v = self.request_view_of(&r, false)?;
            if v.days_left.is_some_and(|d| d <= within_days) || v.acknowledgement_due {
                out.push(v);
            }
        }
        out.sort_by_key(|v| v.due.respond_by);
        Ok(out)
    }

    /// Every open request of customers in the caller's scope. Needs
    /// `verify_identity` or `handle_requests`.
    pub fn open_requests(&self, p: &Principal) -> Result<Vec<RequestView>, VaultError> {
        self.require_request_role(p, true)?;
        // Three reads for the whole queue, whatever its length: the
        // requests, their clocks, their recipients (and the customers'
        // attributes only for a caller whose scope is limited).
        let mut details = self.store().open_request_details()?;
        let calendars = self.calendars();
        let today = self.company_today();
        let everyone = self.sees_everyone(p);
        let mut out = Vec::new();
        // Requests received on the same dates share their computed clock.
        let mut computed = std::collections::HashMap::new();
        for r in self.store().open_requests()? {
            if everyone || self.lists(p, &r)? {
                let due = self.schedule_with(&r, details.clocks.get(&r.id), &calendars, Some(&mut computed))?;
                let recipients = details.recipients.remove(&r.id).unwrap_or_default();
                out.push(self.request_view_with(&r, due, recipients, today, false)?);
            }
        }
        Ok(out)
    }

    /// One page of the open queue, soonest deadline first, narrowed to a
    /// kind, regime and state when given: the requests matching in all,
    /// and the views of this page's. Only the page's requests become views,
    /// so the cost of the rest is a read and a clock each.
    pub fn open_queue(
        &self,
        p: &Principal,
        q: &QueueFilter,
        page: usize,
        per_page: usize,
    ) -> Result<QueuePage, VaultError> {
        self.require_request_role(p, true)?;
        let mut details = self.store().open_request_details()?;
        let calendars = self.calendars();
        let today = self.company_today();
        let everyone = self.sees_everyone(p);
        let mut computed = std::collections::HashMap::new();
        let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let mut matching = Vec::new();
        for r in self.store().open_request_heads()? {
            if !(wanted(&q.kind, &r.kind) && wanted(&q.regime, &r.regime) && wanted(&q.state, &r.status)) {
                continue;
            }
            if everyone || self.lists_customer(p, r.customer)? {
                let due = self.schedule_of_head(&r, details.clocks.get(&r.id), &calendars, Some(&mut computed))?;
                matching.push((due, r));
            }
        }
        matching
            .sort_by(|a, b| (a.0.respond_by, a.1.created_ms, &a.1.id).cmp(&(b.0.respond_by, b.1.created_ms, &b.1.id)));
        let total = matching.len();
        let per_page = per_page.clamp(1, 1000);
        let page = page.min(total.saturating_sub(1) / per_page);
        let mut rows = Vec::new();
        for (due, head) in matching.into_iter().skip(page * per_page).take(per_page) {
            // The page's requests in full (one closed meanwhile is shown as
            // it now is).
            let Some(r) = self.store().request(&head.id)? else {
                continue;
            };
            let recipients = details.recipients.remove(&r.id).unwrap_or_default();
            rows.push(self.request_view_with(&r, due, recipients, today, false)?);
        }
        Ok(QueuePage {
            total,
            page,
            per_page,
            rows,
        })
    }

    /// A customer's requests, newest first, for a caller with a request
    /// permission who sees the customer.
    pub fn customer_requests(&self, p: &Principal, id: &str) -> Result<Vec<RequestView>, VaultError> {
        self.require_request_role(p, true)?;
        let (rec, _) = self.visible(p, id)?;
        let mut out = Vec::new();
        for r in self.store().requests(&rec.id)?.iter().rev() {
            out.push(self.request_view_of(r, false)?);
        }
        Ok(out)
    }

    /// Who read, revealed, changed or exported a customer's data, when and
    /// for which purpose (newest first, at most `limit`), for a caller with
    /// `read_audit` who sees the customer. The events hold no values.
    pub fn access_history(&self, p: &Principal, id: &str, limit: usize) -> Result<Vec<AccessEntry>, VaultError> {
        self.require_admin(p, Permission::ReadAudit)?;
        let (rec, _) = self.visible(p, id)?;
        let mut events = self.store().audit_of(&rec.id, limit.clamp(1, 10_000))?;
        events.reverse();
        Ok(events
            .into_iter()
            .map(|e| AccessEntry {
                at: crate::records::input::rfc3339(e.event.ts_ms),
                who: e.event.actor.clone(),
                action: e.event.action.as_str().to_owned(),
                purpose: e.event.purpose.as_ref().map(|x| x.to_string()),
                fields: e.event.fields.iter().map(|f| f.to_string()).collect(),
                outcome: format!("{:?}", e.event.outcome).to_lowercase(),
            })
            .collect())
    }

    /// The requester's note, decrypted (for the staff who handle it).
    ///
    /// Needs `handle_requests`.
    pub fn request_note(&self, p: &Principal, id: &str) -> Result<Option<String>, VaultError> {
        let r = self.request_for(p, id, false)?;
        let (Some(cid), Some(sealed)) = (r.customer, r.detail) else {
            return Ok(None);
        };
        let Some(rec) = self.store().get(&cid)? else {
            return Ok(None);
        };
        let pt = self
            .cipher_for(&rec)?
            .open_field(&sealed, REQUEST_CODE, &request_field())?
            .unwrap_or_default();
        // The note is the customer's own words: reading it is a read of
        // their data, on the record like any other.
        let mut e = AuditEvent::new(now_ms(), p.actor(), Action::Read);
        e.customer = Some(cid);
        e.purpose = Some(Self::dsr());
        e.detail = Some(format!("read the note of request {}", r.id));
        self.audit(vec![e])?;
        Ok(Some(
            String::from_utf8(pt).map_err(|_| custodia_crypto::CryptoError::Decrypt)?,
        ))
    }

    /// Recipients the customer's data went to under the notice in force:
    /// the ones to tell of a rectification, erasure or restriction.
    fn recipients_for(&self, clear: &BTreeMap<String, String>) -> Vec<String> {
        let state = self.notices();
        let Some(n) = state.current() else {
            return Vec::new();
        };
        let held: BTreeSet<&str> = clear.keys().map(String::as_str).collect();
        let mut out = BTreeSet::new();
        for p in &n.purposes {
            if p.fields.iter().any(|f| held.contains(f.as_str())) {
                for r in &p.recipients {
                    out.insert(format!(
                        "{} ({})",
                        r.name,
                        match r.role {
                            RecipientRole::Processor => "processor",
                            RecipientRole::Controller => "controller",
                        }
                    ));
                }
                for t in &p.transfers {
                    out.insert(format!("{} ({})", t.recipient, t.country));
                }
            }
        }
        out.into_iter().collect()
    }

    /// Third parties (controllers, overseas recipients) of the purposes
    /// that hold any of the customer's fields — or, for a request to limit,
    /// of the purposes that use sensitive fields.
    fn third_parties_for(&self, clear: &BTreeMap<String, String>, sensitive_only: bool) -> Vec<String> {
        let state = self.notices();
        let Some(n) = state.current() else {
            return Vec::new();
        };
        let held: BTreeSet<&str> = clear.keys().map(String::as_str).collect();
        let mut out = BTreeSet::new();
        for p in &n.purposes {
            if sensitive_only && !p.uses(self.schema(), custodia_core::Classification::Sensitive) {
                continue;
            }
            if p.fields.iter().any(|f| held.contains(f.as_str())) {
                for t in p.third_parties() {
                    out.insert(format!("{t} (third party)"));
                }
            }
        }
        out.into_iter().collect()
    }

    /// Record that a recipient was told.
    pub fn notify_recipient(&self, p: &Principal, id: &str, recipient: &str) -> Result<RequestView, VaultError> {
        self.request_for(p, id, false)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let r = self.load_request(id)?;
        let known = self.store().request_recipients(id)?;
        if !known.iter().any(|n| n.recipient == recipient) {
            return Err(problem(
                "recipient",
                "unknown_recipient",
                format!(
                    "is not among this request's recipients: {}",
                    known
                        .iter()
                        .map(|n| n.recipient.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ));
        }
        let now = now_ms();
        let e = self.request_event(actor, &r, format!("{} {}: recipient {recipient} told", r.kind, r.id));
        let log = RequestLogEntry {
            ts_ms: now,
            actor: actor.into(),
            from_status: r.status.clone(),
            to_status: r.status.clone(),
            note: format!("recipient {recipient} told"),
        };
        let mut updated = r.clone();
        updated.updated_ms = now;
        self.apply_one(vec![Mutation::PutRequest {
            request: Box::new(updated),
            expect_status: Some(r.status.clone()),
            log: vec![log],
            recipients: vec![RecipientNotice {
                recipient: recipient.into(),
                notified_ms: Some(now),
                notified_by: Some(actor.into()),
            }],
            clock: None,
            events: vec![e],
        }])?;
        self.request(p, id)
    }

    /// Carry a request out and complete it. Rectification takes the
    /// corrected values in `patch`; erasure issues a destruction
    /// certificate (or is refused while a legal hold stands).
    ///
    /// Completing needs `handle_requests` and the permissions of what the
    /// kind does, for `data_subject_request`: `reveal` of each field an
    /// access or portability package holds, `write` of each field a
    /// rectification changes (and of the record, for a restriction or an
    /// objection), `delete` for an erasure, `record_consent` for a consent
    /// withdrawal. By default whoever verified the requester's identity
    /// cannot also complete an access, portability or erasure request
    /// (`[separation_of_duties]` in the policy). A customer in the portal
    /// completes their own objections and consent withdrawals, which need
    /// no verification.
    pub fn carry_out(
        &self,
        p: &Principal,
        id: &str,
        patch: Option<&crate::RecordPatch>,
    ) -> Result<Outcome, VaultError> {
        let r = self.request_for(p, id, false)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let portal = p.customer().is_some();
        let kind = RequestKind::parse(&r.kind).ok_or_else(|| {
            VaultError::Store(custodia_store::StoreError::Corrupt(format!(
                "request {id}: kind {:?}",
                r.kind
            )))
        })?;
        if portal && kind.needs_verification() {
            return Err(self.forbid(
                p,
                r.customer,
                "the company carries this request out; the portal only files it",
            ));
        }
        if !portal && self.policy().separation().verifier_cannot_complete.contains(&kind) {
            if let (Some(by), Some(me)) = (r.verified_by.as_deref(), crate::access::authz::person_of(&p.actor())) {
                if crate::access::authz::person_of(by) == Some(me) {
                    let e = VaultError::SeparationOfDuties(format!(
                        "{} verified the requester of {}; another person completes this {} request ([separation_of_duties] in the policy)",
                        me, r.id, r.kind
                    ));
                    self.audit_refusal(p, r.customer, Some(&Self::dsr()), &e);
                    return Err(e);
                }
            }
        }
        // Check the transition before doing anything.
        let state = RequestState::parse(&r.status).ok_or_else(|| {
            VaultError::Store(custodia_store::StoreError::Corrupt(format!(
                "request {id}: status {:?}",
                r.status
            )))
        })?;
        rights::transition(
            state,
            RequestEvent::Complete,
            RequestFacts {
                kind,
                verified: r.verified_ms.is_some(),
                extended: r.extended,
            },
        )
        .map_err(|e| VaultError::RequestState(e.to_string()))?;
        let cid = r
            .customer
            .ok_or_else(|| VaultError::RequestState(format!("request {id} names no customer")))?;
        if kind != RequestKind::Rectification && patch.is_some() {
            return Err(VaultError::Input(
                "corrected values go with rectification requests only".into(),
            ));
        }
        let rec = self
            .store()
            .get(&cid)?
            .ok_or_else(|| VaultError::RequestState(format!("customer {cid} is no longer stored")))?;
        let attrs = attrs_of(&rec)?;
        let clear = self.decrypt(&rec)?;
        let dsr = Self::dsr();
        if !portal {
            // The parts' own rules, before anything is done.
            match kind {
                RequestKind::Access | RequestKind::Portability => {
                    for def in self.schema().fields() {
                        if def.classification.is_encrypted() && clear.contains_key(def.name.as_str()) {
                            self.require(p, Permission::Reveal, Some(def), Some(&attrs), Some(&dsr), Some(cid))?;
                        }
                    }
                }
                RequestKind::Erasure => {
                    self.require(p, Permission::Delete, None, Some(&attrs), Some(&dsr), Some(cid))?;
                }
                RequestKind::Restriction | RequestKind::Objection | RequestKind::LimitSensitive => {
                    self.require(p, Permission::Write, None, Some(&attrs), Some(&dsr), Some(cid))?;
                }
                RequestKind::ConsentWithdrawal => {
                    self.require(p, Permission::RecordConsent, None, Some(&attrs), Some(&dsr), Some(cid))?;
                }
                // Checked field by field by the update itself.
                RequestKind::Rectification => {}
            }
        }
        let regime = Regime::parse(&r.regime).ok_or_else(|| corrupt(&r.id, "regime", &r.regime))?;
        let recipients: Vec<RecipientNotice> = if kind.notifies_third_parties() && regime == Regime::Ccpa {
            // 11 CCR §7026(f)(2), §7027(g)(2): the third parties the data
            // was sold or shared with are told to stop too.
            self.third_parties_for(&clear, kind == RequestKind::LimitSensitive)
                .into_iter()
                .map(|n| RecipientNotice {
                    recipient: n,
                    notified_ms: None,
                    notified_by: None,
                })
                .collect()
        } else if kind.notifies_recipients() {
            self.recipients_for(&clear)
                .into_iter()
                .map(|n| RecipientNotice {
                    recipient: n,
                    notified_ms: None,
                    notified_by: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut package = None;
        let mut csv = None;
        let mut certificate = None;
        let note = match kind {
            RequestKind::Access | RequestKind::Portability => {
                let p = self.access_package(cid, kind == RequestKind::Access)?;
                if kind == RequestKind::Portability {
                    csv = Some(portability_csv(&clear));
                }
                package = Some(p);
                "package produced".to_owned()
            }
            RequestKind::Rectification => {
                let patch = patch.ok_or_else(|| {
                    VaultError::Input("give the corrected values (FIELD=VALUE) to carry out a rectification".into())
                })?;
                self.update(p, &cid.to_string(), patch, None, &dsr)?;
                format!("corrected {}", patch.keys().cloned().collect::<Vec<_>>().join(","))
            }
            RequestKind::Erasure => {
                // The erasure completes the request in the same transaction.
                let out = self.erase_customer_for_request(actor, &r, &recipients)?;
                certificate = Some(out.certificate_jws.clone());
                let done = self.load_request(id)?;
                return Ok(Outcome {
                    request: self.request_view_of(&done, true)?,
                    package: None,
                    csv: None,
                    certificate,
                });
            }
            RequestKind::Restriction => {
                self.set_flags(actor, cid, rec.flags | FLAG_RESTRICTED, "processing restricted")?;
                "processing restricted: only purposes the notice allows under restriction".into()
            }
            RequestKind::Objection => {
                self.set_flags(actor, cid, rec.flags | FLAG_OPTED_OUT, "objection / opt-out recorded")?;
                if recipients.is_empty() {
                    "objection recorded: objectable purposes and sharing stop".into()
                } else {
                    format!(
                        "objection recorded: objectable purposes and sharing stop; {} third part(ies) to tell (11 CCR §7026(f))",
                        recipients.len()
                    )
                }
            }
            RequestKind::LimitSensitive => {
                self.set_flags(
                    actor,
                    cid,
                    rec.flags | custodia_store::FLAG_LIMITED,
                    "use of sensitive personal information limited",
                )?;
                format!(
                    "use of sensitive information limited: purposes using sensitive fields stop except those 11 CCR §7027(m) allows{}",
                    if recipients.is_empty() {
                        String::new()
                    } else {
                        format!("; {} third part(ies) to tell (§7027(g))", recipients.len())
                    }
                )
            }
            RequestKind::ConsentWithdrawal => {
                let overview = self.consent_overview(cid, &clear)?;
                let inputs: Vec<crate::privacy::consent::ConsentInput> = overview
                    .purposes
                    .iter()
                    .filter(|p| p.state == custodia_core::consent::ConsentState::Active)
                    .map(|p| crate::privacy::consent::ConsentInput {
                        purpose: p.purpose.to_string(),
                        action: crate::privacy::consent::ConsentAction::Withdraw,
                        channel: match r.channel.as_str() {
                            "portal" | "api" | "email" => "web".into(),
                            "phone" => "phone".into(),
                            "letter" => "paper".into(),
                            _ => "in_person".into(),
                        },
                        language: "en".into(),
                        separate: false,
                        by: None,
                        text_sha256: None,
                        notice_version: None,
                        document_sha256: None,
                    })
                    .collect();
                let n = inputs.len();
                if n > 0 {
                    self.record_consents_for(actor, &rec, &inputs)?;
                }
                format!("{n} consents withdrawn")
            }
        };
        let now = now_ms();
        let mut updated = r.clone();
        updated.status = RequestState::Completed.as_str().into();
        updated.updated_ms = now;
        updated.completed_ms = Some(now);
        let log = RequestLogEntry {
            ts_ms: now,
            actor: actor.into(),
            from_status: r.status.clone(),
            to_status: updated.status.clone(),
            note: note.clone(),
        };
        let e = self.request_event(
            actor,
            &updated,
            format!("{} {}: {} → completed ({note})", r.kind, r.id, r.status),
        );
        match self
            .apply_one(vec![Mutation::PutRequest {
                request: Box::new(updated.clone()),
                expect_status: Some(r.status.clone()),
                log: vec![log],
                recipients,
                clock: None,
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(Outcome {
                request: self.request_view_of(&updated, true)?,
                package,
                csv,
                certificate,
            }),
            _ => Err(VaultError::RequestState(format!(
                "request {id} changed meanwhile; read it again"
            ))),
        }
    }

    /// Set a customer's processing flags.
    pub(crate) fn set_flags(&self, actor: &str, cid: CustomerId, flags: u32, why: &str) -> Result<(), VaultError> {
        let mut e = AuditEvent::new(now_ms(), actor, Action::Update);
        e.customer = Some(cid);
        e.detail = Some(format!("{why} (flags={flags})"));
        match self
            .apply_one(vec![Mutation::SetFlags {
                id: cid,
                flags,
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(()),
            _ => Err(VaultError::NotFound(cid.to_string())),
        }
    }

    /// Lift a restriction (GDPR Art. 18(3): tell the customer first) or an
    /// objection.
    ///
    /// Needs `handle_requests` and `write` of the record for
    /// `data_subject_request`.
    pub fn clear_flags(
        &self,
        p: &Principal,
        customer: &str,
        restriction: bool,
        objection: bool,
    ) -> Result<(), VaultError> {
        self.require_admin(p, Permission::HandleRequests)?;
        let (rec, _) = self.require_record(p, customer, Permission::Write, &Self::dsr())?;
        let cid = rec.id;
        let actor = p.actor();
        let actor = actor.as_str();
        let mut flags = rec.flags;
        if restriction {
            flags &= !FLAG_RESTRICTED;
        }
        if objection {
            flags &= !FLAG_OPTED_OUT;
        }
        self.set_flags(actor, cid, flags, "restriction/objection lifted")
    }

    /// Everything held about a customer: fields in clear, consents with
    /// signed receipts, purposes with basis, recipients and retention, and
    /// (for access requests) who accessed their data.
    pub(crate) fn access_package(
        &self,
        cid: CustomerId,
        with_access_log: bool,
    ) -> Result<serde_json::Value, VaultError> {
        let mut p = self.data_package(cid)?;
        let state = self.notices();
        if let Some(n) = state.current() {
            let purposes: Vec<serde_json::Value> = n
                .purposes
                .iter()
                .map(|x| {
                    serde_json::json!({
                        "purpose": x.id, "basis": x.basis, "fields": x.fields,
                        "retention": x.retention.describe(custodia_core::notice::Language::En),
                        "recipients": x.recipients, "transfers": x.transfers,
                    })
                })
                .collect();
            p["purposes"] = serde_json::Value::Array(purposes);
            p["notice_version"] = n.version.into();
        }
        if with_access_log {
            let log: Vec<serde_json::Value> = self
                .store()
                .audit_of(&cid, 10_000)?
                .into_iter()
                .map(|e| {
                    serde_json::json!({
                        "at": crate::records::input::rfc3339(e.event.ts_ms),
                        "who": e.event.actor,
                        "action": e.event.action.as_str(),
                        "purpose": e.event.purpose,
                        "fields": e.event.fields,
                    })
                })
                .collect();
            p["access_log"] = serde_json::Value::Array(log);
        }
        Ok(p)
    }
}

fn portability_csv(clear: &BTreeMap<String, String>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["field", "value"]);
    for (k, v) in clear {
        let _ = w.write_record([k, v]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
