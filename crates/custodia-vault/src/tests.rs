//! Vault tests against a real SQLite data directory.

use super::*;
use crate::operations::demo;
use crate::records::export::ExportFormat;
use crate::records::import::ImportOptions;
use crate::testkit::*;
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

fn reopen(dir: &Path) -> Vault {
    Vault::open(&DataDir::new(dir.join("data")), &|| unreachable!()).unwrap()
}

fn input(pairs: &[(&str, &str)]) -> RecordInput {
    RecordInput {
        external_id: None,
        fields: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        consents: Vec::new(),
        new_collection_basis: None,
    }
}

fn zhang() -> RecordInput {
    input(&[
        ("name", "张三丰"),
        ("national_id", "11010519491231002X"),
        ("mobile", "+86 138 0013 8000"),
        ("email", "Zhang.SanFeng@Example.com"),
        ("bank_card", "6250 9410 0652 8599"),
        ("address", "广东省深圳市南山区科技园路1号"),
        ("birth_date", "1949-12-31"),
        ("segment", "vip"),
    ])
}

fn reveal(v: &Vault, purpose: &str) -> Access {
    v.access(Some(purpose), true, None).unwrap()
}

#[test]
fn create_read_masked_and_revealed() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    assert_eq!(c.fields["mobile"], "138****8000");
    assert_eq!(c.fields["national_id"], "110105********002X");
    assert_eq!(c.fields["email"], "z***@example.com");
    assert_eq!(c.fields["bank_card"], "**** **** **** 8599");
    assert_eq!(c.fields["name"], "张*丰");
    assert_eq!(c.fields["address"], "广东省深圳市****");
    assert_eq!(c.fields["birth_date"], "1949-**-**");
    assert_eq!(c.fields["segment"], "vip");
    assert!(c.revealed.is_empty());

    let got = v.get(&op(), &c.id.to_string(), &masked()).unwrap();
    assert_eq!(got.fields, c.fields);
    let clear = v
        .get(&op(), &c.id.to_string(), &reveal(&v, "customer_service"))
        .unwrap();
    assert_eq!(clear.fields["mobile"], "+8613800138000");
    assert_eq!(clear.fields["email"], "zhang.sanfeng@example.com");
    assert_eq!(clear.purpose.as_ref().unwrap().as_str(), "customer_service");

    // Minimum necessary: reveal only the phone.
    let only = v
        .get(
            &op(),
            &c.id.to_string(),
            &v.access(Some("customer_service"), true, Some("mobile")).unwrap(),
        )
        .unwrap();
    assert_eq!(only.fields["mobile"], "+8613800138000");
    assert_eq!(only.fields["email"], "z***@example.com");
    assert_eq!(only.revealed, vec![FieldName::new("mobile").unwrap()]);

    let tail = v.audit_tail(&op(), 3).unwrap();
    let actions: Vec<_> = tail.iter().map(|e| e.event.action).collect();
    assert_eq!(actions, vec![Action::Read, Action::Reveal, Action::Reveal]);
    assert_eq!(tail[2].event.fields, vec![FieldName::new("mobile").unwrap()]);
}

#[test]
fn bad_records_report_every_problem() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let err = v
        .create(
            &op(),
            &input(&[
                ("mobile", "12"),
                ("email", "nope"),
                ("shoe_size", "42"),
                ("national_id", "110105194912310021"),
            ]),
            &cp(),
        )
        .unwrap_err();
    let codes: Vec<_> = err
        .problems()
        .iter()
        .map(|p| (p.field.as_str(), p.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("email", "email_invalid"),
            ("mobile", "phone_invalid"),
            ("national_id", "national_id_checksum"),
            ("shoe_size", "unknown_field"),
            ("name", "required"),
        ]
    );
    assert!(!err.to_string().contains("110105194912310021"));
    assert_eq!(v.counts(&op()).unwrap().0, 0);
}

#[test]
fn purposes_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    assert_eq!(v.access(None, true, None).unwrap_err(), VaultError::PurposeRequired);
    assert_eq!(v.access(Some(""), true, None).unwrap_err(), VaultError::PurposeRequired);
    assert!(matches!(
        v.access(Some("curiosity"), true, None).unwrap_err(),
        VaultError::UnknownPurpose { .. }
    ));
    assert_eq!(
        v.access(Some("marketing"), true, Some("mobile,shoe"))
            .unwrap_err()
            .code(),
        "unknown_field"
    );
    assert_eq!(v.access(Some("data_subject_request"), false, None).unwrap(), masked());
}

#[test]
fn find_uses_normalized_blind_indexes() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    v.create(
        &op(),
        &input(&[("name", "李四"), ("mobile", "13900139000"), ("email", "li@example.com")]),
        &cp(),
    )
    .unwrap();
    for (field, value) in [
        ("email", "zhang.sanfeng@example.com"),
        ("email", "ZHANG.SANFENG@EXAMPLE.COM"),
        ("mobile", "138-0013-8000"),
        ("mobile", "１３８００１３８０００"),
        ("national_id", "11010519491231002x"),
    ] {
        let found = v.find(&op(), field, value, &masked(), 10).unwrap();
        assert_eq!(found.len(), 1, "{field}={value}");
        assert_eq!(found[0].id, c.id);
    }
    assert!(v
        .find(&op(), "email", "nobody@example.com", &masked(), 10)
        .unwrap()
        .is_empty());
    assert!(v
        .find(&op(), "email", "not an email", &masked(), 10)
        .unwrap()
        .is_empty());
    // Names are searchable (by their search key); a bank card is not.
    assert_eq!(v.find(&op(), "name", " 张三丰 ", &masked(), 10).unwrap().len(), 1);
    assert_eq!(
        v.find(&op(), "bank_card", "6222021234567890", &masked(), 10)
            .unwrap_err(),
        VaultError::NotSearchable("bank_card".into())
    );
}

