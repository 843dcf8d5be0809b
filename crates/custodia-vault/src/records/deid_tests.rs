//! Free-text scanning, vault tokens and de-identified exports against a
//! real SQLite data directory.

use crate::access::authz::Principal;
use crate::operations::demo;
use crate::records::import::ImportOptions;
use crate::testkit::*;
use crate::*;
use custodia_core::schema::ScanAction;
use std::collections::HashMap;
use std::path::Path;

fn new_vault(dir: &Path) -> Vault {
    Vault::init(
        &DataDir::new(dir.join("data")),
        None,
        MasterChoice::KeyFile(None),
        "test",
    )
    .unwrap()
    .0
}

fn with_notes(notes: &str) -> RecordInput {
    RecordInput {
        external_id: None,
        fields: [
            ("name", "赵敏"),
            ("mobile", "13800138000"),
            ("department", "service"),
            ("notes", notes),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        consents: Vec::new(),
        new_collection_basis: None,
    }
}

const NOTE: &str =
    "客户来电要求改用新号码 139-1234-5678 联系，备用邮箱 zhao.min@example.com；身份证 11010519491231002X 已核对。";

fn revealed_notes(v: &Vault, id: &str) -> String {
    let a = v.access(Some("data_subject_request"), true, Some("notes")).unwrap();
    v.get(&op(), id, &a).unwrap().fields["notes"].clone()
}

/// The tokens written into a text, in order.
fn tokens_in(text: &str) -> Vec<(String, String)> {
    text.split("[[")
        .skip(1)
        .filter_map(|s| s.split_once("]]"))
        .filter_map(|(inner, _)| inner.split_once(' '))
        .map(|(k, t)| (k.to_owned(), t.to_owned()))
        .collect()
}

fn staff_as(_v: &Vault, role: &str) -> Principal {
    crate::testkit::staff("someone", &[role], true, true)
}

#[test]
fn notes_are_tokenized_on_write_and_detokenized_only_with_the_permission() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &with_notes(NOTE), &cp()).unwrap();
    let id = c.id.to_string();
    let stored = revealed_notes(&v, &id);
    for secret in [
        "139-1234-5678",
        "13912345678",
        "zhao.min@example.com",
        "11010519491231002X",
    ] {
        assert!(!stored.contains(secret), "{secret} kept in {stored}");
    }
    assert!(
        stored.starts_with("客户来电要求改用新号码 [[cn_mobile tok_"),
        "{stored}"
    );
    assert!(stored.ends_with("已核对。"), "{stored}");
    let toks = tokens_in(&stored);
    let kinds: Vec<&str> = toks.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["cn_mobile", "email", "cn_id"]);

    // The privacy officer, for a data subject request: the original text.
    let officer = staff_as(&v, "privacy_officer");
    let dsr = v.purpose("data_subject_request").unwrap();
    assert_eq!(v.detokenize(&officer, &toks[0].1, &dsr).unwrap(), "139-1234-5678");
    // The written form is accepted as well.
    let written = format!("[[email {}]]", toks[1].1);
    assert_eq!(v.detokenize(&officer, &written, &dsr).unwrap(), "zhao.min@example.com");
    // Every detokenization is audited with who, which customer and why.
    let events: Vec<_> = v
        .store()
        .audit_range(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|c| c.event)
        .collect();
    let reveals: Vec<_> = events
        .iter()
        .filter(|e| e.detail.as_deref().is_some_and(|d| d.starts_with("detokenized")))
        .collect();
    assert_eq!(reveals.len(), 2, "{reveals:?}");
    assert_eq!(reveals[0].actor, "staff:someone");
    assert_eq!(reveals[0].customer, Some(c.id));
    assert_eq!(
        reveals[0].purpose.as_ref().map(|p| p.as_str()),
        Some("data_subject_request")
    );

    // Without the permission, for another purpose, without a purpose, or an unknown token: refused.
    let agent = staff_as(&v, "cs_agent");
    let service = v.purpose("customer_service").unwrap();
    assert!(matches!(
        v.detokenize(&agent, &toks[0].1, &service),
        Err(VaultError::Forbidden(_))
    ));
    let marketing = v.purpose("marketing").unwrap();
    assert!(matches!(
        v.detokenize(&officer, &toks[0].1, &marketing),
        Err(VaultError::Forbidden(_))
    ));
    // The local operator needs the permission too, and even a caller
    // allowed everything needs a purpose covering the field.
    assert_eq!(v.detokenize(&op(), &toks[2].1, &dsr).unwrap(), "11010519491231002X");
    assert!(matches!(
        v.detokenize(&unrestricted(), &toks[2].1, &v.purpose("contract_performance").unwrap()),
        Err(VaultError::PurposeLimitation { .. })
    ));
    assert!(matches!(
        v.detokenize(&officer, "tok_00000000000000000000", &dsr),
        Err(VaultError::NotFound(_))
    ));
    // Denials are written behind the answer; any later write follows them.
    v.audit(Vec::new()).unwrap();
    let denied = v
        .store()
        .audit_range(0, 100_000)
        .unwrap()
        .iter()
        .filter(|c| c.event.action == custodia_core::audit::Action::AccessDenied)
        .count();
    assert!(denied >= 2, "{denied}");
}

