//! The `/v1` handlers. Each is thin: parse, call the vault on a blocking
//! thread, shape the answer. Errors become problem details.

use crate::docs::*;
use crate::problem::{Lang, Problem};
use crate::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custodia_vault::{Access, CustomerView, RecordInput, RecordPatch, Vault, VaultError};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use custodia_core::policy::Permission;
use custodia_vault::authz::Principal;

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

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

fn with_etag(status: StatusCode, v: &CustomerView) -> Response {
    let mut r = (status, Json(v)).into_response();
    r.headers_mut().insert(header::ETAG, etag(v.version));
    r
}

/// Convert a JSON object into a record; every value must be a string.
fn record_from_json(obj: Map<String, Value>) -> Result<RecordInput, VaultError> {
    let mut input = RecordInput::default();
    let mut problems = Vec::new();
    for (k, v) in obj {
        match v {
            Value::Array(_) if k == "consents" => match serde_json::from_value(v) {
                Ok(c) => input.consents = c,
                Err(e) => problems.push(custodia_vault::FieldProblem {
                    field: "consents".into(),
                    code: "bad_consent".into(),
                    message: format!("each consent is {{purpose, channel, language[, action, separate, by, text_sha256, notice_version]}}: {e}"),
                }),
            },
            Value::String(s) if k == "external_id" => input.external_id = Some(s),
            Value::String(s) => {
                input.fields.insert(k, s);
            }
            _ => problems.push(custodia_vault::FieldProblem {
                field: k.chars().take(64).collect(),
                code: "not_a_string".into(),
                message: "must be a JSON string".into(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(input)
    } else {
        Err(VaultError::Invalid(problems))
    }
}

fn object(body: Value) -> Result<Map<String, Value>, VaultError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(VaultError::Input("the body must be a JSON object".into())),
    }
}

/// The purpose of a write (services must declare one).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PurposeQuery {
    /// Declared purpose from the catalog, e.g. `customer_service`.
    purpose: Option<String>,
}

/// Reveal parameters shared by reads.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RevealQuery {
    /// Show clear values (needs `purpose`).
    #[serde(default)]
    reveal: bool,
    /// Declared purpose from the catalog, e.g. `customer_service`.
    purpose: Option<String>,
    /// Comma-separated fields to reveal (default: all).
    fields: Option<String>,
}