#[test]
fn update_is_optimistic_and_reindexes() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    let id = c.id.to_string();
    let mut patch = RecordPatch::new();
    patch.insert("email".into(), Some("new@example.com".into()));
    patch.insert("bank_card".into(), None);
    let u = v.update(&op(), &id, &patch, Some(1), &cp()).unwrap();
    assert_eq!(u.version, 2);
    assert!(!u.fields.contains_key("bank_card"));
    assert_eq!(
        v.update(&op(), &id, &patch, Some(1), &cp()).unwrap_err(),
        VaultError::VersionConflict { current: 2 }
    );
    assert!(v
        .find(&op(), "email", "zhang.sanfeng@example.com", &masked(), 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        v.find(&op(), "email", "new@example.com", &masked(), 10).unwrap().len(),
        1
    );
    let clear = v.get(&op(), &id, &reveal(&v, "customer_service")).unwrap();
    assert_eq!(clear.fields["mobile"], "+8613800138000", "unchanged fields survive");
    let mut bad = RecordPatch::new();
    bad.insert("name".into(), None);
    assert_eq!(
        v.update(&op(), &id, &bad, None, &cp()).unwrap_err().problems()[0].code,
        "required"
    );
    assert!(matches!(
        v.update(&op(), "cus_00000000000000000000000000000000", &patch, None, &cp()),
        Err(VaultError::NotFound(_))
    ));
}

#[test]
fn delete_removes_record_and_index() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    v.delete(&op(), &c.id.to_string(), &legal()).unwrap();
    assert!(matches!(
        v.get(&op(), &c.id.to_string(), &masked()),
        Err(VaultError::NotFound(_))
    ));
    assert!(v
        .find(&op(), "email", "zhang.sanfeng@example.com", &masked(), 10)
        .unwrap()
        .is_empty());
    assert!(matches!(
        v.delete(&op(), &c.id.to_string(), &legal()),
        Err(VaultError::NotFound(_))
    ));
    assert!(matches!(
        v.get(&op(), "cus_bogus", &masked()),
        Err(VaultError::Input(_))
    ));
}

#[test]
fn batches_are_bounded_and_independent() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let too_many = vec![zhang(); MAX_BATCH + 1];
    assert_eq!(
        v.create_batch(&op(), &too_many, &cp()).unwrap_err().code(),
        "batch_too_large"
    );
    let mut with_ext = zhang();
    with_ext.external_id = Some("CRM-1".into());
    let res = v
        .create_batch(&op(), &[with_ext.clone(), input(&[("name", "")]), with_ext], &cp())
        .unwrap();
    assert!(res[0].is_ok());
    assert_eq!(res[1].as_ref().unwrap_err().problems()[0].code, "required");
    assert_eq!(res[2].as_ref().unwrap_err().problems()[0].code, "duplicate_external_id");
    assert_eq!(v.counts(&op()).unwrap().0, 1);
}

const CSV_OK: &str = "external_id,name,mobile,email,national_id\r\nA-1,张三,13800138000,a@example.com,11010519491231002X\r\nA-2,John Smith,+1 650 253 0000,john@example.com,\r\n";

#[test]
fn import_with_bom_crlf_rejects_and_idempotence() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mut csv = Vec::new();
    csv.extend_from_slice("\u{feff}".as_bytes());
    csv.extend_from_slice(CSV_OK.as_bytes());
    csv.extend_from_slice(b"A-3,Bad Phone,12345,b@example.com,\r\n");
    csv.extend_from_slice(b"A-4,Too,Many,Columns,x,y\r\n");
    csv.extend_from_slice(b"A-5,\xff\xfe,13900139000,c@example.com,\r\n");
    csv.extend_from_slice(b"A-6,Short\r\n");
    let mut rejects = Vec::new();
    let r = v
        .import(
            &op(),
            &csv[..],
            None,
            &ImportOptions::new(cp()),
            Some(&mut rejects),
            &NoProgress,
        )
        .unwrap();
    assert_eq!((r.rows_read, r.created, r.existing, r.rejected), (6, 2, 0, 4));
    assert_eq!(r.accepted() + r.rejected, r.rows_read);
    let lines: Vec<u64> = r.rejects.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7]);
    assert_eq!(r.rejects[0].problems[0].code, "phone_invalid");
    assert_eq!(r.rejects[1].problems[0].code, "column_count");
    assert_eq!(r.rejects[2].problems[0].code, "encoding");
    let rej = String::from_utf8_lossy(&rejects).to_string();
    assert!(rej.starts_with("line,reason,"), "{rej}");
    assert_eq!(rej.lines().count(), 5);

    // Plain LF without a BOM numbers lines the same way.
    let lf = String::from_utf8_lossy(&csv[3..]).replace("\r\n", "\n");
    let d2 = tempfile::tempdir().unwrap();
    let v2 = new_vault(d2.path());
    let r2 = v2
        .import(&op(), lf.as_bytes(), None, &ImportOptions::new(cp()), None, &NoProgress)
        .unwrap();
    assert_eq!(r2.rejects.iter().map(|x| x.line).collect::<Vec<_>>(), vec![4, 5, 6, 7]);

    // Again: nothing new, nothing lost.
    let again = v
        .import(&op(), &csv[..], None, &ImportOptions::new(cp()), None, &NoProgress)
        .unwrap();
    assert_eq!(
        (again.rows_read, again.created, again.existing, again.rejected),
        (6, 0, 2, 4)
    );
    assert_eq!(v.counts(&op()).unwrap().0, 2);
}

#[test]
fn import_refuses_bad_headers_before_writing() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let e = v
        .import(
            &op(),
            &b"name,shoe_size\nA,42\n"[..],
            None,
            &ImportOptions::new(cp()),
            None,
            &NoProgress,
        )
        .unwrap_err();
    assert_eq!(e.code(), "unknown_field");
    assert!(e.to_string().contains("shoe_size"));
    let e = v
        .import(
            &op(),
            &b"mobile\n13800138000\n"[..],
            None,
            &ImportOptions::new(cp()),
            None,
            &NoProgress,
        )
        .unwrap_err();
    assert!(e.to_string().contains("required column(s): name"), "{e}");
    let e = v
        .import(
            &op(),
            &b"name,name\nA,B\n"[..],
            None,
            &ImportOptions::new(cp()),
            None,
            &NoProgress,
        )
        .unwrap_err();
    assert!(e.to_string().contains("twice"));
    let mut opts = ImportOptions::new(cp());
    opts.rename.insert("phone".into(), "mobile".into());
    let r = v
        .import(
            &op(),
            &b"name,phone\nA,13800138000\n"[..],
            None,
            &opts,
            None,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(r.created, 1);
    assert_eq!(v.counts(&op()).unwrap().0, 1);
}

pub(crate) fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

