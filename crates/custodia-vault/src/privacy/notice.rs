//! Published privacy notices: publishing a version (with its diff against
//! the previous one and the purposes whose consents must be renewed), and
//! the in-memory state every request is checked against.

use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::notice::{self, Change, Notice};
use custodia_core::Purpose;
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation, NoticeRecord};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const META_NOTICE: &str = "notice_current";

/// The notices as published, and what follows from them at one moment: a
/// version published with a future `effective` date is upcoming until
/// midnight of that date in the company's time zone, and only then in
/// force (its consents to renew are counted from then).
#[derive(Debug, Default)]
pub struct NoticeState {
    /// Every version, oldest first, with its publication record.
    pub history: Vec<(NoticeRecord, Arc<Notice>)>,
    /// When each version of `history` took or takes effect, ms: its
    /// effective date's midnight, or its publication if that is later.
    pub effective_ms: Vec<i64>,
    /// How many versions of `history` are in force or were (the rest are
    /// upcoming).
    pub in_force: usize,
    /// Per purpose of the current version: the version that last changed it
    /// materially (consents given under older versions need renewal).
    pub floors: BTreeMap<Purpose, u32>,
    /// Fields needed by the current version's collecting purposes that do
    /// not rest on consent: always necessary (the fast path of the
    /// minimum-necessary check on every write).
    pub necessary_base: BTreeSet<custodia_core::FieldName>,
}

impl NoticeState {
    /// The state of `history` at `now_ms`, effective dates read in `offset`.
    pub fn at(
        history: Vec<(NoticeRecord, Arc<Notice>)>,
        offset: crate::datadir::UtcOffset,
        now_ms: i64,
    ) -> NoticeState {
        let effective_ms: Vec<i64> = history
            .iter()
            .map(|(r, n)| {
                n.effective_date()
                    .map(|d| offset.midnight_ms(d))
                    .unwrap_or(r.published_ms)
                    .max(r.published_ms)
            })
            .collect();
        // The first version is in force from its publication whatever its
        // date says: processing needs some notice.
        let in_force = effective_ms
            .iter()
            .enumerate()
            .take_while(|(i, &ms)| *i == 0 || ms <= now_ms)
            .count();
        let plain: Vec<Notice> = history[..in_force].iter().map(|(_, n)| Notice::clone(n)).collect();
        let necessary_base = plain
            .last()
            .map(|n| n.necessary_fields(|_| false).into_iter().cloned().collect())
            .unwrap_or_default();
        NoticeState {
            floors: notice::renewal_floors(&plain),
            history,
            effective_ms,
            in_force,
            necessary_base,
        }
    }

    /// The version in force, if any is published.
    pub fn current(&self) -> Option<&Arc<Notice>> {
        self.history[..self.in_force].last().map(|(_, n)| n)
    }

    /// The newest version published, in force or upcoming.
    pub fn latest(&self) -> Option<&Arc<Notice>> {
        self.history.last().map(|(_, n)| n)
    }

    /// The next version to take effect, and when (ms).
    pub fn upcoming(&self) -> Option<(&Arc<Notice>, i64)> {
        self.history
            .get(self.in_force)
            .map(|(_, n)| (n, self.effective_ms[self.in_force]))
    }

    /// Where the `i`th version of `history` stands: `in_force`,
    /// `superseded` or `upcoming`.
    pub fn status(&self, i: usize) -> &'static str {
        if i + 1 == self.in_force {
            "in_force"
        } else if i < self.in_force {
            "superseded"
        } else {
            "upcoming"
        }
    }

    /// A version by number.
    pub fn version(&self, v: u32) -> Option<&Arc<Notice>> {
        self.history.iter().find(|(r, _)| r.version == v).map(|(_, n)| n)
    }

    /// The version in force at `ms` (the first one when `ms` predates all).
    pub fn in_force_at(&self, ms: i64) -> Option<&Arc<Notice>> {
        self.history
            .iter()
            .zip(&self.effective_ms)
            .rev()
            .find(|(_, &at)| at <= ms)
            .map(|(h, _)| h)
            .or(self.history.first())
            .map(|(_, n)| n)
    }

    /// The renewal floor of a purpose (0 when it is not in the notice).
    pub fn floor(&self, p: &Purpose) -> u32 {
        self.floors.get(p).copied().unwrap_or(0)
    }
}

