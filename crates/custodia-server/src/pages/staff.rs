//! Staff pages: sign in (password + TOTP), MFA enrollment, account
//! overview, sign out. Sessions live in HttpOnly + Secure + SameSite=Strict
//! cookies; the sign-in form carries a double-submit token, every form
//! after it the session's.

use super::i18n::{fill, Text};
use super::{
    blocking_page, cookie, lang_of, principal_of, random_hex, render, session_of, set_cookie, Lang, LangQuery, Layout,
    Message, CSRF_COOKIE, SESSION_COOKIE,
};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_vault::access::session::{LoginError, DEVICE_COOKIE, SESSION_MS};
use serde::Deserialize;

/// A signed-in staff page's frame.
fn staff_layout(lang: Lang, title: &str, csrf: &str) -> Layout {
    let t = super::i18n::text(lang);
    Layout::new(lang, title).signed_in("/logout", csrf, &t.staff.sign_out)
}

#[derive(Template)]
#[template(path = "staff/login.html")]
struct LoginPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    error: Option<String>,
}

fn login_form(lang: Lang, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let t = super::i18n::text(lang);
    let mut r = render(
        &LoginPage {
            page: Layout::new(lang, &t.staff.title_login),
            t,
            csrf: csrf.to_owned(),
            error: error.map(str::to_owned),
        },
        status,
    );
    set_cookie(
        &mut r,
        format!("{CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; Secure; SameSite=Strict"),
    );
    r
}

/// GET /login
pub async fn login_page(q: Query<LangQuery>, h: HeaderMap) -> Response {
    let csrf = cookie(&h, CSRF_COOKIE)
        .filter(|c| c.len() == 32)
        .unwrap_or_else(random_hex);
    login_form(lang_of(&q, &h), &csrf, None, StatusCode::OK)
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    code: String,
    csrf: String,
}

/// A permit to run one password check, waiting at most a few seconds:
/// `None` means sign-in is saturated (the caller answers "busy").
///
/// Attempts from one address (IPv6: one /64) take turns first, so a single
/// client flooding sign-in holds at most one of the shared permits and
/// everyone else still gets the others.
pub(crate) async fn password_check_permit(s: &AppState, client: std::net::IpAddr) -> Option<PasswordPermit> {
    let key = custodia_vault::access::session::address_key(&client.to_string());
    let turn = {
        let mut m = s.sign_in_turns.lock().expect("sign-in turns");
        // Forget addresses nobody waits on (bounded by requests in flight).
        m.retain(|_, sem| std::sync::Arc::strong_count(sem) > 1);
        m.entry(key)
            .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1)))
            .clone()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let own = tokio::time::timeout_at(deadline, turn.acquire_owned())
        .await
        .ok()?
        .ok()?;
    let shared = tokio::time::timeout_at(deadline, s.sign_in.clone().acquire_owned())
        .await
        .ok()?
        .ok()?;
    Some(PasswordPermit {
        _own: own,
        _shared: shared,
    })
}

/// The right to run one password check: this address's turn and one of
/// the shared permits (released together when dropped).
pub(crate) struct PasswordPermit {
    _own: tokio::sync::OwnedSemaphorePermit,
    _shared: tokio::sync::OwnedSemaphorePermit,
}

/// Why a sign-in failed, in the reader's words.
fn login_message(t: &Text, e: &LoginError) -> String {
    match e {
        LoginError::Invalid => t.signin.invalid.clone(),
        LoginError::Locked { minutes } => fill(&t.signin.locked, &[("minutes", &minutes.to_string())]),
        LoginError::CodeLocked { minutes } => fill(&t.signin.code_locked, &[("minutes", &minutes.to_string())]),
    }
}

