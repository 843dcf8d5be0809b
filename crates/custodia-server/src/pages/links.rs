//! Staff pages around sign-in: "forgot password", the page a one-time link
//! opens (choose a password, enroll an authenticator), and changing one's
//! own password. Each calls the vault's operation for it; forms carry an
//! anti-CSRF token (double-submit cookie before sign-in, the session's
//! token after). The link's secret arrives in the link's query string,
//! then travels only in the forms' bodies.

use super::i18n::Text;
use super::staff::password_check_permit;
use super::{
    blocking_page, cookie, lang_of, principal_of, qr_svg, random_hex, render, session_of, set_cookie, Lang, LangQuery,
    Layout, Message,
};
use crate::extract::Client;
use crate::problem::Problem;
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_vault::access::staff::{LinkInfo, LinkKind, LinkStep};
use serde::Deserialize;
use zeroize::Zeroizing;

const FORM_COOKIE: &str = "custodia_form";

/// A page before sign-in, with a fresh double-submit token.
fn open_page(page: &impl Template, csrf: &str, status: StatusCode) -> Response {
    let mut r = render(page, status);
    set_cookie(
        &mut r,
        format!("{FORM_COOKIE}={csrf}; Path=/; HttpOnly; Secure; SameSite=Strict"),
    );
    r
}

fn form_ok(h: &HeaderMap, sent: &str) -> bool {
    cookie(h, FORM_COOKIE).is_some_and(|c| c.len() == 32 && c == sent)
}

fn vault_message(e: &custodia_vault::VaultError, lang: Lang) -> String {
    Problem::from_vault(e, lang).detail
}

fn text(lang: Lang) -> &'static Text {
    super::i18n::text(lang)
}

/// A page about the link, with one message.
fn link_message(lang: Lang, error: &str, status: StatusCode) -> Response {
    render(
        &Message::error(Layout::new(lang, &text(lang).links.title_link), error),
        status,
    )
}

#[derive(Template)]
#[template(path = "links/forgot.html")]
struct ForgotPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    error: Option<String>,
}

fn forgot_form(lang: Lang, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let t = text(lang);
    let page = ForgotPage {
        page: Layout::new(lang, &t.links.title_forgot),
        t,
        csrf: csrf.to_owned(),
        error: error.map(str::to_owned),
    };
    open_page(&page, csrf, status)
}

/// GET /password/forgot
pub async fn forgot_page(q: Query<LangQuery>, h: HeaderMap) -> Response {
    forgot_form(lang_of(&q, &h), &random_hex(), None, StatusCode::OK)
}

/// The "forgot password" form.
#[derive(Deserialize)]
pub struct ForgotForm {
    name: String,
    csrf: String,
}

/// POST /password/forgot: always the same answer.
pub async fn forgot_submit(
    State(s): State<AppState>,
    q: Query<LangQuery>,
    client: Client,
    h: HeaderMap,
    form: Result<Form<ForgotForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = lang_of(&q, &h);
    let t = text(lang);
    let Some(Form(f)) = form.ok().filter(|f| form_ok(&h, &f.csrf)) else {
        return forgot_form(lang, &random_hex(), Some(&t.links.form_expired), StatusCode::FORBIDDEN);
    };
    let ip = client.0.to_string();
    let vault = s.vault.clone();
    // Not awaited: the answer must not take longer when a mail goes out
    // (that would tell which accounts exist).
    drop(tokio::task::spawn_blocking(move || vault.forgot_password(&f.name, &ip)));
    let page = Message::plain(Layout::new(lang, &t.links.title_forgot), "sent", &t.links.forgot_sent).link(
        "/login",
        "sign-in",
        &t.links.sign_in,
    );
    render(&page, StatusCode::ACCEPTED)
}

/// The link's query string.
#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    t: String,
    #[serde(default)]
    lang: Option<String>,
}

fn link_lang(q: &LinkQuery, h: &HeaderMap) -> Lang {
    lang_of(&LangQuery { lang: q.lang.clone() }, h)
}

#[derive(Template)]
#[template(path = "links/link.html")]
struct LinkPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    error: Option<String>,
    intro: String,
    account: String,
    secret: String,
    asks_current: bool,
    asks_new: bool,
    asks_code: bool,
}

