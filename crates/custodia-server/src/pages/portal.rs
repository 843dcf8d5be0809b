//! The customers' privacy portal: enter with a single-use code, read the
//! notice and what changed, give or withdraw each consent, download one's
//! data, ask for correction or deletion. Chinese and English, no scripts,
//! a short session in an HttpOnly + Secure + SameSite=Strict cookie scoped
//! to `/portal`, every form with the session's anti-CSRF token.

use super::i18n::{fill, Text};
use super::{blocking_page, cookie, lang_of, random_hex, render, set_cookie, Lang, LangQuery, Layout, Message};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_core::consent::{ConsentKind, ConsentState};
use custodia_core::notice::{Change, RecipientRole};
use custodia_core::rights::RequestKind;
use custodia_vault::privacy::portal::{PortalContext, PortalRefusal, PORTAL_SESSION_MS};
use serde::Deserialize;

const COOKIE: &str = "custodia_portal";
const ENTRY_CSRF: &str = "custodia_portal_entry";

fn text(lang: Lang) -> &'static Text {
    super::i18n::text(lang)
}

fn q(lang: Lang) -> String {
    format!("?lang={}", lang.as_str())
}

/// A portal page's frame (with the sign-out button once inside).
fn portal_layout(lang: Lang, title: &str, csrf: Option<&str>) -> Layout {
    let page = Layout::new(lang, title).wide();
    match csrf {
        Some(c) => page.signed_in(&format!("/portal/logout{}", q(lang)), c, &text(lang).portal.sign_out),
        None => page,
    }
}

#[derive(Template)]
#[template(path = "portal/enter.html")]
struct EnterPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    code: String,
    error: Option<String>,
}

fn entry_form(lang: Lang, code: &str, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let t = text(lang);
    let page = EnterPage {
        page: portal_layout(lang, &t.portal.title_enter, None),
        t,
        csrf: csrf.to_owned(),
        code: code.to_owned(),
        error: error.map(str::to_owned),
    };
    let mut r = render(&page, status);
    set_cookie(
        &mut r,
        format!("{ENTRY_CSRF}={csrf}; Path=/portal/enter; HttpOnly; Secure; SameSite=Strict"),
    );
    r
}

/// `?code=&lang=` of the entry page.
#[derive(Debug, Deserialize, Default)]
pub struct EntryQuery {
    #[serde(default)]
    code: String,
    lang: Option<String>,
}

fn entry_lang(q: &EntryQuery, h: &HeaderMap) -> Lang {
    lang_of(&LangQuery { lang: q.lang.clone() }, h)
}

/// GET /portal/enter — the code form (the link fills it in; the code is
/// only used when the customer presses the button, so link scanners that
/// fetch the link do not use it up).
pub async fn enter_page(Query(qy): Query<EntryQuery>, h: HeaderMap) -> Response {
    let lang = entry_lang(&qy, &h);
    let csrf = cookie(&h, ENTRY_CSRF)
        .filter(|c| c.len() == 32)
        .unwrap_or_else(random_hex);
    let code: String = qy.code.chars().take(32).collect();
    entry_form(lang, &code, &csrf, None, StatusCode::OK)
}

/// The entry form.
#[derive(Deserialize)]
pub struct EntryForm {
    code: String,
    csrf: String,
}