/// What publishing a version did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// The version published.
    pub version: u32,
    /// The previous version, if any.
    pub previous: Option<u32>,
    /// Every difference from the previous version.
    pub changes: Vec<Change>,
    /// Whether each change is material, in the same order.
    pub material: Vec<bool>,
    /// Consent-based purposes whose consents must be renewed: processing
    /// under them stops for each customer until they consent again, from
    /// the moment the version takes effect.
    pub renewal_needed: Vec<Purpose>,
    /// When the version takes effect (RFC 3339): midnight of its effective
    /// date in the company's time zone, or at once.
    pub takes_effect: String,
    /// Whether it is in force as soon as it is published (else it is
    /// upcoming until `takes_effect`).
    pub immediate: bool,
}

impl Vault {
    /// The notice state (refreshed from the store at most every 2 s, so a
    /// version published by another process takes effect quickly).
    pub fn notices(&self) -> Arc<NoticeState> {
        let now = now_ms();
        if now - self.notice_checked_ms.load(Ordering::Relaxed) > 2000 {
            if let Err(e) = self.refresh_notices() {
                tracing::warn!(error = %e, "could not refresh the privacy notices");
            }
        }
        let state = self.notice_state.read().expect("notice state").clone();
        match state.upcoming() {
            // An upcoming version's date came: it is in force from now.
            Some((_, at)) if at <= now => {
                let next = Arc::new(NoticeState::at(state.history.clone(), self.config().utc_offset, now));
                *self.notice_state.write().expect("notice state") = next.clone();
                next
            }
            _ => state,
        }
    }

    /// Re-read the published notices if another process published one.
    pub fn refresh_notices(&self) -> Result<(), VaultError> {
        self.notice_checked_ms.store(now_ms(), Ordering::Relaxed);
        let stored = crate::u32_meta(self.store().meta(META_NOTICE)?);
        let have = self
            .notice_state
            .read()
            .expect("notice state")
            .history
            .last()
            .map(|(r, _)| r.version);
        if stored.is_some() && stored == have {
            return Ok(());
        }
        let mut history = Vec::new();
        for r in self.store().notices()? {
            let n = Notice::parse(&r.toml, self.schema()).map_err(|errs| {
                VaultError::Config(format!(
                    "stored notice version {} no longer fits the schema: {}",
                    r.version,
                    errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
                ))
            })?;
            history.push((r, Arc::new(n)));
        }
        let state = NoticeState::at(history, self.config().utc_offset, now_ms());
        *self.notice_state.write().expect("notice state") = Arc::new(state);
        Ok(())
    }