#[test]
fn rewriting_notes_replaces_their_tokens_and_erasure_removes_them() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &with_notes(NOTE), &cp()).unwrap();
    let id = c.id.to_string();
    let old = tokens_in(&revealed_notes(&v, &id));
    assert_eq!(old.len(), 3);
    let patch: RecordPatch = [("notes".to_string(), Some("请拨 +86 138 0013 8000 回电".to_string()))]
        .into_iter()
        .collect();
    v.update(&op(), &id, &patch, None, &v.purpose("customer_service").unwrap())
        .unwrap();
    let now = revealed_notes(&v, &id);
    assert!(
        now.starts_with("请拨 [[cn_mobile tok_") && now.ends_with("]] 回电"),
        "{now}"
    );
    for (_, t) in &old {
        assert!(v.store().vault_token(t).unwrap().is_none(), "old token {t} kept");
    }
    let new = tokens_in(&now);
    assert_eq!(new.len(), 1);
    assert!(v.store().vault_token(&new[0].1).unwrap().is_some());
    // Erasing the field drops its tokens; erasing the customer drops the rest.
    v.erase_fields(&op(), &id, &["notes".into()], "test", &legal()).unwrap();
    assert!(v.store().vault_token(&new[0].1).unwrap().is_none());
    let c2 = v.create(&op(), &with_notes(NOTE), &cp()).unwrap();
    let t2 = tokens_in(&revealed_notes(&v, &c2.id.to_string()));
    v.erase_customer(&op(), &c2.id.to_string(), "test", &legal()).unwrap();
    for (_, t) in &t2 {
        assert!(v.store().vault_token(t).unwrap().is_none());
    }
}

#[test]
fn redact_and_refuse_actions() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = CustomerId::new();
    let cipher = custodia_crypto::DataKey::generate().cipher(id, 1);
    let f = FieldName::new("notes").unwrap();
    let (text, tokens) = v.scan_free_text(id, &cipher, &f, ScanAction::Redact, NOTE, 0).unwrap();
    assert!(tokens.is_empty());
    assert_eq!(
        text,
        "客户来电要求改用新号码 <CN_MOBILE> 联系，备用邮箱 <EMAIL>；身份证 <CN_ID> 已核对。"
    );
    let err = v
        .scan_free_text(id, &cipher, &f, ScanAction::Refuse, NOTE, 0)
        .unwrap_err();
    assert_eq!(err.code, "personal_data_in_free_text");
    assert!(err.message.contains("cn_mobile, email, cn_id"), "{}", err.message);
    assert!(!err.message.contains("13912345678") && !err.message.contains("139-1234"));
    // Text without personal information passes untouched in every mode.
    for action in [ScanAction::Redact, ScanAction::Tokenize, ScanAction::Refuse] {
        let (t, k) = v
            .scan_free_text(id, &cipher, &f, action, "客户偏好周末上午联系，VIP 升级已办理。", 0)
            .unwrap();
        assert_eq!(t, "客户偏好周末上午联系，VIP 升级已办理。");
        assert!(k.is_empty());
    }
}

