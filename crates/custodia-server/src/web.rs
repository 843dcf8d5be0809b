//! Staff pages: sign in (password + TOTP), MFA enrollment, account
//! overview, sign out. Server-rendered HTML in Chinese or English, no
//! scripts; sessions in HttpOnly + Secure + SameSite=Strict cookies; every
//! form carries an anti-CSRF token (double-submit cookie before sign-in,
//! the session's token after).

use crate::problem::Lang;
use crate::AppState;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_vault::session::{LoginError, DEVICE_COOKIE, SESSION_MS};
use serde::Deserialize;
use std::net::SocketAddr;

/// The client address of a connection (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

pub(crate) const SESSION_COOKIE: &str = "custodia_session";
pub(crate) const CSRF_COOKIE: &str = "custodia_csrf";
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The stylesheet.
pub const CSS: &str = include_str!("../assets/custodia.css");

/// (key, English, Chinese)
const TEXT: &[(&str, &str, &str)] = &[
    ("title_login", "Sign in to Custodia", "登录 Custodia"),
    ("name", "Account name", "账号"),
    ("password", "Password", "密码"),
    ("code", "Authenticator code or recovery code", "动态验证码或恢复码"),
    ("code_hint", "Leave empty if you have not enrolled multi-factor authentication yet.", "尚未启用多因素认证时可留空。"),
    ("sign_in", "Sign in", "登录"),
    ("sign_out", "Sign out", "退出登录"),
    ("title_enroll", "Set up multi-factor authentication", "启用多因素认证"),
    ("enroll_intro", "Your roles can show customers' personal data, so they stay locked until you add a second factor. Scan the code with an authenticator app (or type the secret), then enter the six-digit code it shows.", "您的角色可以查看客户个人信息，启用第二重认证前这些角色不可用。请用身份验证器应用扫描二维码（或手动输入密钥），然后输入应用显示的六位验证码。"),
    ("secret", "Secret", "密钥"),
    ("recovery", "Recovery codes — each works once. Store them offline now; they are not shown again.", "恢复码——每个只能使用一次。请立即离线保存，之后不再显示。"),
    ("confirm", "Confirm", "确认"),
    ("title_account", "Your account", "我的账号"),
    ("roles", "Roles", "角色"),
    ("mfa", "Multi-factor authentication", "多因素认证"),
    ("enrolled", "enrolled", "已启用"),
    ("not_enrolled", "not enrolled — data roles are locked", "未启用——数据类角色已锁定"),
    ("training", "Training", "培训"),
    ("valid_until", "valid until", "有效期至"),
    ("expired", "expired", "已过期"),
    ("none", "none", "无"),
    ("csrf", "The form expired. Reload the page and try again.", "表单已失效，请刷新页面后重试。"),
    ("bad_code", "That code does not match. Check the authenticator's clock and enter the current code.", "验证码不正确。请检查验证器时间后输入当前验证码。"),
    ("lang_switch", "中文", "English"),
    ("busy", "Sign-in is busy. Wait a few seconds and try again.", "登录繁忙，请稍等几秒后重试。"),
    ("forgot", "Forgot your password?", "忘记密码？"),
    ("change_password", "Change your password", "修改密码"),
];

pub(crate) fn t(lang: Lang, key: &str) -> &'static str {
    TEXT.iter()
        .find(|x| x.0 == key)
        .map(|x| if lang == Lang::Zh { x.2 } else { x.1 })
        .unwrap_or("")
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// `?lang=` wins over `Accept-Language`.
#[derive(Debug, Deserialize, Default)]
pub struct LangQuery {
    pub(crate) lang: Option<String>,
}

pub(crate) fn lang_of(q: &LangQuery, h: &HeaderMap) -> Lang {
    match q.lang.as_deref() {
        Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        _ => Lang::from_headers(h),
    }
}

pub(crate) fn page(
    lang: Lang,
    title: &str,
    body: &str,
    signed_in: bool,
    csrf: Option<&str>,
    status: StatusCode,
) -> Response {
    let out = match (signed_in, csrf) {
        (true, Some(c)) => sign_out_form("/logout", c, t(lang, "sign_out")),
        _ => String::new(),
    };
    page_with(lang, title, body, &out, "", status)
}

/// A sign-out button posting `csrf` to `action`.
pub(crate) fn sign_out_form(action: &str, csrf: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" id=\"sign-out\">{}</button></form>",
        esc(csrf),
        esc(label)
    )
}

/// A complete page: header with the language switch and `nav`, the body in
/// `<main class="{class}">`, the page's content security policy.
pub(crate) fn page_with(lang: Lang, title: &str, body: &str, nav: &str, class: &str, status: StatusCode) -> Response {
    let other = if lang == Lang::Zh { "en" } else { "zh" };
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    };
    let html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} · Custodia</title><link rel=\"stylesheet\" href=\"/static/custodia.css\"></head><body><header><strong>Custodia</strong><nav><a href=\"?lang={other}\" id=\"lang\">{}</a> {nav}</nav></header><main{class}>{body}</main></body></html>",
        if lang == Lang::Zh { "zh-CN" } else { "en" },
        esc(title),
        t(lang, "lang_switch"),
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    r
}

