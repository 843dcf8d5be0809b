//! `/v1` endpoints of data-subject rights and destruction: requests with
//! their clocks, legal holds, lifecycle dates, erasure, retention runs and
//! destruction certificates. Every rule (who may log, verify, complete;
//! separation of duties; the permissions a completion needs) is the
//! vault's.

use super::records::PurposeQuery;
use crate::extract::{Caller, J, Q};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use custodia_vault::rights::requests::NewRequest;
use custodia_vault::rights::retention::{LifecycleInput, RetentionOptions};
use custodia_vault::{RecordPatch, VaultError};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiResult;

#[utoipa::path(post, path = "/v1/requests", tag = "rights", params(PurposeQuery),
    request_body(content = Object, description = "{customer, kind: access|portability|rectification|erasure|restriction|objection|consent_withdrawal, regime?: pipl|gdpr|ccpa, channel?, note?, received_at?, idempotency_key?}"),
    responses((status = 201, description = "The request with its deadlines (an idempotency key already used returns the first request)"), (status = 422, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Receive a data-subject request (needs `handle_requests`, or `record_consent` on the customer).
pub async fn new_request(State(s): State<AppState>, c: Caller, J(input): J<NewRequest>) -> ApiResult {
    let out = c.run(&s, move |v, p| v.new_request(p, &input)).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Which requests.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only those due within this many days (and overdue ones); default: every open request.
    due_within: Option<i64>,
}

#[utoipa::path(get, path = "/v1/requests", tag = "rights", params(ListQuery),
    responses((status = 200, description = "Open requests with deadlines, days left, overdue flags"), (status = 403, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Open requests, or those due soon (needs `handle_requests`).
pub async fn list_requests(State(s): State<AppState>, c: Caller, Q(q): Q<ListQuery>) -> ApiResult {
    let out = c
        .run(&s, move |v, p| match q.due_within {
            Some(d) => v.requests_due(p, d),
            None => v.open_requests(p),
        })
        .await?;
    Ok(Json(out).into_response())
}

#[utoipa::path(get, path = "/v1/requests/{id}", tag = "rights", params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The request, deadlines, recipients and history"), (status = 404, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// One request (needs `handle_requests`).
pub async fn get_request(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.request(p, &id)).await?).into_response())
}

/// A step on a request.
#[derive(Debug, Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    /// `verify`: how the identity was verified.
    #[serde(default)]
    method: Option<String>,
    /// `extend` / `deny`: the reason told to the requester.
    #[serde(default)]
    reason: Option<String>,
    /// `complete` (rectification): corrected values, field → value (null removes).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    set: Option<RecordPatch>,
    /// `notify`: the recipient told.
    #[serde(default)]
    recipient: Option<String>,
}

#[utoipa::path(post, path = "/v1/requests/{id}/{step}", tag = "rights",
    params(("id" = String, Path, description = "Request id"), ("step" = String, Path, description = "verify | acknowledge | start | extend | deny | complete | notify")),
    request_body = StepInput,
    responses((status = 200, description = "The request after the step; `complete` also returns the package (access, portability), CSV (portability) or destruction certificate (erasure)"), (status = 409, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Move a request on (needs `handle_requests`).
pub async fn request_step(
    State(s): State<AppState>,
    c: Caller,
    Path((id, step)): Path<(String, String)>,
    J(b): J<StepInput>,
) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            let need = |x: Option<String>, what: &str| x.ok_or_else(|| VaultError::Input(format!("give {what}")));
            Ok(match step.as_str() {
                "verify" => json!(v.verify_request(p, &id, &need(b.method, "the verification method")?)?),
                "acknowledge" => json!(v.acknowledge_request(p, &id)?),
                "start" => json!(v.start_request(p, &id)?),
                "extend" => json!(v.extend_request(p, &id, &need(b.reason, "the reason")?)?),
                "deny" => json!(v.deny_request(p, &id, &need(b.reason, "the reason")?)?),
                "notify" => json!(v.notify_recipient(p, &id, &need(b.recipient, "the recipient")?)?),
                "complete" => json!(v.carry_out(p, &id, b.set.as_ref())?),
                other => {
                    return Err(VaultError::Input(format!(
                        "unknown step {:?}: verify, acknowledge, start, extend, deny, complete or notify",
                        other.chars().take(32).collect::<String>()
                    )))
                }
            })
        })
        .await?;
    Ok(Json(out).into_response())
}

/// A hold to set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldInput {
    /// A case or matter reference (no personal data).
    reason: String,
}

#[utoipa::path(get, path = "/v1/customers/{id}/holds", tag = "rights", params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, description = "The customer's legal holds")), security(("bearer" = [])))]
/// A customer's legal holds (needs `handle_requests`).
pub async fn list_holds(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.holds_of(p, &id)).await?).into_response())
}

#[utoipa::path(post, path = "/v1/customers/{id}/holds", tag = "rights", params(("id" = String, Path, description = "Customer id")),
    request_body = HoldInput, responses((status = 201, description = "The hold")), security(("bearer" = [])))]