#[test]
fn no_plaintext_at_rest() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mut csv = Vec::new();
    demo::write_demo_csv(&mut csv, 300, 1, 99, |_| {}).unwrap();
    let r = v
        .import(&op(), &csv[..], None, &ImportOptions::new(cp()), None, &NoProgress)
        .unwrap();
    assert_eq!(r.created, 300);
    // Exercise reads, reveals, searches and updates too.
    let (page, _) = v.store().scan(0, 5).unwrap();
    for rec in &page {
        v.get(&op(), &rec.id.to_string(), &reveal(&v, "customer_service"))
            .unwrap();
    }
    let files = all_bytes(&d.path().join("data"));
    let mut rdr = csv::Reader::from_reader(&csv[..]);
    let mut checked = 0;
    for row in rdr.records() {
        let row = row.unwrap();
        // name, national_id, mobile, email, bank_card, address (and their normalized forms)
        for i in 1..7 {
            let value = &row[i];
            if value.chars().count() < 6 {
                continue; // two-character names could appear by chance in ciphertext
            }
            let ctx = custodia_core::RecordContext::from_values(|k| {
                demo::DEMO_HEADER.iter().position(|h| *h == k).map(|j| &row[j])
            });
            let normalized = v
                .validator()
                .check_in(v.schema().field(demo::DEMO_HEADER[i]).unwrap(), value, &ctx)
                .unwrap();
            for needle in [value.to_string(), normalized] {
                for (name, bytes) in &files {
                    assert!(
                        !contains(bytes, needle.as_bytes()),
                        "{} found in {name}",
                        demo::DEMO_HEADER[i]
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 1200, "{checked}");
}

#[test]
fn rotation_rewraps_everything_and_reads_still_work() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mut csv = Vec::new();
    demo::write_demo_csv(&mut csv, 2500, 1, 5, |_| {}).unwrap();
    v.import(&op(), &csv[..], None, &ImportOptions::new(cp()), None, &NoProgress)
        .unwrap();
    let r = v.rotate(&op(), &NoProgress).unwrap();
    assert_eq!((r.from, r.to, r.rewrapped, r.resumed), (1, 2, 2500, false));
    assert_eq!(v.counts(&op()).unwrap(), (2500, 0));
    let (page, _) = v.store().scan(0, 3000).unwrap();
    assert!(page.iter().all(|c| c.kek_version == 2));
    v.get(&op(), &page[1234].id.to_string(), &reveal(&v, "customer_service"))
        .unwrap();
    // New records use the new version; another rotation goes to 3.
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    assert_eq!(v.store().get(&c.id).unwrap().unwrap().kek_version, 2);
    assert_eq!(v.rotate(&op(), &NoProgress).unwrap().to, 3);
    assert!(v.audit_verify(&op()).unwrap().ok);
}

#[test]
fn interrupted_rotation_resumes() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    for _ in 0..5 {
        v.create(&op(), &input(&[("name", "王五")]), &cp()).unwrap();
    }
    // Simulate a crash right after the new version became current.
    v.store()
        .apply(vec![custodia_store::Mutation::SetMeta {
            key: META_KEK.into(),
            value: b"2".to_vec(),
        }])
        .unwrap();
    v.refresh_kek().unwrap();
    let r = v.rotate(&op(), &NoProgress).unwrap();
    assert!(r.resumed);
    assert_eq!((r.to, r.rewrapped), (2, 5));
}

#[test]
fn wrong_master_secret_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let dir = DataDir::new(d.path().join("data"));
    drop(Vault::init(&dir, None, MasterChoice::KeyFile(None), "t").unwrap());
    let e = Vault::open_with(&dir, MasterSecret::generate()).unwrap_err();
    assert_eq!(e.code(), "wrong_master_secret");
    assert!(Vault::open(&dir, &|| unreachable!()).is_ok());
    assert!(matches!(
        Vault::init(&dir, None, MasterChoice::KeyFile(None), "t"),
        Err(VaultError::AlreadyInitialized(_))
    ));
}

#[test]
fn passphrase_master_secret() {
    let d = tempfile::tempdir().unwrap();
    let dir = DataDir::new(d.path().join("data"));
    let pass = || Ok(Zeroizing::new("correct horse battery staple".to_string()));
    let (v, report) = Vault::init(&dir, None, MasterChoice::Passphrase(pass().unwrap()), "t").unwrap();
    assert!(report.key_file.is_none());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    drop(v);
    let v = Vault::open(&dir, &pass).unwrap();
    v.get(&op(), &c.id.to_string(), &masked()).unwrap();
    drop(v);
    let wrong = || Ok(Zeroizing::new("incorrect horse battery".to_string()));
    assert_eq!(Vault::open(&dir, &wrong).unwrap_err().code(), "wrong_master_secret");
}

#[test]
fn swapped_ciphertexts_do_not_decrypt() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let a = v.create(&op(), &zhang(), &cp()).unwrap();
    let b = v
        .create(&op(), &input(&[("name", "李四"), ("mobile", "13900139000")]), &cp())
        .unwrap();
    drop(v);
    let db = rusqlite::Connection::open(d.path().join("data/custodia.db")).unwrap();
    db.execute(
        "UPDATE customers SET sealed = (SELECT sealed FROM customers WHERE id = ?1) WHERE id = ?2",
        [a.id.as_bytes().to_vec(), b.id.as_bytes().to_vec()],
    )
    .unwrap();
    drop(db);
    let v = Vault::open(&DataDir::new(d.path().join("data")), &|| unreachable!()).unwrap();
    assert_eq!(v.get(&op(), &b.id.to_string(), &masked()).unwrap_err().code(), "crypto");
}

#[test]
fn audit_search_filters_by_customer_and_action_and_refuses_what_does_not_parse() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    for _ in 0..3 {
        v.get(&op(), &c.id.to_string(), &masked()).unwrap();
    }
    let q = audit::AuditQuery {
        customer: Some(c.id.to_string()),
        action: Some("read".into()),
        ..Default::default()
    };
    let page = v.audit_search(&op(), &q).unwrap();
    assert_eq!(page.events.len(), 3);
    assert!(page.events.iter().all(|e| e.event.customer == Some(c.id)));
    assert_eq!(page.next, None);
    assert_eq!(page.head, v.audit_tail(&op(), 1).unwrap()[0].seq);
    // Today, in the company's zone, holds them all; tomorrow none.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Tz::Asia__Shanghai)
        .date_naive();
    let day = |d: chrono::NaiveDate| audit::AuditQuery {
        from: Some(d.to_string()),
        to: Some(d.to_string()),
        ..q.clone()
    };
    assert_eq!(v.audit_search(&op(), &day(today)).unwrap().events.len(), 3);
    assert!(v
        .audit_search(&op(), &day(today.succ_opt().unwrap()))
        .unwrap()
        .events
        .is_empty());
    let bad = audit::AuditQuery {
        action: Some("peek".into()),
        outcome: Some("maybe".into()),
        from: Some("yesterday".into()),
        customer: Some("nobody".into()),
        ..Default::default()
    };
    let VaultError::Invalid(problems) = v.audit_search(&op(), &bad).unwrap_err() else {
        panic!("not refused by field")
    };
    let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["customer", "action", "outcome", "from"]);
    assert!(problems[1].message.contains("reveal"), "{problems:?}");
}