#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerInputDoc, params(PurposeQuery),
    responses((status = 201, description = "Created (masked)", body = CustomerDoc), (status = 422, description = "Schema violation", body = ProblemDoc), (status = 401, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Create a customer.
pub async fn create_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(body) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let out = blocking(move || {
        let input = record_from_json(object(body)?)?;
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.authorize_create(&p, &input, purpose.as_ref())?;
        if let Some(pu) = &purpose {
            vault.check_create_purpose(&input, pu)?;
        }
        vault.create(&p.actor(), &input)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    let mut r = with_etag(StatusCode::CREATED, &out);
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/customers/{}", out.id)) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(r)
}

#[utoipa::path(post, path = "/v1/customers:batch", tag = "customers", request_body = BatchDoc, params(PurposeQuery),
    responses((status = 200, description = "Per-record outcomes", body = BatchResultDoc), (status = 413, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Create up to 1000 customers; each succeeds or fails on its own.
pub async fn create_batch(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(body) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    let results = blocking(move || {
        let mut obj = object(body)?;
        let records = match obj.remove("records") {
            Some(Value::Array(a)) if obj.is_empty() => a,
            _ => return Err(VaultError::Input("the body must be {\"records\": [ ... ]}".into())),
        };
        if records.len() > custodia_vault::MAX_BATCH {
            return Err(VaultError::BatchTooLarge {
                max: custodia_vault::MAX_BATCH,
                got: records.len(),
            });
        }
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        let parsed: Vec<Result<RecordInput, VaultError>> = records
            .into_iter()
            .map(|r| {
                let input = object(r).and_then(record_from_json)?;
                vault.authorize_create(&p, &input, purpose.as_ref())?;
                if let Some(pu) = &purpose {
                    vault.check_create_purpose(&input, pu)?;
                }
                Ok(input)
            })
            .collect();
        let valid: Vec<RecordInput> = parsed.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let mut created = vault.create_batch(&p.actor(), &valid)?.into_iter();
        Ok(parsed
            .into_iter()
            .map(|r| match r {
                Err(e) => Err(e),
                Ok(_) => created.next().expect("one result per valid record"),
            })
            .collect::<Vec<_>>())
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    let mut ok = 0;
    let items: Vec<Value> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(c) => {
                ok += 1;
                json!({"index": i, "status": 201, "customer": c})
            }
            Err(e) => {
                let p = Problem::from_vault(&e, lang);
                json!({"index": i, "status": p.status, "problem": p})
            }
        })
        .collect();
    let failed = items.len() - ok;
    Ok(Json(json!({"created": ok, "failed": failed, "results": items})).into_response())
}

#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "Customer id"), RevealQuery),
    responses((status = 200, body = CustomerDoc), (status = 404, body = ProblemDoc), (status = 400, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Read a customer, masked unless `reveal=true&purpose=…`.
pub async fn get_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<RevealQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = &s.vault;
    // A point read takes microseconds, so it runs on the async thread; the
    // audit commit is awaited without holding a thread (group commit).
    let actor = p.actor();
    let (view, pending) = reveal_access(
        vault,
        &actor,
        q.reveal,
        q.purpose.as_deref(),
        q.fields.as_deref(),
        Some(&id),
    )
    .and_then(|access| {
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.get_as(&p, &id, &access, purpose.as_ref())
    })
    .map_err(|e| Problem::from_vault(&e, lang))?;
    let results = pending
        .wait_async()
        .await
        .map_err(|e| Problem::from_vault(&e.into(), lang))?;
    for r in results {
        r.map_err(|e| Problem::from_vault(&e.into(), lang))?;
    }
    Ok(with_etag(StatusCode::OK, &view))
}

/// Build the access mode; a refused reveal is itself audited. The denial
/// event is queued, not awaited (this may run on an async thread, and no
/// data is shown when the reveal is refused).
fn reveal_access(
    vault: &Vault,
    actor: &str,
    reveal: bool,
    purpose: Option<&str>,
    fields: Option<&str>,
    id: Option<&str>,
) -> Result<Access, VaultError> {
    vault.access(reveal, purpose, fields).inspect_err(|e| {
        let mut ev = custodia_core::audit::AuditEvent::new(
            custodia_vault::now_ms(),
            actor,
            custodia_core::audit::Action::Reveal,
        );
        ev.customer = id.and_then(|i| i.parse().ok());
        ev.outcome = custodia_vault::denied(e);
        ev.detail = Some(e.code().to_owned());
        drop(vault.store().submit(vec![custodia_store::Mutation::Audit(vec![ev])]));
    })
}

#[utoipa::path(get, path = "/v1/customers", tag = "customers",
    params(("field=value" = String, Query, description = "Exactly one searchable field and the value to match, e.g. `email=a@example.com`"), RevealQuery, ("limit" = Option<usize>, Query, description = "Most results (default 100)")),
    responses((status = 200, description = "Matching customers", body = [CustomerDoc]), (status = 400, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Exact-match search through a blind index.
pub async fn find_customers(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(mut q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = s.vault.clone();
    let found = blocking(move || {
        let reveal = match q.remove("reveal").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(VaultError::Input("reveal must be true or false".into())),
        };
        let purpose = q.remove("purpose");
        let fields = q.remove("fields");
        let limit = match q.remove("limit") {
            None => 100,
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| VaultError::Input("limit must be a number".into()))?,
        };
        if q.len() != 1 {
            return Err(VaultError::Input(
                "search by exactly one field, e.g. ?email=a@example.com".into(),
            ));
        }
        let (field, value) = q.into_iter().next().expect("one entry");
        let access = reveal_access(&vault, &p.actor(), reveal, purpose.as_deref(), fields.as_deref(), None)?;
        let purpose = vault.purpose_for(&p, purpose.as_deref())?;
        vault.find_as(&p, &field, &value, &access, purpose.as_ref(), limit)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(found).into_response())
}

#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "Customer id"), ("If-Match" = Option<String>, Header, description = "The version read (ETag); refuses the update if the record changed"), PurposeQuery),
    request_body(content = CustomerInputDoc, description = "Fields to set; null removes a field"),
    responses((status = 200, body = CustomerDoc), (status = 412, body = ProblemDoc), (status = 422, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Change fields of a customer.
pub async fn update_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let Json(body) = body.map_err(|r| json_problem(r, lang))?;
    let expected = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    Problem::new("bad_input", "If-Match must be the ETag of the record, e.g. \"3\"", lang)
                })?,
        ),
    };
    let vault = s.vault.clone();
    let view = blocking(move || {
        let mut patch = RecordPatch::new();
        let mut problems = Vec::new();
        for (k, v) in object(body)? {
            match v {
                Value::String(s) => {
                    patch.insert(k, Some(s));
                }
                Value::Null => {
                    patch.insert(k, None);
                }
                _ => problems.push(custodia_vault::FieldProblem {
                    field: k.chars().take(64).collect(),
                    code: "not_a_string".into(),
                    message: "must be a JSON string or null".into(),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        let names: Vec<&str> = patch.keys().map(String::as_str).collect();
        vault.authorize_change(&p, &id, &names, false, purpose.as_ref())?;
        vault.update_for(&p.actor(), &id, &patch, expected, purpose.as_ref())
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(with_etag(StatusCode::OK, &view))
}

#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "Customer id"), PurposeQuery),
    responses((status = 204, description = "Deleted"), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Delete a customer by crypto-shredding (its data key is destroyed; a
/// tombstone and a signed destruction certificate remain, named in the
/// `Custodia-Destruction-Certificate` header). Refused under legal hold.
pub async fn delete_customer(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<PurposeQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = s.vault.clone();
    let erased = blocking(move || {
        let purpose = vault.purpose_for(&p, q.purpose.as_deref())?;
        vault.authorize_change(&p, &id, &[], true, purpose.as_ref())?;
        vault.delete(&p.actor(), &id)
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&erased.certificate_id) {
        // The signed destruction certificate: GET /v1/certificates/{id}.
        r.headers_mut().insert("custodia-destruction-certificate", v);
    }
    Ok(r)
}

/// How many events to show.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TailQuery {
    /// Most recent events to return (default 50, at most 1000).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(TailQuery),
    responses((status = 200, description = "Recent events, oldest first", body = [AuditEventDoc])),
    security(("bearer" = [])))]
/// The most recent audit events.
pub async fn audit_tail(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<TailQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = s.vault.clone();
    let events = blocking(move || {
        vault.require(&p, Permission::ReadAudit, None, None, None, None)?;
        vault.audit_tail(q.limit.unwrap_or(50).clamp(1, 1000))
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(events).into_response())
}

#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "Chain verification report: {events, ok, problems}")),
    security(("bearer" = [])))]
/// Verify the whole audit chain.
pub async fn audit_verify(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let vault = s.vault.clone();
    let report = blocking(move || {
        vault.require(&p, Permission::ReadAudit, None, None, None, None)?;
        vault.audit_verify()
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(report).into_response())
}

#[utoipa::path(get, path = "/v1/schema", tag = "meta",
    responses((status = 200, description = "The customer schema's fields and the purpose catalog")),
    security(("bearer" = [])))]
/// The customer schema and purpose catalog.
pub async fn schema(State(s): State<AppState>) -> ApiResult {
    let sc = s.vault.schema();
    Ok(
        Json(json!({"fields": sc.fields(), "purposes": sc.purposes(), "default_region": sc.default_region()}))
            .into_response(),
    )
}

#[utoipa::path(get, path = "/v1/health", tag = "meta", responses((status = 200, description = "The server is up and its storage answers"), (status = 503, body = ProblemDoc)))]
/// Liveness and storage check (no authentication).
pub async fn health(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let vault: Arc<Vault> = s.vault.clone();
    blocking(move || vault.store().audit_head().map_err(VaultError::from))
        .await
        .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(Json(json!({"status": "ok"})).into_response())
}

/// What to explain.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
pub async fn policy_explain(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<ExplainQuery>, QueryRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Query(q) = q.map_err(|r| query_problem(r, lang))?;
    let vault = s.vault.clone();
    let d = blocking(move || {
        if vault
            .require(&p, Permission::ReviewAccess, None, None, None, None)
            .is_err()
        {
            vault.require(&p, Permission::ManagePolicy, None, None, None, None)?;
        }
        let perm =
            Permission::parse(&q.action).ok_or_else(|| VaultError::Input(format!("unknown action {:?}", q.action)))?;
        vault.explain(
            &q.account,
            q.customer.as_deref(),
            q.field.as_deref(),
            perm,
            q.purpose.as_deref(),
        )
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
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
pub async fn whoami(State(s): State<AppState>, Extension(p): Extension<Principal>, headers: HeaderMap) -> ApiResult {
    let body = match &p {
        Principal::Bootstrap => json!({"actor": p.actor(), "kind": "bootstrap"}),
        Principal::Service {
            account, roles, scopes, ..
        } => {
            json!({"actor": p.actor(), "kind": "service", "account": account, "roles": roles, "scopes": scopes.iter().map(|x| x.as_str()).collect::<Vec<_>>()})
        }
        Principal::Staff {
            account,
            roles,
            mfa,
            courses,
        } => {
            let csrf = crate::web::session_cookie(&headers)
                .and_then(|c| s.vault.staff_principal(&c).ok().flatten())
                .map(|(_, csrf)| csrf);
            json!({"actor": p.actor(), "kind": "staff", "account": account, "roles": roles, "mfa": mfa, "valid_training": courses, "csrf_token": csrf})
        }
    };
    Ok(Json(body).into_response())
}

/// A completed training, entered by whoever holds `manage_training`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingInput {
    /// Staff account.
    account: String,
    /// Course id, e.g. `privacy_basics`.
    course: String,
    /// Completion date, YYYY-MM-DD.
    completed: String,
    /// Score 0-100.
    score: i64,
    /// Expiry date, YYYY-MM-DD.
    expires: String,
}

#[utoipa::path(post, path = "/v1/training", tag = "meta", request_body = TrainingInput,
    responses((status = 201, description = "Recorded"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Record a staff member's completed training (needs `manage_training`).
pub async fn record_training(
    State(s): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Json<TrainingInput>, JsonRejection>,
) -> ApiResult {
    let lang = Lang::from_headers(&headers);
    let Json(t) = body.map_err(|r| json_problem(r, lang))?;
    let vault = s.vault.clone();
    blocking(move || {
        vault.require(&p, Permission::ManageTraining, None, None, None, None)?;
        let date = |s: &str, what: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| VaultError::Input(format!("{what} is not a date written YYYY-MM-DD")))
        };
        vault.record_training(
            &p.actor(),
            &t.account,
            &t.course,
            date(&t.completed, "completed")?,
            t.score,
            date(&t.expires, "expires")?,
        )
    })
    .await
    .map_err(|e| Problem::from_vault(&e, lang))?;
    Ok(StatusCode::CREATED.into_response())
}
