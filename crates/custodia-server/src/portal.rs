//! The customers' privacy portal: enter with a single-use code, read the
//! notice and what changed, give or withdraw each consent, download one's
//! data, ask for correction or deletion. Chinese and English, no scripts,
//! a short session in an HttpOnly + Secure + SameSite=Strict cookie scoped
//! to `/portal`, every form with the session's anti-CSRF token.

use crate::problem::Lang;
use crate::web::{blocking_page, cookie, esc, lang_of, page_with, random_hex, set_cookie, sign_out_form, LangQuery};
use crate::AppState;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_core::consent::{ConsentKind, ConsentState};
use custodia_core::notice::{Change, Language, RecipientRole};
use custodia_core::rights::RequestKind;
use custodia_vault::portal::{PortalContext, PortalRefusal, PORTAL_SESSION_MS};
use serde::Deserialize;

const COOKIE: &str = "custodia_portal";
const ENTRY_CSRF: &str = "custodia_portal_entry";

/// (key, English, Chinese)
const TEXT: &[(&str, &str, &str)] = &[
    ("title_enter", "Your privacy portal", "个人信息隐私门户"),
    ("enter_intro", "Enter the code we sent you. It works once and expires.", "请输入我们发送给您的访问码。访问码仅可使用一次，并有有效期。"),
    ("code", "Access code", "访问码"),
    ("enter", "Open my portal", "进入门户"),
    ("bad_code", "That code is not valid, was used already or has expired. Ask us for a new one.", "访问码无效、已被使用或已过期，请向我们索取新的访问码。"),
    ("locked", "Too many wrong codes from this connection. Try again later.", "该网络连接输错访问码次数过多，请稍后再试。"),
    ("form_expired", "The form expired. Reload the page and try again.", "表单已失效，请刷新页面后重试。"),
    ("title", "Your privacy", "您的个人信息与隐私"),
    ("notice", "Privacy notice", "个人信息保护政策"),
    ("version", "version", "版本"),
    ("effective", "effective", "生效日期"),
    ("purpose", "Purpose", "处理目的"),
    ("basis", "Legal basis", "法律依据"),
    ("info", "Information used", "处理的个人信息"),
    ("kept", "Kept", "保存期限"),
    ("shared", "Shared with / sent abroad", "对外提供 / 出境"),
    ("none", "none", "无"),
    ("changes", "What changed since the version you accepted", "自您接受的版本以来的变更"),
    ("changes_from", "You accepted version", "您接受的版本为"),
    ("needs_consent", "needs your consent again", "需要您重新同意"),
    ("consents", "Your consents", "您的同意"),
    ("consents_intro", "Each purpose below rests on your consent. You can give or withdraw each one separately; withdrawing is as easy as giving and takes effect at once.", "以下各项处理目的以您的同意为依据。您可以逐项给予或撤回同意；撤回与给予同样便捷，并立即生效。"),
    ("state_active", "given", "已同意"),
    ("state_never_given", "not given", "未同意"),
    ("state_withdrawn", "withdrawn", "已撤回"),
    ("state_renewal_needed", "needs renewal — the notice changed", "需重新同意——政策已变更"),
    ("state_kind_missing", "needs a new consent", "需重新作出同意"),
    ("give", "I consent", "我同意"),
    ("withdraw", "Withdraw consent", "撤回同意"),
    ("guardian", "I am the parent or legal guardian and give this consent", "我是其父母或法定监护人，并代为作出同意"),
    ("guardian_note", "This customer is under the age of consent: a parent or guardian must answer.", "该用户未满法定同意年龄，须由父母或其他监护人作出同意。"),
    ("separate_note", "This is a separate consent (sensitive information, sharing or transfer abroad).", "此为单独同意（涉及敏感个人信息、对外提供或向境外提供）。"),
    ("saved", "Saved.", "已保存。"),
    ("data", "Your data", "您的数据"),
    ("data_intro", "Download everything we hold about you: your information, your consents with signed receipts, and your requests.", "下载我们持有的关于您的全部信息：个人信息、附签名凭证的同意记录以及您的请求。"),
    ("download", "Download my data (JSON)", "下载我的数据（JSON）"),
    ("requests", "Your rights", "您的权利"),
    ("requests_intro", "Ask to see, take away, correct or delete your information, to restrict or object to its use, or to withdraw every consent. We answer within the time the law sets.", "您可以请求查阅、转移、更正或删除您的信息，限制或拒绝对其处理，或撤回全部同意。我们将在法定期限内答复。"),
    ("kind", "Request", "请求类型"),
    ("note", "Details (for a correction: what is wrong and what it should be)", "详细说明（更正时请写明哪些信息有误、应如何更正）"),
    ("send", "Send request", "提交请求"),
    ("your_requests", "Your requests", "您的请求"),
    ("status_received", "received", "已受理"),
    ("status_verified", "received, identity confirmed", "已受理，身份已核验"),
    ("status_in_progress", "in progress", "处理中"),
    ("status_extended", "extended", "已延期"),
    ("status_completed", "done", "已完成"),
    ("status_denied", "refused", "已拒绝"),
    ("sign_out", "Sign out", "退出"),
    ("error", "That could not be done", "操作未完成"),
];