#[test]
fn audit_verify_names_each_kind_of_tampering() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    for _ in 0..8 {
        v.get(&op(), &c.id.to_string(), &masked()).unwrap();
    }
    let report = v.audit_verify(&op()).unwrap();
    // init, notice v1 published, create, 8 reads
    assert!(report.ok && report.events == 11, "{report:?}");
    drop(v);
    let path = d.path().join("data/custodia.db");
    let tamper = |sql: &str| {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(sql).unwrap();
    };
    let verify = || {
        Vault::open(&DataDir::new(d.path().join("data")), &|| unreachable!())
            .unwrap()
            .audit_verify(&op())
            .unwrap()
    };

    tamper("UPDATE audit SET actor = 'someone-else' WHERE seq = 3");
    assert_eq!(verify().problems, vec![audit::ChainProblem::Modified { seq: 3 }]);
    tamper("DELETE FROM audit WHERE seq IN (5, 6)");
    let p = verify().problems;
    assert!(p.contains(&audit::ChainProblem::Missing { from: 5, to: 6 }), "{p:?}");
    assert!(
        p.contains(&audit::ChainProblem::BrokenLink { seq: 7 }) || p.len() == 2,
        "{p:?}"
    );
    // Move event 8's row to position 9 and 9's to 8 (contents swapped).
    tamper(
        "UPDATE audit SET seq = -8 WHERE seq = 8; UPDATE audit SET seq = 8 WHERE seq = 9; UPDATE audit SET seq = 9 WHERE seq = -8;",
    );
    let p = verify().problems;
    assert!(
        p.contains(&audit::ChainProblem::Moved { seq: 8, written_at: 9 }),
        "{p:?}"
    );
    assert!(
        p.contains(&audit::ChainProblem::Moved { seq: 9, written_at: 8 }),
        "{p:?}"
    );
    assert!(!verify().ok);
}

#[test]
fn export_masked_and_revealed() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.create(&op(), &zhang(), &cp()).unwrap();
    let mut out = Vec::new();
    let r = v
        .export(&op(), &mut out, ExportFormat::Csv, &Access::masked(cp()), &NoProgress)
        .unwrap();
    assert_eq!(r.records, 1);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("138****8000") && !text.contains("13800138000"), "{text}");
    let mut out = Vec::new();
    // The steward may not export for legal obligations at all.
    assert_eq!(
        v.export(
            &op(),
            &mut Vec::new(),
            ExportFormat::Json,
            &reveal(&v, "legal_obligation"),
            &NoProgress
        )
        .unwrap_err()
        .code(),
        "forbidden"
    );
    v.export(
        &unrestricted(),
        &mut out,
        ExportFormat::Json,
        &reveal(&v, "legal_obligation"),
        &NoProgress,
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    // Purpose limitation: the notice lists the ID number for legal
    // obligations, not the phone number.
    assert_eq!(json[0]["fields"]["national_id"], "11010519491231002X");
    assert!(json[0]["fields"].get("mobile").is_none(), "{json}");
    let tail = v.audit_tail(&op(), 2).unwrap();
    assert_eq!(tail[1].event.action, Action::Export);
    assert_eq!(tail[1].event.purpose.as_ref().unwrap().as_str(), "legal_obligation");
    assert!(tail[1].event.detail.as_deref().unwrap().contains("records=1"));
}

