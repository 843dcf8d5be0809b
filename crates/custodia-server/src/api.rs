//! The `/v1` handlers for customer records, the audit log, accounts and
//! meta endpoints. Each is one expression: extract, call the vault's
//! caller-bound operation on a blocking thread, shape the answer. The
//! vault decides every authorization; errors become problem details.

use crate::docs::*;
use crate::extract::{Caller, Lng, J, Q};
use crate::problem::Problem;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use custodia_core::policy::Permission;
use custodia_vault::access::identity::AccountKind;
use custodia_vault::{CustomerView, FieldProblem, RecordInput, RecordPatch, VaultError};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

type ApiResult = Result<Response, Problem>;

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

fn with_etag(status: StatusCode, v: &CustomerView) -> Response {
    let mut r = (status, Json(v)).into_response();
    r.headers_mut().insert(header::ETAG, etag(v.version));
    r
}

fn not_a_string(k: &str, what: &str) -> FieldProblem {
    FieldProblem {
        field: k.chars().take(64).collect(),
        code: "not_a_string".into(),
        message: format!("must be {what}"),
    }
}

/// Convert a JSON object into a record; every value must be a string.
fn record_from_json(obj: Map<String, Value>) -> Result<RecordInput, VaultError> {
    let mut input = RecordInput::default();
    let mut problems = Vec::new();
    for (k, v) in obj {
        match v {
            Value::Array(_) if k == "consents" => match serde_json::from_value(v) {
                Ok(c) => input.consents = c,
                Err(e) => problems.push(FieldProblem {
                    field: "consents".into(),
                    code: "bad_consent".into(),
                    message: format!("each consent is {{purpose, channel, language[, action, separate, by, text_sha256, notice_version]}}: {e}"),
                }),
            },
            Value::String(s) if k == "external_id" => input.external_id = Some(s),
            Value::String(s) => {
                input.fields.insert(k, s);
            }
            _ => problems.push(not_a_string(&k, "a JSON string")),
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

fn patch_from_json(body: Value) -> Result<RecordPatch, VaultError> {
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
            _ => problems.push(not_a_string(&k, "a JSON string or null")),
        }
    }
    if problems.is_empty() {
        Ok(patch)
    } else {
        Err(VaultError::Invalid(problems))
    }
}

/// The declared purpose of an access to customer data (required).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PurposeQuery {
    /// Declared purpose from the catalog, e.g. `customer_service`.
    pub(crate) purpose: Option<String>,
}

/// Purpose and reveal parameters of reads.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RevealQuery {
    /// Declared purpose from the catalog, e.g. `customer_service` (required).
    purpose: Option<String>,
    /// Show clear values of the fields the purpose and the caller's grants allow.
    #[serde(default)]
    reveal: bool,
    /// Comma-separated fields to reveal (default: all).
    fields: Option<String>,
}

