//! Requests, erasure, retention, the erasure ledger and backups against a
//! real SQLite data directory.

use crate::privacy::consent;
use crate::rights::erasure;
use crate::rights::requests::NewRequest;
use crate::rights::retention::{LifecycleInput, RetentionOptions};
use crate::testkit::*;
use crate::*;
use custodia_core::notice::DEFAULT_NOTICE_TOML;
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

fn reopen(dir: &Path) -> Result<Vault, VaultError> {
    Vault::open(&DataDir::new(dir.join("data")), &|| unreachable!())
}

fn input(pairs: &[(&str, &str)]) -> RecordInput {
    RecordInput {
        external_id: None,
        fields: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

fn person() -> RecordInput {
    input(&[
        ("name", "林晓"),
        ("mobile", "13800138000"),
        ("email", "lin.xiao@example.cn"),
        ("national_id", "11010519491231002X"),
        ("address", "上海市浦东新区世纪大道100号"),
        ("department", "service"),
    ])
}

fn request(v: &Vault, id: &str, kind: &str, regime: &str) -> crate::rights::requests::RequestView {
    v.new_request(
        &op(),
        &NewRequest {
            customer: id.into(),
            kind: kind.into(),
            regime: Some(regime.into()),
            channel: Some("email".into()),
            note: (kind == "rectification").then(|| "my address changed".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

/// A reveal by a caller the policy allows everything (the notice and
/// consent rules bind every caller alike).
fn read(v: &Vault, id: &str, purpose: &str) -> Result<CustomerView, VaultError> {
    v.get(&unrestricted(), id, &v.access(Some(purpose), true, None).unwrap())
}

fn give(purpose: &str) -> consent::ConsentInput {
    consent::ConsentInput {
        purpose: purpose.into(),
        action: consent::ConsentAction::Give,
        channel: "web".into(),
        language: "zh".into(),
        separate: true,
        by: None,
        text_sha256: None,
        notice_version: None,
        document_sha256: None,
    }
}

#[test]
fn requests_follow_the_state_machine_with_clocks() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &person(), &cp()).unwrap();
    let id = c.id.to_string();
    // Idempotent intake.
    let first = v
        .new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "access".into(),
                regime: Some("ccpa".into()),
                idempotency_key: Some("crm-123".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let again = v
        .new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "access".into(),
                idempotency_key: Some("crm-123".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(first.id, again.id);
    assert!(
        first.due.acknowledge_by.is_some(),
        "CCPA: acknowledge within 10 business days"
    );
    assert!(first.acknowledgement_due);
    // Not verified yet: cannot be carried out.
    let e = v.carry_out(&op(), &first.id, None).unwrap_err();
    assert_eq!(e.code(), "request_state");
    assert!(e.to_string().contains("verify"), "{e}");
    let e = v.verify_request(&op2(), &first.id, "telepathy").unwrap_err();
    assert_eq!(e.problems()[0].code, "unknown_method");
    v.acknowledge_request(&op(), &first.id).unwrap();
    let r = v.verify_request(&op2(), &first.id, "id_document").unwrap();
    assert_eq!(r.status, "verified");
    assert!(!r.acknowledgement_due);
    let r = v
        .extend_request(&op(), &first.id, "we hold records in three systems")
        .unwrap();
    assert!(r.extended && r.status == "extended");
    assert_eq!((r.due.respond_by - r.due.original_respond_by).num_days(), 45);
    let e = v.extend_request(&op(), &first.id, "again").unwrap_err();
    assert!(e.to_string().contains("one extension"), "{e}");
    let out = v.carry_out(&op(), &first.id, None).unwrap();
    assert_eq!(out.request.status, "completed");
    let pkg = out.package.unwrap();
    assert_eq!(pkg["fields"]["email"], "lin.xiao@example.cn");
    assert!(pkg["purposes"].as_array().unwrap().len() >= 5);
    let log = pkg["access_log"].as_array().unwrap();
    assert!(log.iter().any(|e| e["action"] == "create"), "{log:?}");
    let hist: Vec<String> = out.request.history.iter().map(|h| h.to.clone()).collect();
    assert_eq!(hist, vec!["received", "received", "verified", "extended", "completed"]);
    let e = v.deny_request(&op(), &first.id, "too late").unwrap_err();
    assert!(e.to_string().contains("already completed"), "{e}");

    // PIPL has no extension; a denial needs its reason.
    let p = request(&v, &id, "portability", "pipl");
    let e = v.extend_request(&op(), &p.id, "busy").unwrap_err();
    assert!(e.to_string().contains("PIPL does not allow"), "{e}");
    let e = v.deny_request(&op(), &p.id, " ").unwrap_err();
    assert_eq!(e.problems()[0].code, "required");
    v.verify_request(&op2(), &p.id, "in_person").unwrap();
    assert_eq!(v.start_request(&op(), &p.id).unwrap().status, "in_progress");
    assert!(v.start_request(&op(), &p.id).is_err(), "already in progress");
    let out = v.carry_out(&op(), &p.id, None).unwrap();
    assert!(out.csv.unwrap().contains("email,lin.xiao@example.cn"));

    // Overdue requests come first in `due`.
    let old = v
        .new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "access".into(),
                regime: Some("gdpr".into()),
                received_at: Some("2026-01-05".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(old.overdue && old.days_left.unwrap() < 0);
    let due = v.requests_due(&op(), 0).unwrap();
    assert_eq!(due[0].id, old.id);
    let e = v
        .new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "access".into(),
                received_at: Some("2999-01-01".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.problems()[0].code, "future_date");
    assert_eq!(
        v.new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "teleport".into(),
                ..Default::default()
            }
        )
        .unwrap_err()
        .problems()[0]
            .code,
        "unknown_kind"
    );
}

#[test]
fn rectification_restriction_objection_and_withdrawal() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mut p = person();
    p.consents = vec![give("marketing"), give("risk_control")];
    let c = v.create(&op(), &p, &cp()).unwrap();
    let id = c.id.to_string();

    let r = request(&v, &id, "rectification", "gdpr");
    assert_eq!(
        v.request_note(&op(), &r.id).unwrap().as_deref(),
        Some("my address changed")
    );
    v.verify_request(&op2(), &r.id, "signed_in_account").unwrap();
    let e = v.carry_out(&op(), &r.id, None).unwrap_err();
    assert!(e.to_string().contains("corrected values"), "{e}");
    let patch: RecordPatch = [("address".to_string(), Some("北京市海淀区中关村大街27号".to_string()))]
        .into_iter()
        .collect();
    let out = v.carry_out(&op(), &r.id, Some(&patch)).unwrap();
    assert_eq!(out.request.status, "completed");
    // GDPR Art. 19: the SMS gateway got the address (customer service), so it must be told.
    assert_eq!(out.request.recipients.len(), 1, "{:?}", out.request.recipients);
    let who = out.request.recipients[0].recipient.clone();
    assert!(who.starts_with("SMS gateway"));
    let after = v.notify_recipient(&op(), &r.id, &who).unwrap();
    assert!(after.recipients[0].notified_at.is_some());
    assert!(v.notify_recipient(&op(), &r.id, "Nobody").is_err());
    assert_eq!(
        read(&v, &id, "customer_service").unwrap().fields["address"],
        "北京市海淀区中关村大街27号"
    );

    // Restriction: only the purposes the notice allows under restriction.
    let r = request(&v, &id, "restriction", "gdpr");
    v.verify_request(&op2(), &r.id, "id_document").unwrap();
    v.carry_out(&op(), &r.id, None).unwrap();
    let e = read(&v, &id, "customer_service").unwrap_err();
    assert_eq!(e.code(), "processing_stopped");
    assert!(e.to_string().contains("restricted"), "{e}");
    assert!(read(&v, &id, "legal_obligation").is_ok());
    v.clear_flags(&op(), &id, true, false).unwrap();
    assert!(read(&v, &id, "customer_service").is_ok());

    // Objection needs no verification; marketing stops.
    assert!(read(&v, &id, "marketing").is_ok());
    let r = request(&v, &id, "objection", "ccpa");
    assert!(
        r.due.acknowledge_by.is_none(),
        "opt-outs: 15 business days, no acknowledgement step"
    );
    v.carry_out(&op(), &r.id, None).unwrap();
    assert_eq!(read(&v, &id, "marketing").unwrap_err().code(), "processing_stopped");
    assert!(
        read(&v, &id, "risk_control").is_ok(),
        "risk control is not objectable and shares nothing"
    );

    // Withdrawing every consent.
    let r = request(&v, &id, "consent_withdrawal", "pipl");
    let out = v.carry_out(&op(), &r.id, None).unwrap();
    assert!(
        out.request
            .history
            .last()
            .unwrap()
            .note
            .contains("2 consents withdrawn"),
        "{:?}",
        out.request.history
    );
    assert_eq!(read(&v, &id, "risk_control").unwrap_err().code(), "consent_required");
}

fn all_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn erasure_requests_shred_certify_and_respect_holds() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &person(), &cp()).unwrap();
    let id = c.id.to_string();
    let stored = v.store().get(&c.id).unwrap().unwrap();
    let r = request(&v, &id, "erasure", "gdpr");
    v.verify_request(&op2(), &r.id, "id_document").unwrap();
    let hold = v.set_hold(&op(), &id, "case 2026-17").unwrap();
    let e = v.carry_out(&op(), &r.id, None).unwrap_err();
    assert_eq!(e.code(), "legal_hold");
    assert!(e.to_string().contains("case 2026-17"), "{e}");
    assert_eq!(v.request(&op(), &r.id).unwrap().status, "verified", "nothing happened");
    assert!(v.store().get(&c.id).unwrap().is_some());
    v.release_hold(&op(), &id, &hold.id).unwrap();
    let out = v.carry_out(&op(), &r.id, None).unwrap();
    assert_eq!(out.request.status, "completed");
    assert!(!out.request.recipients.is_empty(), "recipients to tell of the erasure");
    let jws = out.certificate.unwrap();
    let key = custodia_crypto::jws::public_key_from_jwk(&v.signing_jwk()).unwrap();
    let cert = erasure::verify_certificate(&jws, &key).unwrap();
    assert_eq!(cert.subjects.len(), 1);
    assert_eq!(cert.subjects[0].customer, id);
    assert_eq!(cert.subjects[0].scope, "customer");
    assert!(cert.reason.contains(&r.id));
    assert_eq!(cert.basis, "GDPR Art. 17(1)");
    assert!(erasure::verify_certificate(&jws.replacen('.', ".e30", 1), &key).is_err());
    assert_eq!(v.get(&op(), &id, &masked()).unwrap_err().code(), "not_found");
    let ts = v.tombstones_of(&op(), &id).unwrap();
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].request.as_deref(), Some(r.id.as_str()));
    assert_eq!(v.certificate(&op(), &cert.id).unwrap(), jws);
    // The request record stays (its note is gone with the key).
    assert_eq!(v.request_note(&op(), &r.id).unwrap(), None);
    assert!(v.verify_ledger(&op()).unwrap().ok);
    assert!(v.audit_verify(&op()).unwrap().ok);
    // Not a byte of the wrapped key or the ciphertexts is left on disk.
    drop(v);
    for (path, bytes) in all_files(&d.path().join("data")) {
        assert!(
            !contains(&bytes, &stored.wrapped_dk),
            "wrapped key in {}",
            path.display()
        );
        assert!(
            !contains(&bytes, &stored.sealed[..40]),
            "ciphertext in {}",
            path.display()
        );
    }
}

