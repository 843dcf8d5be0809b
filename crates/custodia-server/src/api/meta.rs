//! `/v1` audit log and meta endpoints: the log's tail and its
//! verification, the schema, health, policy explanations and "who am I".

use super::docs::*;
use crate::extract::{Caller, Lng, Q};
use crate::problem::Problem;
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use custodia_core::policy::Permission;
use custodia_vault::VaultError;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiResult;
/// How many events to show.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TailQuery {
    /// Most recent events to return (default 50, at most 1000).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(TailQuery),
    responses((status = 200, description = "Recent events, oldest first", body = [AuditEventDoc])),
    security(("bearer" = [])))]
/// The most recent audit events.
pub async fn audit_tail(State(s): State<AppState>, c: Caller, Q(q): Q<TailQuery>) -> ApiResult {
    let events = c
        .run(&s, move |v, p| v.audit_tail(p, q.limit.unwrap_or(50).clamp(1, 1000)))
        .await?;
    Ok(Json(events).into_response())
}

/// An audit search: every condition optional (see `custodia audit search`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Exactly this actor (`staff:alice`, `service:etl/3`).
    actor: Option<String>,
    /// About this customer (its id).
    customer: Option<String>,
    /// This action (`reveal`, `export`, …).
    action: Option<String>,
    /// For this purpose.
    purpose: Option<String>,
    /// `ok`, `denied` or `failed`.
    outcome: Option<String>,
    /// From this date (`YYYY-MM-DD`, the company's zone) or instant (RFC 3339).
    from: Option<String>,
    /// Until this date (the whole day) or instant.
    to: Option<String>,
    /// The page's cursor: the `next` of the page before.
    before: Option<u64>,
    /// Events per page (default 50, at most 500).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(SearchQuery),
    responses((status = 200, description = "One page of matching events, newest first: {events, next, searched, head}; \
        follow `next` as `before` for the older page")),
    security(("bearer" = [])))]
/// Search the audit log by actor, customer, action, purpose, outcome and time.
pub async fn audit_search(State(s): State<AppState>, c: Caller, Q(q): Q<SearchQuery>) -> ApiResult {
    let q = custodia_vault::audit::AuditQuery {
        actor: q.actor,
        customer: q.customer,
        action: q.action,
        purpose: q.purpose,
        outcome: q.outcome,
        from: q.from,
        to: q.to,
        before: q.before,
        limit: q.limit,
    };
    Ok(Json(c.run(&s, move |v, p| v.audit_search(p, &q)).await?).into_response())
}

#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "Chain verification report: {events, ok, problems}")),
    security(("bearer" = [])))]
/// Verify the whole audit chain.
pub async fn audit_verify(State(s): State<AppState>, c: Caller) -> ApiResult {
    Ok(Json(c.run(&s, |v, p| v.audit_verify(p)).await?).into_response())
}

#[utoipa::path(get, path = "/v1/schema", tag = "meta",
    responses((status = 200, description = "The customer schema's fields and the purpose catalog")),
    security(("bearer" = [])))]
/// The customer schema and purpose catalog.
pub async fn schema(State(s): State<AppState>, _c: Caller) -> ApiResult {
    let sc = s.vault.schema();
    Ok(
        Json(json!({"fields": sc.fields(), "purposes": sc.purposes(), "default_region": sc.default_region()}))
            .into_response(),
    )
}

#[utoipa::path(get, path = "/v1/health", tag = "meta", responses((status = 200, description = "The server is up and its storage answers"), (status = 503, body = ProblemDoc)))]
/// Liveness and storage check (no authentication).
pub async fn health(State(s): State<AppState>, Lng(lang): Lng) -> ApiResult {
    let vault = s.vault.clone();
    tokio::task::spawn_blocking(move || vault.health())
        .await
        .unwrap_or_else(|_| Err(VaultError::Io("request worker failed".into())))
        .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(json!({"status": "ok"})).into_response())
}

/// What to explain.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// The account whose request is explained.
    account: String,
    /// Action, e.g. `reveal`.
    action: String,
    /// Field, for data actions.
    field: Option<String>,
    /// Customer id, for scoped grants.
    customer: Option<String>,
    /// Declared purpose.
    purpose: Option<String>,
}

#[utoipa::path(get, path = "/v1/policy/explain", tag = "meta", params(ExplainQuery),
    responses((status = 200, description = "The decision and the rule that made it: {allowed, reason, rule, explanation}"), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// How the access policy decides a request by an account (needs `review_access` or `manage_policy`).
pub async fn policy_explain(State(s): State<AppState>, c: Caller, Q(q): Q<ExplainQuery>) -> ApiResult {
    let d = c
        .run(&s, move |v, p| {
            let perm = Permission::parse(&q.action).ok_or_else(|| {
                VaultError::Input(format!(
                    "unknown action {:?}",
                    q.action.chars().take(32).collect::<String>()
                ))
            })?;
            v.explain(
                p,
                &q.account,
                q.customer.as_deref(),
                q.field.as_deref(),
                perm,
                q.purpose.as_deref(),
            )
        })
        .await?;
    Ok(Json(json!({
        "allowed": d.allowed,
        "reason": d.reason.as_ref().map(|r| format!("{r:?}")),
        "rule": d.rule.as_ref().map(|r| json!({"role": r.role, "grant": r.grant, "line": r.line})),
        "explanation": d.to_string(),
    }))
    .into_response())
}

#[utoipa::path(get, path = "/v1/session", tag = "meta",
    responses((status = 200, description = "Who the caller is: {actor, kind, roles, mfa, csrf_token (sessions only)}"), (status = 401, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Who is calling; for signed-in staff, also the CSRF token to send with changes.
pub async fn whoami(State(s): State<AppState>, c: Caller, headers: HeaderMap) -> ApiResult {
    let p = &c.p;
    let body = match p.kind() {
        "service" => json!({
            "actor": p.actor(), "kind": "service", "account": p.account(), "roles": p.roles(),
            "scopes": p.scopes().unwrap_or_default().iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        }),
        "staff" => {
            let csrf = crate::pages::session_cookie(&headers)
                .and_then(|c| s.vault.staff_principal(&c).ok().flatten())
                .map(|(_, csrf)| csrf);
            json!({
                "actor": p.actor(), "kind": "staff", "account": p.account(), "roles": p.roles(),
                "mfa": p.mfa(), "valid_training": p.courses(), "csrf_token": csrf,
            })
        }
        "break_glass" => json!({"actor": p.actor(), "kind": p.kind(), "account": p.account()}),
        _ => json!({"actor": p.actor(), "kind": p.kind()}),
    };
    Ok(Json(body).into_response())
}

/// This concern's routes behind authentication.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_tail))
        .routes(routes!(audit_verify))
        .routes(routes!(audit_search))
        .routes(routes!(schema))
        .routes(routes!(policy_explain))
        .routes(routes!(whoami))
}

/// This concern's open routes (no authentication).
pub(crate) fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}
