//! Types that describe the API in the OpenAPI document.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// A customer as returned: values masked unless revealed.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "cus_0190a4b2c3d47e8f9a0b1c2d3e4f5a6b", "external_id": "CRM-000000001", "version": 1,
    "created_at": "2026-11-23T07:00:00.000Z", "updated_at": "2026-11-23T07:00:00.000Z",
    "fields": {"name": "张*丰", "mobile": "138****8000", "email": "z***@example.com", "segment": "vip"}}))]
pub struct CustomerDoc {
    /// Customer id.
    pub id: String,
    /// The company's own key.
    pub external_id: Option<String>,
    /// Record version; send it back in `If-Match` to update safely.
    pub version: i64,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// Field values by name (see `GET /v1/schema`).
    pub fields: std::collections::BTreeMap<String, String>,
    /// Fields shown in clear.
    pub revealed: Option<Vec<String>>,
    /// Purpose declared for the reveal.
    pub purpose: Option<String>,
}

/// A new customer: field name → value (strings), plus an optional
/// `external_id`. Unknown fields are refused.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"external_id": "CRM-000000001", "name": "张三丰", "mobile": "13800138000", "email": "zhang@example.com", "segment": "vip"}))]
pub struct CustomerInputDoc {
    /// The company's own key (makes retries and imports idempotent).
    pub external_id: Option<String>,
    /// Any schema field, as a string.
    #[serde(flatten)]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// Several customers at once (at most 1000).
#[derive(Serialize, ToSchema)]
pub struct BatchDoc {
    /// The records.
    pub records: Vec<CustomerInputDoc>,
}

/// One record's outcome in a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchItemDoc {
    /// Position in the request.
    pub index: usize,
    /// 201 when created, otherwise the problem's status.
    pub status: u16,
    /// The created customer (masked).
    pub customer: Option<CustomerDoc>,
    /// Why it was refused.
    pub problem: Option<ProblemDoc>,
}

/// Batch outcome.
#[derive(Serialize, ToSchema)]
pub struct BatchResultDoc {
    /// Records created.
    pub created: usize,
    /// Records refused.
    pub failed: usize,
    /// Per-record outcomes, in request order.
    pub results: Vec<BatchItemDoc>,
}

/// RFC 9457 problem details.
#[derive(Serialize, ToSchema)]
pub struct ProblemDoc {
    /// Problem type URI.
    #[serde(rename = "type")]
    pub kind: String,
    /// Summary (English or Chinese per `Accept-Language`).
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// This occurrence.
    pub detail: String,
    /// Stable code.
    pub code: String,
    /// Field problems.
    pub errors: Option<Vec<FieldProblemDoc>>,
}

/// One field's problem.
#[derive(Serialize, ToSchema)]
pub struct FieldProblemDoc {
    /// Field name.
    pub field: String,
    /// Rule code.
    pub code: String,
    /// Message.
    pub message: String,
}

/// An audit event.
#[derive(Serialize, ToSchema)]
pub struct AuditEventDoc {
    /// Position in the chain.
    pub seq: u64,
    /// Time, ms since the epoch.
    pub ts_ms: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Whose data.
    pub customer: Option<String>,
    /// Which fields (names only).
    pub fields: Option<Vec<String>>,
    /// Declared purpose.
    pub purpose: Option<String>,
    /// ok, denied or failed.
    pub outcome: String,
    /// Note (never values).
    pub detail: Option<String>,
    /// Previous MAC (hex).
    pub prev: String,
    /// This event's MAC (hex).
    pub mac: String,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document's fixed parts; paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Custodia API", description = "Customer-information vault with privacy built in. All values of personal fields are masked unless a reveal declares a purpose; every call is audited."),
    modifiers(&Bearer),
    components(schemas(CustomerDoc, CustomerInputDoc, BatchDoc, BatchResultDoc, BatchItemDoc, ProblemDoc, FieldProblemDoc, AuditEventDoc)),
    tags((name = "customers", description = "Customer records"), (name = "audit", description = "The audit log"), (name = "meta", description = "Service information"), (name = "deidentification", description = "PII detection and vault tokens"))
)]
pub struct ApiDoc;

/// Errors any operation may answer, each as problem details: malformed
/// input, no or a bad token, a refusal, nothing there, a conflict with the
/// state, too large, not JSON, a business rule, too many requests, storage
/// unavailable.
const COMMON_ERRORS: &[u16] = &[400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503];

/// The served document, made exact where the derived one cannot be: query
/// parameters declared as such, the customer search's one parameter per
/// searchable field, the customer input's fields from this data
/// directory's schema, and every error as `application/problem+json`.
pub fn finish(spec: &utoipa::openapi::OpenApi, schema: &custodia_core::Schema) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut doc = serde_json::to_value(spec).expect("the OpenAPI document serializes");
    let problem = json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDoc"}}});
    let title = |status: u16| {
        crate::problem::TITLES
            .iter()
            .find(|t| t.1 == status)
            .map(|t| t.2)
            .unwrap_or("Error")
    };
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(ops) = item.as_object_mut() else { continue };
            for (method, op) in ops.iter_mut() {
                let Some(op) = op.as_object_mut() else { continue };
                if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                    for p in params.iter_mut() {
                        let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                        if p.get("in") == Some(&json!("path")) && !path.contains(&format!("{{{name}}}")) {
                            p["in"] = json!("query");
                        }
                        if name == "If-Match" {
                            // An ETag this API issued: a version in quotes.
                            p["schema"] = json!({"type": "string", "pattern": "^(W/)?\"[0-9]{1,18}\"$"});
                        }
                    }
                    if path == "/v1/customers" && method == "get" {
                        params.retain(|p| p.get("name") != Some(&json!("field=value")));
                        for f in schema.fields().iter().filter(|f| f.searchable) {
                            params.push(json!({
                                "name": f.name.as_str(), "in": "query", "required": false,
                                "description": format!("Search by {} (exactly one searchable field per search)", f.label_en),
                                "schema": {"type": "string"},
                            }));
                        }
                    }
                }
                let responses = op
                    .entry("responses")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("responses is an object");
                for (code, r) in responses.iter_mut() {
                    if code.parse::<u16>().is_ok_and(|c| c >= 400) {
                        r["content"] = problem.clone();
                    }
                }
                for status in COMMON_ERRORS {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| json!({"description": title(*status), "content": problem.clone()}));
                }
            }
        }
    }
    let mut properties = serde_json::Map::new();
    properties.insert(
        "external_id".into(),
        json!({"type": "string", "description": "The company's own key (1-64 of letters, digits, - _ . :)"}),
    );
    properties.insert(
        "new_collection_basis".into(),
        json!({"type": "string", "description": "For a person erased before: why they are collected again (needs readmit_erased)"}),
    );
    properties.insert(
        "consents".into(),
        json!({"type": "array", "items": {"type": "object"}, "description": "Consents given with the record: {purpose, channel, language[, action, separate, by, text_sha256, notice_version]}"}),
    );
    for f in schema.fields() {
        properties.insert(
            f.name.to_string(),
            json!({"type": "string", "description": format!("{} ({:?}, {:?})", f.label_en, f.kind, f.classification)}),
        );
    }
    let required: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.insert(
            "CustomerInputDoc".into(),
            json!({
                "type": "object", "properties": properties, "required": required, "additionalProperties": false,
                "description": "A customer record: the schema's fields as strings; any other name is refused",
                "example": {"external_id": "CRM-000000001", "name": "张三丰", "mobile": "13800138000", "email": "zhang@example.com", "segment": "vip"},
            }),
        );
    }
    doc
}