#[test]
fn field_erasure_rekeys_the_customer() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &person(), &cp()).unwrap();
    let id = c.id.to_string();
    let before = v.store().get(&c.id).unwrap().unwrap();
    let out = v
        .erase_fields(&op(), &id, &["national_id".into()], "no longer needed", &legal())
        .unwrap();
    let after = v.store().get(&c.id).unwrap().unwrap();
    assert_ne!(after.wrapped_dk, before.wrapped_dk, "a new data key");
    assert_eq!(after.dk_version, before.dk_version + 1);
    let view = read(&v, &id, "data_subject_request").unwrap();
    assert!(!view.fields.contains_key("national_id"));
    assert_eq!(view.fields["mobile"], "+8613800138000");
    assert!(v
        .find(&op(), "national_id", "11010519491231002X", &masked(), 5)
        .unwrap()
        .is_empty());
    let key = custodia_crypto::jws::public_key_from_jwk(&v.signing_jwk()).unwrap();
    let cert = erasure::verify_certificate(&out.certificate_jws, &key).unwrap();
    assert_eq!(cert.subjects[0].fields, vec!["national_id"]);
    assert!(
        v.erase_fields(&op(), &id, &["name".into()], "x", &legal()).is_err(),
        "required"
    );
    assert!(v.erase_fields(&op(), &id, &["shoe".into()], "x", &legal()).is_err());
}

