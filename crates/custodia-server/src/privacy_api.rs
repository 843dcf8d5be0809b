//! `/v1` endpoints of the privacy programme: notices (public to read),
//! consents and signed receipts, portal entry codes, consent statistics and
//! the receipt-signing key.

use crate::problem::{Lang, Problem};
use crate::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custodia_core::notice::{self, Notice};
use custodia_core::policy::Permission;
use custodia_vault::authz::Principal;
use custodia_vault::consent::ConsentInput;
use custodia_vault::{Vault, VaultError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

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

/// Staff and services must name one; the bootstrap token may not.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PurposeQuery {
    /// Declared purpose from the catalog, e.g. `customer_service`.
    purpose: Option<String>,
}

/// A notice to publish.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishInput {
    /// The notice in TOML (see the bundled `default-notice.toml`).
    toml: String,
    /// Only check it and report the differences; publish nothing.
    #[serde(default)]
    dry_run: bool,
}

#[utoipa::path(post, path = "/v1/notices", tag = "privacy", request_body = PublishInput,
    responses((status = 201, description = "Published: {version, previous, changes, material, renewal_needed}"), (status = 200, description = "Dry run: what publishing would do"), (status = 400, body = crate::docs::ProblemDoc), (status = 409, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Publish a privacy-notice version (needs `manage_policy`). A material
/// change suspends the affected consent-based purposes until each customer
/// consents again.
pub async fn publish_notice(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Json<PublishInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Json(input) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let dry = input.dry_run;
    let report = blocking(move || {
        vault.require(&p, Permission::ManagePolicy, None, None, None, None)?;
        if input.dry_run {
            vault.check_notice(&input.toml).map(|(_, r)| r)
        } else {
            vault.publish_notice(&p.actor(), &input.toml)
        }
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    let status = if dry { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(report)).into_response())
}

#[utoipa::path(get, path = "/v1/notices", tag = "privacy",
    responses((status = 200, description = "Published versions, oldest first: [{version, effective, published_at, published_by}]")),
    security(("bearer" = [])))]
/// The published notice versions.
pub async fn list_notices(State(s): State<AppState>, Extension(_p): Extension<Principal>) -> ApiResult {
    let state = s.vault.notices();
    let list: Vec<Value> = state
        .history
        .iter()
        .map(|(r, n)| {
            json!({
                "version": r.version,
                "effective": n.effective,
                "published_at": custodia_vault::record::rfc3339(r.published_ms),
                "published_by": r.published_by,
            })
        })
        .collect();
    Ok(Json(list).into_response())
}

fn notice_at(vault: &Vault, version: &str) -> Option<Arc<Notice>> {
    let state = vault.notices();
    if version == "current" {
        state.current().cloned()
    } else {
        version.parse::<u32>().ok().and_then(|v| state.version(v).cloned())
    }
}

fn no_notice(version: &str, lang: Lang) -> Problem {
    let v: String = version.chars().take(16).collect();
    Problem::new("not_found", format!("no published notice version {v:?}"), lang)
}

#[utoipa::path(get, path = "/v1/notices/{version}", tag = "privacy",
    params(("version" = String, Path, description = "A version number, or `current`")),
    responses((status = 200, description = "The notice: purposes with legal basis, fields, retention, recipients, transfers; and the exact consent texts per purpose in en and zh"), (status = 404, body = crate::docs::ProblemDoc)))]
/// Read a notice version (public: no authentication).
pub async fn get_notice(State(s): State<AppState>, headers: HeaderMap, Path(version): Path<String>) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let n = notice_at(&s.vault, &version).ok_or_else(|| no_notice(&version, lang))?;
    let texts: serde_json::Map<String, Value> = n
        .purposes
        .iter()
        .filter(|p| p.basis.needs_consent())
        .map(|p| {
            let text = |l| n.consent_text(p.id.as_str(), s.vault.schema(), l).unwrap_or_default();
            let en = text(notice::Language::En);
            let zh = text(notice::Language::Zh);
            (
                p.id.to_string(),
                json!({
                    "en": en, "zh": zh,
                    "en_sha256": custodia_vault::consent::text_digest(&en),
                    "zh_sha256": custodia_vault::consent::text_digest(&zh),
                }),
            )
        })
        .collect();
    let mut body = serde_json::to_value(n.as_ref()).expect("a notice serializes");
    body["consent_texts"] = Value::Object(texts);
    Ok(Json(body).into_response())
}

/// Which version to compare with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version.
    from: u32,
}

#[utoipa::path(get, path = "/v1/notices/{version}/diff", tag = "privacy",
    params(("version" = String, Path, description = "The newer version, or `current`"), DiffQuery),
    responses((status = 200, description = "[{kind, purpose, …, material}]"), (status = 404, body = crate::docs::ProblemDoc)))]