#[test]
fn accounts_mfa_training_and_explain() {
    use crate::access::identity::AccountKind;
    use custodia_core::policy::{DenyReason, Permission};
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    assert!(d.path().join("data/policy.toml").exists());
    let roles = vec!["cs_agent".to_string()];
    // Password policy, roles and names are checked.
    assert!(v
        .create_account(&op(), "li.na", AccountKind::Staff, &roles, Some("short"))
        .is_err());
    assert!(v
        .create_account(
            &op(),
            "li.na",
            AccountKind::Staff,
            &["wizard".into()],
            Some("correct horse battery staple")
        )
        .is_err());
    assert!(v
        .create_account(
            &op(),
            "Li Na",
            AccountKind::Staff,
            &roles,
            Some("correct horse battery staple")
        )
        .is_err());
    let a = v
        .create_account(
            &op(),
            "li.na",
            AccountKind::Staff,
            &roles,
            Some("correct horse battery staple"),
        )
        .unwrap();
    assert_eq!(a.pending_approvals.len(), 1, "a data role waits for a second person");
    approve_all(&v);
    let a = v.account(&op(), "li.na").unwrap();
    assert_eq!(a.roles, roles);
    assert!(a.mfa_required && !a.mfa_enrolled);
    assert!(
        v.create_account(
            &op(),
            "li.na",
            AccountKind::Staff,
            &roles,
            Some("correct horse battery staple")
        )
        .is_err(),
        "duplicate"
    );

    let mut rec = zhang();
    rec.fields.insert("department".into(), "service".into());
    let c = v.create(&op(), &rec, &cp()).unwrap();
    let id = c.id.to_string();
    let explain = |perm, field, purpose| {
        v.explain(&op(), "li.na", Some(&id), Some(field), perm, Some(purpose))
            .unwrap()
    };

    // No MFA yet: the role cannot be used at all.
    assert_eq!(
        explain(Permission::ReadMasked, "mobile", "customer_service").reason,
        Some(DenyReason::MfaRequired)
    );

    let enr = v
        .start_mfa(&crate::testkit::staff("li.na", &["cs_agent"], false, false), "li.na")
        .unwrap();
    assert_eq!(enr.recovery_codes.len(), 10);
    assert!(enr.otpauth_uri.starts_with("otpauth://totp/Custodia:li.na?secret="));
    assert!(v
        .confirm_mfa(
            &crate::testkit::staff("li.na", &["cs_agent"], false, false),
            "li.na",
            "not-a-code"
        )
        .is_err());
    // Derive the current code from the enrolled secret the way an app would.
    let secret_b32 = enr.secret_base32.clone();
    let key = custodia_crypto::totp::base32_decode(&secret_b32).unwrap();
    let step = chrono::Utc::now().timestamp() as u64 / 30;
    let code = format!(
        "{:06}",
        custodia_crypto::totp::hotp(custodia_crypto::totp::Algorithm::Sha1, &key, step, 6)
    );
    v.confirm_mfa(
        &crate::testkit::staff("li.na", &["cs_agent"], false, false),
        "li.na",
        &code,
    )
    .unwrap();
    assert!(v.account(&op(), "li.na").unwrap().mfa_enrolled);

    // MFA on, training missing: masked reads yes, reveal no.
    assert!(explain(Permission::ReadMasked, "mobile", "customer_service").allowed);
    assert_eq!(
        explain(Permission::Reveal, "mobile", "customer_service").reason,
        Some(DenyReason::TrainingRequired("privacy_basics".into()))
    );
    let today = chrono::Utc::now().date_naive();
    v.record_training(
        &op(),
        "li.na",
        "privacy_basics",
        today - chrono::Duration::days(400),
        90,
        Some(today - chrono::Duration::days(35)),
    )
    .unwrap();
    assert_eq!(
        explain(Permission::Reveal, "mobile", "customer_service").reason,
        Some(DenyReason::TrainingRequired("privacy_basics".into())),
        "expired training does not count"
    );
    v.record_training(
        &op(),
        "li.na",
        "privacy_basics",
        today,
        95,
        Some(today + chrono::Duration::days(365)),
    )
    .unwrap();
    let decision = explain(Permission::Reveal, "mobile", "customer_service");
    assert!(decision.allowed, "{decision}");
    assert!(!explain(Permission::Reveal, "national_id", "customer_service").allowed);
    assert!(!explain(Permission::Reveal, "mobile", "marketing").allowed);
    let acct = v.account(&op(), "li.na").unwrap();
    assert_eq!(acct.trainings.len(), 2);
    assert_eq!(acct.trainings.iter().filter(|t| t.valid).count(), 1);

    // Every change is audited and the chain holds.
    let kinds: Vec<_> = v
        .audit_tail(&op(), 50)
        .unwrap()
        .into_iter()
        .map(|e| e.event.action)
        .collect();
    for k in [Action::Account, Action::Mfa, Action::Training] {
        assert!(kinds.contains(&k), "{k:?}");
    }
    assert!(v.audit_verify(&op()).unwrap().ok);
    // The TOTP seed is not stored in clear.
    let db = std::fs::read(d.path().join("data/custodia.db")).unwrap();
    assert!(memchr::memmem::find(&db, &key).is_none());
    assert!(memchr::memmem::find(&db, secret_b32.as_bytes()).is_none());
}

#[test]
fn custom_schema_gets_a_minimal_policy() {
    let d = tempfile::tempdir().unwrap();
    let schema = "version = 1\n[[fields]]\nname = \"full_name\"\ntype = \"person_name\"\nclassification = \"personal\"\nmask = \"name\"\n";
    let (v, _) = Vault::init(
        &DataDir::new(d.path().join("data")),
        Some(schema),
        MasterChoice::KeyFile(None),
        "t",
    )
    .unwrap();
    assert!(v.policy().role("administrator").is_some());
    assert!(v.policy().role("cs_agent").is_none());
}

#[test]
fn audit_verify_names_inserted_events() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &zhang(), &cp()).unwrap();
    v.get(&op(), &c.id.to_string(), &masked()).unwrap();
    drop(v);
    // Someone with database access appends an event that never happened,
    // linked to the real head but without the key to compute its MAC.
    let db = rusqlite::Connection::open(d.path().join("data/custodia.db")).unwrap();
    db.execute_batch(
        "INSERT INTO audit (seq, ts_ms, actor, action, customer, fields, purpose, outcome, detail, prev, mac)
         SELECT seq + 1, ts_ms, 'auditor', 'read', customer, fields, purpose, outcome, detail, mac, randomblob(32)
         FROM audit ORDER BY seq DESC LIMIT 1",
    )
    .unwrap();
    drop(db);
    let v = Vault::open(&DataDir::new(d.path().join("data")), &|| unreachable!()).unwrap();
    let r = v.audit_verify(&op()).unwrap();
    assert_eq!(r.problems, vec![audit::ChainProblem::Modified { seq: 5 }]);
    assert_eq!(
        r.problems[0].to_string(),
        "event 5 was modified or forged (MAC mismatch)"
    );
}