/// POST /portal/enter
pub async fn enter_submit(
    State(s): State<AppState>,
    Query(qy): Query<EntryQuery>,
    client: crate::extract::Client,
    h: HeaderMap,
    form: Result<Form<EntryForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = entry_lang(&qy, &h);
    let fresh = random_hex();
    let Ok(Form(f)) = form else {
        return entry_form(
            lang,
            "",
            &fresh,
            Some(&text(lang).portal.form_expired),
            StatusCode::BAD_REQUEST,
        );
    };
    if cookie(&h, ENTRY_CSRF).as_deref() != Some(f.csrf.as_str()) {
        return entry_form(
            lang,
            "",
            &fresh,
            Some(&text(lang).portal.form_expired),
            StatusCode::FORBIDDEN,
        );
    }
    let vault = s.vault.clone();
    let ip = client.0.to_string();
    let code = f.code;
    let result = tokio::task::spawn_blocking(move || vault.portal_enter(&code, &ip)).await;
    match result {
        Ok(Ok(Ok(session))) => {
            let mut r = Redirect::to(&format!("/portal{}", q(lang))).into_response();
            set_cookie(
                &mut r,
                format!(
                    "{COOKIE}={}; Path=/portal; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                    session.token.as_str(),
                    PORTAL_SESSION_MS / 1000
                ),
            );
            set_cookie(
                &mut r,
                format!("{ENTRY_CSRF}=; Path=/portal/enter; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
            );
            r
        }
        Ok(Ok(Err(PortalRefusal::Invalid))) => entry_form(
            lang,
            "",
            &fresh,
            Some(&text(lang).portal.bad_code),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(Ok(Err(PortalRefusal::Locked { .. }))) => entry_form(
            lang,
            "",
            &fresh,
            Some(&text(lang).portal.locked),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        _ => entry_form(
            lang,
            "",
            &fresh,
            Some(&text(lang).portal.error),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    }
}

fn context(s: &AppState, h: &HeaderMap) -> Option<(String, PortalContext)> {
    let token = cookie(h, COOKIE)?;
    let ctx = s.vault.portal_session(&token).ok()??;
    Some((token, ctx))
}

/// What changed in the notice, in the reader's words.
fn change_text(c: &Change, lang: Lang, s: &AppState) -> String {
    let t = &text(lang).changes;
    let schema = s.vault.schema();
    let purpose = |p: &custodia_core::Purpose| {
        schema
            .purpose(p.as_str())
            .map(|d| lang.pick(&d.name_en, &d.name_zh).to_owned())
            .unwrap_or_else(|| p.to_string())
    };
    let field = |f: &custodia_core::FieldName| {
        schema
            .field(f.as_str())
            .map(|d| lang.pick(&d.label_en, &d.label_zh).to_owned())
            .unwrap_or_else(|| f.to_string())
    };
    let p1 = |tpl: &str, p: &custodia_core::Purpose| fill(tpl, &[("purpose", &purpose(p))]);
    let p2 = |tpl: &str, p: &custodia_core::Purpose, k: &str, v: &str| fill(tpl, &[("purpose", &purpose(p)), (k, v)]);
    match c {
        Change::PurposeAdded { purpose: p } => p1(&t.purpose_added, p),
        Change::PurposeRemoved { purpose: p } => p1(&t.purpose_removed, p),
        Change::BasisChanged { purpose: p } => p1(&t.basis_changed, p),
        Change::FieldAdded { purpose: p, field: f } => p2(&t.field_added, p, "field", &field(f)),
        Change::FieldRemoved { purpose: p, field: f } => p2(&t.field_removed, p, "field", &field(f)),
        Change::RecipientAdded {
            purpose: p,
            recipient: r,
        } => p2(&t.recipient_added, p, "recipient", r),
        Change::RecipientRemoved {
            purpose: p,
            recipient: r,
        } => p2(&t.recipient_removed, p, "recipient", r),
        Change::TransferAdded { purpose: p, country: x } => p2(&t.transfer_added, p, "country", x),
        Change::TransferRemoved { purpose: p, country: x } => p2(&t.transfer_removed, p, "country", x),
        Change::RetentionLonger { purpose: p } => p1(&t.retention_longer, p),
        Change::RetentionShorter { purpose: p } => p1(&t.retention_shorter, p),
        Change::PublicDisclosureAdded { purpose: p } => p1(&t.public_disclosure_added, p),
        Change::TextChanged => t.text_changed.clone(),
    }
}

/// The name of a consent's state.
fn state_name<'a>(t: &'a Text, s: &ConsentState) -> &'a str {
    match s {
        ConsentState::Active => &t.portal.state_active,
        ConsentState::NeverGiven => &t.portal.state_never_given,
        ConsentState::Withdrawn => &t.portal.state_withdrawn,
        ConsentState::RenewalNeeded { .. } => &t.portal.state_renewal_needed,
        ConsentState::KindMissing { .. } => &t.portal.state_kind_missing,
        ConsentState::NotNeeded => &t.portal.state_not_needed,
    }
}

/// The name of a request's status (a status this build does not name is
/// shown as stored).
fn status_name(t: &Text, status: &str) -> String {
    match status {
        "received" => &t.portal.status_received,
        "verified" => &t.portal.status_verified,
        "in_progress" => &t.portal.status_in_progress,
        "extended" => &t.portal.status_extended,
        "completed" => &t.portal.status_completed,
        "denied" => &t.portal.status_denied,
        other => other,
    }
    .to_owned()
}

/// `?lang=&done=` of the main page.
#[derive(Debug, Deserialize, Default)]
pub struct MainQuery {
    lang: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

/// GET /portal
pub async fn main_page(State(s): State<AppState>, Query(qy): Query<MainQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&LangQuery { lang: qy.lang.clone() }, &h);
        let Some((_, ctx)) = context(&s, &h) else {
            return Redirect::to(&format!("/portal/enter{}", q(lang))).into_response();
        };
        match s.vault.portal_view(&ctx.principal(), lang) {
            Ok(view) => render_main(&s, lang, &ctx, &view, &qy),
            Err(e) => {
                let t = text(lang);
                let page = portal_layout(lang, &t.portal.title, Some(ctx.csrf()));
                render(
                    &Message::error(page, &format!("{}: {e}", t.portal.error)),
                    StatusCode::INTERNAL_SERVER_ERROR,
                )
            }
        }
    })
    .await
}