/// POST /login
pub async fn login_submit(
    State(s): State<AppState>,
    q: Query<LangQuery>,
    client: crate::extract::Client,
    h: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = lang_of(&q, &h);
    let t = super::i18n::text(lang);
    let fresh = random_hex();
    let Ok(Form(f)) = form else {
        return login_form(lang, &fresh, Some(&t.staff.csrf), StatusCode::BAD_REQUEST);
    };
    if cookie(&h, CSRF_COOKIE).as_deref() != Some(f.csrf.as_str()) {
        return login_form(lang, &fresh, Some(&t.staff.csrf), StatusCode::FORBIDDEN);
    }
    // Argon2id work is bounded: a flood of sign-ins waits here, on the
    // async side, and never fills the blocking pool.
    let Some(permit) = password_check_permit(&s, client.0).await else {
        let mut r = login_form(lang, &fresh, Some(&t.staff.busy), StatusCode::SERVICE_UNAVAILABLE);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    };
    let vault = s.vault.clone();
    let ip = client.0.to_string();
    let device = cookie(&h, DEVICE_COOKIE);
    let result = tokio::task::spawn_blocking(move || {
        let code = (!f.code.trim().is_empty()).then_some(f.code.as_str());
        vault.login(&f.name, &f.password, code, &ip, device.as_deref())
    })
    .await;
    drop(permit);
    let outcome = match result {
        Ok(Ok(o)) => o,
        _ => {
            return login_form(
                lang,
                &fresh,
                Some(&t.signin.internal),
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        }
    };
    // The delay is waited out here, holding no thread and no permit.
    if !outcome.delay.is_zero() {
        tokio::time::sleep(outcome.delay).await;
    }
    match outcome.result {
        Ok(start) => {
            let to = if start.must_enroll_mfa {
                "/mfa/enroll"
            } else {
                "/console"
            };
            let mut r = Redirect::to(to).into_response();
            set_cookie(
                &mut r,
                format!(
                    "{SESSION_COOKIE}={}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                    start.token.as_str(),
                    SESSION_MS / 1000
                ),
            );
            set_cookie(
                &mut r,
                format!(
                    "{DEVICE_COOKIE}={}; Path=/login; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                    start.device.as_str(),
                    start.device_max_age
                ),
            );
            set_cookie(
                &mut r,
                format!("{CSRF_COOKIE}=; Path=/login; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
            );
            r
        }
        Err(e) => {
            let status = if matches!(e, LoginError::Invalid) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            login_form(lang, &fresh, Some(&login_message(t, &e)), status)
        }
    }
}

#[derive(Template)]
#[template(path = "staff/account.html")]
struct AccountPage {
    page: Layout,
    t: &'static Text,
    name: String,
    /// (name in the reader's language, role id)
    roles: Vec<(String, String)>,
    mfa_enrolled: bool,
    /// (course, valid, expires)
    trainings: Vec<(String, bool, String)>,
}

/// GET /account
pub async fn account_page(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let Some((token, sess)) = session_of(&s, &h) else {
            return Redirect::to("/login").into_response();
        };
        let Some(p) = principal_of(&s, &token) else {
            return Redirect::to("/login").into_response();
        };
        let Ok(a) = s.vault.account(&p, &sess.account) else {
            return Redirect::to("/login").into_response();
        };
        let t = super::i18n::text(lang);
        let roles = a
            .roles
            .iter()
            .map(|r| {
                let name = s
                    .vault
                    .policy()
                    .role(r)
                    .map(|x| lang.pick(&x.name_en, &x.name_zh).to_owned())
                    .unwrap_or_else(|| r.clone());
                (name, r.clone())
            })
            .collect();
        let page = AccountPage {
            page: staff_layout(lang, &t.staff.title_account, &sess.csrf),
            t,
            name: a.name.clone(),
            roles,
            mfa_enrolled: a.mfa_enrolled,
            trainings: a
                .trainings
                .iter()
                .map(|x| (x.course.clone(), x.valid, x.expires.clone()))
                .collect(),
        };
        render(&page, StatusCode::OK)
    })
    .await
}

#[derive(Template)]
#[template(path = "staff/enroll.html")]
struct EnrollPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    error: Option<String>,
    qr: String,
    secret: String,
    recovery: Vec<String>,
}

/// GET /mfa/enroll
pub async fn enroll_page(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let Some((token, sess)) = session_of(&s, &h) else {
            return Redirect::to("/login").into_response();
        };
        enroll_form(&s, lang, &token, &sess, None)
    })
    .await
}

fn enroll_form(
    s: &AppState,
    lang: Lang,
    token: &str,
    sess: &custodia_vault::access::session::Session,
    error: Option<&str>,
) -> Response {
    let Some(p) = principal_of(s, token) else {
        return Redirect::to("/login").into_response();
    };
    if s.vault
        .account(&p, &sess.account)
        .map(|a| a.mfa_enrolled)
        .unwrap_or(false)
    {
        return Redirect::to("/account").into_response();
    }
    let t = super::i18n::text(lang);
    let layout = || staff_layout(lang, &t.staff.title_enroll, &sess.csrf);
    // After a wrong code, keep the secret the person already scanned.
    let e = match (error, s.vault.pending_mfa(&p, &sess.account)) {
        (Some(_), Ok(Some((uri, secret)))) => custodia_vault::access::identity::MfaEnrollment {
            otpauth_uri: uri,
            secret_base32: secret,
            recovery_codes: Vec::new(),
        },
        _ => match s.vault.start_mfa(&p, &sess.account) {
            Ok(e) => e,
            // Accounts with an address enroll through the link sent there.
            Err(e) => {
                let detail = crate::problem::Problem::from_vault(&e, lang).detail;
                return render(&Message::error(layout(), &detail), StatusCode::FORBIDDEN);
            }
        },
    };
    let page = EnrollPage {
        page: layout(),
        t,
        csrf: sess.csrf.clone(),
        error: error.map(str::to_owned),
        qr: super::qr_svg(&e.otpauth_uri),
        secret: e.secret_base32.clone(),
        recovery: e.recovery_codes.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(&page, status)
}

/// The enrollment confirmation form.
#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    csrf: String,
}

/// POST /mfa/enroll
pub async fn enroll_submit(
    State(s): State<AppState>,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let lang = lang_of(&q, &h);
        let t = super::i18n::text(lang);
        let Some((token, sess)) = session_of(&s, &h) else {
            return Redirect::to("/login").into_response();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return (StatusCode::FORBIDDEN, t.staff.csrf.clone()).into_response();
        };
        let Some(p) = principal_of(&s, &token) else {
            return Redirect::to("/login").into_response();
        };
        match s.vault.confirm_mfa(&p, &sess.account, &f.code) {
            Ok(()) => {
                let _ = s.vault.session_mfa_done(&token);
                Redirect::to("/console").into_response()
            }
            Err(_) => enroll_form(&s, lang, &token, &sess, Some(&t.staff.bad_code)),
        }
    })
    .await
}

/// The sign-out form.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// POST /logout
pub async fn logout(
    State(s): State<AppState>,
    h: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    blocking_page(move || {
        let Some((token, sess)) = session_of(&s, &h) else {
            return Redirect::to("/login").into_response();
        };
        if form.ok().map(|Form(f)| f.csrf) != Some(sess.csrf) {
            return (StatusCode::FORBIDDEN, "form expired").into_response();
        }
        let _ = s.vault.logout(&token);
        let mut r = Redirect::to("/login").into_response();
        set_cookie(
            &mut r,
            format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
        );
        r
    })
    .await
}