#[test]
fn sign_in_throttling_mfa_and_recovery_codes() {
    use crate::access::identity::AccountKind;
    use crate::access::session::LoginError;
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let pw = "correct horse battery staple";
    v.create_account(&op(), "li.na", AccountKind::Staff, &["cs_agent".to_string()], Some(pw))
        .unwrap();
    approve_all(&v);

    // Without MFA: signed in, but told to enroll (the role needs it).
    let s = signin(&v, "li.na", pw, None, "10.0.0.1").unwrap();
    assert!(s.must_enroll_mfa);
    let sess = v.session(&s.token).unwrap().unwrap();
    assert!(!sess.mfa_ok);
    v.logout(&s.token).unwrap();
    assert!(v.session(&s.token).unwrap().is_none());

    // Unknown name and wrong password: the same answer.
    assert_eq!(
        signin(&v, "nobody", pw, None, "10.0.0.2").unwrap_err(),
        LoginError::Invalid
    );
    assert_eq!(
        signin(&v, "li.na", "wrong password here", None, "10.0.0.2").unwrap_err(),
        LoginError::Invalid
    );

    // Enroll MFA; from now on a code is needed, each step once.
    let enr = v
        .start_mfa(&crate::testkit::staff("li.na", &["cs_agent"], false, false), "li.na")
        .unwrap();
    let key = custodia_crypto::totp::base32_decode(&enr.secret_base32).unwrap();
    let now = chrono::Utc::now().timestamp() as u64;
    let code = |t: u64| {
        format!(
            "{:06}",
            custodia_crypto::totp::hotp(custodia_crypto::totp::Algorithm::Sha1, &key, t / 30, 6)
        )
    };
    v.confirm_mfa(
        &crate::testkit::staff("li.na", &["cs_agent"], false, false),
        "li.na",
        &code(now),
    )
    .unwrap();
    assert_eq!(
        signin(&v, "li.na", pw, None, "10.0.0.3").unwrap_err(),
        LoginError::Invalid
    );
    assert_eq!(
        signin(&v, "li.na", pw, Some(&code(now)), "10.0.0.3").unwrap_err(),
        LoginError::Invalid,
        "replayed step"
    );
    let ok = signin(&v, "li.na", pw, Some(&code(now + 30)), "10.0.0.3").unwrap();
    assert!(!ok.must_enroll_mfa);
    assert!(v.session(&ok.token).unwrap().unwrap().mfa_ok);
    // A recovery code works once.
    let rc = enr.recovery_codes[0].clone();
    assert!(signin(&v, "li.na", pw, Some(&rc), "10.0.0.4").is_ok());
    assert_eq!(
        signin(&v, "li.na", pw, Some(&rc), "10.0.0.4").unwrap_err(),
        LoginError::Invalid
    );
    assert_eq!(v.account(&op(), "li.na").unwrap().recovery_codes_left, 9);

    // Wrong passwords from one address shut that address out of this
    // account only: the owner signs in from another address, and a
    // neighbour behind the same address signs in to their own account.
    v.create_account(&op(), "wang.wu", AccountKind::Staff, &[], Some(pw))
        .unwrap();
    approve_all(&v);
    for _ in 0..5 {
        assert_eq!(
            signin(&v, "li.na", "nope nope nope", None, "10.0.0.5").unwrap_err(),
            LoginError::Invalid
        );
    }
    assert!(matches!(
        signin(&v, "li.na", pw, Some(&enr.recovery_codes[1]), "10.0.0.5").unwrap_err(),
        LoginError::Locked { .. }
    ));
    assert!(signin(&v, "wang.wu", pw, None, "10.0.0.5").is_ok(), "the neighbour");
    let owner = signin(&v, "li.na", pw, Some(&enr.recovery_codes[1]), "10.0.0.6").expect("the owner elsewhere");
    // The owner's browser, remembered by its device cookie, gets in even
    // from the address that is shut out.
    let device = owner.device.to_string();
    let back = v
        .login("li.na", pw, Some(&enr.recovery_codes[2]), "10.0.0.5", Some(&device))
        .unwrap();
    assert!(back.result.is_ok(), "{:?}", back.result.err());
    // A forged or foreign device cookie is just an unknown browser.
    // (Its last digit changed: one in sixteen cookies already ends in 0.)
    let last = if device.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &device[..device.len() - 1]);
    assert!(matches!(
        v.login("li.na", pw, Some(&enr.recovery_codes[3]), "10.0.0.5", Some(&forged))
            .unwrap()
            .result,
        Err(LoginError::Locked { .. })
    ));
    // Unlocking clears the address.
    v.unlock(&op(), "li.na").unwrap();
    assert!(signin(&v, "li.na", pw, Some(&enr.recovery_codes[3]), "10.0.0.5").is_ok());

    // Wrong codes after a right password lock the second factor (and
    // alert): even the right code from a new address is refused, while
    // the owner's remembered browser still works.
    for i in 0..5 {
        let r = signin(&v, "li.na", pw, Some("000000"), &format!("10.0.1.{i}")).unwrap_err();
        assert_eq!(
            r,
            if i < 4 {
                LoginError::Invalid
            } else {
                LoginError::CodeLocked { minutes: 15 }
            }
        );
    }
    assert!(matches!(
        signin(&v, "li.na", pw, Some(&enr.recovery_codes[4]), "10.0.2.1").unwrap_err(),
        LoginError::CodeLocked { .. }
    ));
    assert!(v
        .login("li.na", pw, Some(&enr.recovery_codes[4]), "10.0.0.6", Some(&device))
        .unwrap()
        .result
        .is_ok());
    let tail = v.audit_tail(&op(), 200).unwrap();
    assert!(tail.iter().any(|e| e.event.action == Action::Lockout
        && e.event
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("ALERT: second factor of li.na locked"))));
    // Failures only add a bounded delay per account; never a lock of the account itself.
    let o = v.login("li.na", "nope nope nope", None, "10.0.3.1", None).unwrap();
    assert!(o.delay <= std::time::Duration::from_secs(4));
    let actions: Vec<_> = tail.into_iter().map(|e| e.event.action).collect();
    assert!(
        actions.contains(&Action::Lockout) && actions.contains(&Action::Login) && actions.contains(&Action::Logout)
    );
    assert!(v.audit_verify(&op()).unwrap().ok);
}

#[test]
fn sign_in_counters_survive_a_restart() {
    use crate::access::identity::AccountKind;
    use crate::access::session::LoginError;
    let d = tempfile::tempdir().unwrap();
    let pw = "correct horse battery staple";
    {
        let v = new_vault(d.path());
        v.create_account(&op(), "li.na", AccountKind::Staff, &[], Some(pw))
            .unwrap();
        approve_all(&v);
        for _ in 0..5 {
            let _ = signin(&v, "li.na", "nope nope nope", None, "10.0.0.5");
        }
    }
    let v = reopen(d.path());
    assert!(matches!(
        signin(&v, "li.na", pw, None, "10.0.0.5").unwrap_err(),
        LoginError::Locked { .. }
    ));
}

#[test]
fn access_review_report_and_campaign() {
    use crate::access::identity::AccountKind;
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.create_account(&op(), "crm-app", AccountKind::Service, &["cs_agent".to_string()], None)
        .unwrap();
    approve_all(&v);
    v.create_account(
        &op(),
        "wang",
        AccountKind::Staff,
        &["cs_agent".to_string()],
        Some("correct horse battery staple"),
    )
    .unwrap();
    approve_all(&v);
    let mut rec = zhang();
    rec.fields.insert("department".into(), "service".into());
    let c = v.create(&op(), &rec, &cp()).unwrap();
    let p = service("crm-app", &["cs_agent"]);
    let purpose = v.purpose("customer_service").unwrap();
    for _ in 0..3 {
        v.get(&p, &c.id.to_string(), &Access::masked(purpose.clone())).unwrap();
    }
    let r = v.review_report(&op(), 90).unwrap();
    let g = |acct: &str, grant: usize| {
        r.grants
            .iter()
            .find(|x| x.account == acct && x.grant == grant && x.role == "cs_agent")
            .unwrap()
            .clone()
    };
    let read = g("crm-app", 1);
    assert_eq!(read.uses, 3);
    assert!(read.last_use.is_some());
    assert_eq!(read.flags, vec!["broader_than_use"], "contract_performance never used");
    assert_eq!(read.unused_purposes, vec!["contract_performance"]);
    assert_eq!(g("crm-app", 2).flags, vec!["unused"], "reveal never used");
    assert_eq!(g("wang", 1).uses, 0);
    let wang = r.accounts.iter().find(|a| a.account == "wang").unwrap();
    assert_eq!(wang.flags, vec!["mfa_missing", "training_expired"]);
    assert!(
        !r.accounts.iter().any(|a| a.account == "crm-app"),
        "services need neither MFA nor training"
    );

    let (id, items) = v.start_review(&op()).unwrap();
    assert_eq!(items.len(), 2);
    v.decide_review(&op(), &id, "wang", "cs_agent", false, Some("left the team"))
        .unwrap();
    assert!(v.account(&op(), "wang").unwrap().roles.is_empty());
    assert!(
        v.decide_review(&op(), &id, "wang", "cs_agent", true, None).is_err(),
        "decided once"
    );
    v.decide_review(&op(), &id, "crm-app", "cs_agent", true, None).unwrap();
    let items = v.review_items(&op(), &id).unwrap();
    assert!(items.iter().all(|i| i.decision.is_some()));
    assert!(v.review_items(&op(), "rev_nope").is_err());
    assert!(v
        .audit_tail(&op(), 5)
        .unwrap()
        .iter()
        .any(|e| e.event.action == Action::Review));
    assert!(v.audit_verify(&op()).unwrap().ok);
}

