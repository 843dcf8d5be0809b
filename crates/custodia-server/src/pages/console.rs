//! The staff console (`/console`): where a signed-in person lands, finds a
//! customer, reads the masked card and reveals one value for a stated
//! purpose and reason. Every page calls the same caller-bound vault
//! operation as the API; searched values travel only in POST bodies, never
//! in a URL; a revealed value is sent with `Cache-Control: no-store` and
//! taken off the screen again after `[console] reveal_seconds`.

use super::i18n::{fill, Text};
use super::{blocking_page, lang_of, principal_of, render, session_of, Lang, LangQuery, Layout, Message};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_core::Purpose;
use custodia_vault::access::authz::Principal;
use custodia_vault::access::session::Session;
use custodia_vault::records::{Access, Reveal};
use custodia_vault::VaultError;
use serde::Deserialize;

/// Most results a search page shows.
const PAGE_RESULTS: usize = 50;

fn layout(lang: Lang, title: &str, csrf: &str) -> Layout {
    let t = super::i18n::text(lang);
    Layout::new(lang, title).signed_in("/logout", csrf, &t.staff.sign_out)
}

/// The signed-in staff member of a request (None: send them to sign in).
fn staff(s: &AppState, h: &HeaderMap) -> Option<(Session, Principal)> {
    let (token, sess) = session_of(s, h)?;
    let p = principal_of(s, &token)?;
    Some((sess, p))
}

fn to_sign_in() -> Response {
    Redirect::to("/login").into_response()
}

/// A page that must not be kept by the browser or any cache.
fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// A refusal in the reader's words: the vault's problem detail, with its status.
fn refusal(lang: Lang, csrf: &str, title: &str, e: &VaultError) -> Response {
    let p = crate::problem::Problem::from_vault(e, lang);
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::FORBIDDEN);
    no_store(render(&Message::error(layout(lang, title, csrf), &p.detail), status))
}

fn purpose_label(s: &AppState, lang: Lang, id: &str) -> String {
    s.vault
        .schema()
        .purpose(id)
        .map(|p| lang.pick(&p.name_en, &p.name_zh).to_owned())
        .unwrap_or_else(|| id.to_owned())
}

fn field_label(s: &AppState, lang: Lang, name: &str) -> String {
    s.vault
        .schema()
        .field(name)
        .map(|f| lang.pick(&f.label_en, &f.label_zh).to_owned())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| name.to_owned())
}

/// The purposes of the notice in force, as (id, label).
fn purposes(s: &AppState, lang: Lang) -> Vec<(String, String)> {
    let state = s.vault.notices();
    state
        .current()
        .map(|n| {
            n.purposes
                .iter()
                .map(|p| (p.id.to_string(), purpose_label(s, lang, p.id.as_str())))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    page: Layout,
    t: &'static Text,
    who: String,
    /// (href, id, label)
    links: Vec<(String, String, String)>,
}

/// GET /console: where staff land after signing in.
pub async fn home(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, _)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let links = vec![
            (
                "/console/search".into(),
                "link-search".into(),
                t.console.link_search.clone(),
            ),
            ("/console/requests".into(), "link-requests".into(), t.queue.link.clone()),
            (
                "/console/dashboard".into(),
                "link-dashboard".into(),
                t.dash.link.clone(),
            ),
            (
                "/reports/consents".into(),
                "link-reports".into(),
                t.console.link_reports.clone(),
            ),
            ("/account".into(), "link-account".into(), t.console.link_account.clone()),
        ];
        let page = HomePage {
            page: layout(lang, &t.console.title_home, &sess.csrf),
            t,
            who: fill(&t.console.who, &[("name", &sess.account)]),
            links,
        };
        render(&page, StatusCode::OK)
    })
    .await
}

/// One search result: the customer and the masked values of the columns.
struct ResultRow {
    id: String,
    values: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/search.html")]
struct SearchPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    /// Searchable fields, as (name, label).
    fields: Vec<(String, String)>,
    field: String,
    purposes: Vec<(String, String)>,
    purpose: String,
    searched: bool,
    /// The columns of the results, as (name, label).
    columns: Vec<(String, String)>,
    results: Vec<ResultRow>,
    truncated: bool,
    error: Option<String>,
}

