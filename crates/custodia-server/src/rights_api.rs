//! `/v1` endpoints of data-subject rights and destruction: requests with
//! their clocks, legal holds, lifecycle dates, erasure, retention runs and
//! destruction certificates.

use crate::problem::{Lang, Problem};
use crate::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custodia_core::policy::Permission;
use custodia_vault::authz::Principal;
use custodia_vault::retention::{LifecycleInput, RetentionOptions};
use custodia_vault::rights::NewRequest;
use custodia_vault::{RecordPatch, Vault, VaultError};
use serde::Deserialize;
use serde_json::json;

type ApiResult = Result<Response, Problem>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(VaultError::Io("request worker failed".into())))
}

fn json_problem(r: JsonRejection, lang: Lang) -> Problem {
    let code = match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "malformed_json",
    };
    Problem::new(code, r.body_text(), lang)
}

fn query_problem(r: QueryRejection, lang: Lang) -> Problem {
    Problem::new("bad_input", r.body_text(), lang)
}

fn handler(vault: &Vault, p: &Principal) -> Result<(), VaultError> {
    vault.require(p, Permission::HandleRequests, None, None, None, None)
}

/// Staff and services must name a purpose for record-level checks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PurposeQuery {
    /// Declared purpose, e.g. `data_subject_request`.
    purpose: Option<String>,
}

