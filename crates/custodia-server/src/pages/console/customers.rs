//! The customer-service pages: search, the masked card, revealing one value
//! for a purpose and reason, contact edits, consents given by phone or in
//! person, portal codes and logging a request.

use super::{field_label, kind_label, purpose_label, purposes};
use crate::pages::desk::{csrf_form, no_store, Ctx, Desk, Posted};
use crate::pages::i18n::{fill, Text};
use crate::pages::{render, LangQuery, Layout, Message};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_core::Purpose;
use custodia_vault::records::{Access, Reveal};
use custodia_vault::VaultError;
use serde::Deserialize;

/// Most results a search page shows.
const PAGE_RESULTS: usize = 50;

/// How long a search's later pages can be asked for.
const SEARCH_TTL: std::time::Duration = std::time::Duration::from_secs(600);
/// Most searches kept open at once (the oldest go first).
const MAX_SEARCHES: usize = 10_000;

/// A search with more results than a page: what was searched (the value
/// zeroized when the entry goes), by whom, and where the next page starts.
struct OpenSearch {
    account: String,
    field: String,
    value: zeroize::Zeroizing<String>,
    purpose: String,
    next: usize,
    until: std::time::Instant,
}

/// The console's open searches, by a random cursor id.
#[derive(Default)]
pub struct Searches(std::sync::Mutex<std::collections::HashMap<String, OpenSearch>>);

impl Searches {
    /// Keep a search open; its cursor id.
    fn open(&self, s: OpenSearch) -> String {
        let id = crate::pages::random_hex();
        let mut m = self.0.lock().expect("searches");
        let now = std::time::Instant::now();
        m.retain(|_, x| x.until > now);
        while m.len() >= MAX_SEARCHES {
            let Some(oldest) = m.iter().min_by_key(|(_, x)| x.until).map(|(k, _)| k.clone()) else {
                break;
            };
            m.remove(&oldest);
        }
        m.insert(id.clone(), s);
        id
    }

    /// Take the search `id` if it is the caller's and still open.
    fn take(&self, id: &str, account: &str) -> Option<OpenSearch> {
        let mut m = self.0.lock().expect("searches");
        let s = m.remove(id)?;
        (s.account == account && s.until > std::time::Instant::now()).then_some(s)
    }
}

/// The purpose the card's forms act for.
fn service() -> Purpose {
    Purpose::new("customer_service").expect("a valid purpose id")
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
    /// The cursor of the next page, when there are more results.
    more: Option<String>,
    /// Where this page's results start (1-based), after the first page.
    from: usize,
    error: Option<String>,
}

fn search_page(c: &Ctx, field: &str, purpose: &str) -> SearchPage {
    SearchPage {
        page: c.layout(&c.t.console.title_search),
        t: c.t,
        csrf: c.sess.csrf.clone(),
        fields: c
            .s
            .vault
            .schema()
            .fields()
            .iter()
            .filter(|f| f.searchable)
            .map(|f| (f.name.to_string(), field_label(c, f.name.as_str())))
            .collect(),
        field: field.to_owned(),
        purposes: purposes(c),
        purpose: purpose.to_owned(),
        searched: false,
        columns: Vec::new(),
        results: Vec::new(),
        more: None,
        from: 1,
        error: None,
    }
}

/// GET /console/search: the form (nothing searched in the address).
pub async fn search_form(desk: Desk) -> Response {
    desk.page(|c| render(&search_page(c, "mobile", "customer_service"), StatusCode::OK))
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

csrf_form!(SearchForm, MoreForm, RevealForm, CodeForm, ConsentForm, LogRequestForm);

/// One page of a search's results, from `skip` on: the page, and the
/// cursor of the next one when there are more.
fn results(c: &Ctx, field: &str, value: &str, purpose: &str, skip: usize) -> Response {
    let mut page = search_page(c, field, purpose);
    page.searched = true;
    page.from = skip + 1;
    let v = &c.s.vault;
    let found = v
        .access(Some(purpose), false, None)
        .and_then(|a| v.find_from(&c.p, field, value, &a, skip, PAGE_RESULTS));
    let status = match found {
        Ok((views, more)) => {
            if more {
                page.more = Some(c.s.searches.open(OpenSearch {
                    account: c.sess.account.clone(),
                    field: field.to_owned(),
                    value: zeroize::Zeroizing::new(value.to_owned()),
                    purpose: purpose.to_owned(),
                    next: skip + PAGE_RESULTS,
                    until: std::time::Instant::now() + SEARCH_TTL,
                }));
            }
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
                        .map(|col| v.fields.get(col).cloned().unwrap_or_default())
                        .collect(),
                })
                .collect();
            page.columns = columns
                .into_iter()
                .map(|col| {
                    let l = field_label(c, &col);
                    (col, l)
                })
                .collect();
            StatusCode::OK
        }
        Err(e) => {
            let pr = crate::problem::Problem::from_vault(&e, c.lang);
            page.searched = false;
            page.error = Some(pr.detail);
            StatusCode::from_u16(pr.status).unwrap_or(StatusCode::BAD_REQUEST)
        }
    };
    no_store(render(&page, status))
}