struct NoticeView {
    version: u32,
    effective: String,
    title: String,
    body: String,
    purposes: Vec<PurposeRow>,
}

struct PurposeRow {
    name: String,
    basis: String,
    info: String,
    kept: String,
    shared: Vec<String>,
}

struct ConsentBox {
    id: String,
    name: String,
    active: bool,
    state: String,
    text: Vec<String>,
    separate: bool,
    guardian: bool,
}

#[derive(Template)]
#[template(path = "portal/main.html")]
struct MainPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    done: Option<String>,
    error: Option<String>,
    notice: NoticeView,
    accepted_version: u32,
    /// (what changed, whether it needs consent again)
    changes: Vec<(String, bool)>,
    /// A version not yet in force: (introduction, its changes).
    upcoming: Option<(String, Vec<(String, bool)>)>,
    consents: Vec<ConsentBox>,
    /// (value, name)
    kinds: Vec<(&'static str, &'static str)>,
    /// (id, kind, status, received)
    requests: Vec<(String, String, String, String, String)>,
    /// The controller: name, then contact lines.
    controller: (String, Vec<String>),
}

fn render_main(
    s: &AppState,
    lang: Lang,
    ctx: &PortalContext,
    view: &custodia_vault::privacy::portal::PortalView,
    qy: &MainQuery,
) -> Response {
    let t = text(lang);
    let n = &view.notice;
    let schema = s.vault.schema();
    let label = |f: &custodia_core::FieldName| {
        schema
            .field(f.as_str())
            .map(|d| lang.pick(&d.label_en, &d.label_zh).to_owned())
            .unwrap_or_else(|| f.to_string())
    };
    let pname = |p: &custodia_core::Purpose| {
        schema
            .purpose(p.as_str())
            .map(|d| lang.pick(&d.name_en, &d.name_zh).to_owned())
            .unwrap_or_else(|| p.to_string())
    };
    let purposes = n
        .purposes
        .iter()
        .map(|p| {
            let mut shared: Vec<String> = p
                .recipients
                .iter()
                .map(|r| {
                    let role = match r.role {
                        RecipientRole::Processor => &t.changes.role_processor,
                        RecipientRole::Controller => &t.changes.role_controller,
                    };
                    format!("{} ({role})", r.name)
                })
                .collect();
            shared.extend(
                p.transfers
                    .iter()
                    .map(|x| format!("{} → {} ({})", x.recipient, x.country, x.mechanism)),
            );
            PurposeRow {
                name: pname(&p.id),
                basis: p.basis.describe(lang, &n.regimes),
                info: p
                    .fields
                    .iter()
                    .map(label)
                    .collect::<Vec<_>>()
                    .join(&t.changes.list_separator),
                kept: p.retention.describe(lang),
                shared,
            }
        })
        .collect();
    let listed =
        |changes: &[custodia_core::notice::Change], n: &custodia_core::notice::Notice| -> Vec<(String, bool)> {
            changes
                .iter()
                .map(|c| {
                    let needs = c.material()
                        && c.purpose()
                            .is_some_and(|p| n.purpose(p.as_str()).is_some_and(|x| n.consent_may_apply(x)));
                    (change_text(c, lang, s), needs)
                })
                .collect()
        };
    let changes = listed(&view.changes_since, n);
    // The date as the notice states it (the instant is its midnight in the
    // company's time zone).
    let upcoming = view.upcoming.as_ref().map(|(next, _, changes)| {
        (
            super::i18n::fill(
                &t.portal.upcoming_intro,
                &[("version", &next.version.to_string()), ("date", &next.effective)],
            ),
            listed(changes, next),
        )
    });
    let consents = view
        .consents
        .purposes
        .iter()
        .filter(|p| p.offered)
        .map(|pc| ConsentBox {
            id: pc.purpose.as_str().to_owned(),
            name: pname(&pc.purpose),
            active: pc.state == ConsentState::Active,
            state: state_name(t, &pc.state).to_owned(),
            text: view.texts.get(&pc.purpose).cloned().unwrap_or_default(),
            separate: pc.required.contains(&ConsentKind::Separate),
            guardian: pc.required.contains(&ConsentKind::Guardian),
        })
        .collect();
    let page = MainPage {
        page: portal_layout(lang, &t.portal.title, Some(ctx.csrf())),
        t,
        csrf: ctx.csrf().to_owned(),
        done: qy.done.clone(),
        error: qy.error.as_ref().map(|e| e.chars().take(300).collect()),
        notice: NoticeView {
            version: n.version,
            effective: n.effective.clone(),
            title: lang.pick(&n.title_en, &n.title_zh).to_owned(),
            body: lang.pick(n.body_en.trim(), n.body_zh.trim()).to_owned(),
            purposes,
        },
        accepted_version: view.accepted_version.unwrap_or(0),
        changes,
        upcoming,
        consents,
        // Only the kinds the notice's laws know (the request to limit is the CCPA's).
        kinds: RequestKind::ALL
            .iter()
            .filter(|k| n.regimes.iter().any(|r| k.exists_under(*r)))
            .map(|k| (k.as_str(), lang.pick(k.name_en(), k.name_zh())))
            .collect(),
        requests: view
            .requests
            .iter()
            .map(|r| {
                let kind = RequestKind::parse(&r.kind)
                    .map(|k| lang.pick(k.name_en(), k.name_zh()).to_owned())
                    .unwrap_or_else(|| r.kind.clone());
                (
                    r.id.clone(),
                    kind,
                    status_name(t, &r.status),
                    r.received_at.chars().take(10).collect::<String>(),
                    r.due
                        .as_ref()
                        .map(|d| fill(&t.portal.due, &[("date", d)]))
                        .unwrap_or_default(),
                )
            })
            .collect(),
        // Who is responsible and how to reach them (PIPL Art. 17; GDPR Art. 13(1)(a)).
        controller: (
            n.controller.name.clone(),
            [
                &n.controller.contact,
                &n.controller.address,
                &n.controller.email,
                &n.controller.phone,
            ]
            .into_iter()
            .filter(|x| !x.trim().is_empty())
            .cloned()
            .collect(),
        ),
    };
    render(&page, StatusCode::OK)
}