/// A customer created at `ms` (as if collected then).
fn create_at(v: &Vault, input: &RecordInput, ms: i64) -> CustomerId {
    let s = v
        .seal_new(input, &v.validator(), 1, ms, &v.notices(), "t", true)
        .unwrap();
    let id = s.customer.id;
    v.apply_one(vec![Mutation::Insert {
        customer: Box::new(s.customer),
        consents: s.consents,
        events: vec![],
    }])
    .unwrap();
    id
}

const DAY: i64 = 86_400_000;

#[test]
fn retention_runs_erase_whole_customers_and_single_fields() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    // A notice with short periods, all counted from collection.
    let short = DEFAULT_NOTICE_TOML
        .replace("version = 1\n", "version = 2\n")
        .replace(
            "{ years = 3, from = \"contract_end\" }",
            "{ days = 30, from = \"collection\" }",
        )
        .replace(
            "{ years = 10, from = \"contract_end\" }",
            "{ days = 30, from = \"collection\" }",
        )
        .replace(
            "{ months = 24, from = \"last_activity\" }",
            "{ days = 400, from = \"collection\" }",
        );
    v.publish_notice(&op(), &short).unwrap();
    let now = now_ms();
    let fresh = create_at(&v, &person(), now - 5 * DAY);
    let old = create_at(&v, &person(), now - 100 * DAY);
    let mut with_marketing = person();
    with_marketing.consents = vec![give("marketing")];
    let marketer = create_at(&v, &with_marketing, now - 100 * DAY);
    let held = create_at(&v, &person(), now - 100 * DAY);
    v.set_hold(&op(), &held.to_string(), "case 9").unwrap();
    // A contract that has not ended keeps nothing here: every period runs from collection.
    let mut lc = LifecycleInput {
        reviewed: true,
        ..Default::default()
    };
    v.set_lifecycle(&op(), &fresh.to_string(), &lc, &cp()).unwrap();
    lc.reviewed = false;
    assert!(
        v.set_lifecycle(&op(), &fresh.to_string(), &lc, &cp()).is_err(),
        "nothing to set"
    );

    // A dry run destroys nothing; a future run must be a dry run.
    let dry = v
        .retention_run(
            &op(),
            &RetentionOptions {
                dry_run: true,
                as_of: None,
            },
            &NoProgress,
        )
        .unwrap();
    assert_eq!(
        (dry.customers_erased, dry.customers_trimmed, dry.held),
        (1, 1, 1),
        "{dry:?}"
    );
    assert_eq!(v.counts(&op()).unwrap().0, 4);
    let future = Some(chrono::Utc::now().date_naive() + chrono::Days::new(1000));
    let preview = v
        .retention_run(
            &op(),
            &RetentionOptions {
                dry_run: true,
                as_of: future,
            },
            &NoProgress,
        )
        .unwrap();
    assert_eq!(preview.customers_erased, 3, "{preview:?}");
    assert!(v
        .retention_run(
            &op(),
            &RetentionOptions {
                dry_run: false,
                as_of: future
            },
            &NoProgress
        )
        .is_err());

    let r = v
        .retention_run(&op(), &RetentionOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(
        (r.scanned, r.customers_erased, r.customers_trimmed, r.held),
        (4, 1, 1, 1),
        "{r:?}"
    );
    assert_eq!(r.certificates.len(), 1);
    assert!(v.store().get(&old).unwrap().is_none());
    assert!(v.store().get(&held).unwrap().is_some());
    // The marketer keeps what marketing needs (name, mobile, email), nothing else.
    let m = read(&v, &marketer.to_string(), "data_subject_request").unwrap();
    assert_eq!(
        m.fields.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["department", "email", "mobile", "name"]
    );
    assert_eq!(r.fields_erased.get("national_id"), Some(&1));
    // The certificate covers both.
    let key = custodia_crypto::jws::public_key_from_jwk(&v.signing_jwk()).unwrap();
    let cert = erasure::verify_certificate(&v.certificate(&op(), &r.certificates[0]).unwrap(), &key).unwrap();
    assert_eq!(cert.subjects.len(), 2);
    assert!(cert.reason.starts_with("retention"));
    // A second run finds nothing more.
    let again = v
        .retention_run(&op(), &RetentionOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!((again.customers_erased, again.customers_trimmed), (0, 0));
    // Data-quality review: the fresh customer was reviewed just now; the other two are 100 days old.
    assert_eq!(v.stale_records(&op(), 1, 10).unwrap().len(), 2);
    assert_eq!(r.stale_for_review, 0, "the run flags after the configured 365 days");
    assert!(v.audit_verify(&op()).unwrap().ok);
}

#[test]
fn backups_restore_without_resurrecting_erased_customers() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let keep = v.create(&op(), &person(), &cp()).unwrap();
    let mut gone = input(&[("name", "赵删除"), ("email", "erase.me@example.cn")]);
    gone.external_id = Some("CRM-000000001".into());
    let again = gone.clone();
    let gone = v.create(&op(), &gone, &cp()).unwrap();
    let file = d.path().join("before.backup");
    let (secret, public) = custodia_crypto::backup::recipient_keypair();
    let rep = v.backup_create(&op(), &file, Some(&public), &NoProgress).unwrap();
    assert_eq!(rep.customers, 2);
    assert!(
        v.backup_create(&op(), &file, None, &NoProgress).is_err(),
        "never overwrites"
    );
    // No clear value in the backup file.
    let bytes = std::fs::read(&file).unwrap();
    for needle in ["erase.me@example.cn", "13800138000", "林晓"] {
        assert!(!contains(&bytes, needle.as_bytes()), "{needle}");
    }
    let ver = v.backup_verify(&op(), &file, &NoProgress).unwrap();
    assert_eq!(ver.bytes, rep.db_bytes);
    // After the backup, one customer is erased.
    v.erase_customer(&op(), &gone.id.to_string(), "GDPR Art. 17(1)", &legal())
        .unwrap();
    // Restore the older backup: the erasure is replayed.
    let to = DataDir::new(d.path().join("restored"));
    let rr = v.backup_restore(&op(), &file, &to, &NoProgress).unwrap();
    assert_eq!(rr.erasures_replayed, Some(1));
    let restored = Vault::open(&to, &|| unreachable!()).unwrap();
    assert_eq!(
        restored.erasures_replayed_at_open(),
        0,
        "replayed once, at the first open"
    );
    assert!(restored.store().get(&gone.id).unwrap().is_none(), "erased stays erased");
    assert_eq!(
        restored.create(&op(), &again, &cp()).unwrap_err().code(),
        "erased_before",
        "the suppression list comes back with the ledger"
    );
    assert!(restored.store().get(&keep.id).unwrap().is_some());
    assert!(restored.audit_verify(&op()).unwrap().ok);
    assert!(restored.verify_ledger(&op()).unwrap().ok);
    drop(restored);
    // Into an existing directory: refused.
    assert!(v.backup_restore(&op(), &file, &to, &NoProgress).is_err());

    // The offline recipient can verify and restore without the master secret;
    // opening it later (with the secret) replays the ledger.
    let ver = crate::operations::backup::verify(
        &file,
        crate::operations::backup::KeySource::Recipient(&secret),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(ver.header.id, rep.id);
    let to2 = DataDir::new(d.path().join("offline"));
    let ledger = v.dir().ledger_path(v.config());
    let key_file = v.dir().root().join("master.key");
    crate::operations::backup::restore_files(
        &file,
        &to2,
        crate::operations::backup::KeySource::Recipient(&secret),
        Some(&ledger),
        Some(&key_file),
        &NoProgress,
    )
    .unwrap();
    let offline = Vault::open(&to2, &|| unreachable!()).unwrap();
    assert_eq!(offline.erasures_replayed_at_open(), 1);
    assert!(offline.store().get(&gone.id).unwrap().is_none());
    assert_eq!(
        offline.create(&op(), &again, &cp()).unwrap_err().code(),
        "erased_before"
    );
    let (other, _) = custodia_crypto::backup::recipient_keypair();
    assert!(crate::operations::backup::verify(
        &file,
        crate::operations::backup::KeySource::Recipient(&other),
        &NoProgress
    )
    .is_err());

    // A damaged backup fails verification and restore.
    let mut bad = std::fs::read(&file).unwrap();
    let at = bad.len() - 100;
    bad[at] ^= 0x40;
    let badf = d.path().join("bad.backup");
    std::fs::write(&badf, &bad).unwrap();
    let e = v.backup_verify(&op(), &badf, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("failed authentication"), "{e}");
    let to3 = DataDir::new(d.path().join("bad-restore"));
    assert!(v.backup_restore(&op(), &badf, &to3, &NoProgress).is_err());
    assert!(!to3.db_path().exists(), "no half-restored database");
}

#[test]
fn the_ledger_is_reconciled_and_guarded() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let a = v.create(&op(), &person(), &cp()).unwrap();
    let b = v.create(&op(), &person(), &cp()).unwrap();
    v.erase_customer(&op(), &a.id.to_string(), "test", &legal()).unwrap();
    v.erase_customer(&op(), &b.id.to_string(), "test", &legal()).unwrap();
    let ledger = v.dir().ledger_path(v.config());
    drop(v);
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert_eq!(text.lines().count(), 2);
    for needle in ["林晓", "13800138000"] {
        assert!(!text.contains(needle));
    }
    // A crash between commit and append: the ledger lacks the last line; the next open appends it.
    let first = text.lines().next().unwrap().to_owned() + "\n";
    std::fs::write(&ledger, &first).unwrap();
    let v = reopen(d.path()).unwrap();
    assert_eq!(std::fs::read_to_string(&ledger).unwrap().lines().count(), 2);
    assert!(v.verify_ledger(&op()).unwrap().ok);
    drop(v);
    // An altered ledger refuses to open (erased customers must stay erased).
    let altered = std::fs::read_to_string(&ledger)
        .unwrap()
        .replacen("\"basis\":\"test\"", "\"basis\":\"tost\"", 1);
    std::fs::write(&ledger, altered).unwrap();
    let e = reopen(d.path()).unwrap_err();
    assert!(e.to_string().contains("erasure ledger"), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn backups_are_consistent_while_writers_go_on() {
    let d = tempfile::tempdir().unwrap();
    let v = std::sync::Arc::new(new_vault(d.path()));
    for _ in 0..200 {
        v.create(&op(), &person(), &cp()).unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (v, stop) = (v.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                v.create(&op(), &person(), &cp()).unwrap();
                n += 1;
            }
            n
        })
    };
    let file = d.path().join("online.backup");
    let rep = v.backup_create(&op(), &file, None, &NoProgress).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    let to = DataDir::new(d.path().join("copy"));
    v.backup_restore(&op(), &file, &to, &NoProgress).unwrap();
    let copy = Vault::open(&to, &|| unreachable!()).unwrap();
    let (n, _) = copy.counts(&op()).unwrap();
    assert!(n >= 200 && n <= 200 + written, "{n}");
    assert!(rep.customers >= 200);
    // One consistent moment: every customer has its create event, the chain is whole.
    let report = copy.audit_verify(&op()).unwrap();
    assert!(report.ok, "{report:?}");
}

