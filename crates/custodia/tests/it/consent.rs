//! Notices, consents, minimization and receipts over real HTTPS against the
//! real binary.

use crate::kit::*;
use hyper::{Method, StatusCode};
use serde_json::json;

async fn call_zh(
    c: &mut custodia::client::Conn,
    token: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> custodia::client::Resp {
    let auth = format!("Bearer {token}");
    c.send(
        method,
        path,
        &[("authorization", &auth), ("accept-language", "zh-CN,zh;q=0.9")],
        body.map(|b| serde_json::to_vec(&b).unwrap()),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_consents_minimization_and_receipts_over_https() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    add_roles(&data, CAMPAIGN_APP_ROLE);
    let s = Server::start(&data, &[]);
    let app = service_token(&data, "campaign_app");
    let marketer = service_token(&data, "marketing_specialist");
    let agent = service_token(&data, "cs_agent");
    let steward = service_token(&data, "data_steward");
    let officer = service_token(&data, "privacy_officer");
    let mut c = s.conn().await;

    // The notice in force is public, with the exact consent texts and their hashes.
    let r = c.send(Method::GET, "/v1/notices/current", &[], None).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let notice = r.json();
    assert_eq!(notice["version"], 1);
    let zh_hash = notice["consent_texts"]["marketing"]["zh_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(zh_hash.len(), 64);
    assert!(notice["consent_texts"]["marketing"]["zh"][1]
        .as_str()
        .unwrap()
        .contains("营销推广"));
    assert!(
        notice["consent_texts"].get("customer_service").is_none(),
        "contract basis: no consent text"
    );
    let r = c.send(Method::GET, "/v1/notices/7", &[], None).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Creating for a consent purpose needs the consent in the same request.
    let person =
        json!({"name": "陈静", "mobile": "13600136000", "email": "chen.jing@example.cn", "department": "service"});
    let r = call_zh(
        &mut c,
        &app,
        Method::POST,
        "/v1/customers?purpose=marketing",
        Some(person.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let p = r.json();
    assert_eq!(p["code"], "consent_required");
    assert_eq!(p["title"], "个人未就该处理目的作出有效同意");
    assert_eq!(p["required_consent"], json!(["general"]));
    let mut with = person.clone();
    with["consents"] = json!([{"purpose": "marketing", "channel": "web", "language": "zh", "text_sha256": zh_hash}]);
    let r = call(
        &mut c,
        &app,
        Method::POST,
        "/v1/customers?purpose=marketing",
        Some(with),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // A malformed consent is named.
    let mut bad = person.clone();
    bad["consents"] = json!([{"purpose": "marketing"}]);
    let r = call(&mut c, &app, Method::POST, "/v1/customers?purpose=marketing", Some(bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["code"], "bad_consent");

    // Read under marketing works; the receipt carries the hash of the text shown.
    let r = call(
        &mut c,
        &marketer,
        Method::GET,
        &format!("/v1/customers/{id}?purpose=marketing"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &mut c,
        &officer,
        Method::GET,
        &format!("/v1/customers/{id}/consent-receipts?purpose=data_subject_request"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let receipts = r.json();
    assert_eq!(receipts["receipts"][0]["receipt"]["noticeTextSha256"], zh_hash.as_str());
    assert_eq!(receipts["receipts"][0]["receipt"]["collectionMethod"], "web");
    // Anyone can verify it with the published key.
    let jwk = c.send(Method::GET, "/v1/keys/signing", &[], None).await.unwrap().json();
    assert_eq!(jwk, receipts["signing_key"]);
    let key = custodia_crypto::jws::public_key_from_jwk(&jwk).unwrap();
    let payload = custodia_crypto::jws::verify(receipts["receipts"][0]["jws"].as_str().unwrap(), &key).unwrap();
    let signed: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(signed, receipts["receipts"][0]["receipt"]);

    // Withdrawal takes effect on the next request.
    let r = call(
        &mut c,
        &agent,
        Method::POST,
        &format!("/v1/customers/{id}/consents?purpose=customer_service"),
        Some(
            json!({"consents": [{"purpose": "marketing", "action": "withdraw", "channel": "phone", "language": "zh"}]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()[0]["action"], "withdrawn");
    let r = call(
        &mut c,
        &marketer,
        Method::GET,
        &format!("/v1/customers/{id}?purpose=marketing"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["consent_state"], "withdrawn");
    assert!(r.json()["detail"].as_str().unwrap().contains("withdrew"));
    let r = call(
        &mut c,
        &marketer,
        Method::GET,
        "/v1/customers?email=chen.jing@example.cn&purpose=marketing",
        None,
    )
    .await;
    assert_eq!(
        r.json().as_array().unwrap().len(),
        0,
        "not found under a withdrawn purpose"
    );
    let r = call(
        &mut c,
        &agent,
        Method::GET,
        "/v1/customers?email=chen.jing@example.cn&purpose=customer_service",
        None,
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = call(
        &mut c,
        &officer,
        Method::GET,
        &format!("/v1/customers/{id}/consents?purpose=data_subject_request"),
        None,
    )
    .await;
    let states: Vec<(String, String)> = r.json()["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["purpose"].as_str().unwrap().to_owned(),
                p["state"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(states.contains(&("marketing".into(), "withdrawn".into())), "{states:?}");
    assert!(
        states.contains(&("risk_control".into(), "never_given".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("customer_service".into(), "not_needed".into())),
        "{states:?}"
    );

    // Purpose limitation names the fields.
    let r = call(
        &mut c,
        &agent,
        Method::GET,
        &format!("/v1/customers/{id}?reveal=true&purpose=customer_service&fields=national_id"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "purpose_limitation");
    assert_eq!(r.json()["fields"], json!(["national_id"]));

    // Publish a stricter notice: the ID number is now only needed for risk control.
    let strict = custodia_core::notice::DEFAULT_NOTICE_TOML
        .replace("version = 1\n", "version = 2\n")
        .replace(
            "fields = [\"name\", \"national_id\", \"birth_date\", \"bank_card\"]",
            "fields = [\"name\", \"birth_date\", \"bank_card\"]",
        );
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/notices",
        Some(json!({"toml": strict, "dry_run": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["changes"][0]["kind"], "field_removed");
    let r = call(&mut c, &officer, Method::GET, "/v1/notices", None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "a dry run publishes nothing");
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/notices",
        Some(json!({"toml": strict})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["renewal_needed"], json!([]));
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/notices",
        Some(json!({"toml": strict})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["code"], "notice_version");
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/notices",
        Some(json!({"toml": "version = 3"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c
        .send(Method::GET, "/v1/notices/2/diff?from=1", &[], None)
        .await
        .unwrap();
    assert_eq!(r.json()["changes"][0]["material"], false);

    let national = json!({"name": "周明", "national_id": "11010519491231002X", "department": "service"});
    let r = call_zh(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=contract_performance",
        Some(national.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = r.json();
    assert_eq!(p["code"], "not_necessary");
    assert_eq!(p["errors"][0]["field"], "national_id");
    let mut with = national.clone();
    with["consents"] = json!([{"purpose": "risk_control", "channel": "in_person", "language": "zh", "separate": true}]);
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=contract_performance",
        Some(with),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));

    // Statistics.
    let r = call(&mut c, &officer, Method::GET, "/v1/reports/consents", None).await;
    let stats = r.json();
    let find = |p: &str| {
        stats
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["purpose"] == p)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("marketing")["withdrawn"], 1);
    assert_eq!(find("risk_control")["given"], 1);
    assert_eq!(find("risk_control")["notice_version"], 2);

    // A portal code goes to the customer's own address: with no mail server
    // configured, none is made, and no response ever carries one.
    let r = call(
        &mut c,
        &agent,
        Method::POST,
        &format!("/v1/customers/{id}/portal-links?purpose=customer_service"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["code"], "delivery_failed");
    assert!(r.json()["detail"].as_str().unwrap().contains("no mail server"));
    assert!(r.json().get("code_value").is_none() && !String::from_utf8_lossy(&r.body).contains("portal/enter?code"));
    // Without a session the portal sends people to the entry page.
    let r = c.send(Method::GET, "/portal", &[], None).await.unwrap();
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // Nothing personal reached the disk in clear, consents included.
    drop(c);
    drop(s);
    for (path, bytes) in all_files(&data) {
        for needle in ["chen.jing@example.cn", "13600136000", "11010519491231002X", "陈静"] {
            assert!(!contains(&bytes, needle.as_bytes()), "{needle} in {}", path.display());
        }
    }
}