fn search_page(s: &AppState, lang: Lang, sess: &Session, field: &str, purpose: &str) -> SearchPage {
    let t = super::i18n::text(lang);
    SearchPage {
        page: layout(lang, &t.console.title_search, &sess.csrf),
        t,
        csrf: sess.csrf.clone(),
        fields: s
            .vault
            .schema()
            .fields()
            .iter()
            .filter(|f| f.searchable)
            .map(|f| (f.name.to_string(), field_label(s, lang, f.name.as_str())))
            .collect(),
        field: field.to_owned(),
        purposes: purposes(s, lang),
        purpose: purpose.to_owned(),
        searched: false,
        columns: Vec::new(),
        results: Vec::new(),
        truncated: false,
        error: None,
    }
}

/// GET /console/search: the form (nothing searched in the address).
pub async fn search_form(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let Some((sess, _)) = staff(&s, &h) else {
            return to_sign_in();
        };
        render(
            &search_page(&s, lang, &sess, "mobile", "customer_service"),
            StatusCode::OK,
        )
    })
    .await
}

/// The search form.
#[derive(Deserialize)]
pub struct SearchForm {
    csrf: String,
    field: String,
    value: String,
    purpose: String,
}

/// POST /console/search: masked results for the purpose, each read audited.
pub async fn search_submit(
    State(s): State<AppState>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<SearchForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        let mut page = search_page(&s, lang, &sess, &f.field, &f.purpose);
        page.searched = true;
        let found = s
            .vault
            .access(Some(&f.purpose), false, None)
            .and_then(|a| s.vault.find(&p, &f.field, &f.value, &a, PAGE_RESULTS + 1));
        let status = match found {
            Ok(mut views) => {
                page.truncated = views.len() > PAGE_RESULTS;
                views.truncate(PAGE_RESULTS);
                let mut columns: Vec<String> = Vec::new();
                for v in &views {
                    for k in v.fields.keys() {
                        if !columns.contains(k) {
                            columns.push(k.clone());
                        }
                    }
                }
                page.results = views
                    .iter()
                    .map(|v| ResultRow {
                        id: v.id.to_string(),
                        values: columns
                            .iter()
                            .map(|c| v.fields.get(c).cloned().unwrap_or_default())
                            .collect(),
                    })
                    .collect();
                page.columns = columns
                    .into_iter()
                    .map(|c| {
                        let l = field_label(&s, lang, &c);
                        (c, l)
                    })
                    .collect();
                StatusCode::OK
            }
            Err(e) => {
                let pr = crate::problem::Problem::from_vault(&e, lang);
                page.searched = false;
                page.error = Some(pr.detail);
                StatusCode::from_u16(pr.status).unwrap_or(StatusCode::BAD_REQUEST)
            }
        };
        no_store(render(&page, status))
    })
    .await
}

/// A field of the card.
struct CardField {
    name: String,
    label: String,
    value: String,
    /// Personal or sensitive (offered for a reveal).
    encrypted: bool,
}

#[derive(Template)]
#[template(path = "console/customer.html")]
struct CustomerPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    id: String,
    purpose: String,
    purpose_label: String,
    purposes: Vec<(String, String)>,
    fields: Vec<CardField>,
    /// (purpose, state, notice version)
    consents: Vec<(String, String, String)>,
    /// Request kinds, as (id, label).
    kinds: Vec<(String, String)>,
    channels: &'static [&'static str],
    /// The record's version (the edit form's optimistic check).
    version: i64,
    /// Contact fields to edit: (name, label, problem).
    editable: Vec<(String, String, Option<String>)>,
    /// Purposes consent can be recorded for, as (id, label).
    consentable: Vec<(String, String)>,
    /// The customer's requests, for callers who handle them: (id, kind, state, due).
    requests: Option<Vec<(String, String, String, String)>>,
    /// Who accessed the customer's data, for callers who read the audit log.
    history: Option<Vec<custodia_vault::rights::requests::AccessEntry>>,
    error: Option<String>,
    done: Option<String>,
}