/// What changed between two notice versions (public).
pub async fn notice_diff(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(version): Path<String>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let new = notice_at(&s.vault, &version).ok_or_else(|| no_notice(&version, lang))?;
    let from = q.from.to_string();
    let old = notice_at(&s.vault, &from).ok_or_else(|| no_notice(&from, lang))?;
    let changes: Vec<Value> = notice::diff(&old, &new)
        .into_iter()
        .map(|c| {
            let material = c.material();
            let mut v = serde_json::to_value(&c).expect("a change serializes");
            v["material"] = material.into();
            v
        })
        .collect();
    Ok(Json(json!({"from": old.version, "to": new.version, "changes": changes})).into_response())
}

#[utoipa::path(get, path = "/v1/keys/signing", tag = "privacy",
    responses((status = 200, description = "The Ed25519 public key (JWK, RFC 8037) that signs consent receipts")))]
/// The public key that verifies receipts (public).
pub async fn signing_key(State(s): State<AppState>) -> ApiResult {
    let jwk = s.vault.signing_jwk();
    Ok(([(header::CACHE_CONTROL, "max-age=300")], Json(jwk)).into_response())
}

#[utoipa::path(get, path = "/v1/customers/{id}/consents", tag = "privacy",
    params(("id" = String, Path, description = "Customer id"), PurposeQuery),
    responses((status = 200, description = "Per purpose of the current notice: basis, required kinds, state, receipt in force"), (status = 404, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// A customer's consents under the current notice.
pub async fn customer_consents(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.authorize_record(&p, &id, Permission::ReadMasked, purpose.as_ref())?;
        vault.customer_consents(&id)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
}

/// Answers to record.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentsBody {
    /// Each: `{purpose, channel, language, action?: give|withdraw, separate?, by?: subject|guardian, text_sha256?, notice_version?}`.
    #[schema(value_type = Vec<Object>)]
    consents: Vec<ConsentInput>,
}

#[utoipa::path(post, path = "/v1/customers/{id}/consents", tag = "privacy",
    params(("id" = String, Path, description = "Customer id"), PurposeQuery), request_body = ConsentsBody,
    responses((status = 201, description = "Receipts written: [{receipt, purpose, action, kinds, notice_version, text_sha256}]"), (status = 422, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Record consents given or withdrawn (needs `record_consent`). Takes
/// effect on the next request.
pub async fn record_consents(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<ConsentsBody>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(body) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.authorize_record(&p, &id, Permission::RecordConsent, purpose.as_ref())?;
        vault.record_consents(&p.actor(), &id, &body.consents)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[utoipa::path(get, path = "/v1/customers/{id}/consent-receipts", tag = "privacy",
    params(("id" = String, Path, description = "Customer id"), PurposeQuery),
    responses((status = 200, description = "{receipts: [{receipt (Kantara CR v1.1 / ISO/IEC TS 27560 fields), jws (EdDSA)}], signing_key (JWK)}")),
    security(("bearer" = [])))]
/// Every consent receipt of a customer, signed so a third party can verify it.
pub async fn consent_receipts(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.authorize_record(&p, &id, Permission::ReadMasked, purpose.as_ref())?;
        Ok(json!({"receipts": vault.signed_receipts(&id)?, "signing_key": vault.signing_jwk()}))
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(out).into_response())
}

/// How long the entry code lives.
#[derive(Debug, Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// Hours until it expires (default 72, at most 720).
    #[serde(default)]
    hours: Option<u32>,
}

#[utoipa::path(post, path = "/v1/customers/{id}/portal-links", tag = "privacy",
    params(("id" = String, Path, description = "Customer id"), PurposeQuery), request_body = LinkInput,
    responses((status = 201, description = "{code, url, customer, expires_at}: a single-use entry code, shown once"), (status = 404, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Issue a single-use, expiring privacy-portal entry code for a customer
/// (needs `record_consent`).
pub async fn portal_link(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<LinkInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(body) = body.map_err(|r| json_problem(r, lang))?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .unwrap_or("localhost")
        .to_owned();
    let scheme = if s.hsts { "https" } else { "http" };
    let vault = s.vault.clone();
    let link = blocking(move || {
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.authorize_record(&p, &id, Permission::RecordConsent, purpose.as_ref())?;
        vault.issue_portal_link(&p.actor(), &id, body.hours.unwrap_or(72))
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    let url = format!("{scheme}://{host}{}", link.path.as_str());
    Ok((
        StatusCode::CREATED,
        Json(json!({"code": link.code.as_str(), "url": url, "customer": link.customer, "expires_at": link.expires_at})),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/reports/consents", tag = "privacy",
    responses((status = 200, description = "[{purpose, notice_version, given, withdrawn, pending_renewal}]"), (status = 403, body = crate::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Consent statistics per purpose and notice version (needs `read_audit` or `manage_policy`).
pub async fn consent_report(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let vault = s.vault.clone();
    let stats = blocking(move || {
        require_report(&vault, &p)?;
        vault.consent_stats()
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(stats).into_response())
}

/// Reports are for whoever reads the audit log or manages the policy.
pub fn require_report(vault: &Vault, p: &Principal) -> Result<(), VaultError> {
    if vault.decide(p, Permission::ReadAudit, None, None, None).allowed {
        return Ok(());
    }
    vault.require(p, Permission::ManagePolicy, None, None, None, None)
}