#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerInputDoc, params(PurposeQuery),
    responses((status = 201, description = "Created (masked)", body = CustomerDoc), (status = 422, description = "Schema violation", body = ProblemDoc), (status = 401, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Create a customer.
pub async fn create_customer(
    State(s): State<AppState>,
    c: Caller,
    Q(q): Q<PurposeQuery>,
    J(body): J<Value>,
) -> ApiResult {
    let out = c
        .run(&s, move |v, p| {
            let input = record_from_json(object(body)?)?;
            v.create(p, &input, &v.required_purpose(q.purpose.as_deref())?)
        })
        .await?;
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
pub async fn create_batch(State(s): State<AppState>, c: Caller, Q(q): Q<PurposeQuery>, J(body): J<Value>) -> ApiResult {
    let results = c
        .run(&s, move |v, p| {
            let mut obj = object(body)?;
            let records = match obj.remove("records") {
                Some(Value::Array(a)) if obj.is_empty() => a,
                _ => return Err(VaultError::Input("the body must be {\"records\": [ ... ]}".into())),
            };
            if records.len() > custodia_vault::records::MAX_BATCH {
                return Err(VaultError::BatchTooLarge {
                    max: custodia_vault::records::MAX_BATCH,
                    got: records.len(),
                });
            }
            let purpose = v.required_purpose(q.purpose.as_deref())?;
            let parsed: Vec<Result<RecordInput, VaultError>> = records
                .into_iter()
                .map(|r| object(r).and_then(record_from_json))
                .collect();
            let valid: Vec<RecordInput> = parsed.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
            let mut created = v.create_batch(p, &valid, &purpose)?.into_iter();
            Ok(parsed
                .into_iter()
                .map(|r| match r {
                    Err(e) => Err(e),
                    Ok(_) => created.next().expect("one result per valid record"),
                })
                .collect::<Vec<_>>())
        })
        .await?;
    let mut ok = 0;
    let items: Vec<Value> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(cv) => {
                ok += 1;
                json!({"index": i, "status": 201, "customer": cv})
            }
            Err(e) => {
                let p = c.problem(&e);
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
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<RevealQuery>,
) -> ApiResult {
    // A point read takes microseconds, so it runs on the async thread; the
    // audit commit is awaited without holding a thread (group commit).
    let (view, pending) = s
        .vault
        .access(q.purpose.as_deref(), q.reveal, q.fields.as_deref())
        .and_then(|access| s.vault.get_submitted(&c.p, &id, &access))
        .map_err(|e| c.problem(&e))?;
    for r in pending.wait_async().await.map_err(|e| c.problem(&e.into()))? {
        r.map_err(|e| c.problem(&e.into()))?;
    }
    Ok(with_etag(StatusCode::OK, &view))
}

#[utoipa::path(get, path = "/v1/customers", tag = "customers",
    params(("field=value" = String, Query, description = "Exactly one searchable field and the value to match, e.g. `email=a@example.com`"), RevealQuery, ("limit" = Option<usize>, Query, description = "Most results (default 100)")),
    responses((status = 200, description = "Matching customers", body = [CustomerDoc]), (status = 400, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Exact-match search through a blind index.
pub async fn find_customers(State(s): State<AppState>, c: Caller, Q(mut q): Q<BTreeMap<String, String>>) -> ApiResult {
    let found = c
        .run(&s, move |v, p| {
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
            let access = v.access(purpose.as_deref(), reveal, fields.as_deref())?;
            v.find(p, &field, &value, &access, limit)
        })
        .await?;
    Ok(Json(found).into_response())
}

#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "Customer id"), ("If-Match" = Option<String>, Header, description = "The version read (ETag); refuses the update if the record changed"), PurposeQuery),
    request_body(content = CustomerInputDoc, description = "Fields to set; null removes a field"),
    responses((status = 200, body = CustomerDoc), (status = 412, body = ProblemDoc), (status = 422, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Change fields of a customer.
pub async fn update_customer(
    State(s): State<AppState>,
    c: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
    J(body): J<Value>,
) -> ApiResult {
    let expected = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    Problem::new(
                        "bad_input",
                        "If-Match must be the ETag of the record, e.g. \"3\"",
                        c.lang,
                    )
                })?,
        ),
    };
    let view = c
        .run(&s, move |v, p| {
            let patch = patch_from_json(body)?;
            v.update(p, &id, &patch, expected, &v.required_purpose(q.purpose.as_deref())?)
        })
        .await?;
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
    c: Caller,
    Path(id): Path<String>,
    Q(q): Q<PurposeQuery>,
) -> ApiResult {
    let erased = c
        .run(&s, move |v, p| {
            v.delete(p, &id, &v.required_purpose(q.purpose.as_deref())?)
        })
        .await?;
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
pub async fn audit_tail(State(s): State<AppState>, c: Caller, Q(q): Q<TailQuery>) -> ApiResult {
    let events = c
        .run(&s, move |v, p| v.audit_tail(p, q.limit.unwrap_or(50).clamp(1, 1000)))
        .await?;
    Ok(Json(events).into_response())
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

/// A completed training, entered by whoever holds `manage_training`
/// (never for themselves).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingInput {
    /// Staff account.
    account: String,
    /// Course id from the policy, e.g. `privacy_basics`.
    course: String,
    /// Completion date, YYYY-MM-DD.
    completed: String,
    /// Score 0-100 (below the course's pass mark it is recorded but does not count).
    score: i64,
    /// Expiry date, YYYY-MM-DD (default and latest: the course's validity).
    #[serde(default)]
    expires: Option<String>,
}

#[utoipa::path(post, path = "/v1/training", tag = "meta", request_body = TrainingInput,
    responses((status = 201, description = "Recorded"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Record a staff member's completed training (needs `manage_training`).
pub async fn record_training(State(s): State<AppState>, c: Caller, J(t): J<TrainingInput>) -> ApiResult {
    let view = c
        .run(&s, move |v, p| {
            let date = |s: &str, what: &str| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| VaultError::Input(format!("{what} is not a date written YYYY-MM-DD")))
            };
            let expires = t.expires.as_deref().map(|e| date(e, "expires")).transpose()?;
            v.record_training(
                p,
                &t.account,
                &t.course,
                date(&t.completed, "completed")?,
                t.score,
                expires,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A new account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// Login name (2-64 of a-z, 0-9, `.`, `_`, `-`, `@`).
    name: String,
    /// `staff` (a person: password, then MFA) or `service` (an application: API tokens).
    kind: String,
    /// Roles from the policy.
    roles: Vec<String>,
    /// A staff member's first password (passes the password policy), for
    /// a server without mail. Prefer `email`: the person then gets a setup
    /// link and chooses the password themselves.
    #[serde(default)]
    password: Option<String>,
    /// A staff member's e-mail address: a one-time setup link goes there.
    #[serde(default)]
    email: Option<String>,
}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = AccountInput,
    responses((status = 201, description = "The account (no secrets)"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Create an account (needs `manage_accounts`; the bootstrap token creates
/// the first administrator, and is switched off by it).
pub async fn create_account(State(s): State<AppState>, c: Caller, J(a): J<AccountInput>) -> ApiResult {
    let view = c
        .run(&s, move |v, p| {
            let kind = match a.kind.as_str() {
                "staff" => AccountKind::Staff,
                "service" => AccountKind::Service,
                _ => return Err(VaultError::Input("kind is staff or service".into())),
            };
            let password = a.password.map(Zeroizing::new);
            match (kind, a.email.as_deref(), password) {
                (AccountKind::Staff, Some(email), None) => v.invite_staff(p, &a.name, &a.roles, email),
                (_, Some(_), _) => Err(VaultError::Input(
                    "give a staff account an e-mail address (it gets a setup link) or a password, not both; service accounts have neither".into(),
                )),
                (kind, None, password) => {
                    v.create_account(p, &a.name, kind, &a.roles, password.as_deref().map(String::as_str))
                }
            }
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/v1/accounts", tag = "accounts",
    responses((status = 200, description = "Every account: name, kind, roles, MFA, trainings (no secrets)"), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// List accounts (needs `manage_accounts` or `review_access`).
pub async fn list_accounts(State(s): State<AppState>, c: Caller) -> ApiResult {
    Ok(Json(c.run(&s, |v, p| v.accounts(p)).await?).into_response())
}

/// An account's new set of roles.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesInput {
    /// Every role the account holds afterwards.
    roles: Vec<String>,
}

#[utoipa::path(put, path = "/v1/accounts/{name}/roles", tag = "accounts", request_body = RolesInput,
    params(("name" = String, Path, description = "Login name")),
    responses((status = 200, description = "The account (no secrets)"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Replace an account's roles: administrative roles need `manage_accounts`,
/// every other role `review_access` (a privacy officer); never one's own.
pub async fn set_roles(
    State(s): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    J(r): J<RolesInput>,
) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.set_roles(p, &name, &r.roles)).await?).into_response())
}
