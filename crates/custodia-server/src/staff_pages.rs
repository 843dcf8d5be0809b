//! Staff pages around sign-in: "forgot password", the page a one-time link
//! opens (choose a password, enroll an authenticator), and changing one's
//! own password. Each calls the vault's operation for it; forms carry an
//! anti-CSRF token (double-submit cookie before sign-in, the session's
//! token after). The link's secret arrives in the link's query string,
//! then travels only in the forms' bodies.

use crate::extract::Client;
use crate::problem::{Lang, Problem};
use crate::web::{
    blocking_page, cookie, esc, lang_of, page, password_check_permit, principal_of, random_hex, session_of, set_cookie,
    LangQuery,
};
use crate::AppState;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_vault::staff::{LinkInfo, LinkStep};
use serde::Deserialize;
use zeroize::Zeroizing;

const FORM_COOKIE: &str = "custodia_form";

/// (key, English, Chinese)
const TEXT: &[(&str, &str, &str)] = &[
    ("title_forgot", "Forgot your password", "忘记密码"),
    ("forgot_intro", "Give your account name. If the account has an e-mail address on file, a link to choose a new password goes there; it works once, for an hour.", "请输入账号。如果该账号登记了邮箱，我们会向该邮箱发送重设密码的链接，链接仅可使用一次，一小时内有效。"),
    ("forgot_sent", "If that account exists and has an e-mail address on file, a link is on its way. Check your mailbox.", "如果该账号存在并登记了邮箱，链接已发出，请查收邮件。"),
    ("send", "Send the link", "发送链接"),
    ("title_link", "Your Custodia account", "您的 Custodia 账号"),
    ("link_setup", "Choose your password. Then add your authenticator if your roles need one.", "请设置密码；如果您的角色需要，随后绑定身份验证器。"),
    ("link_password", "Choose a new password.", "请设置新密码。"),
    ("link_mfa", "Type your password, then add your authenticator again.", "请输入密码，然后重新绑定身份验证器。"),
    ("account", "Account", "账号"),
    ("current_password", "Current password", "当前密码"),
    ("new_password", "New password (at least 12 characters)", "新密码（至少 12 个字符）"),
    ("again", "New password again", "再次输入新密码"),
    ("code", "Authenticator code or recovery code", "动态验证码或恢复码"),
    ("continue", "Continue", "继续"),
    ("differ", "The two new passwords differ.", "两次输入的新密码不一致。"),
    ("done", "Done. Sign in with your new password.", "已完成，请使用新密码登录。"),
    ("sign_in", "Sign in", "登录"),
    ("enroll_intro", "Scan the code with an authenticator app (or type the secret), then enter the six-digit code it shows.", "请用身份验证器应用扫描二维码（或手动输入密钥），然后输入应用显示的六位验证码。"),
    ("secret", "Secret", "密钥"),
    ("confirm", "Confirm", "确认"),
    ("recovery", "Your authenticator is set. Recovery codes — each works once; store them offline now, they are not shown again:", "身份验证器已绑定。以下为恢复码，每个只能使用一次，请立即离线保存，之后不再显示："),
    ("title_password", "Change your password", "修改密码"),
    ("changed", "Your password was changed; your other sessions were signed out.", "密码已修改，其他会话均已退出。"),
    ("form_expired", "The form expired. Reload the page and try again.", "表单已失效，请刷新页面后重试。"),
    ("busy", "Sign-in is busy. Wait a few seconds and try again.", "登录繁忙，请稍等几秒后重试。"),
];

fn t(lang: Lang, key: &str) -> &'static str {
    TEXT.iter()
        .find(|x| x.0 == key)
        .map(|x| if lang == Lang::Zh { x.2 } else { x.1 })
        .unwrap_or_else(|| panic!("no text {key:?}"))
}

fn error_p(e: Option<&str>) -> String {
    e.map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default()
}

