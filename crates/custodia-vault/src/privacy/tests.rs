//! Notices, consents, minimization, receipts and the portal against a real
//! SQLite data directory.

use crate::privacy::consent;
use crate::privacy::consent::{ConsentAction, ConsentInput};
use crate::privacy::notice::NoticeState;
use crate::privacy::portal::PortalRefusal;
use crate::records::import::ImportOptions;
use crate::testkit::*;
use crate::*;
use custodia_core::notice::{Language, DEFAULT_NOTICE_TOML};
use custodia_core::rights::RequestKind;
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

fn input(pairs: &[(&str, &str)]) -> RecordInput {
    RecordInput {
        external_id: None,
        fields: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        consents: Vec::new(),
        new_collection_basis: None,
    }
}

fn adult() -> RecordInput {
    input(&[
        ("name", "王小明"),
        ("national_id", "11010519491231002X"),
        ("mobile", "13800138000"),
        ("email", "wang@example.com"),
        ("birth_date", "1985-03-02"),
        ("department", "service"),
    ])
}

fn give(purpose: &str) -> ConsentInput {
    ConsentInput {
        purpose: purpose.into(),
        action: ConsentAction::Give,
        channel: "web".into(),
        language: "zh".into(),
        separate: false,
        by: None,
        text_sha256: None,
        notice_version: None,
        document_sha256: None,
    }
}

fn withdraw(purpose: &str) -> ConsentInput {
    ConsentInput {
        action: ConsentAction::Withdraw,
        ..give(purpose)
    }
}

fn separate(purpose: &str) -> ConsentInput {
    ConsentInput {
        separate: true,
        ..give(purpose)
    }
}

/// A reveal by a caller the policy allows everything (these tests are
/// about notices and consent, which bind every caller alike).
fn read(v: &Vault, id: &str, purpose: &str) -> Result<CustomerView, VaultError> {
    v.get(&unrestricted(), id, &v.access(Some(purpose), true, None).unwrap())
}

/// The default notice as version `v`, with `edit` applied.
fn notice_v(v: u32, edit: impl Fn(String) -> String) -> String {
    edit(DEFAULT_NOTICE_TOML.replace("version = 1\n", &format!("version = {v}\n")))
}

#[test]
fn init_publishes_the_default_notice_and_versions_only_grow() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    assert_eq!(v.notices().current().unwrap().version, 1);
    let e = v.publish_notice(&op(), DEFAULT_NOTICE_TOML).unwrap_err();
    assert_eq!(e.code(), "notice_version");
    let e = v.publish_notice(&op(), "version = 2\nnonsense = 1").unwrap_err();
    assert_eq!(e.code(), "bad_input");
    // Wording only: nothing to renew.
    let r = v
        .publish_notice(
            &op(),
            &notice_v(2, |t| t.replace("Privacy notice", "Our privacy notice")),
        )
        .unwrap();
    assert_eq!((r.previous, r.version), (Some(1), 2));
    assert!(r.renewal_needed.is_empty(), "{r:?}");
    // Marketing now shares with another controller: material.
    let r = v
        .publish_notice(&op(), &notice_v(3, |t| {
                t.replace(
                    "retention = { months = 24, from = \"last_activity\" }",
                    "retention = { months = 24, from = \"last_activity\" }\nrecipients = [{ name = \"Partner Ads Ltd\", role = \"controller\", contact = \"privacy@partnerads.example\", purpose = { en = \"its own offers\", zh = \"其自身的推广\" }, method = { en = \"e-mail campaigns\", zh = \"电子邮件推广\" }, fields = [\"email\"] }]",
                )
            }))
        .unwrap();
    assert_eq!(
        r.renewal_needed.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        vec!["marketing"]
    );
    // Another process sees it after a reopen.
    drop(v);
    let v = Vault::open(&DataDir::new(d.path().join("data")), &|| unreachable!()).unwrap();
    assert_eq!(v.notices().current().unwrap().version, 3);
    assert_eq!(v.notices().floor(&custodia_core::Purpose::new("marketing").unwrap()), 3);
    assert_eq!(
        v.notices().floor(&custodia_core::Purpose::new("risk_control").unwrap()),
        1
    );
    let log = v.audit_tail(&op(), 10).unwrap();
    assert!(log.iter().any(|e| e.event.action == audit_action("notice")
        && e.event.detail.as_deref().unwrap().contains("renewal_needed=marketing")));
}