#[test]
fn scheduled_backups_keep_the_newest() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    assert!(
        v.scheduled_backup(
            &crate::access::authz::Principal::system(crate::access::authz::Job::Backup),
            &NoProgress
        )
        .unwrap()
        .is_none(),
        "not configured"
    );
    v.create(&op(), &person(), &cp()).unwrap();
    drop(v);
    let cfg = d.path().join("data/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap() + "\n[backup]\ndir = \"backups\"\nevery_hours = 6\nkeep = 2\n";
    std::fs::write(&cfg, text).unwrap();
    let v = reopen(d.path()).unwrap();
    for _ in 0..3 {
        v.scheduled_backup(
            &crate::access::authz::Principal::system(crate::access::authz::Job::Backup),
            &NoProgress,
        )
        .unwrap()
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let mut files: Vec<_> = std::fs::read_dir(d.path().join("data/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert!(v.backup_verify(&op(), f, &NoProgress).is_ok());
    }
    assert!(v.audit_tail(&op(), 20).unwrap().iter().any(|e| e
        .event
        .detail
        .as_deref()
        .unwrap_or("")
        .contains("old backup")));
}

#[test]
fn a_stored_request_value_this_build_does_not_know_is_refused_not_defaulted() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &person(), &cp()).unwrap();
    let r = request(&v, &c.id.to_string(), "access", "gdpr");
    // What a newer build (or a hand edit) might have written.
    let db = rusqlite::Connection::open(d.path().join("data/custodia.db")).unwrap();
    for (field, value) in [("regime", "mars"), ("kind", "teleport"), ("status", "Received")] {
        db.execute(
            &format!("UPDATE requests SET {field} = ?1 WHERE id = ?2"),
            rusqlite::params![value, r.id],
        )
        .unwrap();
        let e = v.request(&op(), &r.id).unwrap_err();
        assert!(e.to_string().contains(&format!("stored {field} \"{value}\"")), "{e}");
        db.execute(
            "UPDATE requests SET regime = 'gdpr', kind = 'access', status = 'received' WHERE id = ?1",
            [&r.id],
        )
        .unwrap();
        assert!(v.request(&op(), &r.id).is_ok());
    }
}

