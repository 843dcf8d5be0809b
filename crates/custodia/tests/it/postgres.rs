//! PostgreSQL scale-out through the real binary: two `custodia serve`
//! processes on one database, over HTTPS; key rotation seen by both; the
//! database going away and coming back while a server keeps running.

use crate::kit::pg;
use crate::kit::*;
use hyper::{Method, StatusCode};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// A second server's data directory: the first one's configuration, schema,
/// policy and master key (the database is shared, not copied).
fn copy_config(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["config.toml", "schema.toml", "policy.toml", "master.key"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

const SEGMENTS: [&str; 4] = ["retail", "vip", "corporate", "prospect"];

fn init_on(dir: &Path, url: &str) {
    let o = run(dir, &["--storage", url, "init"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_share_one_database_and_one_chain() {
    let Some(pg) = pg::Schema::new() else { return };
    let d = tempfile::tempdir().unwrap();
    let (d1, d2) = (d.path().join("a"), d.path().join("b"));
    init_on(&d1, &pg.url);
    assert!(
        !d1.join("custodia.db").exists(),
        "no embedded database beside PostgreSQL"
    );
    copy_config(&d1, &d2);
    // init on the shared database from a fresh directory must not take it over.
    let o = run(&d.path().join("c"), &["--storage", &pg.url, "init"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already holds a vault"), "{}", stderr(&o));

    // A service token made through one directory works on both servers.
    let token = service_token(&d1, "data_steward");
    let a = Server::start(&d1, &[]);
    assert!(a.token.is_some(), "the first server issues the bootstrap token");
    let b = Server::start(&d2, &[]);
    assert!(b.token.is_none(), "the second server finds it in the database");
    let (mut ca, mut cb) = (a.conn().await, b.conn().await);

    let r = call(
        &mut ca,
        &token,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(json!({"external_id": "PG-1", "name": "张三", "mobile": "13800138000", "email": "zhang@example.com"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // Written through A, found through B by its blind index.
    let r = call(
        &mut cb,
        &token,
        Method::GET,
        "/v1/customers?email=zhang@example.com&purpose=customer_service",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[0]["id"], id.as_str());

    // Both servers update the same customer at once, each update with the
    // version it read (If-Match): none is lost; the losers get 412.
    let mut tasks = Vec::new();
    for (k, srv) in [&a, &b, &a, &b].into_iter().enumerate() {
        let mut c = srv.conn().await;
        let (token, id) = (token.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let mut applied = 0;
            let mut conflicts = 0;
            while applied < 10 {
                let r = call(
                    &mut c,
                    &token,
                    Method::GET,
                    &format!("/v1/customers/{id}?purpose=customer_service"),
                    None,
                )
                .await;
                assert_eq!(r.status, StatusCode::OK);
                let etag = r.headers["etag"].to_str().unwrap().to_owned();
                let auth = format!("Bearer {token}");
                let body = serde_json::to_vec(&json!({"segment": SEGMENTS[(k + applied) % 4]})).unwrap();
                let r = c
                    .send(
                        Method::PATCH,
                        &format!("/v1/customers/{id}?purpose=customer_service"),
                        &[("authorization", &auth), ("if-match", &etag)],
                        Some(body),
                    )
                    .await
                    .unwrap();
                match r.status {
                    StatusCode::OK => applied += 1,
                    StatusCode::PRECONDITION_FAILED => conflicts += 1,
                    s => panic!("{s}: {:?}", r.json()),
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let r = call(
        &mut cb,
        &token,
        Method::GET,
        &format!("/v1/customers/{id}?purpose=customer_service"),
        None,
    )
    .await;
    assert_eq!(
        r.headers["etag"].to_str().unwrap().trim_matches('"'),
        "41",
        "40 applied updates on version 1 ({conflicts} conflicts refused)"
    );

    // Rotation run from A's directory is picked up by B without a restart:
    // B wraps new customers' keys under the new version.
    let o = run(&d1, &["keys", "rotate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = call(
        &mut cb,
        &token,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(json!({"external_id": "PG-2", "name": "李四", "email": "li@example.com"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let r = call(
        &mut ca,
        &token,
        Method::GET,
        "/v1/customers?email=li@example.com&purpose=customer_service",
        None,
    )
    .await;
    assert_eq!(
        r.json()[0]["fields"]["email"],
        "l***@example.com",
        "{} {:?}",
        r.status,
        r.json()
    );
    let status: serde_json::Value = serde_json::from_str(&stdout(&run(&d2, &["status"]))).unwrap();
    assert_eq!(status["kek_version"], 2);
    assert_eq!(status["customers"], 2);
    assert_eq!(status["customers_under_old_kek"], 0, "B used the rotated key version");

    // One chain, written by both processes, verifies from either directory.
    drop((a, b));
    for dir in [&d1, &d2] {
        let o = run(dir, &["audit", "verify"]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("intact"), "{}", stdout(&o));
    }
    // Nothing personal in the database: ciphertexts and blind indexes only.
    assert_eq!(
        pg.query_i64(
            "SELECT count(*) FROM customers WHERE position('zhang@example.com'::bytea in sealed) > 0 \
             OR position('13800138000'::bytea in sealed) > 0 OR attrs LIKE '%zhang%'"
        ),
        0
    );
    assert_eq!(
        pg.query_i64("SELECT count(*) FROM audit WHERE detail LIKE '%zhang%'"),
        0
    );
}

async fn create(c: &mut custodia::client::Conn, token: &str, name: &str, email: &str) -> custodia::client::Resp {
    call(
        c,
        token,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(json!({"name": name, "email": email})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn database_outage_fails_fast_and_recovers() {
    let Some(cluster) = pg::Cluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init_on(&data, &cluster.url());
    let token = service_token(&data, "data_steward");
    let mut s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = create(&mut c, &token, "王五", "wang@example.com").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/customers/{id}?purpose=customer_service");
    assert_eq!(
        call(&mut c, &token, Method::GET, &path, None).await.status,
        StatusCode::OK
    );

    // Load while the database goes away.
    cluster.down();
    for _ in 0..5 {
        let t = Instant::now();
        let r = call(&mut c, &token, Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.json());
        assert_eq!(r.headers["content-type"], "application/problem+json");
        assert_eq!(r.json()["code"], "storage_unavailable");
        assert!(t.elapsed() < Duration::from_secs(3), "fails fast: {:?}", t.elapsed());
        let r = create(&mut c, &token, "赵六", "zhao@example.com").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.json());
    }
    assert!(s.child.try_wait().unwrap().is_none(), "the server keeps running");

    // Back: reads and writes work again without a restart.
    cluster.up();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = call(&mut c, &token, Method::GET, &path, None).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {:?}", r.json());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = create(&mut c, &token, "赵六", "zhao@example.com").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    drop(s);
    let o = run(&data, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn migrate_moves_an_embedded_directory_and_refuses_a_non_empty_target() {
    let Some(pg) = pg::Schema::new() else { return };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let csv = d.path().join("c.csv");
    assert!(run(&data, &["init"]).status.success());
    assert!(run(&data, &["demo-data", "500", "--output", csv.to_str().unwrap()])
        .status
        .success());
    assert!(run(
        &data,
        &["import", csv.to_str().unwrap(), "--purpose", "contract_performance"]
    )
    .status
    .success());
    // An address from the file (its fifth column).
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let email = csv_text.lines().nth(1).unwrap().split(',').nth(4).unwrap().to_owned();
    let found = run(
        &data,
        &[
            "customer",
            "find",
            "--field",
            "email",
            "--value",
            &email,
            "--purpose",
            "customer_service",
        ],
    );
    let found: serde_json::Value = serde_json::from_str(&stdout(&found)).unwrap();
    let id = found[0]["id"].as_str().unwrap().to_owned();
    let o = run(
        &data,
        &[
            "erase",
            &id,
            "--basis",
            "GDPR Art. 17(1)(a)",
            "--purpose",
            "legal_obligation",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let before: serde_json::Value = serde_json::from_str(&stdout(&run(&data, &["status"]))).unwrap();

    let o = run(&data, &["migrate", "--from", data.to_str().unwrap(), "--to", &pg.url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["tables"]["customers"], 499);
    assert_eq!(report["tables"]["tombstones"], 1);
    assert_eq!(report["config_updated"], true);
    // Everything, and the migration's own start event.
    assert_eq!(
        report["audit_events_verified"].as_u64(),
        before["audit_events"].as_u64().map(|n| n + 1)
    );

    // The directory now runs on PostgreSQL: same records, same chain, and
    // new writes continue it (sequences carried over).
    let after: serde_json::Value = serde_json::from_str(&stdout(&run(&data, &["status"]))).unwrap();
    assert_eq!(after["customers"], before["customers"]);
    assert_eq!(pg.query_i64("SELECT count(*) FROM customers"), 499);
    let o = run(
        &data,
        &[
            "customer",
            "add",
            "name=钱七",
            "email=qian@example.com",
            "--purpose",
            "customer_service",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let found = run(
        &data,
        &[
            "customer",
            "find",
            "--field",
            "email",
            "--value",
            &email,
            "--purpose",
            "customer_service",
        ],
    );
    assert_eq!(stdout(&found).trim(), "[]", "the erased customer stays erased");
    let o = run(&data, &["audit", "verify"]);
    assert!(o.status.success() && stdout(&o).contains("intact"), "{}", stdout(&o));

    // A second directory cannot be poured into the same database.
    let other = d.path().join("other");
    assert!(run(&other, &["init"]).status.success());
    let o = run(&other, &["migrate", "--from", other.to_str().unwrap(), "--to", &pg.url]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    let o = run(&data, &["migrate", "--from", data.to_str().unwrap(), "--to", &pg.url]);
    assert!(
        stderr(&o).contains("already keeps its records in PostgreSQL"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_to_postgres_is_verified_against_the_given_ca() {
    let Some(cluster) = pg::Cluster::start() else { return };
    let ca = cluster.enable_tls();
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require&sslrootcert={}",
        cluster.port,
        ca.display()
    );
    let data = d.path().join("data");
    init_on(&data, &url);
    let token = service_token(&data, "data_steward");
    let s = Server::start(&data, &[]);
    let mut c = s.conn().await;
    let r = call(
        &mut c,
        &token,
        Method::GET,
        "/v1/customers?email=nobody@example.com&purpose=customer_service",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Every connection the server holds is TLS.
    let plain = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
    let (tls, clear): (i64, i64) = std::thread::spawn(move || {
        let mut q = postgres::Client::connect(&plain, postgres::NoTls).unwrap();
        let r = q
            .query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
                 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'custodia'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    })
    .join()
    .unwrap();
    assert!(tls >= 1 && clear == 0, "{tls} TLS, {clear} clear connections");
    drop(s);

    // A certificate from anyone else is refused, and so is TLS with no CA.
    let other = d.path().join("other");
    custodia_server::tls::ensure_self_signed(&other.join("ca.pem"), &other.join("ca.key")).unwrap();
    let wrong = url.replace(&ca.display().to_string(), &other.join("ca.pem").display().to_string());
    let o = run(&data, &["--storage", &wrong, "status"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("certificate") || stderr(&o).contains("TLS"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &data,
        &[
            "--storage",
            &format!(
                "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
                cluster.port
            ),
            "status",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sslrootcert"), "{}", stderr(&o));
}

#[test]
fn each_servers_ledger_learns_the_others_erasures() {
    let Some(pg) = pg::Schema::new() else { return };
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    init_on(&a, &pg.url);
    copy_config(&a, &b);
    let o = run(
        &a,
        &[
            "customer",
            "add",
            "name=孙八",
            "email=sun@example.com",
            "--purpose",
            "customer_service",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // B is running (its vault open) when A erases.
    let vb = custodia_vault::Vault::open(&custodia_vault::DataDir::new(&b), &|| {
        Err(custodia_vault::VaultError::Input("no passphrase".into()))
    })
    .unwrap();
    let o = run(
        &a,
        &[
            "erase",
            &id,
            "--basis",
            "GDPR Art. 17(1)(a)",
            "--purpose",
            "legal_obligation",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = |dir: &Path| {
        std::fs::read_to_string(dir.join("erasure-ledger.jsonl"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(lines(&a), 1);
    assert_eq!(lines(&b), 0, "B has not looked yet");
    assert_eq!(
        vb.sync_erasure_ledger(&custodia_vault::access::authz::Principal::system(
            custodia_vault::access::authz::Job::LedgerSync
        ))
        .unwrap(),
        0,
        "nothing to replay: the database has it"
    );
    assert_eq!(lines(&b), 1, "B's ledger now holds A's erasure");
}