fn link_form(
    lang: Lang,
    secret: &str,
    info: &LinkInfo,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let t = text(lang);
    let intro = match info.kind {
        LinkKind::Setup => &t.links.link_setup,
        LinkKind::Password => &t.links.link_password,
        LinkKind::Mfa => &t.links.link_mfa,
    };
    let page = LinkPage {
        page: Layout::new(lang, &t.links.title_link),
        t,
        csrf: csrf.to_owned(),
        error: error.map(str::to_owned),
        intro: intro.clone(),
        account: info.account.clone(),
        secret: secret.to_owned(),
        asks_current: info.asks_current_password,
        asks_new: info.asks_new_password,
        asks_code: info.asks_code,
    };
    open_page(&page, csrf, status)
}

fn link_refused(lang: Lang, e: &custodia_vault::VaultError) -> Response {
    let t = text(lang);
    let page = Message::error(Layout::new(lang, &t.links.title_link), &vault_message(e, lang)).link(
        "/password/forgot",
        "forgot",
        &t.links.title_forgot,
    );
    render(&page, StatusCode::FORBIDDEN)
}

/// GET /account/link?t=…
pub async fn link_page(State(s): State<AppState>, Query(q): Query<LinkQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = link_lang(&q, &h);
        match s.vault.link_info(&q.t) {
            Ok(info) => link_form(lang, &q.t, &info, &random_hex(), None, StatusCode::OK),
            Err(e) => link_refused(lang, &e),
        }
    })
    .await
}