#[test]
fn a_refusing_schema_fails_the_write_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let schema = custodia_core::schema::DEFAULT_SCHEMA_TOML.replace("scan = \"tokenize\"", "scan = \"refuse\"");
    let v = Vault::init(
        &DataDir::new(d.path().join("data")),
        Some(&schema),
        MasterChoice::KeyFile(None),
        "test",
    )
    .unwrap()
    .0;
    match v.create(&op(), &with_notes(NOTE), &cp()) {
        Err(VaultError::Invalid(p)) => {
            assert_eq!(p.len(), 1);
            assert_eq!(p[0].field, "notes");
            assert_eq!(p[0].code, "personal_data_in_free_text");
        }
        other => panic!("{other:?}"),
    }
    assert!(v.create(&op(), &with_notes("客户偏好周末联系"), &cp()).is_ok());
}

#[test]
fn imported_notes_are_tokenized_and_no_value_is_on_disk() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mut csv = String::from("external_id,name,mobile,department,notes\n");
    let mut secrets = Vec::new();
    for i in 0..50u32 {
        let mobile = format!("1391234{i:04}");
        let email = format!("note.person{i}@example.org");
        csv.push_str(&format!(
            "E{i},{}{},13800138{i:03},service,\"回访时说换了号码 {mobile}，邮件发到 {email}\"\n",
            ["王", "李", "张", "刘", "陈"][i as usize % 5],
            ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰"][i as usize / 5]
        ));
        secrets.push(mobile);
        secrets.push(email);
    }
    // The same file again: rows are skipped, and no stray tokens are stored.
    for _ in 0..2 {
        let r = v
            .import(
                &op(),
                csv.as_bytes(),
                None,
                &ImportOptions::new(cp()),
                None,
                &NoProgress,
            )
            .unwrap();
        assert_eq!(r.created + r.existing, 50, "{r:?}");
    }
    let tokens: i64 = {
        let c = rusqlite::Connection::open(d.path().join("data/custodia.db")).unwrap();
        c.query_row("SELECT count(*) FROM vault_tokens", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(tokens, 100);
    let officer = staff_as(&v, "privacy_officer");
    let dsr = v.purpose("data_subject_request").unwrap();
    let (page, _) = v.store().scan(0, 100).unwrap();
    let mut opened = Vec::new();
    for rec in &page {
        for (_, t) in tokens_in(&revealed_notes(&v, &rec.id.to_string())) {
            opened.push(v.detokenize(&officer, &t, &dsr).unwrap());
        }
    }
    opened.sort();
    let mut want = secrets.clone();
    want.sort();
    assert_eq!(opened, want);
    drop(v);
    for (name, bytes) in crate::tests::all_bytes(&d.path().join("data")) {
        for s in &secrets {
            assert!(!crate::tests::contains(&bytes, s.as_bytes()), "{s} found in {name}");
        }
    }
}

const PROFILE: &str = r#"
k = 4
l = 2
quasi_identifiers = ["birth_date", "address"]
sensitive = "segment"

[fields]
name = "drop"
national_id = "tokenize"
mobile = { action = "tokenize", mode = "vault_deterministic" }
email = "hash"
bank_card = "substitute"
birth_date = { action = "generalize", to = "age_band:20" }
address = { action = "generalize", to = "province" }
segment = "keep"
"#;

#[test]
fn deidentified_export_is_k_anonymous_l_diverse_and_reports_true_figures() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mut csv = Vec::new();
    demo::write_demo_csv(&mut csv, 400, 1, 7, |_| {}).unwrap();
    v.import(&op(), &csv[..], None, &ImportOptions::new(cp()), None, &NoProgress)
        .unwrap();
    let profile = v.load_profile(PROFILE, d.path()).unwrap();
    let mut out = Vec::new();
    let report = v
        .export_deidentified(&op(), &cp(), &mut out, &profile, &NoProgress)
        .unwrap();
    assert_eq!(report.dropped, ["id_kind", "country", "notes", "department", "locale"]);
    assert_eq!(
        report.fields,
        [
            "address",
            "bank_card",
            "birth_date",
            "email",
            "mobile",
            "national_id",
            "segment"
        ]
    );

    // An independent count over the source data: generalize the
    // quasi-identifiers by hand and group.
    let today = chrono::Utc::now().date_naive();
    let mut src = csv::Reader::from_reader(&csv[..]);
    let mut groups: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut originals: HashMap<String, csv::StringRecord> = HashMap::new();
    for row in src.records() {
        let row = row.unwrap();
        let birth = chrono::NaiveDate::parse_from_str(&row[7], "%Y-%m-%d").unwrap();
        let age = custodia_core::consent::age_on(birth, today);
        let band = format!("{}-{}", age / 20 * 20, age / 20 * 20 + 19);
        let addr = &row[6];
        let region = if let Some(p) = ["省", "市"]
            .iter()
            .find_map(|s| addr.find(s).map(|i| &addr[..i + s.len()]))
        {
            p.to_owned()
        } else {
            let st = addr.rsplit(", ").nth(1).unwrap().split(' ').next().unwrap();
            format!("{st}, USA")
        };
        groups.entry((band, region)).or_default().push(row[8].to_owned());
        let ctx = custodia_core::RecordContext::from_values(|k| (k == "locale").then(|| &row[10]));
        let mobile = v
            .validator()
            .check_in(v.schema().field("mobile").unwrap(), &row[3], &ctx)
            .unwrap();
        originals.insert(mobile, row);
    }
    let released_groups: Vec<_> = groups
        .iter()
        .filter(|(_, s)| s.len() >= 4 && s.iter().collect::<std::collections::HashSet<_>>().len() >= 2)
        .collect();
    let released: usize = released_groups.iter().map(|(_, s)| s.len()).sum();
    let min = released_groups.iter().map(|(_, s)| s.len()).min().unwrap();
    assert!(released > 100 && released < 400, "{released}");
    assert_eq!(report.risk.records, 400);
    assert_eq!(report.risk.released, released);
    assert_eq!(report.risk.suppressed, 400 - released);
    assert_eq!(report.risk.classes, released_groups.len());
    assert_eq!(report.risk.k, min);
    assert!((report.risk.max_risk - 1.0 / min as f64).abs() < 1e-12);
    assert!((report.risk.avg_risk - released_groups.len() as f64 / released as f64).abs() < 1e-12);

    // The file: exactly the released rows, each class at least k and l.
    let mut rdr = csv::Reader::from_reader(&out[..]);
    let header = rdr.headers().unwrap().clone();
    assert_eq!(header.iter().collect::<Vec<_>>(), report.fields);
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), released);
    let mut classes: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in &rows {
        classes
            .entry((r[2].to_owned(), r[0].to_owned()))
            .or_default()
            .push(r[6].to_owned());
    }
    for (c, s) in &classes {
        assert!(s.len() >= 4, "{c:?}");
        assert!(s.iter().collect::<std::collections::HashSet<_>>().len() >= 2, "{c:?}");
    }
    let officer = staff_as(&v, "privacy_officer");
    let dsr = v.purpose("data_subject_request").unwrap();
    for r in rows.iter().take(40) {
        // Deterministic vault tokens open to the original mobile.
        let mobile = v.detokenize(&officer, &r[4], &dsr).unwrap();
        let orig = originals.get(&mobile).expect("an original mobile");
        // FF1 keeps the shape of the resident ID and changes it.
        if orig[2].len() == 11 {
            // An SSN keeps its shape too.
            assert_eq!(r[5].len(), 11, "{}", &r[5]);
            assert_ne!(&r[5], &orig[2]);
        } else if !orig[2].is_empty() {
            assert_eq!(r[5].len(), 18);
            assert_ne!(&r[5], &orig[2]);
            assert!(r[5].bytes().take(17).all(|b| b.is_ascii_digit()), "{}", &r[5]);
        }
        // Substitutes pass the Luhn check; hashes hide the e-mail.
        assert!(custodia_core::validate::luhn_valid(r[1].as_bytes()), "{}", &r[1]);
        assert_ne!(&r[1], &orig[5]);
        assert!(!r[3].contains('@') && r[3] != orig[4]);
    }
    // A second export gives the same deterministic tokens and no new ones.
    let count = || -> i64 {
        let c = rusqlite::Connection::open(d.path().join("data/custodia.db")).unwrap();
        c.query_row("SELECT count(*) FROM vault_tokens", [], |r| r.get(0))
            .unwrap()
    };
    let before = count();
    let mut again = Vec::new();
    v.export_deidentified(&op(), &cp(), &mut again, &profile, &NoProgress)
        .unwrap();
    assert_eq!(count(), before);
    let first: Vec<String> = rows.iter().map(|r| r[4].to_owned()).collect();
    let second: Vec<String> = csv::Reader::from_reader(&again[..])
        .records()
        .map(|r| r.unwrap()[4].to_owned())
        .collect();
    assert_eq!(first, second);
}