/// A portal form: each carries the session's anti-CSRF token.
trait PortalForm {
    fn csrf(&self) -> &str;
}

/// The session of a portal form post, with the form: or the answer when
/// there is no session (back to the entry page) or the form's token is
/// not the session's (refused).
fn posted<F: PortalForm>(
    s: &AppState,
    h: &HeaderMap,
    lang: Lang,
    form: Result<Form<F>, axum::extract::rejection::FormRejection>,
) -> Result<(String, PortalContext, F), Box<Response>> {
    let Some((token, ctx)) = context(s, h) else {
        return Err(Box::new(
            Redirect::to(&format!("/portal/enter{}", q(lang))).into_response(),
        ));
    };
    match form {
        Ok(Form(f)) if f.csrf() == ctx.csrf() => Ok((token, ctx, f)),
        _ => Err(Box::new(
            (StatusCode::FORBIDDEN, text(lang).portal.form_expired.clone()).into_response(),
        )),
    }
}

macro_rules! portal_forms {
    ($($t:ty),*) => {$(
        impl PortalForm for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}
portal_forms!(ConsentForm, RequestForm, CsrfForm);

/// A consent toggle.
#[derive(Deserialize)]
pub struct ConsentForm {
    csrf: String,
    purpose: String,
    action: String,
    #[serde(default)]
    guardian: Option<String>,
}

fn back(lang: Lang, done: Option<&str>, error: Option<String>) -> Response {
    let mut url = format!("/portal{}", q(lang));
    if let Some(d) = done {
        url.push_str(&format!("&done={d}"));
    }
    if let Some(e) = error {
        let enc: String = e
            .bytes()
            .take(300)
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        url.push_str(&format!("&error={enc}"));
    }
    Redirect::to(&url).into_response()
}

/// POST /portal/consent
pub async fn consent_submit(
    State(s): State<AppState>,
    Query(lq): Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<ConsentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&lq, &h);
        let (_, ctx, f) = match posted(&s, &h, lang, form) {
            Ok(x) => x,
            Err(r) => return *r,
        };
        let give = match f.action.as_str() {
            "give" => true,
            "withdraw" => false,
            _ => return back(lang, None, Some("unknown action".into())),
        };
        match s.vault.portal_set_consent(
            &ctx.principal(),
            &f.purpose,
            give,
            f.guardian.as_deref() == Some("yes"),
            lang,
        ) {
            Ok(_) => back(lang, Some("consent"), None),
            Err(e) => back(
                lang,
                None,
                Some(
                    e.problems()
                        .first()
                        .map(|p| p.message.clone())
                        .unwrap_or_else(|| e.to_string()),
                ),
            ),
        }
    })
    .await
}