/// A page before sign-in, with a fresh double-submit token.
fn open_page(lang: Lang, title: &str, body: &str, csrf: &str, status: StatusCode) -> Response {
    let mut r = page(lang, title, body, false, None, status);
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

fn forgot_form(lang: Lang, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = format!(
        "<h1>{}</h1>{}<p>{}</p><form method=\"post\" action=\"/password/forgot\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"name\">{}</label><input type=\"text\" id=\"name\" name=\"name\" autocomplete=\"username\" required>\
         <button type=\"submit\" id=\"submit\">{}</button></form>",
        t(lang, "title_forgot"),
        error_p(error),
        t(lang, "forgot_intro"),
        esc(csrf),
        t(lang, "account"),
        t(lang, "send"),
    );
    open_page(lang, t(lang, "title_forgot"), &body, csrf, status)
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
    let Some(Form(f)) = form.ok().filter(|f| form_ok(&h, &f.csrf)) else {
        return forgot_form(
            lang,
            &random_hex(),
            Some(t(lang, "form_expired")),
            StatusCode::FORBIDDEN,
        );
    };
    let ip = client.0.to_string();
    let vault = s.vault.clone();
    // Not awaited: the answer must not take longer when a mail goes out
    // (that would tell which accounts exist).
    drop(tokio::task::spawn_blocking(move || vault.forgot_password(&f.name, &ip)));
    let body = format!(
        "<h1>{}</h1><p id=\"sent\">{}</p><p><a href=\"/login\">{}</a></p>",
        t(lang, "title_forgot"),
        t(lang, "forgot_sent"),
        t(lang, "sign_in")
    );
    page(lang, t(lang, "title_forgot"), &body, false, None, StatusCode::ACCEPTED)
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

fn link_form(
    lang: Lang,
    secret: &str,
    info: &LinkInfo,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let intro = match info.kind {
        custodia_vault::staff::LinkKind::Setup => t(lang, "link_setup"),
        custodia_vault::staff::LinkKind::Password => t(lang, "link_password"),
        custodia_vault::staff::LinkKind::Mfa => t(lang, "link_mfa"),
    };
    let mut fields = String::new();
    if info.asks_current_password {
        fields.push_str(&format!(
            "<label for=\"current\">{}</label><input type=\"password\" id=\"current\" name=\"current\" autocomplete=\"current-password\" required>",
            t(lang, "current_password")
        ));
    }
    if info.asks_new_password {
        fields.push_str(&format!(
            "<label for=\"new\">{}</label><input type=\"password\" id=\"new\" name=\"new\" autocomplete=\"new-password\" minlength=\"12\" required>\
             <label for=\"again\">{}</label><input type=\"password\" id=\"again\" name=\"again\" autocomplete=\"new-password\" required>",
            t(lang, "new_password"),
            t(lang, "again")
        ));
    }
    if info.asks_code {
        fields.push_str(&format!(
            "<label for=\"code\">{}</label><input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>",
            t(lang, "code")
        ));
    }
    let body = format!(
        "<h1>{}</h1>{}<p>{intro}</p><p>{}: <strong id=\"account\">{}</strong></p>\
         <form method=\"post\" action=\"/account/link\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"t\" value=\"{}\">\
         {fields}<button type=\"submit\" id=\"submit\">{}</button></form>",
        t(lang, "title_link"),
        error_p(error),
        t(lang, "account"),
        esc(&info.account),
        esc(csrf),
        esc(secret),
        t(lang, "continue"),
    );
    open_page(lang, t(lang, "title_link"), &body, csrf, status)
}

fn link_refused(lang: Lang, e: &custodia_vault::VaultError) -> Response {
    let body = format!(
        "<h1>{}</h1>{}<p><a href=\"/password/forgot\">{}</a></p>",
        t(lang, "title_link"),
        error_p(Some(&vault_message(e, lang))),
        t(lang, "title_forgot")
    );
    page(lang, t(lang, "title_link"), &body, false, None, StatusCode::FORBIDDEN)
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

/// The form that confirms an enrollment with the authenticator's code.
fn code_form(lang: Lang, secret: &str, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/account/link/mfa\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"t\" value=\"{}\">\
         <label for=\"code\">{}</label><input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>\
         <button type=\"submit\" id=\"confirm\">{}</button></form>",
        esc(csrf),
        esc(secret),
        t(lang, "code"),
        t(lang, "confirm"),
    )
}

fn enroll_page(lang: Lang, secret: &str, uri: &str, base32: &str, csrf: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p>{}</p><div class=\"qr\" id=\"qr\">{}</div><p>{}: <span class=\"secret\" id=\"secret\">{}</span></p>{}",
        t(lang, "title_link"),
        t(lang, "enroll_intro"),
        crate::web::qr_svg(uri),
        t(lang, "secret"),
        esc(base32),
        code_form(lang, secret, csrf),
    );
    open_page(lang, t(lang, "title_link"), &body, csrf, StatusCode::OK)
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
    let Some(Form(f)) = form.ok().filter(|f| form_ok(&h, &f.csrf)) else {
        let body = format!(
            "<h1>{}</h1>{}",
            t(lang, "title_link"),
            error_p(Some(t(lang, "form_expired")))
        );
        return page(lang, t(lang, "title_link"), &body, false, None, StatusCode::FORBIDDEN);
    };
    let Some(permit) = password_check_permit(&s, client.0).await else {
        let body = format!("<h1>{}</h1>{}", t(lang, "title_link"), error_p(Some(t(lang, "busy"))));
        return page(
            lang,
            t(lang, "title_link"),
            &body,
            false,
            None,
            StatusCode::SERVICE_UNAVAILABLE,
        );
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
                Some(t(lang, "differ")),
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
                let body = format!(
                    "<h1>{}</h1><p class=\"ok\" id=\"done\">{}</p><p><a href=\"/login\" id=\"sign-in\">{}</a></p>",
                    t(lang, "title_link"),
                    t(lang, "done"),
                    t(lang, "sign_in")
                );
                page(lang, t(lang, "title_link"), &body, false, None, StatusCode::OK)
            }
            Ok(LinkStep::Enroll {
                otpauth_uri,
                secret_base32,
            }) => enroll_page(lang, &f.t, &otpauth_uri, &secret_base32, &random_hex()),
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

/// POST /account/link/mfa
pub async fn link_mfa_submit(
    State(s): State<AppState>,
    Query(q): Query<LinkQuery>,
    client: Client,
    h: HeaderMap,
    form: Result<Form<LinkMfaForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = link_lang(&q, &h);
    let Some(Form(f)) = form.ok().filter(|f| form_ok(&h, &f.csrf)) else {
        let body = format!(
            "<h1>{}</h1>{}",
            t(lang, "title_link"),
            error_p(Some(t(lang, "form_expired")))
        );
        return page(lang, t(lang, "title_link"), &body, false, None, StatusCode::FORBIDDEN);
    };
    let ip = client.0.to_string();
    blocking_page(move || match s.vault.link_confirm_mfa(&f.t, &f.code, &ip) {
        Ok(codes) => {
            let list: String = codes.iter().map(|c| format!("<li>{}</li>", esc(c))).collect();
            let body = format!(
                "<h1>{}</h1><p class=\"ok\">{}</p><ul class=\"codes\" id=\"recovery\">{list}</ul><p><a href=\"/login\" id=\"sign-in\">{}</a></p>",
                t(lang, "title_link"),
                t(lang, "recovery"),
                t(lang, "sign_in")
            );
            page(lang, t(lang, "title_link"), &body, false, None, StatusCode::OK)
        }
        Err(e) => {
            let csrf = random_hex();
            let body = format!(
                "<h1>{}</h1>{}{}",
                t(lang, "title_link"),
                error_p(Some(&vault_message(&e, lang))),
                code_form(lang, &f.t, &csrf)
            );
            open_page(lang, t(lang, "title_link"), &body, &csrf, StatusCode::UNPROCESSABLE_ENTITY)
        }
    })
    .await
}

fn password_form(lang: Lang, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = format!(
        "<h1>{}</h1>{}<form method=\"post\" action=\"/account/password\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"current\">{}</label><input type=\"password\" id=\"current\" name=\"current\" autocomplete=\"current-password\" required>\
         <label for=\"new\">{}</label><input type=\"password\" id=\"new\" name=\"new\" autocomplete=\"new-password\" minlength=\"12\" required>\
         <label for=\"again\">{}</label><input type=\"password\" id=\"again\" name=\"again\" autocomplete=\"new-password\" required>\
         <button type=\"submit\" id=\"submit\">{}</button></form>",
        t(lang, "title_password"),
        error_p(error),
        esc(csrf),
        t(lang, "current_password"),
        t(lang, "new_password"),
        t(lang, "again"),
        t(lang, "continue"),
    );
    page(lang, t(lang, "title_password"), &body, true, Some(csrf), status)
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
    let Some(permit) = password_check_permit(&s, client.0).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, t(lang, "busy")).into_response();
    };
    let r = blocking_page(move || {
        let Some((token, sess)) = session_of(&s, &h) else {
            return Redirect::to("/login").into_response();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == sess.csrf) else {
            return password_form(lang, &sess.csrf, Some(t(lang, "form_expired")), StatusCode::FORBIDDEN);
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
                Some(t(lang, "differ")),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        let Some(p) = principal_of(&s, &token) else {
            return Redirect::to("/login").into_response();
        };
        match s.vault.change_password(&p, &current, &new, Some(&token)) {
            Ok(()) => {
                let body = format!(
                    "<h1>{}</h1><p class=\"ok\" id=\"done\">{}</p><p><a href=\"/account\">←</a></p>",
                    t(lang, "title_password"),
                    t(lang, "changed")
                );
                page(
                    lang,
                    t(lang, "title_password"),
                    &body,
                    true,
                    Some(&sess.csrf),
                    StatusCode::OK,
                )
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

#[cfg(test)]
mod tests {
    use super::TEXT;

    #[test]
    fn every_text_has_both_languages() {
        for (k, en, zh) in TEXT {
            assert!(!en.trim().is_empty() && !zh.trim().is_empty(), "{k}");
        }
    }
}