pub(crate) fn cookie(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The session cookie's value, if sent.
pub fn session_cookie(h: &HeaderMap) -> Option<String> {
    cookie(h, SESSION_COOKIE)
}

pub(crate) fn set_cookie(r: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(crate) fn random_hex() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    custodia_core::audit::to_hex(&b)
}

/// The stylesheet.
pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

fn login_form(lang: Lang, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{}</h1>{err}<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"name\">{}</label><input type=\"text\" id=\"name\" name=\"name\" autocomplete=\"username\" required>\
         <label for=\"password\">{}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"code\">{}</label><input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\">\
         <p class=\"muted\">{}</p><button type=\"submit\" id=\"submit\">{}</button></form>\
         <p><a href=\"/password/forgot{}\" id=\"forgot\">{}</a></p>",
        t(lang, "title_login"),
        esc(csrf),
        t(lang, "name"),
        t(lang, "password"),
        t(lang, "code"),
        t(lang, "code_hint"),
        t(lang, "sign_in"),
        if lang == Lang::Zh { "?lang=zh" } else { "" },
        t(lang, "forgot"),
    );
    let mut r = page(lang, t(lang, "title_login"), &body, false, None, status);
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
    let key = custodia_vault::session::address_key(&client.to_string());
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

/// POST /login
pub async fn login_submit(
    State(s): State<AppState>,
    q: Query<LangQuery>,
    client: crate::extract::Client,
    h: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = lang_of(&q, &h);
    let fresh = random_hex();
    let Ok(Form(f)) = form else {
        return login_form(lang, &fresh, Some(t(lang, "csrf")), StatusCode::BAD_REQUEST);
    };
    if cookie(&h, CSRF_COOKIE).as_deref() != Some(f.csrf.as_str()) {
        return login_form(lang, &fresh, Some(t(lang, "csrf")), StatusCode::FORBIDDEN);
    }
    // Argon2id work is bounded: a flood of sign-ins waits here, on the
    // async side, and never fills the blocking pool.
    let Some(permit) = password_check_permit(&s, client.0).await else {
        let mut r = login_form(lang, &fresh, Some(t(lang, "busy")), StatusCode::SERVICE_UNAVAILABLE);
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
        _ => return login_form(lang, &fresh, Some("internal error"), StatusCode::INTERNAL_SERVER_ERROR),
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
                "/account"
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
            let msg = match (&e, lang) {
                (LoginError::Invalid, Lang::Zh) => "账号、密码或验证码错误".to_string(),
                (LoginError::Locked { minutes }, Lang::Zh) => {
                    format!("此账号在本地址的失败次数过多，请 {minutes} 分钟后再试，或使用曾登录过的浏览器")
                }
                (LoginError::CodeLocked { minutes }, Lang::Zh) => format!(
                    "验证码错误次数过多：此账号的第二因素已锁定 {minutes} 分钟，账号所有者已收到提醒；曾登录过的浏览器仍可使用"
                ),
                _ => e.to_string(),
            };
            let status = if matches!(e, LoginError::Invalid) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            login_form(lang, &fresh, Some(&msg), status)
        }
    }
}

pub(crate) fn session_of(s: &AppState, h: &HeaderMap) -> Option<(String, custodia_vault::session::Session)> {
    let token = cookie(h, SESSION_COOKIE)?;
    let sess = s.vault.session(&token).ok()??;
    Some((token, sess))
}

/// The staff principal of a session (what every page acts as).
pub(crate) fn principal_of(s: &AppState, token: &str) -> Option<custodia_vault::authz::Principal> {
    s.vault.staff_principal(token).ok()?.map(|(p, _)| p)
}

/// GET / : the sign-in page.
pub async fn root() -> Redirect {
    Redirect::to("/login")
}

/// Run a page handler that touches the store on the blocking pool (writes
/// wait for their commit, which must not happen on an async thread).
pub(crate) async fn blocking_page(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
}

/// GET /account
pub async fn account_page(State(s): State<AppState>, q: Query<LangQuery>, h: HeaderMap) -> Response {
    blocking_page(move || account_page_sync(s, q, h)).await
}