fn t(lang: Lang, key: &str) -> &'static str {
    TEXT.iter()
        .find(|x| x.0 == key)
        .map(|x| if lang == Lang::Zh { x.2 } else { x.1 })
        .unwrap_or("")
}

fn language(lang: Lang) -> Language {
    if lang == Lang::Zh {
        Language::Zh
    } else {
        Language::En
    }
}

fn q(lang: Lang) -> &'static str {
    if lang == Lang::Zh {
        "?lang=zh"
    } else {
        "?lang=en"
    }
}

fn portal_page(lang: Lang, title: &str, body: &str, csrf: Option<&str>, status: StatusCode) -> Response {
    let nav = csrf
        .map(|c| sign_out_form(&format!("/portal/logout{}", q(lang)), c, t(lang, "sign_out")))
        .unwrap_or_default();
    page_with(lang, title, body, &nav, "wide", status)
}

fn entry_form(lang: Lang, code: &str, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{}</h1>{err}<p>{}</p><form method=\"post\" action=\"/portal/enter{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"code\">{}</label><input type=\"text\" id=\"code\" name=\"code\" value=\"{}\" autocomplete=\"off\" required>\
         <button type=\"submit\" id=\"enter\">{}</button></form>",
        t(lang, "title_enter"),
        t(lang, "enter_intro"),
        q(lang),
        esc(csrf),
        t(lang, "code"),
        esc(code),
        t(lang, "enter"),
    );
    let mut r = portal_page(lang, t(lang, "title_enter"), &body, None, status);
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
    match q.lang.as_deref() {
        Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        _ => Lang::from_headers(h),
    }
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
        return entry_form(lang, "", &fresh, Some(t(lang, "form_expired")), StatusCode::BAD_REQUEST);
    };
    if cookie(&h, ENTRY_CSRF).as_deref() != Some(f.csrf.as_str()) {
        return entry_form(lang, "", &fresh, Some(t(lang, "form_expired")), StatusCode::FORBIDDEN);
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
        Ok(Ok(Err(PortalRefusal::Invalid))) => {
            entry_form(lang, "", &fresh, Some(t(lang, "bad_code")), StatusCode::UNAUTHORIZED)
        }
        Ok(Ok(Err(PortalRefusal::Locked { .. }))) => {
            entry_form(lang, "", &fresh, Some(t(lang, "locked")), StatusCode::TOO_MANY_REQUESTS)
        }
        _ => entry_form(
            lang,
            "",
            &fresh,
            Some(t(lang, "error")),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    }
}

fn context(s: &AppState, h: &HeaderMap) -> Option<(String, PortalContext)> {
    let token = cookie(h, COOKIE)?;
    let ctx = s.vault.portal_session(&token).ok()??;
    Some((token, ctx))
}

