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
}

#[utoipa::path(post, path = "/v1/detect", tag = "deidentification",
    request_body = DetectInput,
    responses((status = 200, description = "{findings: [{type, start, end, byte_start, byte_end, text, score, evidence}]} with offsets in characters and bytes of the text sent"),
        (status = 422, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Find personal information in text (any authenticated caller; the text is neither stored nor logged).
pub async fn detect(State(s): State<AppState>, c: Caller, J(input): J<DetectInput>) -> ApiResult {
    let findings = c
        .run(&s, move |v, p| {
            let kinds = match &input.types {
                None => None,
                Some(list) => Some(
                    Kind::parse_all(list.iter().map(String::as_str))
                        .map_err(|e| VaultError::Input(format!("types: {e}")))?,
                ),
            };
            v.detect(p, &input.text, kinds.as_deref(), input.min_score.unwrap_or(0.0))
        })
        .await?;
    Ok(Json(json!({ "findings": findings })).into_response())
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
