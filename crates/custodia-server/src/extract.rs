//! Extractors shared by the `/v1` handlers, so each handler is one
//! expression: [`Caller`] (the principal the authentication layer found,
//! and the language of its messages), [`Q`] and [`J`] (query and JSON body
//! whose rejections are problem details in the caller's language), and
//! [`Caller::run`], which calls the vault off the async threads and turns
//! its errors into problem details. Every authorization decision is the
//! vault's: the handlers pass the caller along.

use crate::problem::{Lang, Problem};
use crate::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use custodia_vault::access::authz::Principal;
use custodia_vault::{Vault, VaultError};

/// The authenticated caller of a handler.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who calls.
    pub p: Principal,
    /// The language of the messages they read.
    pub lang: Lang,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let lang = crate::problem::lang_from_headers(&parts.headers);
        match parts.extensions.get::<Principal>() {
            Some(p) => Ok(Caller { p: p.clone(), lang }),
            // Only routes behind the authentication layer take a Caller.
            None => Err(Problem::new("unauthorized", "authentication required", lang)),
        }
    }
}

impl Caller {
    /// Run `f` with the vault and this caller on a blocking thread.
    pub async fn run<T: Send + 'static>(
        &self,
        s: &AppState,
        f: impl FnOnce(&Vault, &Principal) -> Result<T, VaultError> + Send + 'static,
    ) -> Result<T, Problem> {
        let v = s.vault.clone();
        let p = self.p.clone();
        let lang = self.lang;
        tokio::task::spawn_blocking(move || f(&v, &p))
            .await
            .unwrap_or_else(|_| Err(VaultError::Io("request worker failed".into())))
            .map_err(|e| Problem::from_vault(&e, lang))
    }

    /// A vault error as this caller's problem.
    pub fn problem(&self, e: &VaultError) -> Problem {
        Problem::from_vault(e, self.lang)
    }
}

/// The language of an open endpoint's caller.
#[derive(Debug, Clone, Copy)]
pub struct Lng(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for Lng {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lng(crate::problem::lang_from_headers(&parts.headers)))
    }
}

/// A query string; a malformed one is a `bad_input` problem.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Problem> {
        let lang = crate::problem::lang_from_headers(&parts.headers);
        axum::extract::Query::<T>::from_request_parts(parts, s)
            .await
            .map(|q| Q(q.0))
            .map_err(|r: QueryRejection| Problem::new("bad_input", r.body_text(), lang))
    }
}

/// A JSON body; a malformed, oversized or mistyped one is a problem.
#[derive(Debug)]
pub struct J<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for J<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, s: &S) -> Result<Self, Problem> {
        let lang = crate::problem::lang_from_headers(req.headers());
        axum::Json::<T>::from_request(req, s)
            .await
            .map(|j| J(j.0))
            .map_err(|r: JsonRejection| {
                let code = match r.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    _ => "malformed_json",
                };
                Problem::new(code, r.body_text(), lang)
            })
    }
}

/// The address a request is counted against (see [`crate::client_ip`]):
/// the peer, or the forwarded client when the peer is a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub std::net::IpAddr);

impl FromRequestParts<AppState> for Client {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Problem> {
        let lang = crate::problem::lang_from_headers(&parts.headers);
        let peer = parts
            .extensions
            .get::<crate::pages::ClientAddr>()
            .map(|c| c.0.ip())
            .ok_or_else(|| Problem::new("internal", "the connection's address is unknown", lang))?;
        Ok(Client(crate::client_ip(&s.trusted, peer, &parts.headers)))
    }
}