/// A request form.
#[derive(Deserialize)]
pub struct RequestForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    note: String,
}

/// POST /portal/request
pub async fn request_submit(
    State(s): State<AppState>,
    Query(lq): Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<RequestForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&lq, &h);
        let (_, ctx, f) = match posted(&s, &h, lang, form) {
            Ok(x) => x,
            Err(r) => return *r,
        };
        let Some(kind) = RequestKind::parse(&f.kind) else {
            return back(lang, None, Some("unknown request".into()));
        };
        match s.vault.portal_request(&ctx.principal(), kind, &f.note) {
            Ok(_) => back(lang, Some("request"), None),
            Err(e) => back(
                lang,
                None,
                Some(
                    e.problems()
                        .first()
                        .map(|p| format!("{} {}", p.field, p.message))
                        .unwrap_or_else(|| e.to_string()),
                ),
            ),
        }
    })
    .await
}

/// GET /portal/data.json
pub async fn download(State(s): State<AppState>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let Some((_, ctx)) = context(&s, &h) else {
            return Redirect::to("/portal/enter").into_response();
        };
        match s.vault.portal_download(&ctx.principal()) {
            Ok(v) => {
                let mut r = (StatusCode::OK, serde_json::to_vec_pretty(&v).expect("JSON serializes")).into_response();
                let hd = r.headers_mut();
                hd.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Ok(v) =
                    HeaderValue::from_str(&format!("attachment; filename=\"my-data-{}.json\"", ctx.customer()))
                {
                    hd.insert(header::CONTENT_DISPOSITION, v);
                }
                r
            }
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        }
    })
    .await
}

/// The sign-out form.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// POST /portal/logout
pub async fn logout(
    State(s): State<AppState>,
    Query(lq): Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&lq, &h);
        let (token, _, _) = match posted(&s, &h, lang, form) {
            Ok(x) => x,
            Err(r) => return *r,
        };
        let _ = s.vault.portal_sign_out(&token);
        let mut r = Redirect::to(&format!("/portal/enter{}", q(lang))).into_response();
        set_cookie(
            &mut r,
            format!("{COOKIE}=; Path=/portal; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
        );
        r
    })
    .await
}
