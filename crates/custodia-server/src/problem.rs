//! RFC 9457 problem details, in English or Chinese.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use custodia_vault::{FieldProblem, VaultError};
use serde::Serialize;

/// Language of the texts a person reads (the one language type, shared
/// with notices and consent texts).
pub use custodia_core::notice::Language as Lang;

/// The language an `Accept-Language` header asks for: Chinese if it comes
/// first, else English.
pub fn lang_from_headers(h: &HeaderMap) -> Lang {
    let v = h
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if v.trim_start().to_ascii_lowercase().starts_with("zh") {
        Lang::Zh
    } else {
        Lang::En
    }
}

/// Titles per stable code: (code, status, English, Chinese).
pub const TITLES: &[(&str, u16, &str, &str)] = &[
    ("unauthorized", 401, "Authentication required", "需要身份验证"),
    (
        "too_many_requests",
        429,
        "Too many failed attempts from this address; wait and retry",
        "来自该地址的失败尝试过多，请稍后再试",
    ),
    (
        "sign_in_busy",
        503,
        "Sign-in is busy; retry in a few seconds",
        "登录繁忙，请几秒后重试",
    ),
    ("forbidden", 403, "Not allowed", "无权执行此操作"),
    (
        "mfa_required",
        403,
        "Multi-factor authentication is required",
        "须先完成多因素身份验证",
    ),
    (
        "step_up_required",
        403,
        "Confirm your second factor again to reveal",
        "显示明文前须再次验证第二因素",
    ),
    (
        "training_required",
        403,
        "Valid privacy training is required",
        "须先完成有效的个人信息保护培训",
    ),
    (
        "separation_of_duties",
        403,
        "Another person must take this step",
        "职责分离：此步骤须由他人完成",
    ),
    (
        "delivery_failed",
        502,
        "The message could not be delivered",
        "消息未能送达",
    ),
    ("not_found", 404, "Not found", "未找到"),
    ("method_not_allowed", 405, "Method not allowed", "不支持该请求方法"),
    (
        "version_conflict",
        412,
        "The record changed since it was read",
        "记录已被他人修改",
    ),
    ("payload_too_large", 413, "Request body too large", "请求体过大"),
    (
        "unsupported_media_type",
        415,
        "Send JSON (Content-Type: application/json)",
        "请以 JSON 格式提交 (Content-Type: application/json)",
    ),
    (
        "malformed_json",
        400,
        "The request body is not valid JSON of the expected shape",
        "请求体不是符合要求的 JSON",
    ),
    ("bad_input", 400, "Malformed request", "请求格式错误"),
    (
        "invalid_record",
        422,
        "The record breaks the customer schema",
        "记录不符合客户信息模式",
    ),
    ("unknown_field", 422, "Unknown field", "未知字段"),
    (
        "purpose_required",
        400,
        "Customer data access needs a declared purpose",
        "访问客户信息须声明处理目的",
    ),
    ("unknown_purpose", 400, "Unknown processing purpose", "未知的处理目的"),
    (
        "not_searchable",
        400,
        "This field cannot be searched",
        "该字段不支持检索",
    ),
    ("batch_too_large", 413, "Too many records in one batch", "单批记录过多"),
    (
        "storage_unavailable",
        503,
        "Storage is unavailable; retry shortly",
        "存储暂不可用，请稍后重试",
    ),
    (
        "not_necessary",
        422,
        "Data not necessary for any purpose in force",
        "超出处理目的所必需的个人信息",
    ),
    (
        "no_notice",
        409,
        "No privacy notice is published",
        "尚未发布个人信息保护政策",
    ),
    (
        "notice_version",
        409,
        "That notice version cannot be published",
        "无法发布该版本的个人信息保护政策",
    ),
    (
        "purpose_not_in_notice",
        403,
        "The purpose is not in the privacy notice",
        "该处理目的未在个人信息保护政策中告知",
    ),
    (
        "purpose_limitation",
        403,
        "The privacy notice does not list these fields for the purpose",
        "个人信息保护政策未就该处理目的列明这些字段",
    ),
    (
        "consent_required",
        403,
        "The customer's consent for this purpose is not in force",
        "个人未就该处理目的作出有效同意",
    ),
    (
        "request_state",
        409,
        "The request cannot take this step now",
        "该请求当前无法执行此步骤",
    ),
    (
        "legal_hold",
        409,
        "A legal hold stops the destruction",
        "存在诉讼保留，不得销毁",
    ),
    (
        "processing_stopped",
        403,
        "Processing is restricted or objected to for this customer",
        "该个人已限制或拒绝此项处理",
    ),
    (
        "erased_before",
        409,
        "This person was erased before",
        "该个人的信息此前已被删除",
    ),
    ("internal", 500, "Internal error", "内部错误"),
];