/// `?purpose=` of the card (a purpose id, no personal data).
#[derive(Deserialize, Default)]
pub struct CardQuery {
    lang: Option<String>,
    purpose: Option<String>,
}

fn card(
    s: &AppState,
    lang: Lang,
    sess: &Session,
    p: &Principal,
    id: &str,
    purpose: &str,
    error: Option<String>,
) -> Response {
    card_with(s, lang, sess, p, id, purpose, error, None, &[])
}

// The card and what the last form on it did.
#[allow(clippy::too_many_arguments)]
fn card_with(
    s: &AppState,
    lang: Lang,
    sess: &Session,
    p: &Principal,
    id: &str,
    purpose: &str,
    error: Option<String>,
    done: Option<String>,
    problems: &[custodia_vault::FieldProblem],
) -> Response {
    let t = super::i18n::text(lang);
    let access = match s.vault.access(Some(purpose), false, None) {
        Ok(a) => a,
        Err(e) => return refusal(lang, &sess.csrf, &t.console.title_customer, &e),
    };
    let view = match s.vault.get(p, id, &access) {
        Ok(v) => v,
        // Out of scope and unknown look the same.
        Err(VaultError::NotFound(_)) => return not_found(lang, sess),
        Err(e) => return refusal(lang, &sess.csrf, &t.console.title_customer, &e),
    };
    let fields = s
        .vault
        .schema()
        .fields()
        .iter()
        .filter_map(|f| {
            view.fields.get(f.name.as_str()).map(|v| CardField {
                name: f.name.to_string(),
                label: field_label(s, lang, f.name.as_str()),
                value: v.clone(),
                encrypted: f.classification.is_encrypted(),
            })
        })
        .collect();
    let consents = s
        .vault
        .customer_consents(p, id, &access.purpose)
        .map(|o| {
            o.purposes
                .iter()
                .filter(|c| c.offered)
                .map(|c| {
                    (
                        purpose_label(s, lang, c.purpose.as_str()),
                        c.state.code().replace('_', " "),
                        c.notice_version.map(|v| v.to_string()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let page = CustomerPage {
        page: layout(lang, &t.console.title_customer, &sess.csrf),
        t,
        csrf: sess.csrf.clone(),
        id: view.id.to_string(),
        purpose: access.purpose.to_string(),
        purpose_label: purpose_label(s, lang, access.purpose.as_str()),
        purposes: purposes(s, lang),
        fields,
        consents,
        kinds: custodia_core::rights::RequestKind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), kind_label(lang, k.as_str())))
            .collect(),
        channels: &["phone", "email", "letter", "in_person"],
        version: view.version,
        editable: s
            .vault
            .schema()
            .fields()
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    custodia_core::FieldType::Phone
                        | custodia_core::FieldType::Email
                        | custodia_core::FieldType::Address
                )
            })
            .map(|f| {
                let problem = problems
                    .iter()
                    .filter(|x| x.field == f.name.as_str())
                    .map(|x| x.message.clone())
                    .next();
                (f.name.to_string(), field_label(s, lang, f.name.as_str()), problem)
            })
            .collect(),
        consentable: s
            .vault
            .consent_purposes()
            .into_iter()
            .map(|pu| (pu.to_string(), purpose_label(s, lang, pu.as_str())))
            .collect(),
        requests: s.vault.customer_requests(p, id).ok().map(|list| {
            list.iter()
                .map(|r| {
                    (
                        r.id.clone(),
                        kind_label(lang, &r.kind),
                        r.status.clone(),
                        if r.days_left.is_some() {
                            r.due.respond_by.to_string()
                        } else {
                            String::new()
                        },
                    )
                })
                .collect()
        }),
        history: s.vault.access_history(p, id, 50).ok(),
        error: error.clone(),
        done,
    };
    let status = if error.is_some() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    no_store(render(&page, status))
}

