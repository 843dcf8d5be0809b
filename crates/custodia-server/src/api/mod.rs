//! The HTTPS JSON API under `/v1`, one module per concern: customer
//! [`records`], staff [`accounts`], the [`privacy`] programme (notices,
//! consents, portal codes), data-subject [`rights`] and destruction,
//! de-identification ([`deid`]), and the audit log with the [`meta`]
//! endpoints. Handlers are one expression each over the extractors of
//! [`crate::extract`]; the vault decides every authorization; errors are
//! problem details ([`crate::problem`]). [`docs`] holds the OpenAPI parts
//! no handler declares.

pub mod accounts;
pub mod deid;
pub mod docs;
pub mod meta;
pub mod privacy;
pub mod records;
pub mod rights;

pub use records::PurposeQuery;

use crate::problem::Problem;
use crate::AppState;
use axum::response::Response;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// What every handler returns.
pub(crate) type ApiResult = Result<Response, Problem>;

/// The routes behind authentication, concern by concern, with the OpenAPI
/// document they make.
pub(crate) fn protected() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(records::routes())
        .merge(meta::routes())
        .merge(accounts::routes())
        .merge(privacy::routes())
        .merge(rights::routes())
        .merge(deid::routes())
}

/// The routes anyone may call: health, published notices, the signing key,
/// "forgot password".
pub(crate) fn open() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(meta::open_routes())
        .merge(privacy::open_routes())
        .merge(accounts::open_routes())
}
