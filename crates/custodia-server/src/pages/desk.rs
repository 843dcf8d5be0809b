//! Extractors for the console's pages, so each handler is one expression:
//! [`Desk`] (a page a signed-in staff member asks for) and [`Posted`] (a
//! form they send, with its anti-CSRF token). Both resolve the session and
//! its principal on a blocking thread and hand the handler a [`Ctx`]; a
//! request without a live session is sent to sign in, a form whose token
//! does not match the session's is refused before the handler runs. What
//! the caller may do is still decided by the vault operation the handler
//! calls with `ctx.p`.

use super::i18n::Text;
use super::{lang_of, render, session_cookie, Lang, LangQuery, Layout, Message};
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use custodia_vault::access::authz::Principal;
use custodia_vault::access::session::Session;
use custodia_vault::VaultError;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// What a console handler works with: the state, the reader's language,
/// the session and the principal it acts as.
pub(crate) struct Ctx {
    pub(crate) s: AppState,
    pub(crate) lang: Lang,
    pub(crate) t: &'static Text,
    pub(crate) sess: Session,
    pub(crate) p: Principal,
    /// The session cookie's value (for steps that renew the session).
    pub(crate) token: Zeroizing<String>,
    /// The client's address, as sign-in counts it.
    pub(crate) client: String,
}

impl Ctx {
    /// The frame of a console page titled `title`, with the sign-out button.
    pub(crate) fn layout(&self, title: &str) -> Layout {
        Layout::new(self.lang, title).signed_in("/logout", &self.sess.csrf, &self.t.staff.sign_out)
    }

    /// A refusal in the reader's words: the vault's problem detail, with its status.
    pub(crate) fn refusal(&self, title: &str, e: &VaultError) -> Response {
        let p = crate::problem::Problem::from_vault(e, self.lang);
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::FORBIDDEN);
        no_store(render(&Message::error(self.layout(title), &p.detail), status))
    }

    /// The problem detail of a vault error, in the reader's language.
    pub(crate) fn detail(&self, e: &VaultError) -> String {
        crate::problem::Problem::from_vault(e, self.lang).detail
    }
}

/// A page that must not be kept by the browser or any cache.
pub(crate) fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// A console page request: who asks (resolved when the handler runs).
pub struct Desk {
    s: AppState,
    lang: Lang,
    token: Option<Zeroizing<String>>,
    client: String,
}

impl FromRequestParts<AppState> for Desk {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let q = Query::<LangQuery>::from_request_parts(parts, s)
            .await
            .map(|q| q.0)
            .unwrap_or_default();
        let client = parts
            .extensions
            .get::<super::ClientAddr>()
            .map(|c| crate::client_ip(&s.trusted, c.0.ip(), &parts.headers).to_string())
            .unwrap_or_default();
        Ok(Desk {
            s: s.clone(),
            lang: lang_of(&q, &parts.headers),
            token: session_cookie(&parts.headers).map(Zeroizing::new),
            client,
        })
    }
}

impl Desk {
    /// The context of a live staff session (none: the browser is sent to
    /// sign in).
    fn resolve(self) -> Option<Ctx> {
        let token = self.token?;
        let sess = self.s.vault.session(&token).ok()??;
        let (p, _) = self.s.vault.staff_principal(&token).ok()??;
        Some(Ctx {
            t: super::i18n::text(self.lang),
            s: self.s,
            lang: self.lang,
            sess,
            p,
            token,
            client: self.client,
        })
    }

    /// Run the page `f` for the signed-in caller on a blocking thread (the
    /// store is read and written there, never on an async thread).
    pub(crate) async fn page(self, f: impl FnOnce(&Ctx) -> Response + Send + 'static) -> Response {
        super::blocking_page(move || match self.resolve() {
            Some(c) => f(&c),
            None => Redirect::to("/login").into_response(),
        })
        .await
    }
}

/// A form that carries the session's anti-CSRF token as `csrf`.
pub trait CsrfForm {
    /// The token the form was sent with.
    fn csrf(&self) -> &str;
}

impl CsrfForm for std::collections::BTreeMap<String, String> {
    fn csrf(&self) -> &str {
        self.get("csrf").map(String::as_str).unwrap_or("")
    }
}

/// A form with repeated fields (checkboxes), as its pairs in order.
impl CsrfForm for Vec<(String, String)> {
    fn csrf(&self) -> &str {
        one(self, "csrf")
    }
}

/// The value of `name` in a form of pairs ("" when absent).
pub(crate) fn one<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Every value of `name` in a form of pairs, in order.
pub(crate) fn all(form: &[(String, String)], name: &str) -> Vec<String> {
    form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

/// Implement [`CsrfForm`] for form structs with a `csrf: String` field.
macro_rules! csrf_form {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::pages::desk::CsrfForm for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}
pub(crate) use csrf_form;

/// A console form: the caller and the parsed body (or why it did not parse).
pub struct Posted<T> {
    desk: Desk,
    form: Sent<T>,
}

impl<T: DeserializeOwned + Send + 'static> FromRequest<AppState> for Posted<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Ok(desk) = Desk::from_request_parts(&mut parts, s).await;
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let req = Request::from_parts(parts, body);
        // Within the server's body limit (a larger body is refused).
        let form = match axum::body::Bytes::from_request(req, s).await {
            Ok(bytes) if is_form => Sent::parse(&bytes),
            Ok(_) => Sent::NoToken,
            Err(r) => Sent::Unreadable(r.status(), r.body_text()),
        };
        Ok(Posted { desk, form })
    }
}

/// A form as it arrived.
enum Sent<T> {
    /// Parsed.
    Form(T),
    /// Not a form, or one without a `csrf` field.
    NoToken,
    /// Its token, and why the rest did not parse.
    Malformed { csrf: String, why: String },
    /// The body could not be read (too large, cut off).
    Unreadable(StatusCode, String),
}

impl<T: DeserializeOwned> Sent<T> {
    fn parse(bytes: &[u8]) -> Sent<T> {
        match serde_urlencoded::from_bytes::<T>(bytes) {
            Ok(v) => Sent::Form(v),
            Err(e) => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).unwrap_or_default();
                match pairs.into_iter().find(|(k, _)| k == "csrf") {
                    Some((_, csrf)) => Sent::Malformed {
                        csrf,
                        why: format!("the form does not parse: {e}"),
                    },
                    None => Sent::NoToken,
                }
            }
        }
    }
}

impl<T: CsrfForm + Send + 'static> Posted<T> {
    /// Run `f` with the signed-in caller and the form, once the session is
    /// live, the form parsed and its token is the session's.
    pub(crate) async fn run(self, f: impl FnOnce(&Ctx, T) -> Response + Send + 'static) -> Response {
        let form = self.form;
        self.desk
            .page(move |c| {
                let refused = || (StatusCode::FORBIDDEN, c.t.staff.csrf.clone()).into_response();
                match form {
                    // The token first: nothing of a forged form is looked at.
                    Sent::Form(v) if v.csrf() == c.sess.csrf => f(c, v),
                    Sent::Form(_) | Sent::NoToken => refused(),
                    Sent::Malformed { csrf, .. } if csrf != c.sess.csrf => refused(),
                    // The parser's words name the field, never its value
                    // (every field is text).
                    Sent::Malformed { why, .. } => (StatusCode::BAD_REQUEST, why).into_response(),
                    Sent::Unreadable(status, why) => (status, why).into_response(),
                }
            })
            .await
    }
}