/// Put a customer under legal hold (needs `handle_requests`).
pub async fn set_hold(State(s): State<AppState>, c: Caller, Path(id): Path<String>, J(b): J<HoldInput>) -> ApiResult {
    let out = c.run(&s, move |v, p| v.set_hold(p, &id, &b.reason)).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[utoipa::path(delete, path = "/v1/customers/{id}/holds/{hold}", tag = "rights",
    params(("id" = String, Path, description = "Customer id"), ("hold" = String, Path, description = "Hold id")),
    responses((status = 200, description = "The released hold"), (status = 404, body = super::docs::ProblemDoc)), security(("bearer" = [])))]
/// Release a legal hold (needs `handle_requests`).
pub async fn release_hold(State(s): State<AppState>, c: Caller, Path((id, hold)): Path<(String, String)>) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.release_hold(p, &id, &hold)).await?).into_response())
}

#[utoipa::path(put, path = "/v1/customers/{id}/lifecycle", tag = "rights", params(("id" = String, Path, description = "Customer id"), PurposeQuery),
    request_body(content = Object, description = "{contract_end?: YYYY-MM-DD, last_activity?: YYYY-MM-DD, reviewed?: true}"),
    responses((status = 200, description = "The dates retention counts from")), security(("bearer" = [])))]
/// Set the dates retention counts from, or mark the record reviewed
/// (needs `record_consent` on the customer, or `handle_requests`).
pub async fn set_lifecycle(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
    J(b): J<LifecycleInput>,
) -> ApiResult {
    let l = c
        .run(&s, move |v, p| {
            v.set_lifecycle(p, &id, &b, &v.required_purpose(q.purpose.as_deref())?)
        })
        .await?;
    let d = |ms: Option<i64>| ms.map(custodia_vault::records::input::rfc3339);
    Ok(Json(json!({"customer": l.customer, "contract_end": d(l.contract_end_ms), "last_activity": d(l.last_activity_ms), "reviewed": d(l.reviewed_ms)})).into_response())
}

/// What to erase.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseInput {
    /// Only these fields (the rest is re-keyed); default: the whole customer.
    #[serde(default)]
    fields: Option<Vec<String>>,
    /// Why (rule or article), written into the certificate.
    basis: String,
}

#[utoipa::path(post, path = "/v1/customers/{id}/erase", tag = "rights", params(("id" = String, Path, description = "Customer id"), PurposeQuery),
    request_body = EraseInput,
    responses((status = 200, description = "{tombstones, certificate_id, certificate_jws}"), (status = 409, body = super::docs::ProblemDoc)), security(("bearer" = [])))]
/// Erase a customer or some fields by crypto-shredding, with a signed
/// destruction certificate (needs `delete`; refused under legal hold).
pub async fn erase(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
    J(b): J<EraseInput>,
) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            let purpose = v.required_purpose(q.purpose.as_deref())?;
            match &b.fields {
                Some(f) => v.erase_fields(p, &id, f, &b.basis, &purpose),
                None => v.erase_customer(p, &id, &b.basis, &purpose),
            }
        })
        .await?;
    Ok(Json(out).into_response())
}

/// How to run retention.
#[derive(Debug, Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RetentionInput {
    /// Report only.
    #[serde(default)]
    dry_run: bool,
    /// Evaluate as of this day (YYYY-MM-DD; a future day needs `dry_run`).
    #[serde(default)]
    as_of: Option<String>,
}

#[utoipa::path(post, path = "/v1/retention/run", tag = "rights", request_body = RetentionInput,
    responses((status = 200, description = "What the run destroyed (or would): customers, fields, holds, stale records, certificates")), security(("bearer" = [])))]
/// Run retention now (needs `manage_policy`).
pub async fn retention_run(State(s): State<AppState>, c: Caller, J(b): J<RetentionInput>) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            let as_of = match &b.as_of {
                None => None,
                Some(d) => Some(
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .map_err(|_| VaultError::Input("as_of is not a date written YYYY-MM-DD".into()))?,
                ),
            };
            v.retention_run(
                p,
                &RetentionOptions {
                    dry_run: b.dry_run,
                    as_of,
                },
                &custodia_vault::NoProgress,
            )
        })
        .await?;
    Ok(Json(out).into_response())
}

#[utoipa::path(get, path = "/v1/certificates/{id}", tag = "rights", params(("id" = String, Path, description = "Certificate id (dc_…)")),
    responses((status = 200, description = "{id, jws, certificate}: verify the JWS with /v1/keys/signing"), (status = 404, body = super::docs::ProblemDoc)), security(("bearer" = [])))]
/// A destruction certificate (needs `handle_requests` or `read_audit`).
pub async fn certificate(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            let jws = v.certificate(p, &id)?;
            let cert = custodia_vault::rights::erasure::verify_certificate(&jws, &v.signing_public_key())?;
            Ok(json!({"id": id, "jws": jws, "certificate": cert}))
        })
        .await?;
    Ok(Json(out).into_response())
}

/// This concern's routes behind authentication.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(new_request, list_requests))
        .routes(routes!(get_request))
        .routes(routes!(request_step))
        .routes(routes!(list_holds, set_hold))
        .routes(routes!(release_hold))
        .routes(routes!(set_lifecycle))
        .routes(routes!(erase))
        .routes(routes!(retention_run))
        .routes(routes!(certificate))
}
