//! `/v1` endpoints of the de-identification toolkit: PII detection in text
//! an application sends (nothing of it is stored or logged) and audited
//! detokenization of vault tokens.

use super::records::PurposeQuery;
use crate::extract::{Caller, J, Q};
use crate::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use custodia_deid::Kind;
use custodia_vault::records::deid::DetectOptions;
use custodia_vault::VaultError;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiResult;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectInput {
    /// UTF-8 text (up to the request size limit).
    text: String,
    /// Only these types (default: all).
    #[serde(default)]
    types: Option<Vec<String>>,
    /// Leave out findings scored below this (0–1).
    #[serde(default)]
    min_score: Option<f32>,
    /// Also return each finding's matched text, byte offsets and evidence.
    #[serde(default)]
    detail: bool,
}

#[utoipa::path(post, path = "/v1/detect", tag = "deidentification",
    request_body = DetectInput,
    responses((status = 200, description = "{findings: [{type, start, end, score}], total, truncated}: offsets in characters of the text sent; with detail also byte_start, byte_end, text and evidence. The answer stays under twice the text's size: findings past that are left out and truncated is true"),
        (status = 400, body = super::docs::ProblemDoc), (status = 403, body = super::docs::ProblemDoc),
        (status = 429, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Find personal information in text (needs `detect`; the text is neither stored nor logged; calls per caller are limited).
pub async fn detect(State(s): State<AppState>, c: Caller, J(input): J<DetectInput>) -> ApiResult {
    let found = c
        .run(&s, move |v, p| {
            let kinds = match &input.types {
                None => None,
                Some(list) => Some(
                    Kind::parse_all(list.iter().map(String::as_str))
                        .map_err(|e| VaultError::Input(format!("types: {e}")))?,
                ),
            };
            let opts = DetectOptions {
                kinds,
                min_score: input.min_score.unwrap_or(0.0),
                detail: input.detail,
            };
            v.detect(p, &input.text, &opts)
        })
        .await?;
    Ok(Json(found).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetokenizeInput {
    /// `tok_…`, or the written form `[[type tok_…]]`.
    token: String,
}

/// The declared purpose (required).
#[utoipa::path(post, path = "/v1/tokens/detokenize", tag = "deidentification",
    params(PurposeQuery), request_body = DetokenizeInput,
    responses((status = 200, description = "{value}"), (status = 403, body = super::docs::ProblemDoc),
        (status = 404, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// The value behind a vault token (needs `detokenize` for the token's field and a purpose that covers it; audited).
pub async fn detokenize(
    State(s): State<AppState>,
    c: Caller,
    Q(q): Q<PurposeQuery>,
    J(input): J<DetokenizeInput>,
) -> ApiResult {
    let value = c
        .run(&s, move |v, p| {
            v.detokenize(p, &input.token, &v.required_purpose(q.purpose.as_deref())?)
        })
        .await?;
    let mut r = Json(json!({ "value": value })).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// This concern's routes behind authentication.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(detect)).routes(routes!(detokenize))
}
