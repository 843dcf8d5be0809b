//! `/v1` endpoints of the privacy programme: notices (public to read),
//! consents and signed receipts, portal codes sent to customers, consent
//! statistics and the receipt-signing key.

use super::records::PurposeQuery;
use crate::extract::{Caller, Lng, J, Q};
use crate::problem::{Lang, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use custodia_core::notice::{self, Notice};
use custodia_vault::privacy::consent::ConsentInput;
use custodia_vault::privacy::delivery::Channel;
use custodia_vault::{Vault, VaultError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiResult;

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
    responses((status = 201, description = "Published: {version, previous, changes, material, renewal_needed}"), (status = 200, description = "Dry run: what publishing would do"), (status = 400, body = super::docs::ProblemDoc), (status = 409, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Publish a privacy-notice version (needs `manage_policy`). A material
/// change suspends the affected consent-based purposes until each customer
/// consents again.
pub async fn publish_notice(State(s): State<AppState>, c: Caller, J(input): J<PublishInput>) -> ApiResult {
    let dry = input.dry_run;
    let report = c
        .run(&s, move |v, p| {
            if input.dry_run {
                v.preview_notice(p, &input.toml)
            } else {
                v.publish_notice(p, &input.toml)
            }
        })
        .await?;
    let status = if dry { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(report)).into_response())
}

#[utoipa::path(get, path = "/v1/notices", tag = "privacy",
    responses((status = 200, description = "Published versions, oldest first: [{version, effective, takes_effect, status (in_force, superseded, upcoming), published_at, published_by}]")),
    security(("bearer" = [])))]
/// The published notice versions.
pub async fn list_notices(State(s): State<AppState>, _c: Caller) -> ApiResult {
    let state = s.vault.notices();
    let list: Vec<Value> = state
        .history
        .iter()
        .enumerate()
        .map(|(i, (r, n))| {
            let status = state.status(i);
            json!({
                "version": r.version,
                "effective": n.effective,
                "takes_effect": custodia_vault::records::input::rfc3339(state.effective_ms[i]),
                "status": status,
                "published_at": custodia_vault::records::input::rfc3339(r.published_ms),
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
    responses((status = 200, description = "The notice: purposes with legal basis, fields, retention, recipients, transfers; and the exact consent texts per purpose in en and zh"), (status = 404, body = super::docs::ProblemDoc)))]
/// Read a notice version (public: no authentication).
pub async fn get_notice(State(s): State<AppState>, Lng(lang): Lng, Path(version): Path<String>) -> ApiResult {
    let n = notice_at(&s.vault, &version).ok_or_else(|| no_notice(&version, lang))?;
    let texts: serde_json::Map<String, Value> = n
        .purposes
        .iter()
        .filter(|p| n.consent_may_apply(p))
        .map(|p| {
            let text = |l| n.consent_text(p.id.as_str(), s.vault.schema(), l).unwrap_or_default();
            let en = text(notice::Language::En);
            let zh = text(notice::Language::Zh);
            (
                p.id.to_string(),
                json!({
                    "en": en, "zh": zh,
                    "en_sha256": custodia_vault::privacy::consent::text_digest(&en),
                    "zh_sha256": custodia_vault::privacy::consent::text_digest(&zh),
                }),
            )
        })
        .collect();
    let mut body = serde_json::to_value(n.as_ref()).expect("a notice serializes");
    body["consent_texts"] = Value::Object(texts);
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version.
    from: u32,
}

#[utoipa::path(get, path = "/v1/notices/{version}/diff", tag = "privacy",
    params(("version" = String, Path, description = "The newer version, or `current`"), DiffQuery),
    responses((status = 200, description = "[{kind, purpose, …, material}]"), (status = 404, body = super::docs::ProblemDoc)))]
/// What changed between two notice versions (public).
pub async fn notice_diff(
    State(s): State<AppState>,
    Lng(lang): Lng,
    Path(version): Path<String>,
    Q(q): Q<DiffQuery>,
) -> ApiResult {
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
    responses((status = 200, description = "Per purpose of the current notice: basis, required kinds, state, receipt in force"), (status = 404, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// A customer's consents under the current notice.
pub async fn customer_consents(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            v.customer_consents(p, &id, &v.required_purpose(q.purpose.as_deref())?)
        })
        .await?;
    Ok(Json(out).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentsBody {
    /// Each: `{purpose, channel, language, action?: give|withdraw, separate?, by?: subject|guardian, text_sha256?, notice_version?}`.
    #[schema(value_type = Vec<Object>)]
    consents: Vec<ConsentInput>,
}

#[utoipa::path(post, path = "/v1/customers/{id}/consents", tag = "privacy",
    params(("id" = String, Path, description = "Customer id"), PurposeQuery), request_body = ConsentsBody,
    responses((status = 201, description = "Receipts written: [{receipt, purpose, action, kinds, notice_version, text_sha256}]"), (status = 422, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Record consents given or withdrawn (needs `record_consent`). Takes
/// effect on the next request.
pub async fn record_consents(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
    J(body): J<ConsentsBody>,
) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            v.record_consents(p, &id, &body.consents, &v.required_purpose(q.purpose.as_deref())?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[utoipa::path(get, path = "/v1/customers/{id}/consent-receipts", tag = "privacy",
    params(("id" = String, Path, description = "Customer id"), PurposeQuery),
    responses((status = 200, description = "{receipts: [{receipt (Kantara CR v1.1 / ISO/IEC TS 27560 fields), jws (EdDSA)}], signing_key (JWK)}")),
    security(("bearer" = [])))]
/// Every consent receipt of a customer, signed so a third party can verify it.
pub async fn consent_receipts(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            let receipts = v.signed_receipts(p, &id, &v.required_purpose(q.purpose.as_deref())?)?;
            Ok(json!({"receipts": receipts, "signing_key": v.signing_jwk()}))
        })
        .await?;
    Ok(Json(out).into_response())
}

/// How to send a portal code.
#[derive(Debug, Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    /// `email` (default) or `sms`: to the customer's own address or number on file.
    #[serde(default)]
    channel: Option<String>,
}

#[utoipa::path(post, path = "/v1/customers/{id}/portal-links", tag = "privacy",
    params(("id" = String, Path, description = "Customer id"), PurposeQuery), request_body = CodeInput,
    responses((status = 201, description = "{customer, channel, to (masked), sent_at, expires_at}: a single-use entry code was sent to the customer's own contact; the code is never in a response"),
        (status = 403, body = super::docs::ProblemDoc), (status = 404, body = super::docs::ProblemDoc), (status = 502, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Send the customer a privacy-portal entry code (to their own e-mail or
/// mobile on file; needs `record_consent` for the purpose). Refused (403)
/// for a contact staff changed within `[portal] contact_hold_hours`, and
/// to whoever set the contact.
pub async fn portal_link(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
    J(body): J<CodeInput>,
) -> ApiResult {
    let sent = c
        .run(&s, move |v, p| {
            let channel = match body.channel.as_deref() {
                None => None,
                Some(ch) => {
                    Some(Channel::parse(ch).ok_or_else(|| VaultError::Input("channel is email or sms".into()))?)
                }
            };
            v.send_portal_code(p, &id, &v.required_purpose(q.purpose.as_deref())?, channel)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

#[utoipa::path(get, path = "/v1/reports/consents", tag = "privacy",
    responses((status = 200, description = "[{purpose, notice_version, given, withdrawn, pending_renewal}]"), (status = 403, body = super::docs::ProblemDoc)),
    security(("bearer" = [])))]
/// Consent statistics per purpose and notice version (needs `read_audit` or `manage_policy`).
pub async fn consent_report(State(s): State<AppState>, c: Caller) -> ApiResult {
    Ok(Json(c.run(&s, |v, p| v.consent_stats(p)).await?).into_response())
}

/// This concern's routes behind authentication.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish_notice, list_notices))
        .routes(routes!(customer_consents, record_consents))
        .routes(routes!(consent_receipts))
        .routes(routes!(portal_link))
        .routes(routes!(consent_report))
}

/// This concern's open routes (no authentication).
pub(crate) fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_notice))
        .routes(routes!(notice_diff))
        .routes(routes!(signing_key))
}
