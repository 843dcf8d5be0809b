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
