//! The privacy officer's request pages: the queue with its clocks, one
//! request with its history and steps, and the dashboard of what is due.

use super::kind_label;
use crate::pages::desk::{csrf_form, no_store, Ctx, Desk, Posted};
use crate::pages::i18n::{fill, Text};
use crate::pages::{render, Layout};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custodia_vault::VaultError;
use serde::Deserialize;

/// Days left in words and its urgency class: `red` at 5 days or fewer,
/// `amber` at 10 or fewer (the words say it too: never colour alone).
fn days_left(t: &Text, left: Option<i64>) -> (String, &'static str) {
    match left {
        None => (t.queue.left_done.clone(), ""),
        Some(n) if n < 0 => (fill(&t.queue.left_overdue, &[("n", &(-n).to_string())]), "red"),
        Some(0) => (t.queue.left_today.clone(), "red"),
        Some(1) => (t.queue.left_one.clone(), "red"),
        Some(n) => (
            fill(&t.queue.left_days, &[("n", &n.to_string())]),
            if n <= 5 {
                "red"
            } else if n <= 10 {
                "amber"
            } else {
                ""
            },
        ),
    }
}

/// One row of the queue.
struct QueueRow {
    id: String,
    kind: String,
    regime: String,
    status: String,
    received: String,
    due: String,
    left: String,
    urgency: &'static str,
    ack: String,
}

#[derive(Template)]
#[template(path = "console/requests.html")]
struct QueuePage {
    page: Layout,
    t: &'static Text,
    kinds: Vec<(String, String)>,
    regimes: Vec<String>,
    states: Vec<String>,
    kind: String,
    regime: String,
    state: String,
    rows: Vec<QueueRow>,
    /// "Requests 1 to 100 of 10,000", when there is more than one page.
    shown: String,
    /// Links to the pages before and after, filters kept.
    prev: Option<String>,
    next: Option<String>,
}

/// Rows a page of the queue shows.
const QUEUE_PAGE: usize = 100;

/// The queue's filters (request kinds, laws and states: no personal data).
#[derive(Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    regime: String,
    #[serde(default)]
    state: String,
    /// The page, from 0.
    #[serde(default)]
    page: usize,
}

impl QueueQuery {
    fn href(&self, page: usize) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("kind", &self.kind), ("regime", &self.regime), ("state", &self.state)] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &page.to_string());
        format!("/console/requests?{}", q.finish())
    }
}

/// GET /console/requests: open requests of customers in the caller's
/// scope, soonest deadline first.
pub async fn requests(q: Query<QueueQuery>, desk: Desk) -> Response {
    let q = q.0;
    desk.page(move |c| {
        let t = c.t;
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let filter = custodia_vault::rights::requests::QueueFilter {
            kind: some(&q.kind),
            regime: some(&q.regime),
            state: some(&q.state),
        };
        let queue = match c.s.vault.open_queue(&c.p, &filter, q.page, QUEUE_PAGE) {
            Ok(v) => v,
            Err(e) => return c.refusal(&t.queue.title, &e),
        };
        let total = queue.total;
        let pages = total.div_ceil(QUEUE_PAGE).max(1);
        let page = queue.page;
        let first = page * QUEUE_PAGE;
        let shown = if pages > 1 {
            fill(
                &t.queue.shown,
                &[
                    ("from", &(first + 1).to_string()),
                    ("to", &(first + QUEUE_PAGE).min(total).to_string()),
                    ("n", &total.to_string()),
                ],
            )
        } else {
            String::new()
        };
        let rows = queue
            .rows
            .iter()
            .map(|r| {
                let (left, urgency) = days_left(t, r.days_left);
                QueueRow {
                    id: r.id.clone(),
                    kind: kind_label(c.lang, &r.kind),
                    regime: r.regime.to_uppercase(),
                    status: r.status.clone(),
                    received: r.received_at.chars().take(10).collect(),
                    due: r.due.respond_by.to_string(),
                    left,
                    urgency,
                    ack: match (r.acknowledgement_due, r.due.acknowledge_by) {
                        (true, Some(d)) => d.to_string(),
                        _ => String::new(),
                    },
                }
            })
            .collect();
        let page = QueuePage {
            page: c.layout(&t.queue.title).wide(),
            t,
            kinds: custodia_core::rights::RequestKind::ALL
                .iter()
                .map(|k| (k.as_str().to_owned(), kind_label(c.lang, k.as_str())))
                .collect(),
            regimes: ["pipl", "gdpr", "ccpa"].map(String::from).to_vec(),
            states: ["received", "verified", "in_progress", "extended"]
                .map(String::from)
                .to_vec(),
            prev: (page > 0).then(|| q.href(page - 1)),
            next: (page + 1 < pages).then(|| q.href(page + 1)),
            shown,
            kind: q.kind,
            regime: q.regime,
            state: q.state,
            rows,
        };
        render(&page, StatusCode::OK)
    })
    .await
}

