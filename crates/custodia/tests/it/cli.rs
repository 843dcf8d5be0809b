//! The command line, as a user runs it: the local operator with the roles
//! `init` gives it (data steward, privacy officer, administrator).

use crate::kit::*;

#[test]
fn cli_workflow() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let csv = d.path().join("customers.csv");
    let o = run(
        &data,
        &["demo-data", "500", "--seed", "11", "--output", csv.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Commands before init fail with one clear line.
    let o = run(&data, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: no Custodia data directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);

    let o = run(&data, &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: the master key"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(data.join("master.key")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // Every access declares a purpose; an import says what the records are collected for.
    let o = run(&data, &["import", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--purpose"), "{}", stderr(&o));
    let o = run(
        &data,
        &["import", csv.to_str().unwrap(), "--purpose", "contract_performance"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (
            report["rows_read"].as_u64(),
            report["created"].as_u64(),
            report["rejected"].as_u64()
        ),
        (Some(500), Some(500), Some(0))
    );

    // Re-import is idempotent.
    let o = run(
        &data,
        &["import", csv.to_str().unwrap(), "--purpose", "contract_performance"],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (report["created"].as_u64(), report["existing"].as_u64()),
        (Some(0), Some(500))
    );

    // Find the first row by email, then reveal its phone.
    let text = std::fs::read_to_string(&csv).unwrap();
    let first: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let o = run(
        &data,
        &[
            "customer",
            "find",
            "--field",
            "email",
            "--value",
            first[4],
            "--purpose",
            "customer_service",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let found: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let id = found[0]["id"].as_str().unwrap().to_owned();
    assert!(found[0]["fields"]["mobile"].as_str().unwrap().contains("****"));
    let o = run(&data, &["customer", "get", &id, "--reveal"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--purpose <PURPOSE>"), "{}", stderr(&o));
    let o = run(&data, &["customer", "get", &id, "--reveal", "--purpose", "gossip"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown purpose"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("customer_service"),
        "lists the accepted ones: {}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);
    // A reveal the operator's roles do not allow is refused in one line, and audited.
    let o = run(
        &data,
        &[
            "customer",
            "get",
            &id,
            "--reveal",
            "--purpose",
            "legal_obligation",
            "--fields",
            "national_id",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("reveal of national_id for legal_obligation"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("[operator]"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    let o = run(&data, &["audit", "tail", "-n", "1", "--json"]);
    assert!(
        stdout(&o).contains("access_denied") && stdout(&o).contains("operator:"),
        "{}",
        stdout(&o)
    );
    let o = run(
        &data,
        &[
            "customer",
            "get",
            &id,
            "--reveal",
            "--purpose",
            "customer_service",
            "--fields",
            "mobile",
        ],
    );
    let got: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(!got["fields"]["mobile"].as_str().unwrap().contains('*'));

    // Add, update, delete.
    let o = run(
        &data,
        &[
            "customer",
            "add",
            "name=赵六",
            "mobile=13912345678",
            "shoe=44",
            "--purpose",
            "customer_service",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("shoe: is not a field"), "{}", stderr(&o));
    let o = run(
        &data,
        &[
            "customer",
            "add",
            "name=赵六",
            "mobile=13912345678",
            "--purpose",
            "customer_service",
        ],
    );
    let added: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let new_id = added["id"].as_str().unwrap();
    let o = run(
        &data,
        &[
            "customer",
            "update",
            new_id,
            "email=zhao@example.com",
            "--if-version",
            "1",
            "--purpose",
            "customer_service",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &data,
        &[
            "customer",
            "update",
            new_id,
            "email=zhao2@example.com",
            "--if-version",
            "1",
            "--purpose",
            "customer_service",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("modified concurrently"));
    let o = run(&data, &["customer", "delete", new_id, "--purpose", "legal_obligation"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Export masked and revealed.
    let out = d.path().join("export.csv");
    let o = run(
        &data,
        &[
            "export",
            "--output",
            out.to_str().unwrap(),
            "--purpose",
            "contract_performance",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let exported = std::fs::read_to_string(&out).unwrap();
    assert_eq!(exported.lines().count(), 501);
    assert!(!exported.contains(first[2]) || first[2].is_empty());
    // The steward may export in clear only the fields it may reveal.
    let o = run(
        &data,
        &[
            "export",
            "--format",
            "json",
            "--reveal",
            "--purpose",
            "contract_performance",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("reveal of bank_card for contract_performance"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &data,
        &[
            "export",
            "--format",
            "json",
            "--reveal",
            "--purpose",
            "contract_performance",
            "--fields",
            "name,email",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let all: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 500);
    // The notice lists the e-mail for the contract, not the ID number.
    assert!(stdout(&o).contains(first[4]));
    assert!(!stdout(&o).contains(first[2]), "purpose limitation");

    // Rotate keys, then everything still reads; the log is intact.
    let o = run(&data, &["keys", "rotate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((r["to"].as_u64(), r["rewrapped"].as_u64()), (Some(2), Some(500)));
    let o = run(&data, &["customer", "get", &id, "--purpose", "customer_service"]);
    assert!(o.status.success());
    let o = run(&data, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("audit log intact"));
    let o = run(&data, &["audit", "tail", "-n", "3", "--json"]);
    assert_eq!(stdout(&o).lines().count(), 3);

    // No known value anywhere in the data directory.
    let files = all_files(&data);
    for line in text.lines().skip(1).take(100) {
        let cols: Vec<&str> = line.split(',').collect();
        for v in [cols[2], cols[3], cols[4], cols[5]] {
            for (p, b) in &files {
                assert!(!contains(b, v.as_bytes()), "a value was found in {}", p.display());
            }
        }
    }

    // Tampering is detected and named; exit code 1.
    let db = rusqlite::Connection::open(data.join("custodia.db")).unwrap();
    db.execute("UPDATE audit SET purpose = 'marketing' WHERE seq = 10", [])
        .unwrap();
    drop(db);
    let o = run(&data, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("event 10 was modified"), "{}", stdout(&o));
}

#[test]
fn import_rejects_are_reported_and_nothing_is_lost() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let csv = d.path().join("bad.csv");
    std::fs::write(
        &csv,
        "external_id,name,mobile,national_id\nX-1,张三,13800138000,11010519491231002X\nX-2,李四,123,\nX-3,\"unclosed,13800138001,\nX-4,王五,13800138002,110105194912310021\n",
    )
    .unwrap();
    let rejects = d.path().join("rejects.csv");
    let o = run(
        &data,
        &[
            "import",
            csv.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--purpose",
            "contract_performance",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "rejects give exit code 3: {}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let read = r["rows_read"].as_u64().unwrap();
    assert_eq!(r["accepted"].as_u64().unwrap() + r["rejected"].as_u64().unwrap(), read);
    assert_eq!(r["created"].as_u64(), Some(1));
    let rej = std::fs::read_to_string(&rejects).unwrap();
    assert!(rej.contains("mobile: is not a valid phone number"), "{rej}");
    assert!(rej.lines().next().unwrap().starts_with("line,reason,external_id"));

    // Unknown columns: refused before anything is written.
    std::fs::write(&csv, "name,favourite_colour\n张三,blue\n").unwrap();
    let o = run(
        &data,
        &["import", csv.to_str().unwrap(), "--purpose", "contract_performance"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("favourite_colour: is not a field"),
        "{}",
        stderr(&o)
    );
    let o = run(&data, &["status"]);
    let s: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(s["customers"].as_u64(), Some(1));
    let o = run(
        &data,
        &[
            "import",
            d.path().join("missing.csv").to_str().unwrap(),
            "--purpose",
            "contract_performance",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.csv"));
}

#[test]
fn sigkill_during_import_loses_no_acknowledged_write() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let csv = d.path().join("big.csv");
    assert!(run(&data, &["demo-data", "60000", "--output", csv.to_str().unwrap()])
        .status
        .success());
    let mut child = std::process::Command::new(bin())
        .arg("--data-dir")
        .arg(&data)
        .args([
            "import",
            csv.to_str().unwrap(),
            "--chunk",
            "500",
            "--purpose",
            "contract_performance",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some (not all) chunks are committed.
    let db = data.join("custodia.db");
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let n: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
            .unwrap_or(0);
        if n >= 2000 || start.elapsed().as_secs() > 60 {
            break;
        }
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    // Consistent: every stored customer has its create event, the chain is intact.
    let c = rusqlite::Connection::open(&db).unwrap();
    let customers: i64 = c.query_row("SELECT count(*) FROM customers", [], |r| r.get(0)).unwrap();
    let creates: i64 = c
        .query_row("SELECT count(*) FROM audit WHERE action = 'create'", [], |r| r.get(0))
        .unwrap();
    let mobile: i64 = c
        .query_row("SELECT code FROM field_codes WHERE name = 'mobile'", [], |r| r.get(0))
        .unwrap();
    let index: i64 = c
        .query_row(
            &format!("SELECT count(*) FROM customers WHERE bi_{mobile} IS NOT NULL"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(c);
    assert!(customers > 0 && customers < 60000, "killed mid-import: {customers}");
    assert_eq!(customers, creates);
    let o = run(&data, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));

    // Re-running finishes the job without duplicates.
    let o = run(
        &data,
        &["import", csv.to_str().unwrap(), "--purpose", "contract_performance"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["existing"].as_i64(), Some(customers));
    assert_eq!(r["created"].as_i64(), Some(60000 - customers));
    let o = run(&data, &["status"]);
    let s: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(s["customers"].as_u64(), Some(60000));
    assert!(index > 0);
}

#[test]
fn accounts_and_policy_commands() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let add = |name: &str, role: &str, pw: &str| add_staff(&data, name, role, pw);
    let o = add("li.na", "cs_agent", "password1234");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("commonly used"), "{}", stderr(&o));
    let o = add("li.na", "cs_agent", "correct horse battery staple");
    assert!(o.status.success(), "{}", stderr(&o));
    // A data role waits for a second person; the operator who asked
    // cannot approve it, another can.
    assert!(stderr(&o).contains("second person's approval"), "{}", stderr(&o));
    let o = run(&data, &["user", "list"]);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.starts_with("li.na") && l.contains("pending")),
        "{}",
        stdout(&o)
    );
    let list = run_json(&data, &["user", "approvals", "--json"]);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let o = run(&data, &["user", "approve", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("separation of duties"), "{}", stderr(&o));
    approve_all(&data);
    let o = run(&data, &["user", "approvals", "--all"]);
    assert!(
        stdout(&o).contains(&id) && stdout(&o).contains("approved"),
        "{}",
        stdout(&o)
    );
    let o = add("wang", "wizard", "correct horse battery staple");
    assert!(stderr(&o).contains("unknown role \"wizard\""), "{}", stderr(&o));
    let o = run(&data, &["user", "list"]);
    assert!(
        stdout(&o).contains("li.na") && stdout(&o).contains("NEEDED"),
        "{}",
        stdout(&o)
    );
    // Service accounts never need MFA, and nothing says they do.
    let o = run(&data, &["user", "add", "crm-app", "--role", "cs_agent", "--service"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("mfa"), "{}", stderr(&o));
    let o = run(&data, &["user", "list"]);
    let line = stdout(&o)
        .lines()
        .find(|l| l.starts_with("crm-app"))
        .unwrap()
        .to_owned();
    assert!(line.contains("n/a") && !line.contains("NEEDED"), "{line}");

    // Nobody enrolls MFA for someone else: the command line sends the
    // person a link (here no mail server is configured, so it says so).
    let o = run(&data, &["user", "send-link", "li.na", "--mfa"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no mail server is configured"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("otpauth"), "{}", stdout(&o));

    let o = run(
        &data,
        &[
            "training",
            "add",
            "li.na",
            "--course",
            "privacy_basics",
            "--score",
            "92",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Unknown courses are named with the ones the policy defines.
    let o = run(
        &data,
        &["training", "add", "li.na", "--course", "knitting", "--score", "92"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("privacy_basics"), "{}", stderr(&o));

    // Explain: the administrator role sees no personal data, and hands out
    // access only after MFA; exit 5 on deny.
    assert!(add("root.admin", "administrator", "correct horse battery staple")
        .status
        .success());
    approve_all(&data);
    let o = run(
        &data,
        &["policy", "explain", "--as", "root.admin", "--action", "manage_keys"],
    );
    assert_eq!(o.status.code(), Some(5), "{}", stdout(&o));
    assert!(stdout(&o).contains("multi-factor"), "{}", stdout(&o));
    let o = run(
        &data,
        &[
            "policy",
            "explain",
            "--as",
            "root.admin",
            "--action",
            "reveal",
            "--field",
            "mobile",
            "--purpose",
            "customer_service",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(5));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["allowed"], false);
    let o = run(&data, &["policy", "explain", "--as", "root.admin", "--action", "fly"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown action"));

    // Policy check names file and line.
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[[roles]]\nid = \"x\"\n  [[roles.grants]]\n  actions = [\"reveal\"]\n  fields = [\"shoe\"]\n  purposes = [\"customer_service\"]\n").unwrap();
    let o = run(&data, &["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bad.toml:line 6: unknown field or class \"shoe\""),
        "{}",
        stderr(&o)
    );
    let o = run(&data, &["policy", "check"]);
    assert!(o.status.success());

    // Access review: report (text and JSON), then a campaign.
    let o = run(&data, &["review", "report"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("li.na") && stdout(&o).contains("unused") && stdout(&o).contains("mfa_missing"),
        "{}",
        stdout(&o)
    );
    let o = run(&data, &["review", "report", "--json"]);
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(r["grants"].as_array().unwrap().len() >= 4);
    let o = run(&data, &["review", "start"]);
    let campaign = stdout(&o).trim().to_owned();
    assert!(campaign.starts_with("rev_"), "{campaign}");
    let o = run(
        &data,
        &[
            "review",
            "decide",
            &campaign,
            "root.admin",
            "administrator",
            "--certify",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &data,
        &[
            "review",
            "decide",
            &campaign,
            "li.na",
            "cs_agent",
            "--revoke",
            "--note",
            "moved to finance",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &data,
        &["review", "decide", &campaign, "li.na", "cs_agent", "--certify"],
    );
    assert_eq!(o.status.code(), Some(1));
    let o = run(&data, &["review", "show", &campaign]);
    assert!(
        stdout(&o).contains("revoke") && stdout(&o).contains("moved to finance"),
        "{}",
        stdout(&o)
    );
    let o = run(&data, &["user", "show", "li.na"]);
    let a: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(a["roles"].as_array().unwrap().len(), 0);

    // The audit log recorded it all and holds.
    let o = run(&data, &["audit", "tail", "-n", "50"]);
    for a in ["account", "approval", "training", "review"] {
        assert!(stdout(&o).contains(a), "{a}: {}", stdout(&o));
    }
    assert!(run(&data, &["audit", "verify"]).status.success());
}

#[test]
fn notice_consent_and_portal_commands() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    // These steps are about notices and consent: one operator with every role.
    set_operator_roles(&data, ALL_ROLES);
    let o = run(
        &data,
        &[
            "customer",
            "add",
            "name=孙丽",
            "mobile=13500135000",
            "email=sun.li@example.com",
            "birth_date=1990-02-03",
            "--purpose",
            "contract_performance",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The notice: list, show as TOML, publish a change (dry run first), diff.
    let o = run(&data, &["notice", "list"]);
    assert!(
        stdout(&o).starts_with("v1\tin_force\teffective 2026-01-01"),
        "{}",
        stdout(&o)
    );
    let o = run(&data, &["notice", "show", "--toml"]);
    let v2 = stdout(&o).replace("version = 1\n", "version = 2\n").replace(
        "fields = [\"name\", \"mobile\", \"email\"]\nretention",
        "fields = [\"name\", \"mobile\", \"email\", \"address\"]\nretention",
    );
    let file = d.path().join("notice-v2.toml");
    std::fs::write(&file, &v2).unwrap();
    let o = run(&data, &["notice", "publish", file.to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("\"renewal_needed\": [\n    \"marketing\"\n  ]"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&run(&data, &["notice", "list"])).lines().count() == 1, "dry run");

    // Consent before the change; the change then asks for renewal.
    let give = |purpose: &str, extra: &[&str]| {
        let mut args = vec![
            "consent",
            "give",
            id.as_str(),
            "--purpose",
            purpose,
            "--channel",
            "paper",
            "--language",
            "zh",
            "--for",
            "customer_service",
        ];
        args.extend_from_slice(extra);
        run(&data, &args)
    };
    assert!(give("marketing", &[]).status.success());
    let o = give("risk_control", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("separate consent"), "{}", stderr(&o));
    assert!(give("risk_control", &["--separate"]).status.success());
    let o = run(
        &data,
        &[
            "customer",
            "get",
            &id,
            "--reveal",
            "--purpose",
            "marketing",
            "--fields",
            "email",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sun.li@example.com"));
    assert!(run(&data, &["notice", "publish", file.to_str().unwrap()])
        .status
        .success());
    let o = run(
        &data,
        &[
            "customer",
            "get",
            &id,
            "--reveal",
            "--purpose",
            "marketing",
            "--fields",
            "email",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: purpose marketing needs the customer's general consent"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let o = run(&data, &["notice", "diff", "--from", "1"]);
    assert!(stdout(&o).contains("\"kind\": \"field_added\""), "{}", stdout(&o));
    assert!(give("marketing", &[]).status.success());
    let o = run(
        &data,
        &[
            "consent",
            "withdraw",
            &id,
            "--purpose",
            "risk_control",
            "--channel",
            "phone",
            "--language",
            "zh",
            "--for",
            "customer_service",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &["consent", "list", &id, "--purpose", "customer_service"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let state = |p: &str| {
        list["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["purpose"] == p)
            .unwrap()["state"]["state"]
            .clone()
    };
    assert_eq!(state("marketing"), "active");
    assert_eq!(state("risk_control"), "withdrawn");

    // Receipts verify with the published key; a tampered file does not.
    let receipts = d.path().join("receipts.json");
    assert!(run(
        &data,
        &[
            "consent",
            "receipts",
            &id,
            "--purpose",
            "data_subject_request",
            "--output",
            receipts.to_str().unwrap()
        ]
    )
    .status
    .success());
    let key = d.path().join("key.jwk");
    std::fs::write(&key, stdout(&run(&data, &["consent", "public-key"]))).unwrap();
    let o = run(
        &data,
        &[
            "consent",
            "verify",
            receipts.to_str().unwrap(),
            "--public-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().filter(|l| l.starts_with("ok\t")).count(),
        4,
        "{}",
        stdout(&o)
    );
    let text = std::fs::read_to_string(&receipts).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    let jws = j["receipts"][0]["jws"].as_str().unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let forged = format!("{}.{}x.{}", parts[0], &parts[1][..parts[1].len() - 1], parts[2]);
    std::fs::write(&receipts, text.replace(jws, &forged)).unwrap();
    let o = run(&data, &["consent", "verify", receipts.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("FAILED\treceipt #1"), "{}", stdout(&o));
    assert!(stderr(&o).contains("1 of 4 receipts failed verification"));

    // Statistics and a portal code.
    let o = run(&data, &["consent", "stats"]);
    // The latest answer per customer counts: marketing was renewed under v2.
    assert!(stdout(&o).contains("marketing\tv2\t1\t0\t0"), "{}", stdout(&o));
    assert!(stdout(&o).contains("risk_control\tv2\t0\t0\t1"), "{}", stdout(&o));
    // Portal codes go to the customer's own contact: without a mail server
    // configured there is no code at all, and none is ever printed.
    let o = run(&data, &["portal", "send-code", &id, "--purpose", "customer_service"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no mail server is configured"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("code"), "{}", stdout(&o));
    let o = run(
        &data,
        &[
            "portal",
            "send-code",
            "cus_00000000000000000000000000000000",
            "--purpose",
            "customer_service",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));

    // Import with a consents column needs to know how they were collected.
    let csv = d.path().join("c.csv");
    std::fs::write(&csv, "name,mobile,locale,consents\n王一,13300133000,zh_CN,marketing\n").unwrap();
    let o = run(
        &data,
        &["import", csv.to_str().unwrap(), "--purpose", "customer_service"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--consent-channel"), "{}", stderr(&o));
    let o = run(
        &data,
        &[
            "import",
            csv.to_str().unwrap(),
            "--consent-channel",
            "paper",
            "--purpose",
            "customer_service",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run(&data, &["audit", "verify"]).status.success());
}

/// Run under umask 022, as a default shell would.
fn run_umask(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("CUSTODIA_DATA_DIR")
        .output()
        .expect("custodia runs");
    assert!(
        o.status.success() || o.status.code() == Some(3),
        "{args:?}: {}",
        stderr(&o)
    );
    o
}

fn mode(p: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
}

#[test]
fn every_file_with_personal_data_or_secrets_is_private_whatever_the_umask() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let f = |name: &str| d.path().join(name).to_str().unwrap().to_owned();
    run_umask(&data, &["init"]);
    run_umask(&data, &["demo-data", "30", "--seed", "3", "--output", &f("demo.csv")]);
    // A bad row, so the rejects file holds something.
    let mut csv = std::fs::read_to_string(f("demo.csv")).unwrap();
    csv.push_str("CRM-999999,张坏\n");
    std::fs::write(f("demo.csv"), csv).unwrap();
    let o = run_umask(
        &data,
        &[
            "import",
            &f("demo.csv"),
            "--purpose",
            "contract_performance",
            "--rejects",
            &f("rejects.csv"),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "a row was rejected: {}", stdout(&o));
    run_umask(
        &data,
        &[
            "export",
            "--purpose",
            "contract_performance",
            "--reveal",
            "--fields",
            "name,mobile",
            "-o",
            &f("export.csv"),
        ],
    );
    let id = {
        let o = run_umask(
            &data,
            &["export", "--purpose", "contract_performance", "--format", "json"],
        );
        let all: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        all[0]["id"].as_str().unwrap().to_owned()
    };
    run_umask(
        &data,
        &[
            "consent",
            "receipts",
            &id,
            "--purpose",
            "data_subject_request",
            "-o",
            &f("receipts.json"),
        ],
    );
    let o = run_umask(&data, &["backup", "keygen", "--out", &f("recipient.key")]);
    let public = stdout(&o).trim().to_owned();
    run_umask(&data, &["backup", "create", &f("b.backup"), "--recipient", &public]);
    // An access request's package, carried out by a second officer.
    let o = run_umask(&data, &["requests", "new", &id, "--kind", "access", "--regime", "pipl"]);
    let req: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let req = req["id"].as_str().unwrap().to_owned();
    assert_eq!(
        run_as(
            &data,
            "second.officer",
            &["requests", "verify", &req, "--method", "id_document"]
        ),
        Ok(0)
    );
    run_umask(&data, &["requests", "complete", &req, "-o", &f("package.json")]);
    run_umask(
        &data,
        &[
            "erase",
            &id,
            "--basis",
            "PIPL Art. 47",
            "--purpose",
            "legal_obligation",
            "-o",
            &f("cert.jws"),
        ],
    );
    for name in [
        "demo.csv",
        "rejects.csv",
        "export.csv",
        "receipts.json",
        "recipient.key",
        "b.backup",
        "package.json",
        "cert.jws",
    ] {
        let p = d.path().join(name);
        assert!(std::fs::metadata(&p).unwrap().len() > 0, "{name} is empty");
        assert_eq!(mode(&p), 0o600, "{name}");
    }
    // And everything the data directory holds.
    let mut stack = vec![data.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        assert_eq!(mode(&dir) & 0o077, 0, "{} is open to others", dir.display());
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files += 1;
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            }
        }
    }
    assert!(files >= 4, "{files}");
}

#[test]
fn the_command_line_says_what_it_did_and_what_is_wrong() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let f = |name: &str| d.path().join(name).to_str().unwrap().to_owned();
    assert!(run(&data, &["init"]).status.success());
    // demo-data says what it wrote; help shows no stray "=".
    let o = run(&data, &["demo-data", "40", "--output", &f("demo.csv")]);
    assert!(stderr(&o).contains("wrote 40 synthetic customers"), "{}", stderr(&o));
    let o = run(&data, &["export", "--help"]);
    assert!(stdout(&o).contains("[env: CUSTODIA_DATA_DIR]"), "{}", stdout(&o));
    assert!(
        run(&data, &["import", &f("demo.csv"), "--purpose", "contract_performance"])
            .status
            .success()
    );
    // No match: exit 4 and a sentence.
    let o = run(
        &data,
        &[
            "customer",
            "find",
            "--field",
            "email",
            "--value",
            "nobody@example.com",
            "--purpose",
            "customer_service",
        ],
    );
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("no customer has email"), "{}", stderr(&o));
    // Unknown values: the accepted ones are listed, once.
    let o = run(&data, &["export", "--purpose", "nope"]);
    assert_eq!(stderr(&o).trim(), "error: unknown purpose \"nope\"; the catalog lists: customer_service, contract_performance, marketing, risk_control, legal_obligation, data_subject_request, security_incident");
    let o = run(&data, &["detect", "--types", "shoe_size", &f("demo.csv")]);
    assert!(stderr(&o).contains("the types are: cn_id, cn_mobile"), "{}", stderr(&o));
    // A backup into a folder that does not exist: said plainly.
    let o = run(&data, &["backup", "create", &f("no/such/dir/b.backup")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not exist; create it first"), "{}", stderr(&o));
    // backup verify summarizes the configuration files instead of printing them.
    let o = run(&data, &["backup", "create", &f("b.backup")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &["backup", "verify", &f("b.backup")]);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["valid"], true);
    assert!(j["files"]["config.toml"]["sha256"].as_str().unwrap().len() == 64, "{j}");
    assert!(!stdout(&o).contains("[operator]"), "no config text: {}", stdout(&o));
    // A dry run and a publication say which they were.
    let notice = d.path().join("notice.toml");
    std::fs::write(
        &notice,
        custodia_core::notice::DEFAULT_NOTICE_TOML.replace("version = 1", "version = 2"),
    )
    .unwrap();
    let o = run(&data, &["notice", "publish", notice.to_str().unwrap(), "--dry-run"]);
    assert!(stderr(&o).contains("dry run: version 2"), "{}", stderr(&o));
    let o = run(&data, &["notice", "publish", notice.to_str().unwrap()]);
    assert!(stderr(&o).starts_with("published version 2"), "{}", stderr(&o));
    // Output piped into a reader that stops early (far more than a pipe
    // holds) ends quietly.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" --data-dir \"$1\" demo-data 200000 | head -n 1")
        .arg(bin())
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("Broken pipe"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("error"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The README's first session, run as written (the `custodia` alias is the
/// binary under test): every command succeeds, except the one the README
/// says is refused.
#[test]
fn the_readme_first_session_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let session = readme.split("## A first session").nth(1).unwrap();
    let block = session.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    let mut script = String::from("set -u\ncustodia() { \"$CUSTODIA_BIN\" \"$@\"; }\n");
    let mut commands = 0;
    for line in block
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("alias "))
    {
        commands += 1;
        let quoted = line.replace('\'', "'\\''");
        let command = line.split(" # ").next().unwrap().trim_end();
        if line.contains("# refused") {
            script.push_str(&format!(
                "if {command} 2>/dev/null; then echo 'not refused: {quoted}'; exit 1; fi\n"
            ));
        } else {
            script.push_str(&format!(
                "{command} >/dev/null || {{ echo 'failed: {quoted}'; exit 1; }}\n"
            ));
        }
    }
    assert!(commands >= 10, "{block}");
    let d = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(d.path())
        .env("CUSTODIA_BIN", bin())
        .env_remove("CUSTODIA_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