/// POST /console/search: masked results for the purpose, each read audited.
pub async fn search_submit(post: Posted<SearchForm>) -> Response {
    post.run(|c, f| results(c, &f.field, &f.value, &f.purpose, 0)).await
}

/// The "more results" form: the cursor only.
#[derive(Deserialize)]
pub struct MoreForm {
    csrf: String,
    cursor: String,
}

/// POST /console/search/more: the next page of an open search of the
/// caller's (the value never left the server), checked and audited again.
pub async fn search_more(post: Posted<MoreForm>) -> Response {
    post.run(|c, f| match c.s.searches.take(&f.cursor, &c.sess.account) {
        Some(s) => results(c, &s.field, &s.value, &s.purpose, s.next),
        None => {
            let mut page = search_page(c, "mobile", "customer_service");
            page.error = Some(c.t.console.search_expired.clone());
            no_store(render(&page, StatusCode::GONE))
        }
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
    purpose: Option<String>,
}

/// What the last form on the card did.
#[derive(Default)]
struct Outcome<'a> {
    error: Option<String>,
    done: Option<String>,
    /// Problems of an edit, shown at their field.
    problems: &'a [custodia_vault::FieldProblem],
}

impl Outcome<'_> {
    fn error(e: String) -> Self {
        Outcome {
            error: Some(e),
            ..Default::default()
        }
    }

    fn done(m: String) -> Self {
        Outcome {
            done: Some(m),
            ..Default::default()
        }
    }
}