#[test]
fn erased_people_stay_erased_when_collected_again() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mut p1 = person();
    p1.external_id = Some("CRM-000000001".into());
    let c = v.create(&op(), &p1, &cp()).unwrap();
    let out = v
        .erase_customer(&op(), &c.id.to_string(), "PIPL Art. 47", &legal())
        .unwrap();
    let key = custodia_crypto::jws::public_key_from_jwk(&v.signing_jwk()).unwrap();
    let cert = erasure::verify_certificate(&out.certificate_jws, &key).unwrap();
    assert_eq!(
        cert.subjects[0].suppressed,
        vec!["external_id", "id_document", "mobile"]
    );
    assert!(cert.suppression.as_deref().unwrap().contains("keyed hashes"));

    // The same external id, the same identity document under another id:
    // refused, naming the erasure.
    let e = v.create(&op(), &p1, &cp()).unwrap_err();
    assert_eq!(e.code(), "erased_before");
    let msg = e.to_string();
    assert!(
        msg.contains(&out.certificate_id) && msg.contains(&out.tombstones[0]),
        "{msg}"
    );
    assert!(
        !msg.contains("CRM-000000001") && !msg.contains("11010519491231002X"),
        "{msg}"
    );
    let mut p2 = person();
    p2.external_id = Some("NEW-7".into());
    p2.fields.insert("mobile".into(), "13900139000".into());
    match v.create(&op(), &p2, &cp()).unwrap_err() {
        VaultError::ErasedBefore { matched, .. } => assert_eq!(matched, vec!["id_document"]),
        other => panic!("{other:?}"),
    }
    // A mobile number alone: created, with a warning.
    let m = v
        .create(
            &op(),
            &input(&[
                ("name", "新用户"),
                ("mobile", "138 0013 8000"),
                ("department", "service"),
            ]),
            &cp(),
        )
        .unwrap();
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    assert!(m.warnings[0].contains("mobile") && m.warnings[0].contains(&out.tombstones[0]));

    // An update cannot put an erased person's document on another record;
    // a mobile number only warns.
    let other = v
        .create(&op(), &input(&[("name", "周八"), ("department", "service")]), &cp())
        .unwrap();
    let set = |k: &str, val: &str| -> RecordPatch { [(k.to_owned(), Some(val.to_owned()))].into() };
    let e = v
        .update(
            &op(),
            &other.id.to_string(),
            &set("national_id", "11010519491231002X"),
            None,
            &dsr(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "erased_before", "{e}");
    let warned = v
        .update(&op(), &other.id.to_string(), &set("mobile", "13800138000"), None, &cp())
        .unwrap();
    assert_eq!(warned.warnings.len(), 1);

    // The basis of a readmission holds no personal data (it is audited).
    let mut leaky = p1.clone();
    leaky.new_collection_basis = Some("signed up again, mobile 13900139000".into());
    let e = v.create(&op(), &leaky, &cp()).unwrap_err();
    assert_eq!(e.problems()[0].code, "personal_data", "{e}");

    // A batch: each record decided alone.
    let res = v
        .create_batch(
            &op(),
            &[p1.clone(), input(&[("name", "王五"), ("department", "service")])],
            &cp(),
        )
        .unwrap();
    assert_eq!(res[0].as_ref().unwrap_err().code(), "erased_before");
    assert!(res[1].is_ok());

    // A new collection basis: needs readmit_erased.
    let mut back = p1.clone();
    back.new_collection_basis = Some("signed up again at the branch on 2026-12-01".into());
    // The privacy officer may write any field for data_subject_request,
    // but not readmit.
    let po = crate::testkit::staff("po", &["privacy_officer"], true, true);
    let e = v.create(&po, &back, &dsr()).unwrap_err();
    assert!(
        e.code() == "forbidden" && e.to_string().contains("readmit_erased"),
        "{e}"
    );
    let readmitted = v.create(&op(), &back, &cp()).unwrap();
    let events = v.audit_tail(&op(), 5).unwrap();
    assert!(
        events.iter().any(|e| e.event.customer == Some(readmitted.id)
            && e.event
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("readmitted") && d.contains("signed up again"))),
        "{events:?}"
    );

    // Import: the same CSV again is refused row by row, naming the certificate.
    let d2 = tempfile::tempdir().unwrap();
    let w = new_vault(d2.path());
    let csv = "external_id,name,national_id,mobile,department\nCRM-1,张三,11010519491231002X,13800138000,service\nCRM-2,李四,,13900139000,service\n";
    let opts = crate::records::import::ImportOptions::new(cp());
    let first = w.import(&op(), csv.as_bytes(), None, &opts, None, &NoProgress).unwrap();
    assert_eq!(first.created, 2);
    let zs = w
        .find(&op(), "national_id", "11010519491231002X", &masked(), 10)
        .unwrap();
    w.erase_customer(&op(), &zs[0].id.to_string(), "PIPL Art. 47", &legal())
        .unwrap();
    let mut rejects = Vec::new();
    let again = w
        .import(&op(), csv.as_bytes(), None, &opts, Some(&mut rejects), &NoProgress)
        .unwrap();
    assert_eq!((again.created, again.existing, again.rejected), (0, 1, 1), "{again:?}");
    assert_eq!(again.rows_read, again.accepted() + again.rejected);
    assert_eq!(again.rejects[0].line, 2);
    assert_eq!(again.rejects[0].problems[0].code, "erased_before");
    let rejects = String::from_utf8(rejects).unwrap();
    assert!(rejects.contains("destruction certificate dc_"), "{rejects}");
    // With a basis column, the permitted caller readmits the row.
    let csv2 = "external_id,name,national_id,department,new_collection_basis\nCRM-1,张三,11010519491231002X,service,signed a new contract\n";
    let back = w
        .import(&op(), csv2.as_bytes(), None, &opts, None, &NoProgress)
        .unwrap();
    assert_eq!(back.created, 1, "{back:?}");

    // The same number under another kind is the same person.
    let d4 = tempfile::tempdir().unwrap();
    let y = new_vault(d4.path());
    let us = y
        .create(
            &op(),
            &input(&[
                ("name", "Jane Doe"),
                ("national_id", "123-45-6789"),
                ("locale", "en_US"),
                ("department", "service"),
            ]),
            &cp(),
        )
        .unwrap();
    y.erase_customer(&op(), &us.id.to_string(), "CCPA §1798.105", &legal())
        .unwrap();
    let again = input(&[
        ("name", "Jane Doe"),
        ("national_id", "123456789"),
        ("id_kind", "passport"),
        ("locale", "en_US"),
        ("department", "service"),
    ]);
    assert_eq!(y.create(&op(), &again, &cp()).unwrap_err().code(), "erased_before");

    // Consent statistics count only the customers still stored.
    let d3 = tempfile::tempdir().unwrap();
    let x = new_vault(d3.path());
    let mut with_consent = person();
    with_consent.consents = vec![give("marketing")];
    let cc = x.create(&op(), &with_consent, &cp()).unwrap();
    let counted = |x: &Vault| -> u64 {
        x.consent_stats(&op())
            .unwrap()
            .iter()
            .map(|s| s.given + s.pending_renewal + s.withdrawn)
            .sum()
    };
    assert_eq!(counted(&x), 1);
    x.erase_customer(&op(), &cc.id.to_string(), "PIPL Art. 47", &legal())
        .unwrap();
    assert_eq!(counted(&x), 0, "an erased customer is not counted");
}
