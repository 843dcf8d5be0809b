//! Detection, column scanning, vault tokens and de-identified exports
//! through the real binary.

use crate::kit::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

fn detect_stdin(input: &[u8], args: &[&str]) -> std::process::Output {
    let mut c = Command::new(bin())
        .arg("detect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn detect_prints_findings_with_character_offsets() {
    let d = tempfile::tempdir().unwrap();
    // Two blocks' worth of lines, so offsets must carry across blocks.
    let filler = "这一行没有个人信息，只是填充文本。This line has nothing personal.\n".repeat(20_000);
    let text = format!(
        "客户张伟来电，手机 １３８ ００１３ ８０００，邮箱 zw@example.com\n{filler}Dear Mr. Smith, SSN 123-45-6789, IBAN GB82 WEST 1234 5698 7654 32, 身份证号 11010519491231002X\n"
    );
    let file = d.path().join("in.txt");
    std::fs::write(&file, &text).unwrap();
    let o = run(d.path(), &["detect", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let chars: Vec<char> = text.chars().collect();
    let found: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let types: Vec<&str> = found.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "person_name",
            "cn_mobile",
            "email",
            "person_name",
            "us_ssn",
            "iban",
            "cn_id"
        ],
        "{}",
        stdout(&o)
    );
    for f in &found {
        let (s, e) = (
            f["start"].as_u64().unwrap() as usize,
            f["end"].as_u64().unwrap() as usize,
        );
        let span: String = chars[s..e].iter().collect();
        assert_eq!(span, f["text"].as_str().unwrap());
        let (bs, be) = (
            f["byte_start"].as_u64().unwrap() as usize,
            f["byte_end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&text[bs..be], f["text"].as_str().unwrap());
        assert!(f["score"].as_f64().unwrap() > 0.5);
        assert!(!f["evidence"].as_array().unwrap().is_empty());
    }
    // The full-width mobile is reported as written.
    assert_eq!(found[1]["text"], "１３８ ００１３ ８０００");

    // Standard input, a type filter, a score floor.
    let o = detect_stdin(text.as_bytes(), &["-", "--types", "cn_id,email"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).lines().count(), 2);
    let o = detect_stdin(b"Dear Mr. Smith", &["--min-score", "0.99"]);
    assert_eq!(stdout(&o), "");

    // Fail closed: bad input and bad options name the problem.
    let o = detect_stdin(b"ok\n\xff\xfe", &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not UTF-8 at byte 3"), "{}", stderr(&o));
    let o = detect_stdin(b"", &["--types", "shoe_size"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown type \"shoe_size\""), "{}", stderr(&o));
}

#[test]
fn scan_classifies_columns_and_proposes_a_schema_that_loads() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["demo-data", "300"]);
    assert!(o.status.success());
    let mut rdr = csv::Reader::from_reader(o.stdout.as_slice());
    let file = d.path().join("unlabeled.csv");
    let mut w = csv::Writer::from_path(&file).unwrap();
    w.write_record([
        "external_id",
        "客户姓名",
        "证件号码",
        "c3",
        "联系邮箱",
        "col5",
        "addr",
        "出生日期",
        "等级",
        "department",
        "locale",
        "备注",
    ])
    .unwrap();
    for (i, r) in rdr.records().enumerate() {
        let mut r: Vec<String> = r.unwrap().iter().map(str::to_owned).collect();
        r.push(match i % 4 {
            0 => format!("回访：新号码 1391234{:04}", i),
            1 => format!("send to x{i}@example.org"),
            2 => "客户满意".into(),
            _ => String::new(),
        });
        w.write_record(&r).unwrap();
    }
    w.flush().unwrap();
    let o = run(d.path(), &["scan", file.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cols = json(&o)["columns"].as_array().unwrap().clone();
    let kinds: Vec<(String, String)> = cols
        .iter()
        .map(|c| (c["field"].as_str().unwrap().to_owned(), c["kind"].to_string()))
        .collect();
    let want = [
        ("external_id", "\"other\""),
        ("name", "{\"pii\":\"person_name\"}"),
        ("national_id", "{\"pii\":\"cn_id\"}"),
        ("c3", "{\"pii\":\"cn_mobile\"}"),
        ("email", "{\"pii\":\"email\"}"),
        ("col5", "{\"pii\":\"bank_card\"}"),
        ("addr", "{\"pii\":\"address\"}"),
        ("birth_date", "\"date\""),
        ("", "\"other\""),
        ("department", "\"other\""),
        ("locale", "\"other\""),
        ("notes", "\"text_with_pii\""),
    ];
    for ((field, kind), (wf, wk)) in kinds.iter().zip(want) {
        assert_eq!((field.as_str(), kind.as_str()), (wf, wk));
    }
    assert_eq!(
        cols[8]["values"],
        serde_json::json!(["corporate", "prospect", "retail", "vip"])
    );

    // The proposed schema: sensitive where it should be, scanned notes, and
    // `init` accepts it.
    let schema = d.path().join("proposed.toml");
    let o = run(
        d.path(),
        &["scan", file.to_str().unwrap(), "-o", schema.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--map 客户姓名=name"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&schema).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    let fields = parsed["fields"].as_array().unwrap();
    let by_name = |n: &str| fields.iter().find(|f| f["name"].as_str() == Some(n)).unwrap().clone();
    assert_eq!(by_name("national_id")["classification"].as_str(), Some("sensitive"));
    assert_eq!(by_name("col5")["type"].as_str(), Some("bank_card"));
    assert_eq!(by_name("notes")["scan"].as_str(), Some("tokenize"));
    assert_eq!(by_name("column_9")["classification"].as_str(), Some("internal"));
    let o = run(&d.path().join("data"), &["init", "--schema", schema.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

const PROFILE: &str = r#"
k = 3
quasi_identifiers = ["birth_date", "address"]

[fields]
name = "drop"
mobile = { action = "tokenize", mode = "vault_deterministic" }
email = "hash"
birth_date = { action = "generalize", to = "age_band:30" }
address = { action = "generalize", to = "province" }
segment = "keep"
"#;

#[test]
fn notes_tokens_detokenize_and_deidentified_export() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let note = "notes=客户要求以后打 13912345678，或发邮件到 zhao.note@example.com";
    let o = run(
        &data,
        &[
            "customer",
            "add",
            "name=赵敏",
            "mobile=13800138000",
            note,
            "--purpose",
            "customer_service",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = json(&o)["id"].as_str().unwrap().to_owned();
    let o = run(
        &data,
        &[
            "customer",
            "get",
            &id,
            "--reveal",
            "--purpose",
            "data_subject_request",
            "--fields",
            "notes",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let notes = json(&o)["fields"]["notes"].as_str().unwrap().to_owned();
    assert!(
        !notes.contains("13912345678") && !notes.contains("zhao.note"),
        "{notes}"
    );
    let token = notes
        .split("[[cn_mobile ")
        .nth(1)
        .unwrap()
        .split("]]")
        .next()
        .unwrap()
        .to_owned();
    let o = run(&data, &["detokenize", &token, "--purpose", "data_subject_request"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "13912345678");
    // A purpose that does not cover notes, an unknown purpose, an unknown token.
    for (args, want) in [
        (
            vec!["detokenize", token.as_str(), "--purpose", "contract_performance"],
            "notes",
        ),
        (
            vec!["detokenize", token.as_str(), "--purpose", "curiosity"],
            "curiosity",
        ),
        (
            vec!["detokenize", "tok_0000", "--purpose", "data_subject_request"],
            "tok_0000",
        ),
    ] {
        let o = run(&data, &args);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(want), "{want}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    }
    let o = run(&data, &["audit", "tail", "-n", "20"]);
    assert!(stdout(&o).contains("detokenized"), "{}", stdout(&o));

    // A de-identified export of demo customers.
    let demo = d.path().join("demo.csv");
    assert!(run(&data, &["demo-data", "300", "-o", demo.to_str().unwrap()])
        .status
        .success());
    assert!(run(
        &data,
        &["import", demo.to_str().unwrap(), "--purpose", "contract_performance"]
    )
    .status
    .success());
    let profile = d.path().join("profile.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let out = d.path().join("deid.csv");
    let report = d.path().join("report.json");
    let o = run(
        &data,
        &[
            "export",
            "--deidentify",
            profile.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--purpose",
            "contract_performance",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("suppressed; k = "), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["risk"]["records"], 301);
    assert!(r["risk"]["k"].as_u64().unwrap() >= 3);
    assert_eq!(
        r["dropped"],
        serde_json::json!([
            "national_id",
            "id_kind",
            "country",
            "bank_card",
            "notes",
            "department",
            "locale"
        ])
    );
    let released = r["risk"]["released"].as_u64().unwrap() as usize;
    let body = std::fs::read_to_string(&out).unwrap();
    assert_eq!(body.lines().next(), Some("address,birth_date,email,mobile,segment"));
    assert_eq!(body.lines().count(), released + 1);
    assert!(!body.contains('@'));
    // Never overwrite; a revealing flag with --deidentify is refused.
    let o = run(
        &data,
        &[
            "export",
            "--deidentify",
            profile.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--purpose",
            "contract_performance",
        ],
    );
    assert!(!o.status.success());
    let o = run(
        &data,
        &[
            "export",
            "--deidentify",
            profile.to_str().unwrap(),
            "--reveal",
            "--purpose",
            "marketing",
        ],
    );
    assert!(!o.status.success());
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, PROFILE.replace("segment = \"keep\"", "shoe_size = \"keep\"")).unwrap();
    let o = run(
        &data,
        &[
            "export",
            "--deidentify",
            bad.to_str().unwrap(),
            "--purpose",
            "contract_performance",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("shoe_size is not a field"), "{}", stderr(&o));

    // The note's values are nowhere in the data directory.
    for (name, bytes) in all_files(&data) {
        for s in ["13912345678", "zhao.note@example.com"] {
            assert!(!contains(&bytes, s.as_bytes()), "{s} in {}", name.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn detect_and_detokenize_over_https() {
    use hyper::{Method, StatusCode};
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    init(&data);
    set_config(&data, "http", "detect_per_minute", toml::Value::Integer(8));
    let s = Server::start(&data, &[]);
    let boot = s.token.clone().unwrap();
    let agent = service_token(&data, "cs_agent");
    let steward = service_token(&data, "data_steward");
    let officer = service_token(&data, "privacy_officer");
    let mut c = s.conn().await;
    // Detection needs its permission: not the bootstrap token, not an agent.
    for who in [&boot, &agent] {
        let r = call(
            &mut c,
            who,
            Method::POST,
            "/v1/detect",
            Some(serde_json::json!({ "text": "x" })),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }

    let text = "联系人：王小明，电话 010-6552 9988；card 4111 1111 1111 1111";
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/detect",
        Some(serde_json::json!({ "text": text, "detail": true })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let found = r.json()["findings"].as_array().unwrap().clone();
    let chars: Vec<char> = text.chars().collect();
    let types: Vec<&str> = found.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["person_name", "cn_landline", "bank_card"]);
    for f in &found {
        let span: String = chars[f["start"].as_u64().unwrap() as usize..f["end"].as_u64().unwrap() as usize]
            .iter()
            .collect();
        assert_eq!(span, f["text"].as_str().unwrap());
    }
    // Malformed input is refused with a problem that names it.
    for (body, want) in [
        (
            serde_json::json!({ "text": text, "types": ["shoe"] }),
            "unknown type \\\"shoe\\\"",
        ),
        (serde_json::json!({ "text": text, "min_score": 2 }), "min_score"),
        (serde_json::json!({ "txt": text }), "unknown field"),
    ] {
        let r = call(&mut c, &steward, Method::POST, "/v1/detect", Some(body)).await;
        assert!(r.status.is_client_error(), "{}", String::from_utf8_lossy(&r.body));
        let b = String::from_utf8_lossy(&r.body).into_owned();
        assert!(b.contains(want), "{want}: {b}");
        assert!(r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"));
    }

    // Dense text: the answer stays under twice the text (offsets and types
    // only, findings past the bound left out and said so).
    let dense = "13800138000 ".repeat(20_000);
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/detect",
        Some(serde_json::json!({ "text": dense })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.len() < 2 * dense.len(),
        "{} bytes for {}",
        r.body.len(),
        dense.len()
    );
    let j = r.json();
    assert_eq!(
        (j["total"].as_u64(), j["truncated"].as_bool()),
        (Some(20_000), Some(true))
    );
    assert!(j["findings"][0].get("text").is_none(), "no matched text unless asked");
    // Calls per caller are limited (8 a minute here); others are not affected.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = call(
            &mut c,
            &steward,
            Method::POST,
            "/v1/detect",
            Some(serde_json::json!({ "text": "x" })),
        )
        .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/detect",
        Some(serde_json::json!({ "text": "x" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    let body = serde_json::json!({"name": "赵六", "department": "service", "notes": "新邮箱 zhao.liu@example.net"});
    let r = call(
        &mut c,
        &steward,
        Method::POST,
        "/v1/customers?purpose=customer_service",
        Some(body),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = call(
        &mut c,
        &officer,
        Method::GET,
        &format!("/v1/customers/{id}?reveal=true&purpose=data_subject_request&fields=notes"),
        None,
    )
    .await;
    let notes = r.json()["fields"]["notes"].as_str().unwrap().to_owned();
    assert!(notes.starts_with("新邮箱 [[email tok_"), "{notes}");
    let written = notes.trim_start_matches("新邮箱 ").to_owned();
    let r = call(
        &mut c,
        &officer,
        Method::POST,
        "/v1/tokens/detokenize?purpose=data_subject_request",
        Some(serde_json::json!({ "token": written })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["value"], "zhao.liu@example.net");
    assert_eq!(r.headers["cache-control"], "no-store");
    for (path, status) in [
        ("/v1/tokens/detokenize", StatusCode::BAD_REQUEST),
        ("/v1/tokens/detokenize?purpose=marketing", StatusCode::FORBIDDEN),
    ] {
        let r = call(
            &mut c,
            &officer,
            Method::POST,
            path,
            Some(serde_json::json!({ "token": written })),
        )
        .await;
        assert_eq!(r.status, status, "{path}: {}", String::from_utf8_lossy(&r.body));
    }
    drop(c);
    drop(s);
    for (name, bytes) in all_files(&data) {
        assert!(!contains(&bytes, b"zhao.liu@example.net"), "{}", name.display());
        assert!(!contains(&bytes, "王小明".as_bytes()), "{}", name.display());
    }
}
