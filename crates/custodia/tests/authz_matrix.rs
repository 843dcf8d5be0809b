//! The authorization matrix: every API endpoint, every built-in role (as a
//! service account token), the bootstrap token and anonymous callers, each
//! with its exact expected status. An endpoint in the OpenAPI document
//! without a row here fails the test.

mod common;
use common::*;
use hyper::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeSet;

const CALLERS: [&str; 7] = [
    "anonymous",
    "bootstrap",
    "cs_agent",
    "risk_analyst",
    "privacy_officer",
    "administrator",
    "marketing_specialist",
];

fn service_token(data: &std::path::Path, role: &str) -> String {
    let name = format!("svc-{}", role.replace('_', "-"));
    let o = run(data, &["user", "add", &name, "--role", role, "--service"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(data, &["token", "issue", "--account", &name, "--days", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    j["token"].as_str().unwrap().to_owned()
}

async fn new_customer(c: &mut custodia::client::Conn, boot: &str) -> String {
    let body = json!({"name": "张三", "mobile": "13800138000", "email": "z@example.com", "department": "service"});
    let r = call(c, boot, Method::POST, "/v1/customers", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.json()["id"].as_str().unwrap().to_owned()
}

struct Row {
    method: Method,
    /// Path with `{id}` for a customer in the service department.
    path: &'static str,
    body: Option<serde_json::Value>,
    /// Expected status per caller, in CALLERS order.
    expect: [u16; 7],
    /// For searches: expected number of results per caller (0 when not 200).
    results: Option<[usize; 7]>,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_every_role() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let s = Server::start(&data, &[]);
    let boot = s.token.clone().unwrap();
    let o = add_staff(&data, "li.na", "cs_agent", "correct horse battery staple");
    assert!(o.status.success(), "{}", stderr(&o));
    let mut tokens = vec![String::new(), boot.clone()];
    for role in &CALLERS[2..] {
        tokens.push(service_token(&data, role));
    }
    let mut c = s.conn().await;
    let id = new_customer(&mut c, &boot).await;
    // Risk control rests on separate consent: this customer gave it.
    let r = call(
        &mut c,
        &boot,
        Method::POST,
        &format!("/v1/customers/{id}/consents"),
        Some(json!({"consents": [{"purpose": "risk_control", "channel": "in_person", "language": "zh", "separate": true}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    // A request, a hold and a destruction certificate to address.
    let r = call(
        &mut c,
        &boot,
        Method::POST,
        "/v1/requests",
        Some(json!({"customer": id, "kind": "access", "regime": "gdpr"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let req = r.json()["id"].as_str().unwrap().to_owned();
    let r = call(
        &mut c,
        &boot,
        Method::POST,
        &format!("/v1/customers/{id}/holds"),
        Some(json!({"reason": "case 1"})),
    )
    .await;
    let hold = r.json()["id"].as_str().unwrap().to_owned();
    let victim = new_customer(&mut c, &boot).await;
    let r = call(&mut c, &boot, Method::DELETE, &format!("/v1/customers/{victim}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let cert = r.headers["custodia-destruction-certificate"]
        .to_str()
        .unwrap()
        .to_owned();
    // A vault token, from a customer's service notes.
    let body = json!({"name": "赵六", "department": "service", "notes": "客户新号码 13912345678"});
    let r = call(&mut c, &boot, Method::POST, "/v1/customers", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let noted = r.json()["id"].as_str().unwrap().to_owned();
    let r = call(
        &mut c,
        &boot,
        Method::GET,
        &format!("/v1/customers/{noted}?reveal=true&purpose=customer_service&fields=notes"),
        None,
    )
    .await;
    let notes = r.json()["fields"]["notes"].as_str().unwrap().to_owned();
    let token = notes
        .split("[[cn_mobile ")
        .nth(1)
        .unwrap()
        .split("]]")
        .next()
        .unwrap()
        .to_owned();
    let notice_v2 = custodia_core::notice::DEFAULT_NOTICE_TOML.replace("version = 1\n", "version = 2\n");
    let rows = vec![
        Row {
            method: Method::GET,
            path: "/v1/health",
            body: None,
            expect: [200, 200, 200, 200, 200, 200, 200],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/schema",
            body: None,
            expect: [401, 200, 200, 200, 200, 200, 200],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/customers?purpose=customer_service",
            body: Some(json!({"name": "李四", "mobile": "13900139000", "department": "service"})),
            expect: [401, 201, 403, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/customers:batch?purpose=customer_service",
            body: Some(json!({"records": [{"name": "王五", "department": "service"}]})),
            expect: [401, 200, 200, 200, 200, 200, 200],
            results: Some([0, 1, 0, 0, 0, 0, 0]),
        },
        Row {
            method: Method::GET,
            path: "/v1/customers?mobile=13800138000&purpose=customer_service",
            body: None,
            expect: [401, 200, 200, 200, 200, 200, 200],
            results: Some([0, 1, 1, 0, 0, 0, 0]),
        },
        Row {
            method: Method::GET,
            path: "/v1/customers?mobile=13800138000",
            body: None,
            expect: [401, 200, 400, 400, 400, 400, 400],
            results: Some([0, 1, 0, 0, 0, 0, 0]),
        },
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}?purpose=customer_service",
            body: None,
            expect: [401, 200, 200, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}?purpose=risk_control",
            body: None,
            expect: [401, 200, 403, 200, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}?purpose=data_subject_request",
            body: None,
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}?reveal=true&purpose=customer_service&fields=mobile",
            body: None,
            expect: [401, 200, 200, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}?reveal=true&purpose=customer_service&fields=email",
            body: None,
            expect: [401, 200, 403, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::PATCH,
            path: "/v1/customers/{id}?purpose=customer_service",
            body: Some(json!({"email": "new@example.com"})),
            expect: [401, 200, 200, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::PATCH,
            path: "/v1/customers/{id}?purpose=customer_service",
            body: Some(json!({"name": "张三丰"})),
            expect: [401, 200, 403, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/audit",
            body: None,
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/audit/verify",
            body: None,
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/policy/explain?account=svc-cs-agent&action=read_masked&field=mobile&customer={id}&purpose=customer_service",
            body: None,
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        Row { method: Method::GET, path: "/v1/session", body: None, expect: [401, 200, 200, 200, 200, 200, 200], results: None },
        Row {
            method: Method::POST,
            path: "/v1/training",
            body: Some(json!({"account": "li.na", "course": "privacy_basics", "completed": "2026-11-01", "score": 91, "expires": "2027-11-01"})),
            expect: [401, 201, 403, 403, 201, 403, 403],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/notices",
            body: Some(json!({"toml": notice_v2, "dry_run": true})),
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        Row { method: Method::GET, path: "/v1/notices", body: None, expect: [401, 200, 200, 200, 200, 200, 200], results: None },
        // Notices and the receipt-signing key are public.
        Row { method: Method::GET, path: "/v1/notices/{version}", body: None, expect: [200; 7], results: None },
        Row { method: Method::GET, path: "/v1/notices/{version}/diff?from=1", body: None, expect: [200; 7], results: None },
        Row { method: Method::GET, path: "/v1/keys/signing", body: None, expect: [200; 7], results: None },
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}/consents?purpose=customer_service",
            body: None,
            expect: [401, 200, 200, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/customers/{id}/consents?purpose=customer_service",
            body: Some(json!({"consents": [{"purpose": "marketing", "channel": "phone", "language": "zh"}]})),
            expect: [401, 201, 201, 403, 403, 403, 403],
            results: None,
        },
        // Marketing rests on consent: the customer has just given it …
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}?purpose=marketing",
            body: None,
            expect: [401, 200, 403, 403, 403, 403, 200],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/customers/{id}/consents?purpose=data_subject_request",
            body: Some(json!({"consents": [{"purpose": "marketing", "action": "withdraw", "channel": "web", "language": "en"}]})),
            expect: [401, 201, 403, 403, 201, 403, 403],
            results: None,
        },
        // … and withdrawn it: refused on the next request, even to the bootstrap token.
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}?purpose=marketing",
            body: None,
            expect: [401, 403, 403, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::GET,
            path: "/v1/customers/{id}/consent-receipts?purpose=customer_service",
            body: None,
            expect: [401, 200, 200, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/customers/{id}/portal-links?purpose=customer_service",
            body: Some(json!({"hours": 1})),
            expect: [401, 201, 201, 403, 403, 403, 403],
            results: None,
        },
        Row { method: Method::GET, path: "/v1/reports/consents", body: None, expect: [401, 200, 403, 403, 200, 403, 403], results: None },
        Row {
            method: Method::POST,
            path: "/v1/requests?purpose=customer_service",
            body: Some(json!({"customer": "{id}", "kind": "access"})),
            expect: [401, 201, 201, 403, 201, 403, 403],
            results: None,
        },
        Row { method: Method::GET, path: "/v1/requests", body: None, expect: [401, 200, 403, 403, 200, 403, 403], results: None },
        Row { method: Method::GET, path: "/v1/requests/{req}", body: None, expect: [401, 200, 403, 403, 200, 403, 403], results: None },
        Row {
            method: Method::POST,
            path: "/v1/requests/{req}/{step}",
            body: Some(json!({})),
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        Row { method: Method::GET, path: "/v1/customers/{id}/holds", body: None, expect: [401, 200, 403, 403, 200, 403, 403], results: None },
        Row {
            method: Method::POST,
            path: "/v1/customers/{id}/holds",
            body: Some(json!({"reason": "case 2"})),
            expect: [401, 201, 403, 403, 201, 403, 403],
            results: None,
        },
        // The first release works; the privacy officer is let through and finds it released.
        Row {
            method: Method::DELETE,
            path: "/v1/customers/{id}/holds/{hold}",
            body: None,
            expect: [401, 200, 403, 403, 404, 403, 403],
            results: None,
        },
        Row {
            method: Method::PUT,
            path: "/v1/customers/{id}/lifecycle?purpose=customer_service",
            body: Some(json!({"reviewed": true})),
            expect: [401, 200, 200, 403, 200, 403, 403],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/customers/{fresh}/erase?purpose=customer_service",
            body: Some(json!({"basis": "test"})),
            expect: [401, 200, 403, 403, 403, 403, 403],
            results: None,
        },
        Row {
            method: Method::POST,
            path: "/v1/retention/run",
            body: Some(json!({"dry_run": true})),
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        Row { method: Method::GET, path: "/v1/certificates/{cert}", body: None, expect: [401, 200, 403, 403, 200, 403, 403], results: None },
        // Detection needs only an authenticated caller; nothing is stored.
        Row {
            method: Method::POST,
            path: "/v1/detect",
            body: Some(json!({"text": "手机 13800138000", "types": ["cn_mobile"]})),
            expect: [401, 200, 200, 200, 200, 200, 200],
            results: None,
        },
        // Detokenizing is its own permission: the privacy officer's, for the customer's own request.
        Row {
            method: Method::POST,
            path: "/v1/tokens/detokenize?purpose=data_subject_request",
            body: Some(json!({"token": "{token}"})),
            expect: [401, 200, 403, 403, 200, 403, 403],
            results: None,
        },
        // Deletes run on a fresh customer each; only the bootstrap token succeeds.
        Row {
            method: Method::DELETE,
            path: "/v1/customers/{fresh}?purpose=customer_service",
            body: None,
            expect: [401, 204, 403, 403, 403, 403, 403],
            results: None,
        },
    ];

    // Every documented endpoint has a row.
    let spec = c.send(Method::GET, "/v1/openapi.json", &[], None).await.unwrap().json();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            let path = r
                .path
                .split('?')
                .next()
                .unwrap()
                .replace("{fresh}", "{id}")
                .replace("{req}", "{id}")
                .replace("{cert}", "{id}");
            (r.method.as_str().to_lowercase(), path)
        })
        .collect();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                covered.contains(&(method.clone(), path.clone())),
                "no authorization matrix row for {method} {path}"
            );
        }
    }

    let mut failures = Vec::new();
    for row in &rows {
        for (i, caller) in CALLERS.iter().enumerate() {
            let path = if row.path.contains("{fresh}") {
                let fresh = new_customer(&mut c, &boot).await;
                row.path.replace("{fresh}", &fresh)
            } else {
                row.path
                    .replace("{id}", &id)
                    .replace("{version}", "current")
                    .replace("{req}", &req)
                    .replace("{step}", "acknowledge")
                    .replace("{hold}", &hold)
                    .replace("{cert}", &cert)
            };
            let body = row.body.as_ref().map(|b| {
                let b = b.to_string().replace("{id}", &id).replace("{token}", &token);
                serde_json::from_str::<serde_json::Value>(&b).unwrap()
            });
            let auth = format!("Bearer {}", tokens[i]);
            let headers: Vec<(&str, &str)> = if i == 0 {
                vec![]
            } else {
                vec![("authorization", auth.as_str())]
            };
            let r = c
                .send(
                    row.method.clone(),
                    &path,
                    &headers,
                    body.as_ref().map(|b| serde_json::to_vec(b).unwrap()),
                )
                .await
                .unwrap();
            if r.status.as_u16() != row.expect[i] {
                failures.push(format!(
                    "{} {} as {caller}: got {} want {} ({})",
                    row.method,
                    row.path,
                    r.status.as_u16(),
                    row.expect[i],
                    String::from_utf8_lossy(&r.body)
                ));
                continue;
            }
            if let (Some(want), 200) = (row.results, r.status.as_u16()) {
                let j = r.json();
                let n = j
                    .as_array()
                    .map(|a| a.len())
                    .unwrap_or_else(|| j["created"].as_u64().unwrap_or(0) as usize);
                if n != want[i] {
                    failures.push(format!(
                        "{} {} as {caller}: {n} results, want {}",
                        row.method, row.path, want[i]
                    ));
                }
            }
            if r.status == StatusCode::FORBIDDEN {
                // Authorization is decided before consent: only callers the
                // policy lets use the purpose learn that consent is missing.
                let j = r.json();
                let allowed_by_policy = matches!(*caller, "bootstrap" | "marketing_specialist");
                if row.path.contains("purpose=marketing") && allowed_by_policy {
                    assert_eq!(j["code"], "consent_required", "{j}");
                    assert_eq!(j["consent_state"], "withdrawn", "{j}");
                } else {
                    assert_eq!(j["code"], "forbidden", "{caller} {}: {j}", row.path);
                    assert!(j["detail"].as_str().unwrap().contains("deny"), "{j}");
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );

    // A cs_agent view leaves out what the role may not see, and denials are audited.
    let r = call(
        &mut c,
        &tokens[2],
        Method::GET,
        &format!("/v1/customers/{id}?purpose=customer_service"),
        None,
    )
    .await;
    assert!(r.json()["fields"]["mobile"].as_str().unwrap().contains("****"));
    let r = call(&mut c, &boot, Method::GET, "/v1/audit?limit=1000", None).await;
    let denied = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access_denied" && e["actor"].as_str().unwrap().starts_with("service:"))
        .count();
    assert!(denied >= 10, "{denied}");

    // Revoked and scoped tokens.
    let o = run(
        &data,
        &[
            "token",
            "issue",
            "--account",
            "svc-cs-agent",
            "--scope",
            "read_masked",
            "--days",
            "1",
        ],
    );
    let scoped: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let scoped_tok = scoped["token"].as_str().unwrap().to_owned();
    let r = call(
        &mut c,
        &scoped_tok,
        Method::GET,
        &format!("/v1/customers/{id}?reveal=true&purpose=customer_service&fields=mobile"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "scope read_masked cannot reveal");
    let r = call(
        &mut c,
        &scoped_tok,
        Method::GET,
        &format!("/v1/customers/{id}?purpose=customer_service"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(run(&data, &["token", "revoke", scoped["id"].as_str().unwrap()])
        .status
        .success());
    let r = call(
        &mut c,
        &scoped_tok,
        Method::GET,
        &format!("/v1/customers/{id}?purpose=customer_service"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let o = run(
        &data,
        &["token", "issue", "--account", "svc-cs-agent", "--scope", "fly"],
    );
    assert_eq!(o.status.code(), Some(1));
}