/// The page after a card's form failed: the same "no such customer" as an
/// unknown id for one out of scope, else the card with the problem's words.
fn card_failure(s: &AppState, lang: Lang, sess: &Session, p: &Principal, id: &str, e: &VaultError) -> Response {
    if matches!(e, VaultError::NotFound(_)) {
        return not_found(lang, sess);
    }
    let detail = crate::problem::Problem::from_vault(e, lang).detail;
    card(s, lang, sess, p, id, "customer_service", Some(detail))
}

/// "No such customer in your scope", for unknown and out-of-scope alike.
fn not_found(lang: Lang, sess: &Session) -> Response {
    let t = super::i18n::text(lang);
    render(
        &Message::error(
            layout(lang, &t.console.title_customer, &sess.csrf),
            &t.console.not_found,
        ),
        StatusCode::NOT_FOUND,
    )
}

/// GET /console/customers/{id}: the masked card for `?purpose=`.
pub async fn customer(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Query<CardQuery>,
    h: HeaderMap,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&LangQuery { lang: q.lang.clone() }, &h);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let purpose = q.purpose.clone().unwrap_or_else(|| "customer_service".into());
        card(&s, lang, &sess, &p, &id, &purpose, None)
    })
    .await
}

#[derive(Template)]
#[template(path = "console/revealed.html")]
struct RevealedPage {
    page: Layout,
    t: &'static Text,
    id: String,
    label: String,
    value: String,
    purpose: String,
    purpose_label: String,
    reason: String,
    hides: String,
}

/// The reveal form.
#[derive(Deserialize)]
pub struct RevealForm {
    csrf: String,
    field: String,
    purpose: String,
    reason: String,
}

/// POST /console/customers/{id}/reveal: one value in clear, once, for the
/// stated purpose and reason (audited with both).
pub async fn reveal(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<RevealForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        let Some(def) = s
            .vault
            .schema()
            .field(&f.field)
            .filter(|d| d.classification.is_encrypted())
        else {
            return card(
                &s,
                lang,
                &sess,
                &p,
                &id,
                &f.purpose,
                Some(format!(
                    "{:?}: unknown field",
                    f.field.chars().take(40).collect::<String>()
                )),
            );
        };
        let reason = match s.vault.reveal_reason(&f.reason) {
            Ok(r) => r,
            Err(e) => {
                let detail = crate::problem::Problem::from_vault(&e, lang).detail;
                return card(&s, lang, &sess, &p, &id, &f.purpose, Some(detail));
            }
        };
        let purpose = match Purpose::new(f.purpose.trim()) {
            Ok(pu) => pu,
            Err(_) => {
                return card(
                    &s,
                    lang,
                    &sess,
                    &p,
                    &id,
                    "customer_service",
                    Some(format!(
                        "{:?}: unknown purpose",
                        f.purpose.chars().take(40).collect::<String>()
                    )),
                )
            }
        };
        let access = Access {
            purpose: purpose.clone(),
            reveal: Reveal::Fields(vec![def.name.clone()]),
            reason: Some(reason.clone()),
        };
        match s.vault.get(&p, &id, &access) {
            Ok(view) => {
                let seconds = s.vault.config().console.reveal_seconds;
                let page = RevealedPage {
                    page: layout(lang, &t.console.title_revealed, &sess.csrf),
                    t,
                    id: view.id.to_string(),
                    label: field_label(&s, lang, def.name.as_str()),
                    value: view.fields.get(def.name.as_str()).cloned().unwrap_or_default(),
                    purpose: purpose.to_string(),
                    purpose_label: purpose_label(&s, lang, purpose.as_str()),
                    reason,
                    hides: fill(&t.console.hides, &[("seconds", &seconds.to_string())]),
                };
                no_store(render(&page, StatusCode::OK))
            }
            Err(VaultError::NotFound(_)) => not_found(lang, &sess),
            Err(VaultError::Forbidden(_)) => {
                // The caller's own grants, in words; nothing about the customer.
                let label = field_label(&s, lang, def.name.as_str());
                let allowed: Vec<String> = s
                    .vault
                    .reveal_purposes(&p, def.name.as_str())
                    .iter()
                    .map(|pu| purpose_label(&s, lang, pu.as_str()))
                    .collect();
                let why = if allowed.is_empty() {
                    fill(&t.console.refused_reveal_none, &[("field", &label)])
                } else {
                    fill(
                        &t.console.refused_reveal,
                        &[("field", &label), ("purposes", &allowed.join(lang.pick(", ", "、")))],
                    )
                };
                card(&s, lang, &sess, &p, &id, "customer_service", Some(why))
            }
            Err(e) => refusal(lang, &sess.csrf, &t.console.title_customer, &e),
        }
    })
    .await
}

