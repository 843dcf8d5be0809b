//! The audit viewer: the log filtered by actor, customer, action, purpose,
//! outcome and time, a page at a time over millions of events (the
//! vault's `audit_search`, with its bounded cost), and the chain's state.

use super::purpose_label;
use crate::pages::desk::{csrf_form, no_store, Ctx, Desk, Posted};
use crate::pages::i18n::{fill, Text};
use crate::pages::{render, Layout};
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use custodia_vault::audit::{AuditQuery, AuditSearch};
use custodia_vault::VaultError;
use serde::Deserialize;

/// The filters, as the form sends them (ids and names, never values).
#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: Option<u64>,
}

impl Filters {
    fn query(&self) -> AuditQuery {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        AuditQuery {
            actor: some(&self.actor),
            customer: some(&self.customer),
            action: some(&self.action),
            purpose: some(&self.purpose),
            outcome: some(&self.outcome),
            from: some(&self.from),
            to: some(&self.to),
            before: self.before,
            limit: Some(50),
        }
    }

    /// The address of the older page: the same filters, the next cursor.
    fn older(&self, next: u64) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("customer", &self.customer),
            ("action", &self.action),
            ("purpose", &self.purpose),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.append_pair("before", &next.to_string());
        format!("/console/audit?{}", q.finish())
    }
}

/// One event as a row.
struct Row {
    seq: u64,
    at: String,
    actor: String,
    action: String,
    customer: Option<String>,
    fields: String,
    purpose: String,
    outcome: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    f: Filters,
    actions: Vec<&'static str>,
    purposes: Vec<(String, String)>,
    rows: Vec<Row>,
    older: Option<String>,
    searched: String,
    head: String,
    /// Problems of the filters, each naming its filter.
    error: Option<String>,
    /// The verification's outcome, when one was asked for.
    verified: Option<(bool, String)>,
}

fn audit_page(c: &Ctx, f: Filters, verified: Option<(bool, String)>) -> Response {
    let t = c.t;
    let (found, error, status) = match c.s.vault.audit_search(&c.p, &f.query()) {
        Ok(page) => (Some(page), None, StatusCode::OK),
        Err(e @ VaultError::Invalid(_)) => (None, Some(c.detail(&e)), StatusCode::UNPROCESSABLE_ENTITY),
        Err(e) => return c.refusal(&t.audit.title, &e),
    };
    let AuditSearch {
        events,
        next,
        searched,
        head,
    } = found.unwrap_or(AuditSearch {
        events: Vec::new(),
        next: None,
        searched: None,
        head: 0,
    });
    let rows = events
        .iter()
        .map(|e| {
            let ev = &e.event;
            Row {
                seq: e.seq,
                at: custodia_vault::records::input::rfc3339(ev.ts_ms),
                actor: ev.actor.clone(),
                action: ev.action.as_str().to_owned(),
                customer: ev.customer.map(|x| x.to_string()),
                fields: ev.fields.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", "),
                purpose: ev
                    .purpose
                    .as_ref()
                    .map(|p| purpose_label(c, p.as_str()))
                    .unwrap_or_default(),
                outcome: ev.outcome.as_str(),
                detail: ev.detail.clone().unwrap_or_default(),
            }
        })
        .collect();
    let page = AuditPage {
        page: c.layout(&t.audit.title).wide(),
        t,
        csrf: c.sess.csrf.clone(),
        actions: custodia_core::audit::ACTIONS.iter().map(|a| a.as_str()).collect(),
        purposes: c
            .s
            .vault
            .schema()
            .purposes()
            .iter()
            .map(|p| (p.id.to_string(), c.lang.pick(&p.name_en, &p.name_zh).to_owned()))
            .collect(),
        rows,
        older: next.map(|n| f.older(n)),
        searched: searched
            .map(|(lo, hi)| fill(&t.audit.searched, &[("from", &lo.to_string()), ("to", &hi.to_string())]))
            .unwrap_or_default(),
        head: fill(&t.audit.head, &[("n", &head.to_string())]),
        error,
        verified,
        f,
    };
    no_store(render(&page, status))
}

/// GET /console/audit: the filtered log, newest first (needs `read_audit`).
pub async fn audit(q: Query<Filters>, desk: Desk) -> Response {
    let f = q.0;
    desk.page(move |c| audit_page(c, f, None)).await
}

/// The verify button's form.
#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
}

csrf_form!(VerifyForm);

/// POST /console/audit/verify: check every event's MAC and link now.
pub async fn verify(post: Posted<VerifyForm>) -> Response {
    post.run(|c, _| match c.s.vault.audit_verify(&c.p) {
        Ok(r) => {
            let text = if r.ok {
                fill(&c.t.audit.intact, &[("n", &r.events.to_string())])
            } else {
                let problems: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
                fill(
                    &c.t.audit.broken,
                    &[("n", &r.events.to_string()), ("problems", &problems.join("; "))],
                )
            };
            audit_page(c, Filters::default(), Some((r.ok, text)))
        }
        Err(e) => c.refusal(&c.t.audit.title, &e),
    })
    .await
}