#[test]
fn expired_revoked_and_foreign_tokens_are_refused() {
    use crate::access::authz::TokenRefusal;
    use crate::access::identity::AccountKind;
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.create_account(&op(), "crm-app", AccountKind::Service, &["cs_agent".to_string()], None)
        .unwrap();
    approve_all(&v);
    v.create_account(
        &op(),
        "wang",
        AccountKind::Staff,
        &["cs_agent".to_string()],
        Some("correct horse battery staple"),
    )
    .unwrap();
    approve_all(&v);
    assert!(v.issue_token(&op(), "wang", &[], 30).is_err(), "staff get no tokens");
    assert!(v.issue_token(&op(), "crm-app", &[], 0).is_err());
    let t = v.issue_token(&op(), "crm-app", &[], 30).unwrap();
    assert!(v.authenticate_token(&t.token).unwrap().is_ok());
    assert_eq!(
        v.authenticate_token("cst_nope").unwrap().unwrap_err(),
        TokenRefusal::Unknown
    );
    let db = rusqlite::Connection::open(d.path().join("data/custodia.db")).unwrap();
    db.execute("UPDATE api_tokens SET expires_ms = 1 WHERE id = ?1", [&t.id])
        .unwrap();
    assert_eq!(
        v.authenticate_token(&t.token).unwrap().unwrap_err(),
        TokenRefusal::Expired
    );
    let t2 = v.issue_token(&op(), "crm-app", &[], 30).unwrap();
    v.revoke_token(&op(), &t2.id).unwrap();
    assert_eq!(
        v.authenticate_token(&t2.token).unwrap().unwrap_err(),
        TokenRefusal::Revoked
    );
    assert!(v.revoke_token(&op(), "tok_missing").is_err());
    let t3 = v.issue_token(&op(), "crm-app", &[], 30).unwrap();
    db.execute("UPDATE accounts SET disabled = 1 WHERE name = 'crm-app'", [])
        .unwrap();
    assert_eq!(
        v.authenticate_token(&t3.token).unwrap().unwrap_err(),
        TokenRefusal::AccountDisabled
    );
    // Tokens are stored as digests only.
    let bytes = std::fs::read(d.path().join("data/custodia.db")).unwrap();
    assert!(memchr::memmem::find(&bytes, t3.token.as_bytes()).is_none());
}

#[test]
fn bulk_load_defers_blind_indexes_and_recovers_them() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let indexes = || -> usize {
        let db = rusqlite::Connection::open(d.path().join("data/custodia.db")).unwrap();
        db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'customers_bi_%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    };
    // national_id, mobile, email and name.
    assert_eq!(indexes(), 4);
    // A crash right after the indexes were dropped: the next open rebuilds them.
    v.store().apply(vec![custodia_store::Mutation::BeginBulkLoad]).unwrap();
    assert_eq!(indexes(), 0);
    drop(v);
    let v = Vault::open(&DataDir::new(d.path().join("data")), &|| unreachable!()).unwrap();
    assert_eq!(indexes(), 4);
    // An import into the empty vault ends with the indexes in place and searchable.
    let mut csv = Vec::new();
    demo::write_demo_csv(&mut csv, 50, 1, 3, |_| {}).unwrap();
    v.import(&op(), &csv[..], None, &ImportOptions::new(cp()), None, &NoProgress)
        .unwrap();
    assert_eq!(indexes(), 4);
    let email = String::from_utf8(csv.clone())
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(4)
        .unwrap()
        .to_owned();
    assert_eq!(v.find(&op(), "email", &email, &masked(), 5).unwrap().len(), 1);
    // A non-empty vault keeps its indexes during imports.
    let r = v.store().apply(vec![custodia_store::Mutation::BeginBulkLoad]).unwrap();
    assert_eq!(r, vec![Ok(custodia_store::Applied::NotFound)]);
    assert_eq!(indexes(), 4);
}

#[test]
fn reads_keep_working_during_rotation() {
    let d = tempfile::tempdir().unwrap();
    let v = std::sync::Arc::new(new_vault(d.path()));
    let mut csv = Vec::new();
    demo::write_demo_csv(&mut csv, 3000, 1, 8, |_| {}).unwrap();
    v.import(&op(), &csv[..], None, &ImportOptions::new(cp()), None, &NoProgress)
        .unwrap();
    let (page, _) = v.store().scan(0, 3000).unwrap();
    let ids: Vec<String> = page.iter().map(|c| c.id.to_string()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (v, stop) = (v.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 50 {
                let access = v.access(Some("customer_service"), true, Some("mobile")).unwrap();
                v.get(&op(), &ids[(n * 7919) % ids.len()], &access)
                    .expect("read during rotation");
                n += 1;
            }
            n
        })
    };
    let r = v.rotate(&op(), &NoProgress).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert_eq!(r.rewrapped, 3000);
    assert!(reads >= 50);
    assert_eq!(v.counts(&op()).unwrap(), (3000, 0));
    assert!(v.audit_verify(&op()).unwrap().ok);
}

/// Sign in from `client` with no device cookie.
fn signin(
    v: &Vault,
    name: &str,
    pw: &str,
    code: Option<&str>,
    client: &str,
) -> Result<crate::access::session::SessionStart, crate::access::session::LoginError> {
    v.login(name, pw, code, client, None).unwrap().result
}