fn audit_action(s: &str) -> custodia_core::audit::Action {
    custodia_core::audit::Action::parse(s).unwrap()
}

#[test]
fn consent_purposes_follow_the_latest_answer_and_material_changes() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let id = c.id.to_string();
    // Contract basis: no consent needed.
    assert!(read(&v, &id, "customer_service").is_ok());
    match read(&v, &id, "marketing").unwrap_err() {
        VaultError::ConsentRequired {
            purpose,
            state,
            kinds,
            citations,
            ..
        } => {
            assert_eq!((purpose.as_str(), state.as_str()), ("marketing", "never_given"));
            assert_eq!(kinds, vec!["general"]);
            assert_eq!(citations, vec!["PIPL Art. 14"]);
        }
        other => panic!("{other:?}"),
    }
    let e = read(&v, &id, "marketing").unwrap_err();
    assert!(
        e.to_string()
            .contains("needs the customer's general consent (PIPL Art. 14)"),
        "{e}"
    );
    v.record_consents(&op(), &id, &[give("marketing")], &purpose("customer_service"))
        .unwrap();
    let view = read(&v, &id, "marketing").unwrap();
    assert_eq!(view.fields["email"], "wang@example.com");
    assert!(!view.fields.contains_key("national_id"), "not listed for marketing");
    v.record_consents(&op(), &id, &[withdraw("marketing")], &purpose("customer_service"))
        .unwrap();
    assert_eq!(
        match read(&v, &id, "marketing").unwrap_err() {
            VaultError::ConsentRequired { state, .. } => state,
            other => panic!("{other:?}"),
        },
        "withdrawn"
    );
    v.record_consents(&op(), &id, &[give("marketing")], &purpose("customer_service"))
        .unwrap();
    assert!(read(&v, &id, "marketing").is_ok());
    // A material change to marketing suspends it until the customer renews.
    v.publish_notice(
        &op(),
        &notice_v(2, |t| {
            t.replace(
                "fields = [\"name\", \"mobile\", \"email\"]\nretention = { months = 24",
                "fields = [\"name\", \"mobile\", \"email\", \"address\"]\nretention = { months = 24",
            )
        }),
    )
    .unwrap();
    let e = read(&v, &id, "marketing").unwrap_err();
    assert!(
        e.to_string()
            .contains("given under notice version 1, and version 2 changed this purpose"),
        "{e}"
    );
    // Renewing under an out-of-date version is refused; under the current one it works.
    let stale = ConsentInput {
        notice_version: Some(1),
        ..give("marketing")
    };
    let e = v
        .record_consents(&op(), &id, &[stale], &purpose("customer_service"))
        .unwrap_err();
    assert_eq!(e.problems()[0].code, "notice_out_of_date");
    v.record_consents(&op(), &id, &[give("marketing")], &purpose("customer_service"))
        .unwrap();
    assert!(read(&v, &id, "marketing").is_ok());
    let overview = v.customer_consents(&op(), &id, &dsr()).unwrap();
    let m = overview
        .purposes
        .iter()
        .find(|p| p.purpose.as_str() == "marketing")
        .unwrap();
    assert_eq!((m.state.code(), m.notice_version), ("active", Some(2)));
    let cs = overview
        .purposes
        .iter()
        .find(|p| p.purpose.as_str() == "customer_service")
        .unwrap();
    assert_eq!(cs.state.code(), "not_needed");
}