fn change_text(c: &Change, lang: Lang, s: &AppState) -> String {
    let purpose = |p: &custodia_core::Purpose| {
        s.vault
            .schema()
            .purpose(p.as_str())
            .map(|d| {
                if lang == Lang::Zh {
                    d.name_zh.clone()
                } else {
                    d.name_en.clone()
                }
            })
            .unwrap_or_else(|| p.to_string())
    };
    let field = |f: &custodia_core::FieldName| {
        s.vault
            .schema()
            .field(f.as_str())
            .map(|d| {
                if lang == Lang::Zh {
                    d.label_zh.clone()
                } else {
                    d.label_en.clone()
                }
            })
            .unwrap_or_else(|| f.to_string())
    };
    let zh = lang == Lang::Zh;
    match c {
        Change::PurposeAdded { purpose: p } => {
            if zh {
                format!("新增处理目的：{}", purpose(p))
            } else {
                format!("New purpose: {}", purpose(p))
            }
        }
        Change::PurposeRemoved { purpose: p } => {
            if zh {
                format!("不再进行的处理目的：{}", purpose(p))
            } else {
                format!("Purpose no longer pursued: {}", purpose(p))
            }
        }
        Change::BasisChanged { purpose: p } => {
            if zh {
                format!("{}的法律依据已变更", purpose(p))
            } else {
                format!("{}: the legal basis changed", purpose(p))
            }
        }
        Change::FieldAdded { purpose: p, field: f } => {
            if zh {
                format!("{}新增处理：{}", purpose(p), field(f))
            } else {
                format!("{} now also uses: {}", purpose(p), field(f))
            }
        }
        Change::FieldRemoved { purpose: p, field: f } => {
            if zh {
                format!("{}不再处理：{}", purpose(p), field(f))
            } else {
                format!("{} no longer uses: {}", purpose(p), field(f))
            }
        }
        Change::RecipientAdded {
            purpose: p,
            recipient: r,
        } => {
            if zh {
                format!("{}新增接收方：{r}", purpose(p))
            } else {
                format!("{}: new recipient {r}", purpose(p))
            }
        }
        Change::RecipientRemoved {
            purpose: p,
            recipient: r,
        } => {
            if zh {
                format!("{}不再提供给：{r}", purpose(p))
            } else {
                format!("{}: no longer shared with {r}", purpose(p))
            }
        }
        Change::TransferAdded { purpose: p, country: x } => {
            if zh {
                format!("{}新增向境外（{x}）提供", purpose(p))
            } else {
                format!("{}: now sent abroad to {x}", purpose(p))
            }
        }
        Change::TransferRemoved { purpose: p, country: x } => {
            if zh {
                format!("{}不再向境外（{x}）提供", purpose(p))
            } else {
                format!("{}: no longer sent to {x}", purpose(p))
            }
        }
        Change::RetentionLonger { purpose: p } => {
            if zh {
                format!("{}的保存期限延长", purpose(p))
            } else {
                format!("{}: kept longer", purpose(p))
            }
        }
        Change::RetentionShorter { purpose: p } => {
            if zh {
                format!("{}的保存期限缩短", purpose(p))
            } else {
                format!("{}: kept for less time", purpose(p))
            }
        }
        Change::PublicDisclosureAdded { purpose: p } => {
            if zh {
                format!("{}将公开相关信息", purpose(p))
            } else {
                format!("{}: information is now made public", purpose(p))
            }
        }
        Change::TextChanged => {
            if zh {
                "政策文字有修改".into()
            } else {
                "The wording changed".into()
            }
        }
    }
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
        let lang = match qy.lang.as_deref() {
            Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            _ => Lang::from_headers(&h),
        };
        let Some((_, ctx)) = context(&s, &h) else {
            return Redirect::to(&format!("/portal/enter{}", q(lang))).into_response();
        };
        match s.vault.portal_view(&ctx.principal(), language(lang)) {
            Ok(view) => render_main(&s, lang, &ctx, &view, &qy),
            Err(e) => portal_page(
                lang,
                t(lang, "title"),
                &format!("<p class=\"error\">{}: {}</p>", t(lang, "error"), esc(&e.to_string())),
                Some(ctx.csrf()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        }
    })
    .await
}

