//! `/v1` customer records: create (one or a batch), read with a purpose
//! and reveals, search by blind index, update with optimistic versions,
//! erase. Each handler is one expression: extract, call the vault's
//! caller-bound operation on a blocking thread, shape the answer.

use super::docs::*;
use crate::extract::{Caller, J, Q};
use crate::problem::Problem;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use custodia_vault::{CustomerView, FieldProblem, RecordInput, RecordPatch, VaultError};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ApiResult;

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
pub(crate) fn record_from_json(obj: Map<String, Value>) -> Result<RecordInput, VaultError> {
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
            _ if k == "consents" => problems.push(not_a_string(&k, "a JSON array of consents")),
            Value::String(s) if k == "external_id" => input.external_id = Some(s),
            Value::String(s) if k == "new_collection_basis" => input.new_collection_basis = Some(s),
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

pub(crate) fn patch_from_json(body: Value) -> Result<RecordPatch, VaultError> {
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
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PurposeQuery {
    /// Declared purpose from the catalog, e.g. `customer_service`.
    pub(crate) purpose: Option<String>,
}

/// Purpose and reveal parameters of reads.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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

/// This concern's routes behind authentication.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer))
        .routes(routes!(find_customers))
        .routes(routes!(create_batch))
        .routes(routes!(get_customer, update_customer, delete_customer))
}