/// GET /static/reveal.css: takes a revealed value off the screen after
/// `[console] reveal_seconds` (CSS, so no script and no timed refresh).
pub async fn reveal_css(State(s): State<AppState>) -> Response {
    let n = s.vault.config().console.reveal_seconds;
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        format!(
            ".timed {{ animation: custodia-hide 0s step-end {n}s forwards; }}\n\
             .after {{ visibility: hidden; animation: custodia-show 0s step-end {n}s forwards; }}\n\
             @keyframes custodia-hide {{ to {{ visibility: hidden; }} }}\n\
             @keyframes custodia-show {{ to {{ visibility: visible; }} }}\n"
        ),
    )
        .into_response()
}

/// GET /console/customers/{id}/reveal (the language switch of a revealed
/// page, or a reload): back to the masked card, never the value again.
pub async fn reveal_get(Path(id): Path<String>, q: Query<LangQuery>) -> Response {
    let lang = q.lang.as_deref().filter(|l| *l == "zh" || *l == "en").unwrap_or("en");
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    Redirect::to(&format!("/console/customers/{id}?lang={lang}")).into_response()
}

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

fn kind_label(lang: Lang, kind: &str) -> String {
    custodia_core::rights::RequestKind::parse(kind)
        .map(|k| lang.pick(k.name_en(), k.name_zh()).to_owned())
        .unwrap_or_else(|| kind.to_owned())
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
}

/// The queue's filters (request kinds, laws and states: no personal data).
#[derive(Deserialize, Default)]
pub struct QueueQuery {
    lang: Option<String>,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    regime: String,
    #[serde(default)]
    state: String,
}