/// The card read for `purpose`, with what the last form did.
fn card(c: &Ctx, id: &str, purpose: &str, out: Outcome<'_>) -> Response {
    let t = c.t;
    let v = &c.s.vault;
    let access = match v.access(Some(purpose), false, None) {
        Ok(a) => a,
        Err(e) => return c.refusal(&t.console.title_customer, &e),
    };
    let view = match v.get(&c.p, id, &access) {
        Ok(v) => v,
        // Out of scope and unknown look the same.
        Err(VaultError::NotFound(_)) => return not_found(c),
        Err(e) => return c.refusal(&t.console.title_customer, &e),
    };
    let fields = v
        .schema()
        .fields()
        .iter()
        .filter_map(|f| {
            view.fields.get(f.name.as_str()).map(|val| CardField {
                name: f.name.to_string(),
                label: field_label(c, f.name.as_str()),
                value: val.clone(),
                encrypted: f.classification.is_encrypted(),
            })
        })
        .collect();
    let consents = v
        .customer_consents(&c.p, id, &access.purpose)
        .map(|o| {
            o.purposes
                .iter()
                .filter(|x| x.offered)
                .map(|x| {
                    (
                        purpose_label(c, x.purpose.as_str()),
                        x.state.code().replace('_', " "),
                        x.notice_version.map(|n| n.to_string()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let status = if out.error.is_some() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    let page = CustomerPage {
        page: c.layout(&t.console.title_customer),
        t,
        csrf: c.sess.csrf.clone(),
        id: view.id.to_string(),
        purpose: access.purpose.to_string(),
        purpose_label: purpose_label(c, access.purpose.as_str()),
        purposes: purposes(c),
        fields,
        consents,
        kinds: custodia_core::rights::RequestKind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), kind_label(c.lang, k.as_str())))
            .collect(),
        channels: &["phone", "email", "letter", "in_person"],
        version: view.version,
        editable: v
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
                let problem = out
                    .problems
                    .iter()
                    .find(|x| x.field == f.name.as_str())
                    .map(|x| x.message.clone());
                (f.name.to_string(), field_label(c, f.name.as_str()), problem)
            })
            .collect(),
        consentable: v
            .consent_purposes()
            .into_iter()
            .map(|pu| (pu.to_string(), purpose_label(c, pu.as_str())))
            .collect(),
        requests: v.customer_requests(&c.p, id).ok().map(|list| {
            list.iter()
                .map(|r| {
                    (
                        r.id.clone(),
                        kind_label(c.lang, &r.kind),
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
        history: v.access_history(&c.p, id, 50).ok(),
        error: out.error,
        done: out.done,
    };
    no_store(render(&page, status))
}

/// The page after a card's form failed: the same "no such customer" as an
/// unknown id for one out of scope, else the card with the problem's words.
fn card_failure(c: &Ctx, id: &str, e: &VaultError) -> Response {
    if matches!(e, VaultError::NotFound(_)) {
        return not_found(c);
    }
    card(c, id, "customer_service", Outcome::error(c.detail(e)))
}

/// "No such customer in your scope", for unknown and out-of-scope alike.
fn not_found(c: &Ctx) -> Response {
    render(
        &Message::error(c.layout(&c.t.console.title_customer), &c.t.console.not_found),
        StatusCode::NOT_FOUND,
    )
}

/// GET /console/customers/{id}: the masked card for `?purpose=`.
pub async fn customer(Path(id): Path<String>, q: Query<CardQuery>, desk: Desk) -> Response {
    let purpose = q.0.purpose.unwrap_or_else(|| "customer_service".into());
    desk.page(move |c| card(c, &id, &purpose, Outcome::default())).await
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

/// The reveal form (with `code` when it answers a step-up).
#[derive(Deserialize)]
pub struct RevealForm {
    csrf: String,
    field: String,
    purpose: String,
    reason: String,
    #[serde(default)]
    code: String,
}

#[derive(Template)]
#[template(path = "console/step_up.html")]
struct StepUpPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    id: String,
    field: String,
    purpose: String,
    reason: String,
    intro: String,
    error: Option<String>,
}

/// The step-up form: a fresh code before the reveal goes ahead (the
/// reveal's choices carried along; the reason holds no personal data).
fn step_up(c: &Ctx, id: &str, f: &RevealForm, label: &str, error: Option<String>) -> Response {
    let seconds = c.s.vault.config().sign_in.step_up_seconds;
    let time = if seconds < 120 {
        fill(&c.t.console.step_up_seconds, &[("n", &seconds.to_string())])
    } else {
        fill(&c.t.console.step_up_minutes, &[("n", &(seconds / 60).to_string())])
    };
    let page = StepUpPage {
        page: c.layout(&c.t.console.step_up_title),
        t: c.t,
        csrf: c.sess.csrf.clone(),
        id: id.to_owned(),
        field: f.field.clone(),
        purpose: f.purpose.clone(),
        reason: f.reason.clone(),
        intro: fill(&c.t.console.step_up_intro, &[("time", &time), ("field", label)]),
        error,
    };
    no_store(render(&page, StatusCode::FORBIDDEN))
}

/// At most 40 characters of what someone typed, quoted, for a message.
fn quoted(s: &str) -> String {
    format!("{:?}", s.chars().take(40).collect::<String>())
}

/// POST /console/customers/{id}/reveal: one value in clear, once, for the
/// stated purpose and reason (audited with both).
pub async fn reveal(Path(id): Path<String>, post: Posted<RevealForm>) -> Response {
    post.run(move |c, f| {
        let t = c.t;
        let v = &c.s.vault;
        let Some(def) = v.schema().field(&f.field).filter(|d| d.classification.is_encrypted()) else {
            let why = format!("{}: unknown field", quoted(&f.field));
            return card(c, &id, &f.purpose, Outcome::error(why));
        };
        let reason = match v.reveal_reason(&f.reason) {
            Ok(r) => r,
            Err(e) => return card(c, &id, &f.purpose, Outcome::error(c.detail(&e))),
        };
        let Ok(purpose) = Purpose::new(f.purpose.trim()) else {
            let why = format!("{}: unknown purpose", quoted(&f.purpose));
            return card(c, &id, "customer_service", Outcome::error(why));
        };
        let label = field_label(c, def.name.as_str());
        // A code sent with the form answers a step-up: confirmed first.
        let renewed;
        let mut p = &c.p;
        if !f.code.trim().is_empty() {
            if let Err(e) = v.step_up(&c.p, Some(&c.token), &f.code, &c.client) {
                return step_up(c, &id, &f, &label, Some(c.detail(&e)));
            }
            // The session as it is now, with its renewed MFA time.
            match v.staff_principal(&c.token) {
                Ok(Some((fresh, _))) => {
                    renewed = fresh;
                    p = &renewed;
                }
                _ => return Redirect::to("/login").into_response(),
            }
        }
        let access = Access {
            purpose: purpose.clone(),
            reveal: Reveal::Fields(vec![def.name.clone()]),
            reason: Some(reason.clone()),
        };
        match v.get(p, &id, &access) {
            Ok(view) => {
                let seconds = v.config().console.reveal_seconds;
                let page = RevealedPage {
                    page: c.layout(&t.console.title_revealed),
                    t,
                    id: view.id.to_string(),
                    label: label.clone(),
                    value: view.fields.get(def.name.as_str()).cloned().unwrap_or_default(),
                    purpose: purpose.to_string(),
                    purpose_label: purpose_label(c, purpose.as_str()),
                    reason,
                    hides: fill(&t.console.hides, &[("seconds", &seconds.to_string())]),
                };
                no_store(render(&page, StatusCode::OK))
            }
            Err(VaultError::NotFound(_)) => not_found(c),
            Err(VaultError::StepUpRequired { .. }) => step_up(c, &id, &f, &label, None),
            Err(VaultError::Forbidden(_)) => {
                // The caller's own grants, in words; nothing about the customer.
                let allowed: Vec<String> = v
                    .reveal_purposes(p, def.name.as_str())
                    .iter()
                    .map(|pu| purpose_label(c, pu.as_str()))
                    .collect();
                let why = if allowed.is_empty() {
                    fill(&t.console.refused_reveal_none, &[("field", &label)])
                } else {
                    let list = allowed.join(c.lang.pick(", ", "、"));
                    fill(&t.console.refused_reveal, &[("field", &label), ("purposes", &list)])
                };
                card(c, &id, "customer_service", Outcome::error(why))
            }
            Err(e) => c.refusal(&t.console.title_customer, &e),
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
pub async fn log_request(Path(id): Path<String>, post: Posted<LogRequestForm>) -> Response {
    post.run(move |c, f| {
        let input = custodia_vault::rights::requests::NewRequest {
            customer: id.clone(),
            kind: f.kind,
            regime: (!f.regime.is_empty()).then_some(f.regime),
            channel: Some(f.channel),
            note: (!f.note.trim().is_empty()).then_some(f.note),
            ..Default::default()
        };
        match c.s.vault.new_request(&c.p, &input) {
            Ok(r) => Redirect::to(&format!("/console/requests/{}", r.id)).into_response(),
            Err(e) => card_failure(c, &id, &e),
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
pub async fn portal_code(Path(id): Path<String>, post: Posted<CodeForm>) -> Response {
    post.run(move |c, f| {
        let channel = custodia_vault::privacy::delivery::Channel::parse(&f.channel);
        match c.s.vault.send_portal_code(&c.p, &id, &service(), channel) {
            Ok(sent) => {
                let msg = fill(
                    &c.t.console.code_sent,
                    &[
                        ("to", &sent.to),
                        ("channel", sent.channel.as_str()),
                        ("until", &sent.expires_at),
                    ],
                );
                card(c, &id, "customer_service", Outcome::done(msg))
            }
            Err(e) => card_failure(c, &id, &e),
        }
    })
    .await
}

/// POST /console/customers/{id}/edit: change contact fields (what is
/// typed; empty inputs are left alone), checked by the vault's update, for
/// customer_service; problems are shown at their field.
pub async fn edit(Path(id): Path<String>, post: Posted<std::collections::BTreeMap<String, String>>) -> Response {
    post.run(move |c, mut f| {
        f.remove("csrf");
        let version = f.remove("version").and_then(|v| v.parse::<i64>().ok());
        let patch: custodia_vault::RecordPatch = f
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, Some(v)))
            .collect();
        if patch.is_empty() {
            return card(c, &id, "customer_service", Outcome::default());
        }
        match c.s.vault.update(&c.p, &id, &patch, version, &service()) {
            Ok(_) => card(c, &id, "customer_service", Outcome::done(c.t.console.saved.clone())),
            Err(VaultError::Invalid(problems)) => {
                let out = Outcome {
                    error: problems.first().map(|x| format!("{}: {}", x.field, x.message)),
                    done: None,
                    problems: &problems,
                };
                card(c, &id, "customer_service", out)
            }
            Err(e) => card_failure(c, &id, &e),
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
pub async fn consent(Path(id): Path<String>, post: Posted<ConsentForm>) -> Response {
    post.run(move |c, f| {
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
        match c.s.vault.record_consents(&c.p, &id, &[input], &service()) {
            Ok(done) => {
                let receipt = done.first().map(|r| r.receipt.clone()).unwrap_or_default();
                let msg = fill(&c.t.console.consent_saved, &[("receipt", &receipt)]);
                card(c, &id, "customer_service", Outcome::done(msg))
            }
            Err(e) => card_failure(c, &id, &e),
        }
    })
    .await
}