#[test]
fn a_mixed_chinese_and_american_file_imports_every_valid_row() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let csv = "external_id,name,national_id,id_kind,mobile,address,locale,country,department\n\
C-1,王芳,11010519491231002X,,13800138000,上海市浦东新区世纪大道100号,zh_CN,,service\n\
U-1,Jane Doe,123-45-6789,,(415) 555-2671,\"742 Evergreen Terrace, Springfield, IL 62704, USA\",en_US,,service\n\
U-2,John Roe,E12345678,passport,+1 212 555 0142,,en_US,,service\n\
N-1,Anna de Vries,111222333,,+31 20 555 1234,,,NL,service\n\
U-3,Bad Ssn,666-12-3456,,(415) 555-2672,,en_US,,service\n\
J-1,Taro Yamada,AB1234567,,+81 3-1234-5678,,,JP,service\n";
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
    assert_eq!((r.created, r.rejected), (4, 2), "{:?}", r.rejects);
    assert_eq!(r.rejects[0].problems[0].code, "id_structure", "the 666 area");
    assert_eq!(
        r.rejects[1].problems[0].code, "id_kind_needed",
        "a Japanese document needs its kind"
    );
    assert!(r.rejects[1].problems[0].message.contains("passport"));
    // The US record: its number read in the US, its SSN masked as one, its
    // address keeping city and state.
    let found = v.find(&op(), "national_id", "123456789", &masked(), 10).unwrap();
    assert_eq!(found.len(), 1, "an SSN is found however it is written");
    let u = &found[0];
    assert_eq!(u.external_id.as_deref(), Some("U-1"));
    assert_eq!(u.fields["national_id"], "***-**-6789");
    assert_eq!(u.fields["mobile"], "+*******2671");
    assert_eq!(u.fields["address"], "****, Springfield, IL, USA");
    let acc = v.access(Some("contract_performance"), true, Some("mobile")).unwrap();
    let clear = v.get(&op(), &u.id.to_string(), &acc).unwrap();
    assert_eq!(clear.fields["mobile"], "+14155552671");
    // Existing resident-ID searches work as before.
    let c = v
        .find(&op(), "national_id", "11010519491231002x", &masked(), 10)
        .unwrap();
    assert_eq!(c[0].fields["national_id"], "110105********002X");
    // A number without + is searched in the default region (CN).
    assert_eq!(v.find(&op(), "mobile", "13800138000", &masked(), 10).unwrap().len(), 1);
    // An update is read in the record as it will be: a resident ID is not
    // an SSN, unless the record stops being American.
    let set = |pairs: &[(&str, &str)]| -> RecordPatch {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect()
    };
    let e = v
        .update(
            &op(),
            &u.id.to_string(),
            &set(&[("national_id", "11010519491231002X")]),
            None,
            &cp(),
        )
        .unwrap_err();
    assert_eq!(e.problems()[0].code, "id_format", "{e}");
    let e = v
        .update(
            &op(),
            &u.id.to_string(),
            &set(&[("locale", "zh_CN"), ("national_id", "11010519491231002X")]),
            None,
            &cp(),
        )
        .unwrap_err();
    assert_ne!(
        e.code(),
        "invalid_record",
        "valid now; refused only for its purpose: {e}"
    );
    // Changing only what the kind is read from reads the stored number again.
    let e = v
        .update(&op(), &u.id.to_string(), &set(&[("locale", "zh_CN")]), None, &cp())
        .unwrap_err();
    assert_eq!(e.problems()[0].field, "national_id", "{e}");
    assert!(e.to_string().contains("as the record will be"), "{e}");
}

#[test]
fn csv_headers_delimiters_and_unclosed_quotes_are_named_and_lose_no_row() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let import = |csv: &str, opts: &ImportOptions| v.import(&op(), csv.as_bytes(), None, opts, None, &NoProgress);
    let opts = ImportOptions::new(cp());
    // No header row: said so, and its values are not echoed.
    let e = import(
        "13912345672,张三,zhang@example.com\n13912345673,李四,li@example.com\n",
        &opts,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("does not look like a header") && msg.contains("column(s) 1, 2, 3"),
        "{msg}"
    );
    assert!(
        !msg.contains("13912345672") && !msg.contains("张三") && !msg.contains("zhang@"),
        "{msg}"
    );
    // A near miss is suggested with its --map.
    let e = import("external_id,name,phone\nA-1,张三,13800138000\n", &opts).unwrap_err();
    assert!(
        e.to_string().contains("did you mean mobile? (--map phone=mobile)"),
        "{e}"
    );
    // Another delimiter is named, and read when told.
    let semi = "external_id;name;mobile\nS-1;张三;13800138000\n";
    let e = import(semi, &opts).unwrap_err();
    assert!(e.to_string().contains("semicolons"), "{e}");
    let told = ImportOptions {
        delimiter: b';',
        ..ImportOptions::new(cp())
    };
    assert_eq!(import(semi, &told).unwrap().created, 1);
    // An unclosed quote is reported on its line; every row after it is read.
    let csv = "external_id,name,mobile,address\n\
Q-1,\"张三,13800138000,\n\
Q-2,李四,13900139000,\n\
Q-3,\"王 五\",13700137000,\"上海市浦东新区\n世纪大道100号\"\n\
Q-4,赵六,13600136000,\n\
Q-5,\"钱七,13500135000,\n";
    let r = import(csv, &opts).unwrap();
    assert_eq!((r.rows_read, r.created, r.rejected), (5, 3, 2), "{:?}", r.rejects);
    assert_eq!(r.accepted() + r.rejected, r.rows_read);
    let mut bad: Vec<(u64, &str)> = r
        .rejects
        .iter()
        .map(|x| (x.line, x.problems[0].code.as_str()))
        .collect();
    bad.sort();
    assert_eq!(bad, [(2, "unclosed_quote"), (7, "unclosed_quote")]);
    // Nothing but open quotes: every line reported, none lost.
    let opens = format!("external_id,name\n{}", "\"x\n".repeat(3000));
    let r = import(&opens, &opts).unwrap();
    assert_eq!((r.rows_read, r.rejected), (3000, 3000));
    // The quoted line break is kept.
    let found = v.find(&op(), "mobile", "13700137000", &masked(), 1).unwrap();
    assert_eq!(found[0].external_id.as_deref(), Some("Q-3"));
}