    /// Publish the bundled notice as version 1 when nothing is published and
    /// it fits this data directory's schema (a custom schema needs its own
    /// notice: until one is published, processing under any purpose is
    /// refused).
    pub(crate) fn ensure_default_notice(&self, actor: &str) -> Result<(), VaultError> {
        self.refresh_notices()?;
        if self.notices().latest().is_some() {
            return Ok(());
        }
        if Notice::from_toml(notice::DEFAULT_NOTICE_TOML, self.schema()).is_ok() {
            match self.publish_notice_as(actor, notice::DEFAULT_NOTICE_TOML) {
                Ok(_) | Err(VaultError::NoticeVersion(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// What publishing a notice would do (a dry run). Needs `manage_policy`.
    pub fn preview_notice(
        &self,
        p: &crate::access::authz::Principal,
        toml_text: &str,
    ) -> Result<PublishReport, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ManagePolicy)?;
        Ok(self.check_notice(toml_text)?.1)
    }

    /// Check a notice without publishing it: the parsed notice and its
    /// difference from the current version.
    pub(crate) fn check_notice(&self, toml_text: &str) -> Result<(Notice, PublishReport), VaultError> {
        let n = Notice::from_toml(toml_text, self.schema()).map_err(|errs| {
            VaultError::Input(format!(
                "the notice is not valid: {}",
                errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
            ))
        })?;
        self.refresh_notices()?;
        let state = self.notices();
        // Against the newest version, even one not yet in force.
        let prev = state.latest();
        if let Some(p) = prev {
            if n.version <= p.version {
                return Err(VaultError::NoticeVersion(format!(
                    "version {} is not newer than the published version {}; raise `version`",
                    n.version, p.version
                )));
            }
        }
        let changes = prev.map(|p| notice::diff(p, &n)).unwrap_or_default();
        let renewal = notice::renewal_needed(&changes, &n).into_iter().collect();
        let now = now_ms();
        let at = n
            .effective_date()
            .map(|d| self.config().utc_offset.midnight_ms(d))
            .unwrap_or(now)
            .max(now);
        if let (Some(p), Some(&latest_at)) = (prev, state.effective_ms.last()) {
            if at < latest_at {
                return Err(VaultError::NoticeVersion(format!(
                    "version {} would take effect on {}, before version {} (effective {}); versions take effect in order: date it {} or later",
                    n.version, n.effective, p.version, p.effective, p.effective
                )));
            }
        }
        let report = PublishReport {
            version: n.version,
            previous: prev.map(|p| p.version),
            material: changes.iter().map(Change::material).collect(),
            changes,
            renewal_needed: renewal,
            takes_effect: crate::records::input::rfc3339(at),
            immediate: at <= now || prev.is_none(),
        };
        Ok((n, report))
    }

    /// Publish a new notice version. Versions are immutable and must
    /// increase; the report says which consents now need renewal.
    pub fn publish_notice(
        &self,
        p: &crate::access::authz::Principal,
        toml_text: &str,
    ) -> Result<PublishReport, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ManagePolicy)?;
        self.publish_notice_as(&p.actor(), toml_text)
    }

    fn publish_notice_as(&self, actor: &str, toml_text: &str) -> Result<PublishReport, VaultError> {
        let (n, report) = self.check_notice(toml_text)?;
        let mut e = AuditEvent::new(now_ms(), actor, Action::Notice);
        e.detail = Some(format!(
            "published version {} (previous {}); changes={} material={} renewal_needed={}",
            n.version,
            report.previous.map(|v| v.to_string()).unwrap_or_else(|| "none".into()),
            report.changes.len(),
            report.material.iter().filter(|m| **m).count(),
            report
                .renewal_needed
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
        let rec = NoticeRecord {
            version: n.version,
            toml: toml_text.to_owned(),
            published_ms: now_ms(),
            published_by: actor.to_owned(),
        };
        let results = self.apply_one(vec![
            Mutation::PutNotice {
                notice: rec,
                events: vec![e],
            },
            Mutation::SetMeta {
                key: META_NOTICE.into(),
                value: n.version.to_string().into_bytes(),
            },
        ]);
        match results?.first() {
            Some(Applied::Done) => {}
            _ => {
                return Err(VaultError::NoticeVersion(format!(
                    "version {} was published meanwhile",
                    n.version
                )))
            }
        }
        self.refresh_notices()?;
        Ok(report)
    }

    /// Purposes of the current notice consent is asked for (consent basis,
    /// or an opt-in the law requires whatever the basis).
    pub fn consent_purposes(&self) -> BTreeSet<Purpose> {
        self.notices()
            .current()
            .map(|n| {
                n.purposes
                    .iter()
                    .filter(|p| n.consent_may_apply(p))
                    .map(|p| p.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
