//! The server's own tests: the router in process (no TLS, no sockets),
//! over a real vault in a temporary data directory. The integration tests
//! (`custodia/tests/it`) drive the real binary over HTTPS.

use crate::app;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use custodia_vault::{DataDir, MasterChoice, Vault};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

fn vault(dir: &std::path::Path) -> Arc<Vault> {
    let (v, _) = Vault::init(&DataDir::new(dir), None, MasterChoice::KeyFile(None), "operator:test").unwrap();
    Arc::new(v)
}

async fn get(router: &axum::Router, uri: &str, lang: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let req = Request::get(uri)
        .header(header::ACCEPT_LANGUAGE, lang)
        .extension(crate::pages::ClientAddr("127.0.0.1:5000".parse().unwrap()))
        .body(Body::empty())
        .unwrap();
    let r = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = r.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Run `f` on a runtime like the server's, over a router whose vault was
/// opened outside it (opening waits for the store, which a runtime thread
/// must not).
fn with_app<F: std::future::Future<Output = ()>>(f: impl FnOnce(axum::Router, utoipa::openapi::OpenApi) -> F) {
    let d = tempfile::tempdir().unwrap();
    let v = vault(d.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (router, spec) = rt.block_on(async { app(v, true) });
    rt.block_on(f(router, spec));
}

#[test]
fn open_pages_render_in_both_languages_under_the_page_policy() {
    with_app(|router, _| async move {
        for (uri, en, zh) in [
            ("/login", "Sign in to Custodia", "登录 Custodia"),
            ("/password/forgot", "Forgot your password", "忘记密码"),
            ("/portal/enter", "Your privacy portal", "个人信息隐私门户"),
        ] {
            for (lang, want, html_lang) in [("en", en, "en"), ("zh-CN,zh;q=0.9", zh, "zh-CN")] {
                let (status, h, body) = get(&router, uri, lang).await;
                assert_eq!(status, StatusCode::OK, "{uri} {lang}");
                assert!(body.contains(want), "{uri} {lang}: {body}");
                assert!(body.contains(&format!("<html lang=\"{html_lang}\">")), "{uri}");
                assert!(
                    !body.contains("{{") && !body.contains("{%"),
                    "{uri}: template syntax left"
                );
                let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
                assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe"), "{csp}");
                assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
                assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_some(), "HSTS on HTTPS");
            }
        }
        // `?lang=` wins over the header.
        let (_, _, body) = get(&router, "/login?lang=zh", "en").await;
        assert!(body.contains("登录 Custodia"));
    });
}

#[test]
fn what_a_page_echoes_is_escaped_and_signed_in_pages_send_strangers_to_sign_in() {
    with_app(|router, _| async move {
        // The portal's entry page fills in the code from the link: escaped.
        let (status, _, body) = get(&router, "/portal/enter?code=%22%3E%3Cscript%3Ex%3C/script%3E", "en").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("<script>x"), "{body}");
        assert!(body.contains("&#34;&#62;&#60;script&#62;"), "{body}");
        for uri in [
            "/account",
            "/mfa/enroll",
            "/account/password",
            "/reports/consents",
            "/console",
            "/console/search",
            "/console/customers/cus_0190a4b2c3d47e8f9a0b1c2d3e4f5a6b",
        ] {
            let (status, h, _) = get(&router, uri, "en").await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
            assert_eq!(h[header::LOCATION], "/login", "{uri}");
        }
        let (status, h, _) = get(&router, "/portal", "en").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(h[header::LOCATION].to_str().unwrap().starts_with("/portal/enter"));
    });
}

#[test]
fn the_api_answers_problems_in_the_callers_language() {
    with_app(|router, spec| async move {
        let (status, h, body) = get(&router, "/v1/customers/x", "zh").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
        let p: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(p["code"], "unauthorized");
        assert_eq!(p["title"], "需要身份验证");
        let (status, _, body) = get(&router, "/v1/no-such-thing", "en").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("not_found"));
        let (status, _, body) = get(&router, "/v1/health", "en").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Every concern's routes are in the document, open and protected.
        for path in [
            "/v1/customers",
            "/v1/accounts",
            "/v1/notices",
            "/v1/requests",
            "/v1/detect",
            "/v1/audit",
            "/v1/health",
        ] {
            assert!(spec.paths.paths.contains_key(path), "{path}");
        }
    });
}

#[test]
fn the_served_openapi_document_is_exact() {
    with_app(|router, _| async move {
        let (status, _, body) = get(&router, "/v1/openapi.json", "en").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut ops = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ops += 1;
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap();
                    assert!(!name.contains('='), "{method} {path}: parameter {name}");
                    if p["in"] == "path" {
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: {name} is not in the path"
                        );
                    }
                }
                for (code, r) in op["responses"].as_object().unwrap() {
                    if code.parse::<u16>().unwrap() >= 400 {
                        assert!(
                            r["content"]["application/problem+json"].is_object(),
                            "{method} {path} {code}"
                        );
                    }
                }
                for code in ["400", "401", "403", "429", "503"] {
                    assert!(op["responses"][code].is_object(), "{method} {path} lacks {code}");
                }
            }
        }
        assert!(ops > 40, "{ops}");
        let search: Vec<&str> = doc["paths"]["/v1/customers"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            search.contains(&"mobile") && search.contains(&"national_id") && search.contains(&"purpose"),
            "{search:?}"
        );
        let input = &doc["components"]["schemas"]["CustomerInputDoc"];
        assert_eq!(input["additionalProperties"], false);
        for f in ["name", "mobile", "national_id", "country", "external_id", "consents"] {
            assert!(input["properties"][f].is_object(), "{f}");
        }
    });
}

fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
        prop_oneof![Just("name"), Just("external_id"), Just("consents"), Just("mobile")]
            .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("external_id".to_owned()),
                    Just("consents".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("CUSTODIA_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..Default::default()
    })]

    /// Fuzz harness: JSON bodies of the record endpoints (arbitrary values)
    /// are turned into records or refused with a problem, never a panic.
    #[test]
    fn fuzz_record_bodies(v in json_value()) {
        if let serde_json::Value::Object(m) = v.clone() {
            match crate::api::records::record_from_json(m) {
                Ok(r) => proptest::prop_assert!(r.fields.keys().all(|k| k != "consents" && k != "external_id")),
                Err(e) => proptest::prop_assert!(!e.to_string().is_empty()),
            }
        }
        let _ = crate::api::records::patch_from_json(v);
    }
}