/// The link's first form.
#[derive(Deserialize)]
pub struct LinkForm {
    t: String,
    csrf: String,
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    new: Option<String>,
    #[serde(default)]
    again: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Enrolling an authenticator through a link: the QR code and secret (the
/// first time), then the form for the code it shows.
#[derive(Template)]
#[template(path = "links/enroll.html")]
struct LinkEnrollPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    error: Option<String>,
    secret: String,
    /// (QR code as SVG, secret in base32)
    enrollment: Option<(String, String)>,
}

fn enroll_page(
    lang: Lang,
    secret: &str,
    enrollment: Option<(&str, &str)>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let t = text(lang);
    let csrf = random_hex();
    let page = LinkEnrollPage {
        page: Layout::new(lang, &t.links.title_link),
        t,
        csrf: csrf.clone(),
        error: error.map(str::to_owned),
        secret: secret.to_owned(),
        enrollment: enrollment.map(|(uri, base32)| (qr_svg(uri), base32.to_owned())),
    };
    open_page(&page, &csrf, status)
}

/// POST /account/link
pub async fn link_submit(
    State(s): State<AppState>,
    Query(q): Query<LinkQuery>,
    client: Client,
    h: HeaderMap,
    form: Result<Form<LinkForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = link_lang(&q, &h);
    let t = text(lang);
    let Some(Form(f)) = form.ok().filter(|f| form_ok(&h, &f.csrf)) else {
        return link_message(lang, &t.links.form_expired, StatusCode::FORBIDDEN);
    };
    let Some(permit) = password_check_permit(&s, client.0).await else {
        return link_message(lang, &t.links.busy, StatusCode::SERVICE_UNAVAILABLE);
    };
    let ip = client.0.to_string();
    let r = blocking_page(move || {
        let info = match s.vault.link_info(&f.t) {
            Ok(i) => i,
            Err(e) => return link_refused(lang, &e),
        };
        let new = f.new.map(Zeroizing::new);
        let again = f.again.map(Zeroizing::new);
        if info.asks_new_password && new.as_deref() != again.as_deref() {
            return link_form(
                lang,
                &f.t,
                &info,
                &random_hex(),
                Some(&t.links.differ),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        let current = f.current.map(Zeroizing::new);
        match s.vault.link_submit(
            &f.t,
            new.as_deref().map(String::as_str),
            current.as_deref().map(String::as_str),
            f.code.as_deref(),
            &ip,
        ) {
            Ok(LinkStep::Done) => {
                let page = Message::ok(Layout::new(lang, &t.links.title_link), "done", &t.links.done).link(
                    "/login",
                    "sign-in",
                    &t.links.sign_in,
                );
                render(&page, StatusCode::OK)
            }
            Ok(LinkStep::Enroll {
                otpauth_uri,
                secret_base32,
            }) => enroll_page(lang, &f.t, Some((&otpauth_uri, &secret_base32)), None, StatusCode::OK),
            Err(e @ custodia_vault::VaultError::Input(_)) => link_form(
                lang,
                &f.t,
                &info,
                &random_hex(),
                Some(&vault_message(&e, lang)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Err(e) => match s.vault.link_info(&f.t) {
                // Still valid: a wrong password or code; ask again.
                Ok(info) => link_form(
                    lang,
                    &f.t,
                    &info,
                    &random_hex(),
                    Some(&vault_message(&e, lang)),
                    StatusCode::FORBIDDEN,
                ),
                Err(_) => link_refused(lang, &e),
            },
        }
    })
    .await;
    drop(permit);
    r
}

/// The enrollment form of a link.
#[derive(Deserialize)]
pub struct LinkMfaForm {
    t: String,
    csrf: String,
    code: String,
}

#[derive(Template)]
#[template(path = "links/recovery.html")]
struct RecoveryPage {
    page: Layout,
    t: &'static Text,
    codes: Vec<String>,
}

/// POST /account/link/mfa
pub async fn link_mfa_submit(
    State(s): State<AppState>,
    Query(q): Query<LinkQuery>,
    client: Client,
    h: HeaderMap,
    form: Result<Form<LinkMfaForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = link_lang(&q, &h);
    let t = text(lang);
    let Some(Form(f)) = form.ok().filter(|f| form_ok(&h, &f.csrf)) else {
        return link_message(lang, &t.links.form_expired, StatusCode::FORBIDDEN);
    };
    let ip = client.0.to_string();
    blocking_page(move || match s.vault.link_confirm_mfa(&f.t, &f.code, &ip) {
        Ok(codes) => render(
            &RecoveryPage {
                page: Layout::new(lang, &t.links.title_link),
                t,
                codes,
            },
            StatusCode::OK,
        ),
        Err(e) => enroll_page(
            lang,
            &f.t,
            None,
            Some(&vault_message(&e, lang)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    })
    .await
}

#[derive(Template)]
#[template(path = "links/password.html")]
struct PasswordPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    error: Option<String>,
}

fn signed_in(lang: Lang, csrf: &str) -> Layout {
    let t = text(lang);
    Layout::new(lang, &t.links.title_password).signed_in("/logout", csrf, &t.staff.sign_out)
}

fn password_form(lang: Lang, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let page = PasswordPage {
        page: signed_in(lang, csrf),
        t: text(lang),
        csrf: csrf.to_owned(),
        error: error.map(str::to_owned),
    };
    render(&page, status)
}

/// GET /account/password
pub async fn password_page(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        match session_of(&s, &h) {
            Some((_, sess)) => password_form(lang, &sess.csrf, None, StatusCode::OK),
            None => Redirect::to("/login").into_response(),
        }
    })
    .await
}

/// The password change form.
#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    again: String,
}

/// POST /account/password
pub async fn password_submit(
    State(s): State<AppState>,
    q: Query<LangQuery>,
    client: Client,
    h: HeaderMap,
    form: Result<Form<PasswordForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = lang_of(&q, &h);
    let t = text(lang);
    let Some(permit) = password_check_permit(&s, client.0).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, t.links.busy.clone()).into_response();
    };
    let r = blocking_page(move || {
        let Some((token, sess)) = session_of(&s, &h) else {
            return Redirect::to("/login").into_response();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return password_form(lang, &sess.csrf, Some(&t.links.form_expired), StatusCode::FORBIDDEN);
        };
        let (current, new, again) = (
            Zeroizing::new(f.current),
            Zeroizing::new(f.new),
            Zeroizing::new(f.again),
        );
        if *new != *again {
            return password_form(
                lang,
                &sess.csrf,
                Some(&t.links.differ),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        let Some(p) = principal_of(&s, &token) else {
            return Redirect::to("/login").into_response();
        };
        match s.vault.change_password(&p, &current, &new, Some(&token)) {
            Ok(()) => {
                let page =
                    Message::ok(signed_in(lang, &sess.csrf), "done", &t.links.changed).link("/account", "back", "←");
                render(&page, StatusCode::OK)
            }
            Err(e) => password_form(
                lang,
                &sess.csrf,
                Some(&vault_message(&e, lang)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        }
    })
    .await;
    drop(permit);
    r
}