#[test]
fn profiles_are_checked_against_the_schema() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let bad = PROFILE
        .replace("segment = \"keep\"", "segment = \"keep\"\nshoe_size = \"keep\"")
        .replace(
            "email = \"hash\"",
            "email = { action = \"shift_dates\", max_days = 10 }",
        )
        .replace(
            "name = \"drop\"",
            "name = { action = \"generalize\", hierarchy = \"missing.csv\", level = 1 }",
        );
    let err = v.load_profile(&bad, d.path()).unwrap_err().to_string();
    for want in [
        "shoe_size is not a field",
        "email: shift_dates needs a date field",
        "missing.csv",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // An ARX hierarchy file next to the profile.
    std::fs::write(
        d.path().join("seg.csv"),
        "retail;consumer;*\nvip;consumer;*\ncorporate;business;*\nprospect;business;*\n",
    )
    .unwrap();
    let ok = PROFILE.replace(
        "segment = \"keep\"",
        "segment = { action = \"generalize\", hierarchy = \"seg.csv\", level = 1 }",
    );
    assert!(v.load_profile(&ok, d.path()).is_ok());
}

#[test]
fn mask_alone_uses_the_schema_mask_and_counts_fall_back_to_zero() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.create(&op(), &with_notes("偏好周末联系"), &cp()).unwrap();
    let profile = v
        .load_profile(
            "k = 2\n[fields]\nmobile = \"mask\"\nname = { action = \"mask\", last = 1 }\n",
            d.path(),
        )
        .unwrap();
    let mut out = Vec::new();
    let r = v
        .export_deidentified(&op(), &cp(), &mut out, &profile, &NoProgress)
        .unwrap();
    // No quasi-identifiers: one class of one record, below k = 2, suppressed.
    assert_eq!((r.risk.released, r.risk.suppressed), (0, 1));
    let profile = v
        .load_profile(
            "k = 2\n[fields]\nmobile = \"mask\"\nname = { action = \"mask\", last = 1 }\n",
            d.path(),
        )
        .unwrap();
    v.create(&op(), &with_notes("偏好周末联系"), &cp()).unwrap();
    let mut out = Vec::new();
    v.export_deidentified(&op(), &cp(), &mut out, &profile, &NoProgress)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let expected_mobile = v.schema().field("mobile").unwrap().mask.apply("+8613800138000");
    assert!(
        expected_mobile.contains('*') && !expected_mobile.contains("0013"),
        "{expected_mobile}"
    );
    assert_eq!(
        text,
        format!("mobile,name\n{expected_mobile},*敏\n{expected_mobile},*敏\n")
    );
}

#[test]
fn numbers_written_one_after_another_are_tokenized_and_the_text_is_kept_as_written() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let note = "电话 13912345678 13987654321，身份证 110101198506126692。  下周回访";
    let c = v.create(&op(), &with_notes(note), &cp()).unwrap();
    let stored = revealed_notes(&v, &c.id.to_string());
    let kinds: Vec<String> = tokens_in(&stored).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["cn_mobile", "cn_mobile", "cn_id"], "{stored}");
    for secret in ["13912345678", "13987654321", "110101198506126692"] {
        assert!(!stored.contains(secret), "{secret} kept in {stored}");
    }
    // Everything but the tokens is as written: the full-width comma, the
    // full stop and the double space.
    assert!(stored.starts_with("电话 [[cn_mobile tok_"), "{stored}");
    assert!(stored.contains("]]，身份证 [[cn_id tok_"), "{stored}");
    assert!(stored.ends_with("]]。  下周回访"), "{stored}");
}
