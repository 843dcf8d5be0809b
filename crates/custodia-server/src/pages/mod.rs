//! The pages people read: staff sign-in and account pages, the customers'
//! privacy portal and the reports. Server-rendered with askama templates
//! (`templates/`, HTML-escaped unless marked otherwise), texts from one
//! catalog per language ([`i18n`]), no scripts, a strict content security
//! policy, every form with an anti-CSRF token. Each page calls the same
//! caller-bound vault operation as its API twin.

pub mod console;
pub mod desk;
pub mod i18n;
pub mod links;
pub mod portal;
pub mod reports;
pub mod staff;

pub use crate::problem::Lang;
use crate::AppState;
use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use i18n::Text;
use serde::Deserialize;
use std::net::SocketAddr;

/// The client address of a connection (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

pub(crate) const SESSION_COOKIE: &str = "custodia_session";
pub(crate) const CSRF_COOKIE: &str = "custodia_csrf";
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The stylesheet.
pub const CSS: &str = include_str!("../../assets/custodia.css");

/// The frame every page shares: language, title, the sign-out button.
pub(crate) struct Layout {
    pub(crate) lang: Lang,
    pub(crate) t: &'static Text,
    pub(crate) title: String,
    /// A sign-out form: where it posts and the session's anti-CSRF token.
    pub(crate) sign_out: Option<SignOut>,
    /// Wide pages (portal, reports) use the whole width.
    pub(crate) wide: bool,
}

/// The sign-out button of a signed-in page.
pub(crate) struct SignOut {
    pub(crate) action: String,
    pub(crate) csrf: String,
    pub(crate) label: String,
}

impl Layout {
    /// A page in `lang` titled `title`.
    pub(crate) fn new(lang: Lang, title: &str) -> Layout {
        Layout {
            lang,
            t: i18n::text(lang),
            title: title.to_owned(),
            sign_out: None,
            wide: false,
        }
    }

    /// With a sign-out button posting `csrf` to `action`.
    pub(crate) fn signed_in(mut self, action: &str, csrf: &str, label: &str) -> Layout {
        self.sign_out = Some(SignOut {
            action: action.to_owned(),
            csrf: csrf.to_owned(),
            label: label.to_owned(),
        });
        self
    }

    /// Using the whole width.
    pub(crate) fn wide(mut self) -> Layout {
        self.wide = true;
        self
    }

    /// `zh-CN` or `en`, for `<html lang>`.
    pub(crate) fn html_lang(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language's code, for the switch.
    pub(crate) fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "en",
            Lang::En => "zh",
        }
    }
}

/// A rendered page with its status, type and content security policy.
pub(crate) fn render(page: &impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(html) => {
            let mut r = (status, html).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page with a heading and one message.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message {
    pub(crate) page: Layout,
    /// `error`, `ok` or none.
    pub(crate) class: &'static str,
    pub(crate) id: &'static str,
    pub(crate) message: String,
    /// A link after the message: (href, id, text).
    pub(crate) link: Option<(String, String, String)>,
}

impl Message {
    /// An error under the page's title.
    pub(crate) fn error(page: Layout, message: &str) -> Message {
        Message::with(page, "error", "error", message)
    }

    /// A success (`class="ok"`) with element id `id`.
    pub(crate) fn ok(page: Layout, id: &'static str, message: &str) -> Message {
        Message::with(page, "ok", id, message)
    }

    /// A plain message with element id `id`.
    pub(crate) fn plain(page: Layout, id: &'static str, message: &str) -> Message {
        Message::with(page, "", id, message)
    }

    fn with(page: Layout, class: &'static str, id: &'static str, message: &str) -> Message {
        Message {
            page,
            class,
            id,
            message: message.to_owned(),
            link: None,
        }
    }

    /// With a link after the message.
    pub(crate) fn link(mut self, href: &str, id: &str, text: &str) -> Message {
        self.link = Some((href.to_owned(), id.to_owned(), text.to_owned()));
        self
    }
}

/// `?lang=` wins over `Accept-Language`.
#[derive(Debug, Deserialize, Default)]
pub struct LangQuery {
    pub(crate) lang: Option<String>,
}

/// The language of a page: `?lang=` when given, else `Accept-Language`.
pub(crate) fn lang_of(q: &LangQuery, h: &HeaderMap) -> Lang {
    match q.lang.as_deref() {
        Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        _ => crate::problem::lang_from_headers(h),
    }
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

/// The staff session a request carries, with its cookie's value.
pub(crate) fn session_of(s: &AppState, h: &HeaderMap) -> Option<(String, custodia_vault::access::session::Session)> {
    let token = cookie(h, SESSION_COOKIE)?;
    let sess = s.vault.session(&token).ok()??;
    Some((token, sess))
}

/// The staff principal of a session (what every page acts as).
pub(crate) fn principal_of(s: &AppState, token: &str) -> Option<custodia_vault::access::authz::Principal> {
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

/// The QR code of an `otpauth://` URI as inline SVG (shown to the person
/// enrolling, never stored). Built by the `qrcode` crate from the URI's
/// bytes alone, so the page may include it as markup.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let page = Layout::new(Lang::En, "<b>t</b>").signed_in("/logout", "\"x", "Out");
        let html = Message::error(page, "<script>alert(1)</script>").render().unwrap();
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&#60;b&#62;t&#60;/b&#62; · Custodia"), "{html}");
        assert!(html.contains("value=\"&#34;x\""), "{html}");
        assert!(html.contains("<html lang=\"en\">"));
        let zh = Message::ok(Layout::new(Lang::Zh, "标题"), "done", "好")
            .render()
            .unwrap();
        assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("?lang=en"), "{zh}");
    }
}