#[utoipa::path(post, path = "/v1/requests", tag = "rights", params(PurposeQuery),
    request_body(content = Object, description = "{customer, kind: access|portability|rectification|erasure|restriction|objection|consent_withdrawal, regime?: pipl|gdpr|ccpa, channel?, note?, received_at?, idempotency_key?}"),
    responses((status = 201, description = "The request with its deadlines (an idempotency key already used returns the first request)"), (status = 422, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Receive a data-subject request (needs `handle_requests`, or `record_consent` on the customer).
pub async fn new_request(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<NewRequest>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(input) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        if !vault.decide(&p, Permission::HandleRequests, None, None, None).allowed {
            let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
            vault.authorize_record(&p, &input.customer, Permission::RecordConsent, purpose.as_ref())?;
        }
        vault.new_request(&p.actor(), &input)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Which requests.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only those due within this many days (and overdue ones); default: every open request.
    due_within: Option<i64>,
}

#[utoipa::path(get, path = "/v1/requests", tag = "rights", params(ListQuery),
    responses((status = 200, description = "Open requests with deadlines, days left, overdue flags"), (status = 403, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Open requests, or those due soon (needs `handle_requests`).
pub async fn list_requests(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        handler(&vault, &p)?;
        match q.due_within {
            Some(d) => vault.requests_due(d),
            None => vault.open_requests(),
        }
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
}

#[utoipa::path(get, path = "/v1/requests/{id}", tag = "rights", params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The request, deadlines, recipients and history"), (status = 404, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// One request (needs `handle_requests`).
pub async fn get_request(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let vault = s.vault.clone();
    let out = blocking(move || {
        handler(&vault, &p)?;
        vault.request(&id)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
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
    responses((status = 200, description = "The request after the step; `complete` also returns the package (access, portability), CSV (portability) or destruction certificate (erasure)"), (status = 409, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Move a request on (needs `handle_requests`).
pub async fn request_step(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path((id, step)): Path<(String, String)>,
    body: Result<Json<StepInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Json(b) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        handler(&vault, &p)?;
        let actor = p.actor();
        let need = |v: Option<String>, what: &str| v.ok_or_else(|| VaultError::Input(format!("give {what}")));
        Ok(match step.as_str() {
            "verify" => json!(vault.verify_request(&actor, &id, &need(b.method, "the verification method")?)?),
            "acknowledge" => json!(vault.acknowledge_request(&actor, &id)?),
            "start" => json!(vault.start_request(&actor, &id)?),
            "extend" => json!(vault.extend_request(&actor, &id, &need(b.reason, "the reason")?)?),
            "deny" => json!(vault.deny_request(&actor, &id, &need(b.reason, "the reason")?)?),
            "notify" => json!(vault.notify_recipient(&actor, &id, &need(b.recipient, "the recipient")?)?),
            "complete" => json!(vault.carry_out(&actor, &id, b.set.as_ref())?),
            other => {
                return Err(VaultError::Input(format!(
                    "unknown step {:?}: verify, acknowledge, start, extend, deny, complete or notify",
                    other.chars().take(32).collect::<String>()
                )))
            }
        })
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
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
pub async fn list_holds(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let vault = s.vault.clone();
    let out = blocking(move || {
        handler(&vault, &p)?;
        vault.holds_of(&id)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
}

#[utoipa::path(post, path = "/v1/customers/{id}/holds", tag = "rights", params(("id" = String, Path, description = "Customer id")),
    request_body = HoldInput, responses((status = 201, description = "The hold")), security(("bearer" = [])))]
/// Put a customer under legal hold (needs `handle_requests`).
pub async fn set_hold(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<HoldInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Json(b) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        handler(&vault, &p)?;
        vault.set_hold(&p.actor(), &id, &b.reason)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[utoipa::path(delete, path = "/v1/customers/{id}/holds/{hold}", tag = "rights",
    params(("id" = String, Path, description = "Customer id"), ("hold" = String, Path, description = "Hold id")),
    responses((status = 200, description = "The released hold"), (status = 404, body = crate::docs::ProblemDoc)), security(("bearer" = [])))]
/// Release a legal hold (needs `handle_requests`).
pub async fn release_hold(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path((id, hold)): Path<(String, String)>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let vault = s.vault.clone();
    let out = blocking(move || {
        handler(&vault, &p)?;
        vault.release_hold(&p.actor(), &id, &hold)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
}

#[utoipa::path(put, path = "/v1/customers/{id}/lifecycle", tag = "rights", params(("id" = String, Path, description = "Customer id"), PurposeQuery),
    request_body(content = Object, description = "{contract_end?: YYYY-MM-DD, last_activity?: YYYY-MM-DD, reviewed?: true}"),
    responses((status = 200, description = "The dates retention counts from")), security(("bearer" = [])))]
/// Set the dates retention counts from, or mark the record reviewed
/// (needs `record_consent` on the customer, or `handle_requests`).
pub async fn set_lifecycle(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<LifecycleInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(b) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let l = blocking(move || {
        if !vault.decide(&p, Permission::HandleRequests, None, None, None).allowed {
            let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
            vault.authorize_record(&p, &id, Permission::RecordConsent, purpose.as_ref())?;
        }
        vault.set_lifecycle(&p.actor(), &id, &b)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    let d = |ms: Option<i64>| ms.map(custodia_vault::record::rfc3339);
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
    responses((status = 200, description = "{tombstones, certificate_id, certificate_jws}"), (status = 409, body = crate::docs::ProblemDoc)), security(("bearer" = [])))]
/// Erase a customer or some fields by crypto-shredding, with a signed
/// destruction certificate (needs `delete`; refused under legal hold).
pub async fn erase(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<EraseInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(b) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.authorize_change(&p, &id, &[], true, purpose.as_ref())?;
        match &b.fields {
            Some(f) => vault.erase_fields(&p.actor(), &id, f, &b.basis),
            None => vault.erase_customer(&p.actor(), &id, &b.basis),
        }
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
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
pub async fn retention_run(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Json<RetentionInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Json(b) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        vault.require(&p, Permission::ManagePolicy, None, None, None, None)?;
        let as_of = match &b.as_of {
            None => None,
            Some(d) => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| VaultError::Input("as_of is not a date written YYYY-MM-DD".into()))?,
            ),
        };
        vault.retention_run(
            &p.actor(),
            &RetentionOptions {
                dry_run: b.dry_run,
                as_of,
            },
            &custodia_vault::NoProgress,
        )
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
}

#[utoipa::path(get, path = "/v1/certificates/{id}", tag = "rights", params(("id" = String, Path, description = "Certificate id (dc_…)")),
    responses((status = 200, description = "{id, jws, certificate}: verify the JWS with /v1/keys/signing"), (status = 404, body = crate::docs::ProblemDoc)), security(("bearer" = [])))]
/// A destruction certificate (needs `handle_requests` or `read_audit`).
pub async fn certificate(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let vault = s.vault.clone();
    let out = blocking(move || {
        if !vault.decide(&p, Permission::ReadAudit, None, None, None).allowed {
            handler(&vault, &p)?;
        }
        let jws = vault.certificate(&id)?;
        let key = custodia_crypto_key(&vault);
        let c = custodia_vault::erasure::verify_certificate(&jws, &key)?;
        Ok(json!({"id": id, "jws": jws, "certificate": c}))
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
}

fn custodia_crypto_key(v: &Vault) -> [u8; 32] {
    v.document_signer().public_key()
}
