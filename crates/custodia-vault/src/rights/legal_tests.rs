//! The legal rules as the vault applies them: opt-ins whatever the basis,
//! a notice in force that today's checks refuse, the CCPA request to limit
//! and third parties told of opt-outs, written consent, deadlines in both
//! time zones and holiday data that never moves a given deadline later.

use crate::privacy::consent;
use crate::rights::requests::NewRequest;
use crate::testkit::*;
use crate::*;
use custodia_core::notice::DEFAULT_NOTICE_TOML;
use custodia_store::prelude::*;
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

fn person(birth: &str) -> RecordInput {
    RecordInput {
        fields: [
            ("name", "Dana Reyes"),
            ("mobile", "+14155552671"),
            ("email", "dana@example.com"),
            ("birth_date", birth),
            ("department", "service"),
            ("country", "US"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Default::default()
    }
}

fn answer(purpose: &str) -> consent::ConsentInput {
    consent::ConsentInput {
        purpose: purpose.into(),
        action: consent::ConsentAction::Give,
        channel: "web".into(),
        language: "en".into(),
        separate: true,
        by: None,
        text_sha256: None,
        notice_version: None,
        document_sha256: None,
    }
}

fn read(v: &Vault, id: &str, purpose: &str) -> Result<CustomerView, VaultError> {
    v.get(&unrestricted(), id, &v.access(Some(purpose), true, None).unwrap())
}

/// A CCPA-and-PIPL notice in which customer service (contract basis)
/// shares with a partner, and risk control (sensitive) may be limited.
fn ccpa_notice(version: u32) -> String {
    DEFAULT_NOTICE_TOML
        .replace("version = 1\n", &format!("version = {version}\n"))
        .replace("regimes = [\"pipl\"]", "regimes = [\"pipl\", \"ccpa\"]")
        .replace(
            "recipients = [{ name = \"SMS gateway (notifications)\", role = \"processor\" }]",
            "recipients = [{ name = \"SMS gateway (notifications)\", role = \"processor\" }, { name = \"Partner Retail Inc\", role = \"controller\", contact = \"privacy@partner.example\", purpose = { en = \"its own offers\", zh = \"其自身的推广\" }, method = { en = \"matching by e-mail\", zh = \"按电子邮件匹配\" }, fields = [\"email\"] }]",
        )
}

#[test]
fn selling_or_sharing_a_minors_data_needs_an_opt_in_whatever_the_basis() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.publish_notice(&op(), &ccpa_notice(2)).unwrap();
    let adult = v.create(&op(), &person("1990-01-01"), &cp()).unwrap().id.to_string();
    let teen = v.create(&op(), &person("2012-01-01"), &cp()).unwrap().id.to_string();
    let child = v.create(&op(), &person("2016-01-01"), &cp()).unwrap().id.to_string();
    assert!(
        read(&v, &adult, "customer_service").is_ok(),
        "an adult: the contract basis holds"
    );
    for (id, kinds) in [(&teen, vec!["separate"]), (&child, vec!["separate", "guardian"])] {
        match read(&v, id, "customer_service") {
            Err(VaultError::ConsentRequired {
                kinds: k, citations, ..
            }) => {
                assert_eq!(k, kinds);
                assert!(citations.iter().any(|c| c.contains("1798.120(c)")), "{citations:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    // The teenager opts in; the child's parent must.
    v.record_consents(&op(), &teen, &[answer("customer_service")], &cp())
        .unwrap();
    assert!(read(&v, &teen, "customer_service").is_ok());
    let e = v
        .record_consents(&op(), &child, &[answer("customer_service")], &cp())
        .unwrap_err();
    assert!(e.to_string().contains("guardian"), "{e}");
    let mut by_parent = answer("customer_service");
    by_parent.by = Some("guardian".into());
    v.record_consents(&op(), &child, &[by_parent], &cp()).unwrap();
    assert!(read(&v, &child, "customer_service").is_ok());
}

#[test]
fn a_notice_in_force_that_todays_checks_refuse_stays_readable_and_is_flagged() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    // What an older build published: legitimate interests under PIPL.
    let bad = DEFAULT_NOTICE_TOML.replace("version = 1\n", "version = 2\n").replace(
        "id = \"customer_service\"\nbasis = \"contract\"",
        "id = \"customer_service\"\nbasis = \"legitimate_interests\"",
    );
    let e = v.publish_notice(&op(), &bad).unwrap_err();
    assert!(
        e.to_string().contains("PIPL Art. 13") && e.to_string().contains("customer_service"),
        "{e}"
    );
    v.apply_one(vec![custodia_store::Mutation::PutNotice {
        notice: custodia_store::NoticeRecord {
            version: 2,
            toml: bad.clone(),
            published_ms: now_ms() - 1000,
            published_by: "older build".into(),
        },
        events: vec![],
    }])
    .unwrap();
    drop(v);
    let v = Vault::open(&DataDir::new(d.path().join("data")), &|| unreachable!()).unwrap();
    assert_eq!(v.notices().current().unwrap().version, 2, "the data directory opens");
    let w = v.status(&op()).unwrap().warnings;
    assert!(
        w.iter()
            .any(|w| w.contains("would be refused today") && w.contains("PIPL Art. 13")),
        "{w:?}"
    );
    // Republishing it unchanged is refused.
    let again = bad.replace("version = 2\n", "version = 3\n");
    assert!(v.publish_notice(&op(), &again).is_err());
}

#[test]
fn a_request_to_limit_needs_no_verification_and_stops_sensitive_uses() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.publish_notice(
        &op(),
        &ccpa_notice(2).replace(
            "id = \"legal_obligation\"\nbasis = \"legal_obligation\"",
            "id = \"legal_obligation\"\nbasis = \"legal_obligation\"\nlimit_exempt = true",
        ),
    )
    .unwrap();
    let mut p = person("1990-01-01");
    p.fields.insert("bank_card".into(), "6222020200112233446".into());
    let id = v.create(&op(), &p, &cp()).unwrap().id.to_string();
    v.record_consents(&op(), &id, &[answer("risk_control")], &cp()).unwrap();
    assert!(read(&v, &id, "risk_control").is_ok());
    // Not a PIPL request.
    let e = v
        .new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "limit_sensitive".into(),
                regime: Some("pipl".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("1798.121"), "{e}");
    let r = v
        .new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "limit_sensitive".into(),
                regime: Some("ccpa".into()),
                received_at: Some("2026-11-20T18:00:00Z".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.due.respond_by.to_string(), "2026-12-14", "15 business days");
    assert!(r.due.citations.iter().any(|c| c.contains("7027")));
    // Completed without verification.
    let done = v.carry_out(&op(), &r.id, None).unwrap();
    assert_eq!(done.request.status, "completed");
    match read(&v, &id, "risk_control") {
        Err(VaultError::ProcessingStopped { why, .. }) => assert!(why.contains("7027(m)"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(read(&v, &id, "legal_obligation").is_ok(), "§7027(m) uses go on");
    assert!(read(&v, &id, "customer_service").is_ok(), "no sensitive field");
}

#[test]
fn an_opt_out_of_sale_or_sharing_is_passed_on_to_third_parties() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.publish_notice(&op(), &ccpa_notice(2)).unwrap();
    let id = v.create(&op(), &person("1990-01-01"), &cp()).unwrap().id.to_string();
    let r = v
        .new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: "objection".into(),
                regime: Some("ccpa".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let done = v.carry_out(&op(), &r.id, None).unwrap();
    let told: Vec<&str> = done.request.recipients.iter().map(|x| x.recipient.as_str()).collect();
    assert_eq!(told, vec!["Partner Retail Inc (third party)"]);
    assert!(
        done.request.recipients[0].notified_at.is_none(),
        "to be told, and recorded when told"
    );
    let after = v
        .notify_recipient(&op(), &r.id, "Partner Retail Inc (third party)")
        .unwrap();
    assert!(after.recipients[0].notified_at.is_some());
}

#[test]
fn written_consent_needs_the_signed_documents_hash_and_the_receipt_carries_it() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.publish_notice(
        &op(),
        &DEFAULT_NOTICE_TOML.replace("version = 1\n", "version = 2\n").replace(
            "id = \"risk_control\"\nbasis = \"consent\"",
            "id = \"risk_control\"\nbasis = \"consent\"\nwritten_consent = \"征信业管理条例 第十八条\"",
        ),
    )
    .unwrap();
    let mut p = person("1990-01-01");
    p.fields.insert("bank_card".into(), "6222020200112233446".into());
    let id = v.create(&op(), &p, &cp()).unwrap().id.to_string();
    let e = v
        .record_consents(&op(), &id, &[answer("risk_control")], &cp())
        .unwrap_err();
    assert!(e.to_string().contains("written"), "{e}");
    let mut by_phone = answer("risk_control");
    by_phone.channel = "phone".into();
    by_phone.document_sha256 = Some("ab".repeat(32));
    assert!(
        v.record_consents(&op(), &id, &[by_phone], &cp()).is_err(),
        "a phone call is not written"
    );
    let mut signed = answer("risk_control");
    signed.channel = "paper".into();
    signed.document_sha256 = Some("AB".repeat(32));
    let got = v.record_consents(&op(), &id, &[signed], &cp()).unwrap();
    assert!(got[0].kinds.iter().any(|k| k == "written"));
    assert!(read(&v, &id, "risk_control").is_ok());
    let cid: CustomerId = id.parse().unwrap();
    let stored = v.store().consents(&cid).unwrap();
    assert_eq!(
        stored.last().unwrap().document_sha256.as_deref(),
        Some("ab".repeat(32).as_str())
    );
    let receipt = v.receipt_document(stored.last().unwrap()).unwrap();
    assert_eq!(receipt.document_sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert!(
        receipt.consent_text.iter().any(|l| l.contains("征信业管理条例")),
        "{:?}",
        receipt.consent_text
    );
    // An import carries the document's hash as a flag of the consent.
    let csv = format!(
        "external_id,name,bank_card,locale,consents\n\
         W1,张一,6222020200112233446,zh_CN,risk_control+separate+written:{}\n\
         W2,张二,6222020200112233446,zh_CN,risk_control+separate\n\
         W3,张三,6222020200112233446,zh_CN,risk_control+separate+written:xyz\n",
        "cd".repeat(32)
    );
    let opts = crate::records::import::ImportOptions {
        consent_channel: Some("paper".into()),
        ..crate::records::import::ImportOptions::new(cp())
    };
    let r = v.import(&op(), csv.as_bytes(), None, &opts, None, &NoProgress).unwrap();
    assert_eq!((r.created, r.rejected), (1, 2), "{r:?}");
    assert!(
        r.rejects[0]
            .problems
            .iter()
            .any(|p| p.code == "written_consent_required"),
        "{r:?}"
    );
    assert!(r.rejects[1].problems.iter().any(|p| p.code == "bad_digest"), "{r:?}");
}

#[test]
fn deadlines_are_taken_in_both_zones_and_holiday_data_never_moves_them_later() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = v.create(&op(), &person("1990-01-01"), &cp()).unwrap().id.to_string();
    let new = |kind: &str, regime: &str, at: &str| {
        v.new_request(
            &op(),
            &NewRequest {
                customer: id.clone(),
                kind: kind.into(),
                regime: Some(regime.into()),
                received_at: Some(at.into()),
                ..Default::default()
            },
        )
        .unwrap()
    };
    // 21:30 on 19 November in California is the 20th in Shanghai: the
    // Californian date gives the earlier CCPA deadline.
    let us = new("access", "ccpa", "2026-11-20T05:30:00Z");
    assert_eq!(us.due.respond_by.to_string(), "2027-01-03");
    // PIPL from 20 December 2024: the bundled data starts with 2025, so
    // the count is in calendar days, flagged.
    let gap = new("access", "pipl", "2024-12-20T02:00:00Z");
    assert_eq!(gap.due.respond_by.to_string(), "2025-01-04");
    assert!(gap.due.calendar_gap);
    let w = v.status(&op()).unwrap().warnings;
    assert!(w.iter().any(|w| w.contains("calendar_gap")), "{w:?}");
    // PIPL from 1 November: 15 working days, 20 November.
    let nov = new("erasure", "pipl", "2026-11-01T02:00:00Z");
    assert_eq!(nov.due.respond_by.to_string(), "2026-11-20");
    // The company loads 2024 and a correction of 2026 that makes the
    // weekend of 7-8 November working days.
    let file = "[cn_working]\nyears = [2024, 2026]\nholidays = [\n  \"2024-01-01\", \"2026-01-01\", \"2026-10-01\", \"2026-10-02\",\n]\nworkdays = [\"2026-11-07\", \"2026-11-08\"]\n";
    assert!(
        v.load_holidays(&staff("agent", &["cs_agent"], true, true), file)
            .is_err(),
        "needs manage_policy"
    );
    let report = v.load_holidays(&op(), file).unwrap();
    assert_eq!(report.moved_earlier, vec![nov.id.clone()]);
    assert_eq!(report.kept, vec![gap.id.clone()]);
    let nov2 = v.request(&op(), &nov.id).unwrap();
    assert_eq!(
        nov2.due.respond_by.to_string(),
        "2026-11-18",
        "earlier: two more working days"
    );
    assert!(nov2.history.iter().any(|h| h.note.contains("moves earlier")));
    let gap2 = v.request(&op(), &gap.id).unwrap();
    assert_eq!(
        gap2.due.respond_by.to_string(),
        "2025-01-04",
        "the deadline given stands"
    );
    assert!(!gap2.due.calendar_gap);
    assert!(gap2.history.iter().any(|h| h.note.contains("stands")));
    // The file is kept and read again at open; a broken one is refused.
    drop(v);
    let dir = DataDir::new(d.path().join("data"));
    let v = Vault::open(&dir, &|| unreachable!()).unwrap();
    assert_eq!(
        v.request(&op(), &nov.id).unwrap().due.respond_by.to_string(),
        "2026-11-18"
    );
    assert!(v
        .load_holidays(
            &op(),
            "[cn_working]\nyears = [2027]\nholidays = [\"2026-01-01\"]\nworkdays = []"
        )
        .is_err());
    drop(v);
    std::fs::write(
        dir.root().join("holidays.toml"),
        "[mars]\nyears = []\nholidays = []\nworkdays = []",
    )
    .unwrap();
    assert!(Vault::open(&dir, &|| unreachable!()).is_err());
}