/// A problem response.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, human-readable summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong in this case (never contains personal data).
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Per-field problems, when a record was refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// Extension members (RFC 9457 §3.2), e.g. the purpose and missing
    /// consent kinds of a `consent_required` problem.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem with code `code` and `detail`, titled in `lang`.
    pub fn new(code: &str, detail: impl Into<String>, lang: Lang) -> Problem {
        let (status, en, zh) =
            TITLES
                .iter()
                .find(|t| t.0 == code)
                .map(|t| (t.1, t.2, t.3))
                .unwrap_or((500, "Internal error", "内部错误"));
        Problem {
            kind: format!("urn:custodia:problem:{code}"),
            title: if lang == Lang::Zh { zh } else { en }.to_owned(),
            status,
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// From a vault error.
    pub fn from_vault(e: &VaultError, lang: Lang) -> Problem {
        let code = match e {
            VaultError::Store(_) if e.code() == "storage" => "internal",
            VaultError::Crypto(_)
            | VaultError::Io(_)
            | VaultError::Config(_)
            | VaultError::NotInitialized(_)
            | VaultError::AlreadyInitialized(_) => "internal",
            VaultError::Input(_) => "bad_input",
            _ => e.code(),
        };
        let detail = if code == "internal" {
            // Internal details go to the server log, not to the caller.
            tracing::error!(error = %e, "request failed");
            "the server could not complete the request; the event was logged".to_owned()
        } else {
            e.to_string()
        };
        let mut p = Problem::new(code, detail, lang);
        p.errors = e.problems().to_vec();
        match e {
            VaultError::ConsentRequired {
                purpose,
                state,
                kinds,
                citations,
                ..
            } => {
                p.extensions.insert("purpose".into(), purpose.clone().into());
                p.extensions.insert("consent_state".into(), state.clone().into());
                p.extensions.insert("required_consent".into(), kinds.clone().into());
                p.extensions.insert("citations".into(), citations.clone().into());
            }
            VaultError::PurposeLimitation { purpose, fields, .. } => {
                p.extensions.insert("purpose".into(), purpose.clone().into());
                p.extensions.insert("fields".into(), fields.clone().into());
            }
            VaultError::PurposeNotInNotice { purpose, .. } => {
                p.extensions.insert("purpose".into(), purpose.clone().into());
            }
            VaultError::ErasedBefore {
                matched,
                tombstone,
                certificate,
            } => {
                p.extensions.insert("matched".into(), matched.clone().into());
                p.extensions.insert("tombstone".into(), tombstone.clone().into());
                p.extensions.insert("certificate".into(), certificate.clone().into());
            }
            _ => {}
        }
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"custodia\""),
            );
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_title_has_both_languages_and_a_real_status() {
        for (code, status, en, zh) in TITLES {
            assert!(!en.is_empty() && !zh.is_empty(), "{code}");
            assert!(StatusCode::from_u16(*status).is_ok(), "{code}");
            assert!(zh.chars().any(|c| c as u32 > 0x3000), "{code} has no Chinese title");
        }
    }

    #[test]
    fn every_vault_code_maps_to_a_title() {
        for code in [
            "invalid_record",
            "unknown_field",
            "not_found",
            "version_conflict",
            "purpose_required",
            "unknown_purpose",
            "not_searchable",
            "batch_too_large",
            "bad_input",
            "storage_unavailable",
            "not_necessary",
            "no_notice",
            "notice_version",
            "purpose_not_in_notice",
            "purpose_limitation",
            "consent_required",
            "request_state",
            "legal_hold",
            "processing_stopped",
            "erased_before",
        ] {
            assert!(TITLES.iter().any(|t| t.0 == code), "{code}");
        }
    }
}