#[test]
fn separate_and_guardian_consent_are_enforced() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let id = c.id.to_string();
    // Risk control uses the ID number and the bank card: sensitive.
    let e = v
        .record_consents(&op(), &id, &[give("risk_control")], &purpose("customer_service"))
        .unwrap_err();
    assert_eq!(e.problems()[0].code, "separate_consent_required");
    assert!(e.problems()[0].message.contains("PIPL Art. 29"), "{e}");
    v.record_consents(&op(), &id, &[separate("risk_control")], &purpose("customer_service"))
        .unwrap();
    let view = v
        .get(
            &unrestricted(),
            &id,
            &v.access(Some("risk_control"), true, Some("national_id")).unwrap(),
        )
        .unwrap();
    assert_eq!(view.fields["national_id"], "11010519491231002X");
    // A consent for a contract purpose makes no sense.
    let e = v
        .record_consents(&op(), &id, &[give("customer_service")], &purpose("customer_service"))
        .unwrap_err();
    assert_eq!(e.problems()[0].code, "consent_not_applicable");
    // Unknown channel, language and purpose are named.
    let bad = ConsentInput {
        channel: "pigeon".into(),
        ..give("marketing")
    };
    assert_eq!(
        v.record_consents(&op(), &id, &[bad], &purpose("customer_service"))
            .unwrap_err()
            .problems()[0]
            .code,
        "unknown_channel"
    );
    let bad = ConsentInput {
        language: "fr".into(),
        ..give("marketing")
    };
    assert_eq!(
        v.record_consents(&op(), &id, &[bad], &purpose("customer_service"))
            .unwrap_err()
            .problems()[0]
            .code,
        "unknown_language"
    );
    assert_eq!(
        v.record_consents(&op(), &id, &[give("gossip")], &purpose("customer_service"))
            .unwrap_err()
            .problems()[0]
            .code,
        "purpose_not_in_notice"
    );

    // A 12-year-old: a guardian must answer (PIPL Art. 31).
    let child = v
        .create(
            &op(),
            &input(&[
                ("name", "李小宝"),
                ("mobile", "13900139000"),
                ("birth_date", "2014-05-01"),
            ]),
            &cp(),
        )
        .unwrap();
    let cid = child.id.to_string();
    let e = v
        .record_consents(&op(), &cid, &[separate("marketing")], &purpose("customer_service"))
        .unwrap_err();
    assert_eq!(e.problems()[0].code, "guardian_consent_required");
    assert!(e.problems()[0].message.contains("PIPL Art. 31"), "{e}");
    // Not separate either: under 14 the data is sensitive.
    let by_guardian = ConsentInput {
        by: Some("guardian".into()),
        ..give("marketing")
    };
    assert_eq!(
        v.record_consents(
            &op(),
            &cid,
            std::slice::from_ref(&by_guardian),
            &purpose("customer_service")
        )
        .unwrap_err()
        .problems()[0]
            .code,
        "separate_consent_required"
    );
    v.record_consents(
        &op(),
        &cid,
        &[ConsentInput {
            separate: true,
            ..by_guardian
        }],
        &purpose("customer_service"),
    )
    .unwrap();
    assert!(read(&v, &cid, "marketing").is_ok());
    // An adult's general consent stops counting once the record says they are a child.
    v.record_consents(&op(), &id, &[give("marketing")], &purpose("customer_service"))
        .unwrap();
    v.update(
        &op(),
        &id,
        &[("birth_date".to_string(), Some("2016-01-01".to_string()))]
            .into_iter()
            .collect(),
        None,
        &cp(),
    )
    .unwrap();
    match read(&v, &id, "marketing").unwrap_err() {
        VaultError::ConsentRequired { state, kinds, .. } => {
            assert_eq!(state, "kind_missing");
            assert_eq!(kinds, vec!["general", "separate", "guardian"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn purposes_see_only_their_fields() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let id = c.id.to_string();
    let e = v
        .get(
            &op(),
            &id,
            &v.access(Some("customer_service"), true, Some("mobile,national_id"))
                .unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "purpose_limitation");
    assert!(
        e.to_string()
            .contains("does not list national_id for purpose customer_service"),
        "{e}"
    );
    let all = read(&v, &id, "customer_service").unwrap();
    assert_eq!(
        all.fields.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["department", "email", "mobile", "name"]
    );
    // Writing under a purpose is limited the same way.
    let patch: RecordPatch = [("national_id".to_string(), Some("11010519491231002X".to_string()))]
        .into_iter()
        .collect();
    let e = v
        .update(&op(), &id, &patch, None, &purpose("customer_service"))
        .unwrap_err();
    assert_eq!(e.code(), "purpose_limitation");
    // A purpose that lists the field may write it.
    v.update(&op(), &id, &patch, None, &dsr()).unwrap();
}

/// The default notice without the ID number among legal obligations: only
/// risk control (consent) still needs it.
fn strict_notice(v: &Vault) {
    v.publish_notice(
        &op(),
        &notice_v(2, |t| {
            t.replace(
                "fields = [\"name\", \"national_id\", \"birth_date\", \"bank_card\"]",
                "fields = [\"name\", \"birth_date\", \"bank_card\"]",
            )
        }),
    )
    .unwrap();
}

#[test]
fn minimum_necessary_on_create_update_and_import() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    strict_notice(&v);
    let e = v.create(&op(), &adult(), &cp()).unwrap_err();
    assert_eq!(e.code(), "not_necessary");
    assert_eq!(e.problems().len(), 1);
    assert_eq!(e.problems()[0].field, "national_id");
    assert!(e.problems()[0].message.contains("minimum necessary"), "{e}");
    // With the customer's separate consent to risk control, it is needed.
    let mut with = adult();
    with.consents = vec![separate("risk_control")];
    let c = v.create(&op(), &with, &cp()).unwrap();
    let receipts = v.store().consents(&c.id).unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].kinds, vec!["general", "separate"]);
    assert_eq!(receipts[0].collector, "operator:tester");
    // A consent given with the record must itself be valid.
    let mut bad = adult();
    bad.consents = vec![give("risk_control")];
    let e = v.create(&op(), &bad, &cp()).unwrap_err();
    assert!(
        e.problems().iter().any(|p| p.code == "separate_consent_required"),
        "{e:?}"
    );
    assert!(e.problems().iter().any(|p| p.code == "not_necessary"), "{e:?}");
    // Updates: without the consent, the field cannot be added.
    let plain = v
        .create(&op(), &input(&[("name", "赵六"), ("mobile", "13700137000")]), &cp())
        .unwrap();
    let patch: RecordPatch = [("national_id".to_string(), Some("11010519491231002X".to_string()))]
        .into_iter()
        .collect();
    let e = v
        .update(&op(), &plain.id.to_string(), &patch, None, &dsr())
        .unwrap_err();
    assert_eq!(e.code(), "not_necessary");
    v.record_consents(
        &op(),
        &plain.id.to_string(),
        &[separate("risk_control")],
        &purpose("customer_service"),
    )
    .unwrap();
    v.update(&op(), &plain.id.to_string(), &patch, None, &dsr()).unwrap();
    // Removing a field is always allowed.
    v.update(
        &op(),
        &plain.id.to_string(),
        &[("national_id".to_string(), None)].into_iter().collect(),
        None,
        &cp(),
    )
    .unwrap();

    // Import: the same rule per row; consents from a column.
    let csv = "external_id,name,national_id,locale,consents\n\
               A1,张一,11010519491231002X,zh_CN,risk_control+separate\n\
               A2,张二,11010519491231002X,zh_CN,\n\
               A3,张三,,en_US,marketing\n\
               A4,张四,11010519491231002X,zh_CN,risk_control\n\
               A5,张五,,zh_CN,marketing+bogus\n";
    let e = v
        .import(
            &op(),
            csv.as_bytes(),
            None,
            &ImportOptions::new(cp()),
            None,
            &NoProgress,
        )
        .unwrap_err();
    assert!(e.to_string().contains("--consent-channel"), "{e}");
    let opts = ImportOptions {
        consent_channel: Some("paper".into()),
        ..ImportOptions::new(cp())
    };
    let mut rejects = Vec::new();
    let r = v
        .import(&op(), csv.as_bytes(), None, &opts, Some(&mut rejects), &NoProgress)
        .unwrap();
    assert_eq!((r.rows_read, r.created, r.rejected), (5, 2, 3), "{r:?}");
    let lines: Vec<u64> = r.rejects.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![3, 5, 6]);
    assert_eq!(r.rejects[0].problems[0].code, "not_necessary");
    assert!(r.rejects[1]
        .problems
        .iter()
        .any(|p| p.code == "separate_consent_required"));
    assert_eq!(r.rejects[2].problems[0].code, "consent_flag");
    let rejects = String::from_utf8(rejects).unwrap();
    assert_eq!(rejects.lines().count(), 4, "{rejects}");
    let a3 = v.find(&op(), "mobile", "x", &masked(), 1).unwrap();
    assert!(a3.is_empty());
    let tallies = v.consent_stats(&op()).unwrap();
    let m = tallies.iter().find(|t| t.purpose == "marketing").unwrap();
    assert_eq!((m.given, m.notice_version), (1, 2));
    let rc = tallies.iter().find(|t| t.purpose == "risk_control").unwrap();
    assert_eq!(rc.given, 3);
}