fn account_page_sync(s: AppState, q: Query<LangQuery>, h: HeaderMap) -> Response {
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
    let mfa = if a.mfa_enrolled {
        format!("<span class=\"ok\" id=\"mfa-state\">{}</span>", t(lang, "enrolled"))
    } else {
        format!(
            "<span class=\"error\" id=\"mfa-state\">{}</span> <a href=\"/mfa/enroll\">→</a>",
            t(lang, "not_enrolled")
        )
    };
    let roles = a
        .roles
        .iter()
        .map(|r| {
            let role = s.vault.policy().role(r);
            let name = role
                .map(|x| {
                    if lang == Lang::Zh {
                        x.name_zh.as_str()
                    } else {
                        x.name_en.as_str()
                    }
                })
                .unwrap_or(r);
            format!("{} (<code>{}</code>)", esc(name), esc(r))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let training = if a.trainings.is_empty() {
        t(lang, "none").to_owned()
    } else {
        a.trainings
            .iter()
            .map(|x| {
                format!(
                    "{} — {} {}",
                    esc(&x.course),
                    if x.valid {
                        t(lang, "valid_until")
                    } else {
                        t(lang, "expired")
                    },
                    esc(&x.expires)
                )
            })
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let body = format!(
        "<h1>{}</h1><dl><dt>{}</dt><dd id=\"account\">{}</dd><dt>{}</dt><dd>{roles}</dd><dt>{}</dt><dd>{mfa}</dd><dt>{}</dt><dd>{training}</dd></dl><p><a href=\"/account/password\" id=\"change-password\">{}</a></p>",
        t(lang, "title_account"),
        t(lang, "name"),
        esc(&a.name),
        t(lang, "roles"),
        t(lang, "mfa"),
        t(lang, "training"),
        t(lang, "change_password"),
    );
    page(
        lang,
        t(lang, "title_account"),
        &body,
        true,
        Some(&sess.csrf),
        StatusCode::OK,
    )
}

/// The QR code of an `otpauth://` URI as inline SVG (shown to the person
/// enrolling, never stored).
pub(crate) fn qr_svg(uri: &str) -> String {
    let svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|c| {
            c.render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .build()
        })
        .unwrap_or_default();
    svg.trim_start_matches("<?xml version=\"1.0\" standalone=\"yes\"?>")
        .to_owned()
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
    sess: &custodia_vault::session::Session,
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
    // After a wrong code, keep the secret the person already scanned.
    let e = match (error, s.vault.pending_mfa(&p, &sess.account)) {
        (Some(_), Ok(Some((uri, secret)))) => custodia_vault::identity::MfaEnrollment {
            otpauth_uri: uri,
            secret_base32: secret,
            recovery_codes: Vec::new(),
        },
        _ => match s.vault.start_mfa(&p, &sess.account) {
            Ok(e) => e,
            // Accounts with an address enroll through the link sent there.
            Err(e) => {
                let body = format!(
                    "<h1>{}</h1><p class=\"error\" id=\"error\">{}</p>",
                    t(lang, "title_enroll"),
                    esc(&crate::problem::Problem::from_vault(&e, lang).detail)
                );
                return page(
                    lang,
                    t(lang, "title_enroll"),
                    &body,
                    true,
                    Some(&sess.csrf),
                    StatusCode::FORBIDDEN,
                );
            }
        },
    };
    let qr = qr_svg(&e.otpauth_uri);
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let codes = e
        .recovery_codes
        .iter()
        .map(|c| format!("<li>{}</li>", esc(c)))
        .collect::<String>();
    let body = format!(
        "<h1>{}</h1>{err}<p>{}</p><div class=\"qr\" id=\"qr\">{qr}</div><p>{}: <span class=\"secret\" id=\"secret\">{}</span></p>\
         <p class=\"muted\">{}</p><ul class=\"codes\" id=\"recovery\">{codes}</ul>\
         <form method=\"post\" action=\"/mfa/enroll\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"code\">{}</label><input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>\
         <button type=\"submit\" id=\"confirm\">{}</button></form>",
        t(lang, "title_enroll"),
        t(lang, "enroll_intro"),
        t(lang, "secret"),
        esc(&e.secret_base32),
        t(lang, "recovery"),
        esc(&sess.csrf),
        t(lang, "code"),
        t(lang, "confirm"),
    );
    page(
        lang,
        t(lang, "title_enroll"),
        &body,
        true,
        Some(&sess.csrf),
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
    )
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
    blocking_page(move || enroll_submit_sync(s, q, h, form)).await
}

fn enroll_submit_sync(
    s: AppState,
    q: Query<LangQuery>,
    h: HeaderMap,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = lang_of(&q, &h);
    let Some((token, sess)) = session_of(&s, &h) else {
        return Redirect::to("/login").into_response();
    };
    let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
        return (StatusCode::FORBIDDEN, t(lang, "csrf")).into_response();
    };
    let Some(p) = principal_of(&s, &token) else {
        return Redirect::to("/login").into_response();
    };
    match s.vault.confirm_mfa(&p, &sess.account, &f.code) {
        Ok(()) => {
            let _ = s.vault.session_mfa_done(&token);
            Redirect::to("/account").into_response()
        }
        Err(_) => enroll_form(&s, lang, &token, &sess, Some(t(lang, "bad_code"))),
    }
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
    blocking_page(move || logout_sync(s, h, form)).await
}

fn logout_sync(
    s: AppState,
    h: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
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
}
