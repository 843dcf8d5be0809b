//! Data-subject requests, destruction, retention and backups through the
//! real binary (and, for the scheduled retention, a real server).

use crate::kit::*;
use hyper::{Method, StatusCode};

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

fn add(data: &std::path::Path, pairs: &[&str]) -> String {
    let mut args = vec!["customer", "add", "--purpose", "contract_performance"];
    args.extend_from_slice(pairs);
    let o = run(data, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    json(&o)["id"].as_str().unwrap().to_owned()
}

#[test]
fn requests_erasure_certificates_holds_and_backups() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let keep = add(&data, &["name=周一", "mobile=13100131000", "email=zhou.yi@example.cn"]);
    let gone = add(&data, &["name=吴二", "mobile=13200132000", "email=wu.er@example.cn"]);

    // A backup before anything is erased, also for an offline recipient.
    let key = d.path().join("recipient.key");
    let o = run(&data, &["backup", "keygen", "--out", key.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let public = stdout(&o).trim().to_owned();
    assert_eq!(public.len(), 64);
    let file = d.path().join("b1.backup");
    let o = run(
        &data,
        &["backup", "create", file.to_str().unwrap(), "--recipient", &public],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["customers"], 2);
    let o = run(&data, &["backup", "verify", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &data,
        &[
            "backup",
            "verify",
            file.to_str().unwrap(),
            "--recipient-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // An erasure request: received, held, verified, carried out with a certificate.
    let o = run(
        &data,
        &[
            "requests",
            "new",
            &gone,
            "--kind",
            "erasure",
            "--regime",
            "gdpr",
            "--channel",
            "email",
            "--key",
            "mail-42",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let req = json(&o)["id"].as_str().unwrap().to_owned();
    let o = run(
        &data,
        &["requests", "new", &gone, "--kind", "erasure", "--key", "mail-42"],
    );
    assert_eq!(json(&o)["id"], req.as_str(), "idempotent");
    let o = run(&data, &["requests", "due", "--within", "40"]);
    assert!(stdout(&o).contains(&req), "{}", stdout(&o));
    let o = run(&data, &["requests", "complete", &req]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(stderr(&o).contains("verify"), "{}", stderr(&o));
    // Whoever verified the requester does not also carry out the erasure.
    assert!(run(&data, &["requests", "verify", &req, "--method", "id_document"])
        .status
        .success());
    let o = run(&data, &["requests", "complete", &req]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: separation of duties:"), "{}", stderr(&o));
    // A second person (another operator on the machine) verifies instead.
    let req2 = {
        let o = run(
            &data,
            &["requests", "new", &gone, "--kind", "erasure", "--regime", "gdpr"],
        );
        json(&o)["id"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        run(
            &data,
            &["requests", "deny", &req, "--reason", "duplicate of a later request"]
        )
        .status
        .code(),
        Some(0)
    );
    let req = req2;
    assert_eq!(
        run_as(
            &data,
            "second.officer",
            &["requests", "verify", &req, "--method", "id_document"]
        ),
        Ok(0)
    );
    let o = run(&data, &["hold", "set", &gone, "--reason", "litigation 2026-3"]);
    let hold = json(&o)["id"].as_str().unwrap().to_owned();
    let o = run(&data, &["requests", "complete", &req]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("legal hold"), "{}", stderr(&o));
    assert!(run(&data, &["hold", "release", &gone, &hold]).status.success());
    let cert = d.path().join("cert.jws");
    let o = run(
        &data,
        &["requests", "complete", &req, "--output", cert.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["status"], "completed");
    let o = run(&data, &["verify-certificate", cert.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("valid: certificate dc_"), "{}", stdout(&o));
    // A third party verifies with the published key; a tampered certificate fails.
    let jwk = d.path().join("key.jwk");
    std::fs::write(&jwk, stdout(&run(&data, &["consent", "public-key"]))).unwrap();
    let o = run(
        &data,
        &[
            "verify-certificate",
            cert.to_str().unwrap(),
            "--public-key",
            jwk.to_str().unwrap(),
        ],
    );
    assert!(o.status.success());
    let text = std::fs::read_to_string(&cert).unwrap();
    let mut parts: Vec<String> = text.trim().split('.').map(str::to_owned).collect();
    let flip = if &parts[1][5..6] == "A" { "B" } else { "A" };
    parts[1].replace_range(5..6, flip);
    std::fs::write(&cert, parts.join(".")).unwrap();
    let o = run(&data, &["verify-certificate", cert.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("signature") || stderr(&o).contains("JWS"),
        "{}",
        stderr(&o)
    );
    let o = run(&data, &["customer", "get", &gone, "--purpose", "contract_performance"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(run(&data, &["ledger", "verify"]).status.success());

    // Restore the backup from before the erasure: the customer stays erased.
    let to = d.path().join("restored");
    let o = run(
        &data,
        &[
            "backup",
            "restore",
            file.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["erasures_replayed"], 1);
    assert_eq!(
        run(&to, &["customer", "get", &gone, "--purpose", "contract_performance"])
            .status
            .code(),
        Some(1)
    );
    assert!(
        run(&to, &["customer", "get", &keep, "--purpose", "contract_performance"])
            .status
            .success()
    );
    assert!(run(&to, &["audit", "verify"]).status.success());
    // The offline recipient restores without the master secret; the first open replays the ledger.
    let to2 = d.path().join("offline");
    let o = run(
        &data,
        &[
            "backup",
            "restore",
            file.to_str().unwrap(),
            "--to",
            to2.to_str().unwrap(),
            "--recipient-key",
            key.to_str().unwrap(),
            "--key-file",
            data.join("master.key").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        run(&to2, &["customer", "get", &gone, "--purpose", "contract_performance"])
            .status
            .code(),
        Some(1)
    );
    // A damaged backup: one line, exit 1.
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 10);
    let cut = d.path().join("cut.backup");
    std::fs::write(&cut, bytes).unwrap();
    let o = run(&data, &["backup", "verify", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("truncated") || stderr(&o).contains("failed authentication"),
        "{}",
        stderr(&o)
    );

    // Retention: a dry run as of far in the future reports, destroys nothing.
    let o = run(
        &data,
        &[
            "lifecycle",
            &keep,
            "--contract-end",
            "2026-01-31",
            "--purpose",
            "contract_performance",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &["retention", "run", "--dry-run", "--as-of", "2040-01-01"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["customers_erased"], 1);
    assert!(
        run(&data, &["customer", "get", &keep, "--purpose", "contract_performance"])
            .status
            .success()
    );
    let o = run(&data, &["retention", "run", "--as-of", "2040-01-01"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--dry-run"));
    assert!(run(&data, &["audit", "verify"]).status.success());

    // No clear value anywhere on disk: data directories, backups, ledger, certificates.
    for dir in [&data, &to, &to2, &d.path().to_path_buf()] {
        for (path, b) in all_files(dir) {
            for needle in ["wu.er@example.cn", "13200132000", "zhou.yi@example.cn", "吴二"] {
                assert!(!contains(&b, needle.as_bytes()), "{needle} in {}", path.display());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_retention_by_itself() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let old = add(&data, &["name=郑老", "mobile=13300133000"]);
    let current = add(&data, &["name=王新", "mobile=13400134000"]);
    // Every collecting purpose of the default notice counts from the contract's end (3 or 5 years).
    assert!(run(
        &data,
        &[
            "lifecycle",
            &old,
            "--contract-end",
            "2015-06-30",
            "--purpose",
            "contract_performance"
        ]
    )
    .status
    .success());
    let steward = service_token(&data, "data_steward");
    let officer = service_token(&data, "privacy_officer");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let mut gone = false;
    for _ in 0..100 {
        let r = call(
            &mut c,
            &steward,
            Method::GET,
            &format!("/v1/customers/{old}?purpose=contract_performance"),
            None,
        )
        .await;
        if r.status == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the retention job did not erase the expired customer");
    let r = call(
        &mut c,
        &steward,
        Method::GET,
        &format!("/v1/customers/{current}?purpose=contract_performance"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&mut c, &officer, Method::GET, "/v1/audit?limit=50", None).await;
    let log = r.json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "system:retention" && e["action"] == "delete"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_queue_pages_a_long_queue_soonest_deadline_first() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    let officer = staff(&data, "po.wang", "privacy_officer", true, true);
    let steward = service_token(&data, "data_steward");
    let officer_api = service_token(&data, "privacy_officer");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    for i in 0..120 {
        let r = call(
            &mut c,
            &steward,
            Method::POST,
            "/v1/customers?purpose=customer_service",
            Some(serde_json::json!({
                "name": format!("Kunde {}{}", (b'A' + (i / 26) as u8) as char, (b'a' + (i % 26) as u8) as char),
                "department": "service"
            })),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json()["id"].as_str().unwrap().to_owned();
        // GDPR answers within a month, PIPL within 15 working days: two clocks.
        let regime = if i % 2 == 0 { "gdpr" } else { "pipl" };
        let r = call(
            &mut c,
            &officer_api,
            Method::POST,
            "/v1/requests",
            Some(serde_json::json!({"customer": id, "kind": "access", "regime": regime, "channel": "email"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    }
    let sess = officer.sign_in(&mut c).await;
    let page = |r: &custodia::client::Resp| String::from_utf8_lossy(&r.body).into_owned();
    let rows = |html: &str| html.matches("class=\"request\"").count();
    let dues = |html: &str| -> Vec<String> {
        html.split("<tr><td><a href=\"/console/requests/")
            .skip(1)
            .map(|row| {
                row.split("<td>")
                    .nth(5)
                    .unwrap_or("")
                    .split('<')
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    };
    let first = sess.send(&mut c, Method::GET, "/console/requests?lang=en", None).await;
    assert_eq!(first.status, StatusCode::OK);
    let html = page(&first);
    assert_eq!(rows(&html), 100);
    assert!(html.contains("Requests 1 to 100 of 120"), "{html}");
    let second = sess
        .send(&mut c, Method::GET, "/console/requests?lang=en&page=1", None)
        .await;
    let html2 = page(&second);
    assert_eq!(rows(&html2), 20);
    assert!(html2.contains("id=\"prev\"") && !html2.contains("id=\"next\""));
    // Soonest deadline first, across the pages.
    let all: Vec<String> = dues(&html).into_iter().chain(dues(&html2)).collect();
    assert_eq!(all.len(), 120);
    assert!(all.iter().all(|d| d.len() == 10 && d.starts_with("20")), "{all:?}");
    assert!(all.first() < all.last(), "two clocks: {all:?}");
    assert!(all.windows(2).all(|w| w[0] <= w[1]), "{all:?}");
    // Filters are kept from page to page; a page past the end shows the last.
    let gdpr = page(
        &sess
            .send(&mut c, Method::GET, "/console/requests?lang=en&regime=gdpr", None)
            .await,
    );
    assert_eq!(rows(&gdpr), 60);
    assert!(!gdpr.contains("id=\"next\""));
    let far = page(
        &sess
            .send(&mut c, Method::GET, "/console/requests?lang=en&page=99", None)
            .await,
    );
    assert_eq!(rows(&far), 20);
}