#[test]
fn searches_and_exports_leave_out_customers_without_consent() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let a = v.create(&op(), &adult(), &cp()).unwrap();
    let mut other = adult();
    other.fields.insert("email".into(), "other@example.com".into());
    v.create(&op(), &other, &cp()).unwrap();
    v.record_consents(
        &op(),
        &a.id.to_string(),
        &[give("marketing")],
        &purpose("customer_service"),
    )
    .unwrap();
    let found = v
        .find(
            &unrestricted(),
            "mobile",
            "13800138000",
            &v.access(Some("marketing"), true, None).unwrap(),
            10,
        )
        .unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a.id]);
    let mut out = Vec::new();
    let r = v
        .export(
            &unrestricted(),
            &mut out,
            crate::records::export::ExportFormat::Csv,
            &v.access(Some("marketing"), true, None).unwrap(),
            &NoProgress,
        )
        .unwrap();
    assert_eq!((r.records, r.without_consent), (1, 1));
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("wang@example.com") && !text.contains("other@example.com"));
}

#[test]
fn receipts_are_signed_kantara_documents() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let id = c.id.to_string();
    v.record_consents(
        &op(),
        &id,
        &[separate("risk_control"), give("marketing")],
        &purpose("customer_service"),
    )
    .unwrap();
    v.record_consents(&op(), &id, &[withdraw("marketing")], &purpose("customer_service"))
        .unwrap();
    let signed = v.signed_receipts(&op(), &id, &dsr()).unwrap();
    assert_eq!(signed.len(), 3);
    let key = custodia_crypto::jws::public_key_from_jwk(&v.signing_jwk()).unwrap();
    for s in &signed {
        let payload = custodia_crypto::jws::verify(&s.jws, &key).unwrap();
        let back: custodia_core::consent::receipt::Receipt = serde_json::from_slice(&payload).unwrap();
        assert_eq!(back, s.receipt);
        assert_eq!(back.pii_principal_id, id);
        assert_eq!(back.pii_controllers[0].pii_controller, "Example Trading Co., Ltd.");
        assert_eq!(back.jurisdiction, "CN");
    }
    let rc = &signed[0].receipt;
    assert_eq!(rc.services[0].purposes[0].consent_type, "EXPLICIT+SEPARATE");
    assert!(rc.sensitive);
    assert_eq!(rc.spi_cat, vec!["national_id", "bank_card"]);
    assert_eq!(rc.action, "given");
    assert_eq!(signed[2].receipt.action, "withdrawn");
    // The text hash is that of the text the portal shows.
    let n = v.notices().current().unwrap().clone();
    let text = n.consent_text("risk_control", v.schema(), Language::Zh).unwrap();
    assert_eq!(rc.notice_text_sha256, consent::text_digest(&text));
    // A receipt by id; a tampered one fails.
    let one = v.signed_receipt(&rc.consent_receipt_id).unwrap();
    assert_eq!(one.receipt, *rc);
    let forged = one.jws.replacen('.', ".e30", 1);
    assert!(custodia_crypto::jws::verify(&forged, &key).is_err());
    assert_eq!(v.signed_receipt("rcpt_nope").unwrap_err().code(), "not_found");
}