fn render_main(
    s: &AppState,
    lang: Lang,
    ctx: &PortalContext,
    view: &custodia_vault::portal::PortalView,
    qy: &MainQuery,
) -> Response {
    let zh = lang == Lang::Zh;
    let l = language(lang);
    let n = &view.notice;
    let schema = s.vault.schema();
    let label = |f: &custodia_core::FieldName| {
        schema
            .field(f.as_str())
            .map(|d| if zh { d.label_zh.clone() } else { d.label_en.clone() })
            .unwrap_or_else(|| f.to_string())
    };
    let pname = |p: &custodia_core::Purpose| {
        schema
            .purpose(p.as_str())
            .map(|d| if zh { d.name_zh.clone() } else { d.name_en.clone() })
            .unwrap_or_else(|| p.to_string())
    };
    let mut b = String::new();
    b.push_str(&format!("<h1>{}</h1>", t(lang, "title")));
    if let Some(done) = &qy.done {
        b.push_str(&format!(
            "<p class=\"ok\" id=\"done\" data-done=\"{}\">{}</p>",
            esc(done),
            t(lang, "saved")
        ));
    }
    if let Some(err) = &qy.error {
        b.push_str(&format!(
            "<p class=\"error\" id=\"error\">{}: {}</p>",
            t(lang, "error"),
            esc(&err.chars().take(300).collect::<String>())
        ));
    }
    // The notice.
    b.push_str(&format!(
        "<section id=\"notice\"><h2>{} <span class=\"muted\" id=\"notice-version\">{} {} · {} {}</span></h2><h3>{}</h3><p>{}</p>",
        t(lang, "notice"),
        t(lang, "version"),
        n.version,
        t(lang, "effective"),
        esc(&n.effective),
        esc(if zh { &n.title_zh } else { &n.title_en }),
        esc(if zh { n.body_zh.trim() } else { n.body_en.trim() }),
    ));
    b.push_str(&format!(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(lang, "purpose"),
        t(lang, "basis"),
        t(lang, "info"),
        t(lang, "kept"),
        t(lang, "shared")
    ));
    for p in &n.purposes {
        let mut shared: Vec<String> = p
            .recipients
            .iter()
            .map(|r| {
                let role = match (r.role, zh) {
                    (RecipientRole::Processor, false) => "processor",
                    (RecipientRole::Processor, true) => "受托处理者",
                    (RecipientRole::Controller, false) => "another controller",
                    (RecipientRole::Controller, true) => "其他个人信息处理者",
                };
                format!("{} ({role})", esc(&r.name))
            })
            .collect();
        shared.extend(
            p.transfers
                .iter()
                .map(|x| format!("{} → {} ({})", esc(&x.recipient), esc(&x.country), esc(&x.mechanism))),
        );
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&pname(&p.id)),
            esc(p.basis.describe(l)),
            esc(&p
                .fields
                .iter()
                .map(label)
                .collect::<Vec<_>>()
                .join(if zh { "、" } else { ", " })),
            esc(&p.retention.describe(l)),
            if shared.is_empty() {
                t(lang, "none").to_owned()
            } else {
                shared.join("<br>")
            }
        ));
    }
    b.push_str("</tbody></table></section>");
    // What changed.
    if !view.changes_since.is_empty() {
        b.push_str(&format!(
            "<section id=\"changes\"><h2>{}</h2><p class=\"muted\">{} {}</p><ul>",
            t(lang, "changes"),
            t(lang, "changes_from"),
            view.accepted_version.unwrap_or(0)
        ));
        for c in &view.changes_since {
            let mark = if c.material()
                && c.purpose()
                    .is_some_and(|p| n.purpose(p.as_str()).is_some_and(|x| x.basis.needs_consent()))
            {
                format!(" <strong>— {}</strong>", t(lang, "needs_consent"))
            } else {
                String::new()
            };
            b.push_str(&format!("<li>{}{mark}</li>", esc(&change_text(c, lang, s))));
        }
        b.push_str("</ul></section>");
    }
    // Consents.
    b.push_str(&format!(
        "<section id=\"consents\"><h2>{}</h2><p>{}</p>",
        t(lang, "consents"),
        t(lang, "consents_intro")
    ));
    for pc in view.consents.purposes.iter().filter(|p| p.basis.needs_consent()) {
        let id = pc.purpose.as_str();
        let state_key = format!("state_{}", pc.state.code());
        let active = pc.state == ConsentState::Active;
        let guardian = pc.required.contains(&ConsentKind::Guardian);
        let text = view
            .texts
            .get(&pc.purpose)
            .map(|lines| lines.iter().map(|x| format!("<p>{}</p>", esc(x))).collect::<String>())
            .unwrap_or_default();
        let notes = format!(
            "{}{}",
            if pc.required.contains(&ConsentKind::Separate) {
                format!("<p class=\"muted\">{}</p>", t(lang, "separate_note"))
            } else {
                String::new()
            },
            if guardian {
                format!("<p class=\"muted\">{}</p>", t(lang, "guardian_note"))
            } else {
                String::new()
            }
        );
        let guardian_box = if guardian && !active {
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"guardian\" value=\"yes\" id=\"guardian-{id}\" required> {}</label>",
                t(lang, "guardian")
            )
        } else {
            String::new()
        };
        b.push_str(&format!(
            "<div class=\"consent\" id=\"consent-{id}\"><h3>{} <span class=\"state {}\" id=\"state-{id}\">{}</span></h3>\
             <div class=\"consent-text\" id=\"text-{id}\">{text}</div>{notes}\
             <form method=\"post\" action=\"/portal/consent{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"purpose\" value=\"{id}\"><input type=\"hidden\" name=\"action\" value=\"{}\">{guardian_box}\
             <button type=\"submit\" id=\"toggle-{id}\" class=\"{}\">{}</button></form></div>",
            esc(&pname(&pc.purpose)),
            if active { "ok" } else { "off" },
            t(lang, &state_key),
            q(lang),
            esc(ctx.csrf()),
            if active { "withdraw" } else { "give" },
            if active { "secondary" } else { "" },
            t(lang, if active { "withdraw" } else { "give" }),
        ));
    }
    b.push_str("</section>");
    // Data download.
    b.push_str(&format!(
        "<section id=\"data\"><h2>{}</h2><p>{}</p><p><a href=\"/portal/data.json\" id=\"download\" download>{}</a></p></section>",
        t(lang, "data"),
        t(lang, "data_intro"),
        t(lang, "download")
    ));
    // Requests.
    let options: String = RequestKind::ALL
        .iter()
        .map(|k| {
            format!(
                "<option value=\"{}\">{}</option>",
                k.as_str(),
                if zh { k.name_zh() } else { k.name_en() }
            )
        })
        .collect();
    b.push_str(&format!(
        "<section id=\"requests\"><h2>{}</h2><p>{}</p><form method=\"post\" action=\"/portal/request{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"kind\">{}</label><select id=\"kind\" name=\"kind\">{options}</select>\
         <label for=\"note\">{}</label><textarea id=\"note\" name=\"note\" rows=\"3\" maxlength=\"2000\"></textarea>\
         <button type=\"submit\" id=\"send-request\">{}</button></form>",
        t(lang, "requests"),
        t(lang, "requests_intro"),
        q(lang),
        esc(ctx.csrf()),
        t(lang, "kind"),
        t(lang, "note"),
        t(lang, "send"),
    ));
    if !view.requests.is_empty() {
        b.push_str(&format!(
            "<h3>{}</h3><ul id=\"request-list\">",
            t(lang, "your_requests")
        ));
        for r in &view.requests {
            let kind = RequestKind::parse(&r.kind)
                .map(|k| if zh { k.name_zh() } else { k.name_en() })
                .unwrap_or("");
            let status = match t(lang, &format!("status_{}", r.status)) {
                "" => r.status.clone(),
                s => s.to_owned(),
            };
            b.push_str(&format!(
                "<li><code>{}</code> {} — {} ({})</li>",
                esc(&r.id),
                esc(if kind.is_empty() { &r.kind } else { kind }),
                esc(&status),
                esc(&r.received_at)
            ));
        }
        b.push_str("</ul>");
    }
    b.push_str("</section>");
    portal_page(lang, t(lang, "title"), &b, Some(ctx.csrf()), StatusCode::OK)
}

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
        let Some((_, ctx)) = context(&s, &h) else {
            return Redirect::to(&format!("/portal/enter{}", q(lang))).into_response();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == ctx.csrf()) else {
            return (StatusCode::FORBIDDEN, t(lang, "form_expired")).into_response();
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
            language(lang),
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
        let Some((_, ctx)) = context(&s, &h) else {
            return Redirect::to(&format!("/portal/enter{}", q(lang))).into_response();
        };
        let Some(Form(f)) = form.ok().filter(|f| f.csrf == ctx.csrf()) else {
            return (StatusCode::FORBIDDEN, t(lang, "form_expired")).into_response();
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
        let Some((token, ctx)) = context(&s, &h) else {
            return Redirect::to(&format!("/portal/enter{}", q(lang))).into_response();
        };
        if form.ok().map(|Form(f)| f.csrf) != Some(ctx.csrf().to_owned()) {
            return (StatusCode::FORBIDDEN, t(lang, "form_expired")).into_response();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_both_languages() {
        let mut keys = std::collections::BTreeSet::new();
        for (k, en, zh) in TEXT {
            assert!(keys.insert(k), "{k} twice");
            assert!(!en.is_empty(), "{k}");
            assert!(zh.chars().any(|c| c as u32 > 0x3000), "{k} has no Chinese");
        }
        for code in ["active", "never_given", "withdrawn", "renewal_needed", "kind_missing"] {
            assert!(!t(Lang::En, &format!("state_{code}")).is_empty(), "{code}");
        }
    }
}