/// GET /console/requests: open requests of customers in the caller's
/// scope, soonest deadline first.
pub async fn requests(State(s): State<AppState>, q: Query<QueueQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&LangQuery { lang: q.lang.clone() }, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let mut open = match s.vault.open_requests(&p) {
            Ok(v) => v,
            Err(e) => return refusal(lang, &sess.csrf, &t.queue.title, &e),
        };
        open.retain(|r| {
            (q.kind.is_empty() || r.kind == q.kind)
                && (q.regime.is_empty() || r.regime == q.regime)
                && (q.state.is_empty() || r.status == q.state)
        });
        open.sort_by_key(|r| r.due.respond_by);
        let rows = open
            .iter()
            .map(|r| {
                let (left, urgency) = days_left(t, r.days_left);
                QueueRow {
                    id: r.id.clone(),
                    kind: kind_label(lang, &r.kind),
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
            page: layout(lang, &t.queue.title, &sess.csrf).wide(),
            t,
            kinds: custodia_core::rights::RequestKind::ALL
                .iter()
                .map(|k| (k.as_str().to_owned(), kind_label(lang, k.as_str())))
                .collect(),
            regimes: ["pipl", "gdpr", "ccpa"].map(String::from).to_vec(),
            states: ["received", "verified", "in_progress", "extended"]
                .map(String::from)
                .to_vec(),
            kind: q.kind.clone(),
            regime: q.regime.clone(),
            state: q.state.clone(),
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

// The page's parts (the outcome of an action, if one ran) are plain
// arguments: a struct for them would only move the list.
#[allow(clippy::too_many_arguments)]
fn request_page(
    s: &AppState,
    lang: Lang,
    sess: &Session,
    p: &Principal,
    id: &str,
    error: Option<String>,
    done: Option<String>,
    certificate: Option<String>,
) -> Response {
    let t = super::i18n::text(lang);
    let r = match s.vault.request(p, id) {
        Ok(r) => r,
        Err(e) => return refusal(lang, &sess.csrf, &t.queue.title_request, &e),
    };
    let (left, urgency) = days_left(t, r.days_left);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = RequestPage {
        page: layout(lang, &t.queue.title_request, &sess.csrf),
        t,
        csrf: sess.csrf.clone(),
        customer: r.customer.map(|c| c.to_string()),
        kind: kind_label(lang, &r.kind),
        left,
        urgency,
        open: !matches!(r.status.as_str(), "completed" | "denied"),
        methods: custodia_vault::rights::requests::VERIFICATION_METHODS,
        error,
        done,
        certificate,
        r,
    };
    no_store(render(&page, status))
}

/// GET /console/requests/{id}: one request, its clocks, history and actions.
pub async fn request(State(s): State<AppState>, Path(id): Path<String>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        request_page(&s, lang, &sess, &p, &id, None, None, None)
    })
    .await
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

/// POST /console/requests/{id}/{action}: verify, acknowledge, extend,
/// deny, complete, notify — the same caller-bound operations as the API.
pub async fn request_action(
    State(s): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<ActionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        let v = &s.vault;
        let mut certificate = None;
        let result = match action.as_str() {
            "verify" => v.verify_request(&p, &id, &f.method).map(|_| ()),
            "acknowledge" => v.acknowledge_request(&p, &id).map(|_| ()),
            "extend" => v.extend_request(&p, &id, &f.reason).map(|_| ()),
            "deny" => v.deny_request(&p, &id, &f.reason).map(|_| ()),
            "notify" => v.notify_recipient(&p, &id, &f.recipient).map(|_| ()),
            "complete" => v.carry_out(&p, &id, None).map(|o| {
                certificate = o.certificate;
            }),
            _ => {
                return (StatusCode::NOT_FOUND, "no such action").into_response();
            }
        };
        match result {
            Ok(()) => request_page(&s, lang, &sess, &p, &id, None, Some(t.queue.done.clone()), certificate),
            Err(e @ VaultError::NotFound(_)) => refusal(lang, &sess.csrf, &t.queue.title_request, &e),
            Err(e) => {
                let detail = crate::problem::Problem::from_vault(&e, lang).detail;
                request_page(&s, lang, &sess, &p, &id, Some(detail), None, None)
            }
        }
    })
    .await
}

/// The "log a request" form of the card.
#[derive(Deserialize)]
pub struct LogRequestForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    regime: String,
    channel: String,
    #[serde(default)]
    note: String,
}

/// POST /console/customers/{id}/request: log a data-subject request the
/// customer made by phone, e-mail, letter or in person.
pub async fn log_request(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<LogRequestForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        let input = custodia_vault::rights::requests::NewRequest {
            customer: id.clone(),
            kind: f.kind,
            regime: (!f.regime.is_empty()).then_some(f.regime),
            channel: Some(f.channel),
            note: (!f.note.trim().is_empty()).then_some(f.note),
            ..Default::default()
        };
        match s.vault.new_request(&p, &input) {
            Ok(r) => Redirect::to(&format!("/console/requests/{}", r.id)).into_response(),
            Err(e) => card_failure(&s, lang, &sess, &p, &id, &e),
        }
    })
    .await
}

/// The portal-code form of the card.
#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    channel: String,
}