#[test]
fn stats_count_answers_in_force_and_pending_renewals() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let ids: Vec<String> = (0..4)
        .map(|_| v.create(&op(), &adult(), &cp()).unwrap().id.to_string())
        .collect();
    for id in &ids {
        v.record_consents(&op(), id, &[give("marketing")], &purpose("customer_service"))
            .unwrap();
    }
    v.record_consents(&op(), &ids[0], &[withdraw("marketing")], &purpose("customer_service"))
        .unwrap();
    v.publish_notice(
        &op(),
        &notice_v(2, |t| {
            t.replace(
                "months = 24, from = \"last_activity\"",
                "months = 36, from = \"last_activity\"",
            )
        }),
    )
    .unwrap();
    v.record_consents(&op(), &ids[1], &[give("marketing")], &purpose("customer_service"))
        .unwrap();
    let stats = v.consent_stats(&op()).unwrap();
    let rows: Vec<(u32, u64, u64, u64)> = stats
        .iter()
        .filter(|s| s.purpose == "marketing")
        .map(|s| (s.notice_version, s.given, s.withdrawn, s.pending_renewal))
        .collect();
    assert_eq!(rows, vec![(1, 0, 1, 2), (2, 1, 0, 0)]);
}

#[test]
fn portal_codes_sessions_consents_requests_and_download() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let (code, _, _) = v.issue_entry_code("staff:li", c.id, 2, "test").unwrap();
    assert!(v.issue_entry_code("t", c.id, 0, "test").is_err());
    // Staff without a mail server get no code at all (and never see one).
    assert_eq!(
        v.send_portal_code(&op(), &c.id.to_string(), &purpose("customer_service"), None)
            .unwrap_err()
            .code(),
        "delivery_failed"
    );
    assert_eq!(
        v.send_portal_code(
            &op(),
            &CustomerId::new().to_string(),
            &purpose("customer_service"),
            None
        )
        .unwrap_err()
        .code(),
        "not_found"
    );
    // Typed in lower case, with a space instead of the dash: still the code.
    let typed = code.to_lowercase().replace('-', " ");
    let s = v.portal_enter(&typed, "10.0.0.1").unwrap().unwrap();
    assert_eq!(s.customer, c.id);
    let me = customer(c.id);
    assert_eq!(
        v.portal_enter(&code, "10.0.0.1").unwrap().unwrap_err(),
        PortalRefusal::Invalid,
        "single use"
    );
    let ctx = v.portal_session(&s.token).unwrap().unwrap();
    assert_eq!(ctx.customer(), c.id);
    assert_eq!(ctx.csrf().len(), 32);
    assert_eq!(ctx.principal().customer(), Some(c.id));
    // The session remembers who sent the code (separation of duties).
    assert_eq!(ctx.principal().code_from(), Some("staff:li"));
    assert!(v.portal_session("nope").unwrap().is_none());

    let view = v.portal_view(&me, Language::En).unwrap();
    assert_eq!(view.accepted_version, Some(1));
    assert!(view.changes_since.is_empty());
    assert!(view
        .texts
        .contains_key(&custodia_core::Purpose::new("marketing").unwrap()));
    let r = v
        .portal_set_consent(&me, "marketing", true, false, Language::En)
        .unwrap();
    assert_eq!(r.action, "given");
    assert!(read(&v, &c.id.to_string(), "marketing").is_ok());
    v.portal_set_consent(&me, "marketing", false, false, Language::En)
        .unwrap();
    assert!(read(&v, &c.id.to_string(), "marketing").is_err());
    // Portal answers are separate: risk control can be given there.
    v.portal_set_consent(&me, "risk_control", true, false, Language::Zh)
        .unwrap();

    // After a material change, the page shows what changed since the accepted version.
    v.publish_notice(
        &op(),
        &notice_v(2, |t| {
            t.replace(
                "months = 24, from = \"last_activity\"",
                "months = 36, from = \"last_activity\"",
            )
        }),
    )
    .unwrap();
    let view = v.portal_view(&me, Language::Zh).unwrap();
    assert_eq!(view.accepted_version, Some(1));
    assert!(
        view.changes_since.iter().any(|ch| ch.material()),
        "{:?}",
        view.changes_since
    );

    let note = "我的地址应为北京市海淀区中关村大街27号";
    let req = v.portal_request(&me, RequestKind::Rectification, note).unwrap();
    // Entering with the code the company issued is the identity verification.
    assert_eq!((req.kind.as_str(), req.status.as_str()), ("rectification", "verified"));
    assert_eq!(v.request_note(&op(), &req.id).unwrap().as_deref(), Some(note));
    assert_eq!(
        v.portal_request(&me, RequestKind::Rectification, "  ")
            .unwrap_err()
            .code(),
        "invalid_record"
    );
    v.portal_request(&me, RequestKind::Erasure, "").unwrap();
    assert_eq!(v.requests_of(c.id).unwrap().len(), 2);

    let data = v.portal_download(&me).unwrap();
    assert_eq!(data["fields"]["national_id"], "11010519491231002X");
    assert_eq!(data["receipts"].as_array().unwrap().len(), 3);
    assert_eq!(data["requests"].as_array().unwrap().len(), 2);

    v.portal_sign_out(&s.token).unwrap();
    assert!(v.portal_session(&s.token).unwrap().is_none());

    // The note never reaches the disk in clear.
    drop(v);
    for e in walk(&d.path().join("data")) {
        let bytes = std::fs::read(&e).unwrap();
        assert!(
            !bytes.windows(note.len()).any(|w| w == note.as_bytes()),
            "{} holds the note",
            e.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn wrong_codes_lock_the_address() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let (code, _, _) = v.issue_entry_code("t", c.id, 1, "test").unwrap();
    for _ in 0..5 {
        assert_eq!(
            v.portal_enter("AAAAA-AAAAA", "10.0.0.9").unwrap().unwrap_err(),
            PortalRefusal::Invalid
        );
    }
    // Locked: even the right code waits.
    assert!(matches!(
        v.portal_enter(&code, "10.0.0.9").unwrap().unwrap_err(),
        PortalRefusal::Locked { minutes: 15 }
    ));
    // Another address is not affected.
    assert!(v.portal_enter(&code, "10.0.0.10").unwrap().is_ok());
}

#[test]
fn a_custom_schema_without_a_notice_fails_closed() {
    let d = tempfile::tempdir().unwrap();
    let schema = "version = 1\n\n[[fields]]\nname = \"name\"\ntype = \"person_name\"\nclassification = \"personal\"\nmask = \"name\"\n\n[[purposes]]\nid = \"support\"\nname_en = \"Support\"\nname_zh = \"支持\"\n";
    let (v, _) = Vault::init(
        &DataDir::new(d.path().join("data")),
        Some(schema),
        MasterChoice::KeyFile(None),
        "t",
    )
    .unwrap();
    assert!(v.notices().current().is_none());
    let support = purpose("support");
    let e = v
        .create(&unrestricted(), &input(&[("name", "张三")]), &support)
        .unwrap_err();
    assert!(
        e.code() == "no_notice" || e.problems().iter().any(|p| p.code == "no_notice"),
        "{e:?}"
    );
    let notice = "version = 1\neffective = \"2026-01-01\"\ntitle_en = \"N\"\ntitle_zh = \"政策\"\nbody_en = \"b\"\nbody_zh = \"正文\"\n\n[controller]\nname = \"X\"\n\n[[purposes]]\nid = \"support\"\nbasis = \"contract\"\nfields = [\"name\"]\nretention = { years = 1, from = \"collection\" }\n";
    v.publish_notice(&op(), notice).unwrap();
    let c = v
        .create(&unrestricted(), &input(&[("name", "张三")]), &support)
        .unwrap();
    assert!(v
        .get(
            &unrestricted(),
            &c.id.to_string(),
            &v.access(Some("support"), true, None).unwrap()
        )
        .is_ok());
    // The default operator roles do not exist in this directory's policy:
    // the command line can do nothing with its data.
    assert_eq!(
        v.get(
            &op(),
            &c.id.to_string(),
            &v.access(Some("support"), false, None).unwrap()
        )
        .unwrap_err()
        .code(),
        "not_found"
    );
}

#[test]
fn a_notice_takes_effect_at_midnight_of_its_date_in_the_company_time_zone() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let id = c.id.to_string();
    v.record_consents(&op(), &id, &[give("marketing")], &purpose("customer_service"))
        .unwrap();
    // Version 2 changes marketing materially, from 2099-01-01.
    let future = notice_v(2, |t| {
        t.replace("effective = \"2026-01-01\"", "effective = \"2099-01-01\"")
            .replace(
                "fields = [\"name\", \"mobile\", \"email\"]\nretention = { months = 24",
                "fields = [\"name\", \"mobile\", \"email\", \"address\"]\nretention = { months = 24",
            )
    });
    let r = v.publish_notice(&op(), &future).unwrap();
    assert!(!r.immediate);
    assert_eq!(r.takes_effect, "2098-12-31T16:00:00.000Z", "midnight at +08:00");
    assert_eq!(r.renewal_needed, vec![purpose("marketing")]);
    // Until then version 1 is in force: the consent given under it holds.
    assert!(read(&v, &id, "marketing").is_ok(), "consent suspended early");
    let state = v.notices();
    assert_eq!(state.current().unwrap().version, 1);
    assert_eq!((state.status(0), state.status(1)), ("in_force", "upcoming"));
    assert_eq!(state.upcoming().unwrap().0.version, 2);
    let stats = v.consent_stats(&op()).unwrap();
    assert!(stats.iter().all(|s| s.pending_renewal == 0), "{stats:?}");
    // The portal shows it as upcoming, with what it changes.
    let pv = v
        .portal_view(&customer(c.id), custodia_core::notice::Language::En)
        .unwrap();
    assert_eq!(pv.notice.version, 1);
    let (next, _, changes) = pv.upcoming.as_ref().expect("upcoming");
    assert_eq!(next.version, 2);
    assert!(changes.iter().any(|c| c.material()), "{changes:?}");
    // The next version must be newer than the upcoming one.
    assert_eq!(v.publish_notice(&op(), &future).unwrap_err().code(), "notice_version");
    // At that midnight, not a millisecond before, version 2 is in force and
    // renewal is counted from it.
    let at = state.effective_ms[1];
    let before = NoticeState::at(state.history.clone(), crate::datadir::UtcOffset::default(), at - 1);
    let after = NoticeState::at(state.history.clone(), crate::datadir::UtcOffset::default(), at);
    assert_eq!(
        (before.current().unwrap().version, before.floor(&purpose("marketing"))),
        (1, 1)
    );
    assert_eq!(
        (after.current().unwrap().version, after.floor(&purpose("marketing"))),
        (2, 2)
    );
    assert!(after.upcoming().is_none());
    // Another offset moves the instant.
    let utc = crate::datadir::UtcOffset(chrono::FixedOffset::east_opt(0).unwrap());
    assert_eq!(
        NoticeState::at(state.history.clone(), utc, at)
            .current()
            .unwrap()
            .version,
        1,
        "in UTC it is still 2098-12-31"
    );
    // Versions take effect in order: one dated before the upcoming one is refused.
    let early = notice_v(3, |t| {
        t.replace("effective = \"2026-01-01\"", "effective = \"2026-02-01\"")
    });
    let e = v.publish_notice(&op(), &early).unwrap_err();
    assert!(e.to_string().contains("versions take effect in order"), "{e}");
    // With no version upcoming, one dated in the past is in force at once.
    let d2 = tempfile::tempdir().unwrap();
    let w = new_vault(d2.path());
    let r = w
        .publish_notice(&op(), &early.replace("version = 3\n", "version = 2\n"))
        .unwrap();
    assert!(r.immediate);
    assert_eq!(w.notices().current().unwrap().version, 2);
}