#[derive(Template)]
#[template(path = "console/request.html")]
struct RequestPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    r: custodia_vault::rights::requests::RequestView,
    customer: Option<String>,
    kind: String,
    left: String,
    urgency: &'static str,
    open: bool,
    methods: &'static [&'static str],
    error: Option<String>,
    done: Option<String>,
    certificate: Option<String>,
}

/// What the last action on a request did.
#[derive(Default)]
struct Done {
    error: Option<String>,
    done: Option<String>,
    certificate: Option<String>,
}

fn request_page(c: &Ctx, id: &str, out: Done) -> Response {
    let t = c.t;
    let r = match c.s.vault.request(&c.p, id) {
        Ok(r) => r,
        Err(e) => return c.refusal(&t.queue.title_request, &e),
    };
    let (left, urgency) = days_left(t, r.days_left);
    let status = if out.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = RequestPage {
        page: c.layout(&t.queue.title_request),
        t,
        csrf: c.sess.csrf.clone(),
        customer: r.customer.map(|x| x.to_string()),
        kind: kind_label(c.lang, &r.kind),
        left,
        urgency,
        open: !matches!(r.status.as_str(), "completed" | "denied"),
        methods: custodia_vault::rights::requests::VERIFICATION_METHODS,
        error: out.error,
        done: out.done,
        certificate: out.certificate,
        r,
    };
    no_store(render(&page, status))
}

/// GET /console/requests/{id}: one request, its clocks, history and actions.
pub async fn request(Path(id): Path<String>, desk: Desk) -> Response {
    desk.page(move |c| request_page(c, &id, Done::default())).await
}

/// An action's form.
#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    recipient: String,
}

csrf_form!(ActionForm);

/// POST /console/requests/{id}/{action}: verify, acknowledge, extend,
/// deny, complete, notify — the same caller-bound operations as the API.
pub async fn request_action(Path((id, action)): Path<(String, String)>, post: Posted<ActionForm>) -> Response {
    post.run(move |c, f| {
        let (v, p) = (&c.s.vault, &c.p);
        let mut certificate = None;
        let result = match action.as_str() {
            "verify" => v.verify_request(p, &id, &f.method).map(|_| ()),
            "acknowledge" => v.acknowledge_request(p, &id).map(|_| ()),
            "extend" => v.extend_request(p, &id, &f.reason).map(|_| ()),
            "deny" => v.deny_request(p, &id, &f.reason).map(|_| ()),
            "notify" => v.notify_recipient(p, &id, &f.recipient).map(|_| ()),
            "complete" => v.carry_out(p, &id, None).map(|o| {
                certificate = o.certificate;
            }),
            _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
        };
        match result {
            Ok(()) => {
                let out = Done {
                    done: Some(c.t.queue.done.clone()),
                    certificate,
                    ..Default::default()
                };
                request_page(c, &id, out)
            }
            Err(e @ VaultError::NotFound(_)) => c.refusal(&c.t.queue.title_request, &e),
            Err(e) => {
                let out = Done {
                    error: Some(c.detail(&e)),
                    ..Default::default()
                };
                request_page(c, &id, out)
            }
        }
    })
    .await
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    page: Layout,
    t: &'static Text,
    overdue: usize,
    due_soon: usize,
    overdue_text: String,
    due_soon_text: String,
    ack_text: String,
    /// (id, kind, law, due, days left, urgency)
    rows: Vec<(String, String, String, String, String, &'static str)>,
    warnings: Vec<String>,
}

/// GET /console/dashboard: the privacy officer's view of what is due and
/// what needs attention (the warnings of `custodia status`).
pub async fn dashboard(desk: Desk) -> Response {
    desk.page(|c| {
        let t = c.t;
        let due = match c.s.vault.requests_due(&c.p, 10) {
            Ok(v) => v,
            Err(e) => return c.refusal(&t.dash.title, &e),
        };
        let overdue = due.iter().filter(|r| r.overdue).count();
        let due_soon = due
            .iter()
            .filter(|r| !r.overdue && r.days_left.is_some_and(|d| d <= 10))
            .count();
        let ack = due.iter().filter(|r| r.acknowledgement_due).count();
        // Status needs an administrative permission; without one the
        // section is empty rather than the page refused.
        let warnings = c.s.vault.status(&c.p).map(|st| st.warnings).unwrap_or_default();
        let rows = due
            .iter()
            .map(|r| {
                let (left, urgency) = days_left(t, r.days_left);
                (
                    r.id.clone(),
                    kind_label(c.lang, &r.kind),
                    r.regime.to_uppercase(),
                    r.due.respond_by.to_string(),
                    left,
                    urgency,
                )
            })
            .collect();
        let page = DashboardPage {
            page: c.layout(&t.dash.title).wide(),
            t,
            overdue,
            due_soon,
            overdue_text: fill(&t.dash.overdue, &[("n", &overdue.to_string())]),
            due_soon_text: fill(&t.dash.due_soon, &[("n", &due_soon.to_string())]),
            ack_text: fill(&t.dash.ack_due, &[("n", &ack.to_string())]),
            rows,
            warnings,
        };
        render(&page, StatusCode::OK)
    })
    .await
}