/// POST /console/customers/{id}/portal-code: send the customer a portal
/// code to their own contact (the agent learns only where it went).
pub async fn portal_code(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        let channel = custodia_vault::privacy::delivery::Channel::parse(&f.channel);
        let purpose = Purpose::new("customer_service").expect("a valid purpose id");
        match s.vault.send_portal_code(&p, &id, &purpose, channel) {
            Ok(sent) => {
                let msg = fill(
                    &t.console.code_sent,
                    &[
                        ("to", &sent.to),
                        ("channel", sent.channel.as_str()),
                        ("until", &sent.expires_at),
                    ],
                );
                card_with(&s, lang, &sess, &p, &id, "customer_service", None, Some(msg), &[])
            }
            Err(e) => card_failure(&s, lang, &sess, &p, &id, &e),
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
pub async fn dashboard(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let due = match s.vault.requests_due(&p, 10) {
            Ok(v) => v,
            Err(e) => return refusal(lang, &sess.csrf, &t.dash.title, &e),
        };
        let overdue = due.iter().filter(|r| r.overdue).count();
        let due_soon = due
            .iter()
            .filter(|r| !r.overdue && r.days_left.is_some_and(|d| d <= 10))
            .count();
        let ack = due.iter().filter(|r| r.acknowledgement_due).count();
        // Status needs an administrative permission; without one the
        // section is empty rather than the page refused.
        let warnings = s.vault.status(&p).map(|st| st.warnings).unwrap_or_default();
        let rows = due
            .iter()
            .map(|r| {
                let (left, urgency) = days_left(t, r.days_left);
                (
                    r.id.clone(),
                    kind_label(lang, &r.kind),
                    r.regime.to_uppercase(),
                    r.due.respond_by.to_string(),
                    left,
                    urgency,
                )
            })
            .collect();
        let page = DashboardPage {
            page: layout(lang, &t.dash.title, &sess.csrf).wide(),
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

/// POST /console/customers/{id}/edit: change contact fields (what is
/// typed; empty inputs are left alone), checked by the vault's update, for
/// customer_service; problems are shown at their field.
pub async fn edit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<std::collections::BTreeMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let Some(Form(mut f)) = form.ok().filter(|f| f.get("csrf") == Some(&sess.csrf)) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        f.remove("csrf");
        let version = f.remove("version").and_then(|v| v.parse::<i64>().ok());
        let patch: custodia_vault::RecordPatch = f
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, Some(v)))
            .collect();
        if patch.is_empty() {
            return card(&s, lang, &sess, &p, &id, "customer_service", None);
        }
        let purpose = Purpose::new("customer_service").expect("a valid purpose id");
        match s.vault.update(&p, &id, &patch, version, &purpose) {
            Ok(_) => card_with(
                &s,
                lang,
                &sess,
                &p,
                &id,
                "customer_service",
                None,
                Some(t.console.saved.clone()),
                &[],
            ),
            Err(VaultError::Invalid(problems)) => {
                let first = problems.first().map(|x| format!("{}: {}", x.field, x.message));
                card_with(&s, lang, &sess, &p, &id, "customer_service", first, None, &problems)
            }
            Err(e) => card_failure(&s, lang, &sess, &p, &id, &e),
        }
    })
    .await
}

/// The consent form of the card.
#[derive(Deserialize)]
pub struct ConsentForm {
    csrf: String,
    purpose: String,
    action: String,
    channel: String,
    language: String,
    #[serde(default)]
    separate: Option<String>,
}

/// POST /console/customers/{id}/consent: record a consent the customer gave
/// (or withdrew) by phone, in person or on paper, acting for
/// customer_service; every rule of recording a consent applies.
pub async fn consent(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<ConsentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((sess, p)) = staff(&s, &h) else {
            return to_sign_in();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        use custodia_vault::privacy::consent::{ConsentAction, ConsentInput};
        let input = ConsentInput {
            purpose: f.purpose,
            action: if f.action == "withdraw" {
                ConsentAction::Withdraw
            } else {
                ConsentAction::Give
            },
            channel: f.channel,
            language: f.language,
            separate: f.separate.as_deref() == Some("true"),
            by: None,
            text_sha256: None,
            notice_version: None,
            document_sha256: None,
        };
        let purpose = Purpose::new("customer_service").expect("a valid purpose id");
        match s.vault.record_consents(&p, &id, &[input], &purpose) {
            Ok(done) => {
                let receipt = done.first().map(|r| r.receipt.clone()).unwrap_or_default();
                let msg = fill(&t.console.consent_saved, &[("receipt", &receipt)]);
                card_with(&s, lang, &sess, &p, &id, "customer_service", None, Some(msg), &[])
            }
            Err(e) => card_failure(&s, lang, &sess, &p, &id, &e),
        }
    })
    .await
}