#[test]
fn utc_offsets_are_read_strictly() {
    use crate::datadir::UtcOffset;
    #[derive(serde::Deserialize)]
    struct C {
        o: UtcOffset,
    }
    let ok: C = toml::from_str("o = \"-05:00\"").unwrap();
    assert_eq!(ok.o.0.local_minus_utc(), -5 * 3600);
    for bad in ["\"+8\"", "\"CST\"", "\"+25:00\"", "8"] {
        assert!(toml::from_str::<C>(&format!("o = {bad}")).is_err(), "{bad}");
    }
    let d = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    assert_eq!(
        UtcOffset::default().midnight_ms(d),
        chrono::DateTime::parse_from_rfc3339("2026-12-31T16:00:00Z")
            .unwrap()
            .timestamp_millis()
    );
}

#[test]
fn a_ccpa_only_notice_still_needs_the_consent_its_purposes_rest_on() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let c = v.create(&op(), &adult(), &cp()).unwrap();
    let id = c.id.to_string();
    let ccpa = notice_v(2, |t| t.replace("regimes = [\"pipl\"]", "regimes = [\"ccpa\"]"));
    v.publish_notice(&op(), &ccpa).unwrap();
    match read(&v, &id, "marketing").unwrap_err() {
        VaultError::ConsentRequired { citations, kinds, .. } => {
            assert_eq!(kinds, vec!["general"]);
            assert_eq!(citations, vec!["Cal. Civ. Code §1798.140(h); 11 CCR §7004"]);
        }
        other => panic!("processing ran without consent: {other:?}"),
    }
    v.record_consents(&op(), &id, &[give("marketing")], &purpose("customer_service"))
        .unwrap();
    assert!(read(&v, &id, "marketing").is_ok());
}
