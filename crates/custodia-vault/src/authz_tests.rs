//! Every operation checks its caller: the composite paths and the
//! privilege paths, decided inside the vault for every kind of principal.

use super::*;
use crate::identity::AccountKind;
use crate::rights::NewRequest;
use crate::testkit::*;
use custodia_core::audit::Action;
use std::path::Path;

fn new_vault(dir: &Path) -> Vault {
    Vault::init(
        &DataDir::new(dir.join("data")),
        None,
        MasterChoice::KeyFile(None),
        "operator:tester",
    )
    .unwrap()
    .0
}

/// A new data directory whose policy has these roles added.
fn with_roles(dir: &Path, extra: &str) -> Vault {
    drop(new_vault(dir));
    let dd = DataDir::new(dir.join("data"));
    let policy = std::fs::read_to_string(dd.policy_path()).unwrap() + "\n" + extra;
    std::fs::write(dd.policy_path(), policy).unwrap();
    Vault::open(&dd, &|| unreachable!()).unwrap()
}

fn customer_in(v: &Vault, dept: &str) -> CustomerId {
    let input = RecordInput {
        external_id: None,
        fields: [
            ("name", "张三"),
            ("national_id", "11010519491231002X"),
            ("mobile", "13800138000"),
            ("email", "zhang@example.com"),
            ("department", dept),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        consents: Vec::new(),
    };
    v.create(&op(), &input, &cp()).unwrap().id
}

fn last_event(v: &Vault) -> custodia_core::audit::AuditEvent {
    // Denials are queued without waiting: a write behind them flushes them.
    v.audit(vec![]).unwrap();
    v.audit_tail(&op(), 3)
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.event.action == Action::AccessDenied)
        .expect("a denial was audited")
        .event
}

#[test]
fn out_of_scope_customers_look_exactly_like_missing_ones() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let risk = customer_in(&v, "risk");
    let service = customer_in(&v, "service");
    let agent = staff("li.na", &["cs_agent"], true, true);
    let masked = Access::masked(purpose("customer_service"));
    assert!(v.get(&agent, &service.to_string(), &masked).is_ok());
    let missing = CustomerId::new();
    let a = v.get(&agent, &risk.to_string(), &masked).unwrap_err();
    let b = v.get(&agent, &missing.to_string(), &masked).unwrap_err();
    assert_eq!(a.code(), "not_found");
    assert_eq!(b.code(), "not_found");
    // Same words, apart from the id the caller sent.
    assert_eq!(
        a.to_string().replace(&risk.to_string(), "ID"),
        b.to_string().replace(&missing.to_string(), "ID")
    );
    let e = last_event(&v);
    assert_eq!(e.customer, Some(risk));
    assert!(e.detail.unwrap().contains("outside the caller's scope"));
    // Every customer-bound operation answers the same way.
    let id = risk.to_string();
    for code in [
        v.update(
            &agent,
            &id,
            &[("mobile".to_string(), Some("13900139000".to_string()))].into(),
            None,
            &purpose("customer_service"),
        )
        .unwrap_err()
        .code(),
        v.customer_consents(&agent, &id, &purpose("customer_service"))
            .unwrap_err()
            .code(),
        v.send_portal_code(&agent, &id, &purpose("customer_service"), None)
            .unwrap_err()
            .code(),
        v.new_request(
            &staff("li.na", &["cs_agent"], true, true),
            &NewRequest {
                customer: id.clone(),
                kind: "access".into(),
                ..Default::default()
            },
        )
        .unwrap_err()
        .code(),
    ] {
        assert_eq!(code, "not_found");
    }
    // A search leaves them out without a word.
    let found = v.find(&agent, "mobile", "13800138000", &masked, 10).unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![service]);
}

#[test]
fn refusals_name_the_callers_grants_not_the_customer() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    let agent = staff("li.na", &["cs_agent"], true, true);
    let e = v
        .get(
            &agent,
            &id,
            &v.access(Some("customer_service"), true, Some("email")).unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "forbidden");
    let text = e.to_string();
    assert!(text.contains("reveal of email for customer_service"), "{text}");
    assert!(!text.contains("zhang") && !text.contains("13800138000"), "{text}");
    // Without MFA or training, the refusal says which gate.
    let no_mfa = staff("li.na", &["cs_agent"], false, true);
    assert_eq!(
        v.get(
            &no_mfa,
            &id,
            &v.access(Some("customer_service"), true, Some("mobile")).unwrap()
        )
        .unwrap_err()
        .code(),
        "mfa_required"
    );
    let untrained = staff("li.na", &["cs_agent"], true, false);
    let e = v
        .get(
            &untrained,
            &id,
            &v.access(Some("customer_service"), true, Some("mobile")).unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "training_required");
    // The masked read needs no training.
    assert!(v
        .get(&untrained, &id, &Access::masked(purpose("customer_service")))
        .is_ok());
}

#[test]
fn the_bootstrap_token_only_creates_the_first_administrator() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    let token = v.issue_bootstrap_token(&op()).unwrap();
    let boot = v.authenticate_bootstrap(&token).unwrap().expect("the live token");
    assert!(boot.is_bootstrap());
    // No customer data, ever.
    assert_eq!(
        v.get(&boot, &id, &reveal(&v, "data_subject_request"))
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        v.create(&boot, &RecordInput::default(), &cp()).unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(v.audit_tail(&boot, 5).unwrap_err().code(), "forbidden");
    // Not a data user, not a service account.
    assert_eq!(
        v.create_account(
            &boot,
            "eve",
            AccountKind::Staff,
            &["cs_agent".into()],
            Some("correct horse battery staple")
        )
        .unwrap_err()
        .code(),
        "forbidden"
    );
    assert_eq!(
        v.create_account(&boot, "svc", AccountKind::Service, &["administrator".into()], None)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    // The first administrator, and then it is off.
    v.create_account(
        &boot,
        "root.admin",
        AccountKind::Staff,
        &["administrator".into()],
        Some("correct horse battery staple"),
    )
    .unwrap();
    assert!(v.authenticate_bootstrap(&token).unwrap().is_none());
    assert_eq!(v.bootstrap_status().unwrap(), crate::bootstrap::BootstrapStatus::Off);
    assert_eq!(v.issue_bootstrap_token(&op()).unwrap_err().code(), "forbidden");
}

#[test]
fn an_administrator_made_on_the_command_line_switches_the_bootstrap_token_off() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let token = v.issue_bootstrap_token(&op()).unwrap();
    v.create_account(
        &op(),
        "ops",
        AccountKind::Staff,
        &["administrator".into()],
        Some("correct horse battery staple"),
    )
    .unwrap();
    assert!(v.authenticate_bootstrap(&token).unwrap().is_none());
}

#[test]
fn nobody_records_their_own_training_and_failed_scores_do_not_count() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    for n in ["po.one", "po.two"] {
        v.create_account(
            &op(),
            n,
            AccountKind::Staff,
            &["privacy_officer".into()],
            Some("correct horse battery staple"),
        )
        .unwrap();
    }
    let today = chrono::Utc::now().date_naive();
    let one = staff("po.one", &["privacy_officer"], true, false);
    let e = v
        .record_training(&one, "po.one", "privacy_basics", today, 100, None)
        .unwrap_err();
    assert_eq!(e.code(), "separation_of_duties");
    // The operator of the same name is the same person.
    let e = v
        .record_training(
            &operator("po.one", &["privacy_officer"]),
            "po.one",
            "privacy_basics",
            today,
            100,
            None,
        )
        .unwrap_err();
    assert_eq!(e.code(), "separation_of_duties");
    // Below the pass mark (80): recorded, not counted.
    let t = v
        .record_training(&one, "po.two", "privacy_basics", today, 0, None)
        .unwrap();
    assert!(!t.passed && !t.valid);
    assert!(v.valid_courses("po.two").unwrap().is_empty());
    let t = v
        .record_training(&one, "po.two", "privacy_basics", today, 80, None)
        .unwrap();
    assert!(t.passed && t.valid);
    assert_eq!(v.valid_courses("po.two").unwrap(), vec!["privacy_basics".to_string()]);
    // The course's validity bounds the expiry; unknown courses are refused.
    assert_eq!(
        v.record_training(
            &one,
            "po.two",
            "privacy_basics",
            today,
            90,
            Some(today + chrono::Duration::days(400))
        )
        .unwrap_err()
        .code(),
        "bad_input"
    );
    let e = v
        .record_training(&one, "po.two", "knitting", today, 90, None)
        .unwrap_err();
    assert!(e.to_string().contains("privacy_basics"), "{e}");
    // Recording needs manage_training.
    assert_eq!(
        v.record_training(
            &staff("li.na", &["cs_agent"], true, true),
            "po.two",
            "privacy_basics",
            today,
            90,
            None
        )
        .unwrap_err()
        .code(),
        "forbidden"
    );
}

fn request_of(v: &Vault, id: CustomerId, kind: &str) -> String {
    v.new_request(
        &op(),
        &NewRequest {
            customer: id.to_string(),
            kind: kind.into(),
            regime: Some("gdpr".into()),
            note: (kind == "rectification").then(|| "the phone is wrong".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .id
}

#[test]
fn completing_a_request_needs_the_permissions_of_what_it_does() {
    let d = tempfile::tempdir().unwrap();
    // A token holding only handle_requests: it may step requests along but
    // not hand out, change or destroy data.
    let v = with_roles(
        d.path(),
        "[[roles]]\nid = \"request_clerk\"\n  [[roles.grants]]\n  actions = [\"handle_requests\", \"verify_identity\"]\n  [[roles.grants]]\n  actions = [\"read_masked\"]\n  fields = [\"*\"]\n  purposes = [\"data_subject_request\"]\n",
    );
    let id = customer_in(&v, "service");
    let clerk = service("clerk", &["request_clerk"]);
    for kind in ["access", "portability", "erasure", "rectification", "restriction"] {
        let r = request_of(&v, id, kind);
        v.verify_request(&op2(), &r, "id_document").unwrap();
        let patch: Option<RecordPatch> =
            (kind == "rectification").then(|| [("mobile".to_string(), Some("13900139000".to_string()))].into());
        let e = v.carry_out(&clerk, &r, patch.as_ref()).unwrap_err();
        assert_eq!(e.code(), "forbidden", "{kind}: {e}");
        // Nothing happened.
        assert_eq!(v.request(&op(), &r).unwrap().status, "verified", "{kind}");
    }
    assert!(v.store().get(&id).unwrap().is_some(), "not erased");
}

#[test]
fn whoever_verified_a_requester_does_not_complete_an_erasure_or_access() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service");
    let r = request_of(&v, id, "access");
    v.verify_request(&op(), &r, "id_document").unwrap();
    let e = v.carry_out(&op(), &r, None).unwrap_err();
    assert_eq!(e.code(), "separation_of_duties");
    assert!(e.to_string().contains("tester verified"), "{e}");
    // Another person completes it.
    let out = v.carry_out(&op2(), &r, None).unwrap();
    assert!(out.package.is_some());
    // An agent may verify; the officer completes the erasure.
    let r = request_of(&v, id, "erasure");
    v.verify_request(&staff("li.na", &["cs_agent"], true, true), &r, "in_person")
        .unwrap();
    assert_eq!(
        v.carry_out(&staff("li.na", &["cs_agent"], true, true), &r, None)
            .unwrap_err()
            .code(),
        "forbidden",
        "agents do not complete requests"
    );
    let officer = staff("po.one", &["privacy_officer"], true, true);
    assert!(v.carry_out(&officer, &r, None).unwrap().certificate.is_some());
}

#[test]
fn separation_of_duties_can_be_switched_off_and_status_says_so() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    assert!(v.status(&op()).unwrap().warnings.is_empty());
    drop(v);
    let dir = DataDir::new(d.path().join("data"));
    let policy = std::fs::read_to_string(dir.policy_path()).unwrap().replace(
        "verifier_cannot_complete = [\"access\", \"portability\", \"erasure\"]",
        "verifier_cannot_complete = []",
    );
    std::fs::write(dir.policy_path(), policy).unwrap();
    let v = Vault::open(&dir, &|| unreachable!()).unwrap();
    let s = v.status(&op()).unwrap();
    assert!(s.verifier_cannot_complete.is_empty());
    assert!(
        s.warnings.iter().any(|w| w.contains("separation of duties is off")),
        "{s:?}"
    );
    let id = customer_in(&v, "service");
    let r = request_of(&v, id, "access");
    v.verify_request(&op(), &r, "id_document").unwrap();
    assert!(v.carry_out(&op(), &r, None).is_ok());
}

#[test]
fn a_customer_in_the_portal_reaches_only_their_own_record() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let mine = customer_in(&v, "service");
    let theirs = customer_in(&v, "service");
    let me = customer(mine);
    assert!(v.portal_download(&me).is_ok());
    // Their request is invisible to me; I cannot file one for them.
    let r = request_of(&v, theirs, "access");
    assert_eq!(v.request(&me, &r).unwrap_err().code(), "not_found");
    assert_eq!(v.carry_out(&me, &r, None).unwrap_err().code(), "not_found");
    assert!(v
        .new_request(
            &me,
            &NewRequest {
                customer: theirs.to_string(),
                kind: "erasure".into(),
                ..Default::default()
            }
        )
        .is_err());
    // Staff operations are closed to a customer, and portal ones to staff.
    assert_eq!(
        v.get(&me, &theirs.to_string(), &masked()).unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        v.get(&me, &mine.to_string(), &masked()).unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(v.portal_download(&op()).unwrap_err().code(), "forbidden");
    // A customer's own erasure request is filed and verified, never carried
    // out from the portal.
    let s = v
        .portal_request(&me, custodia_core::rights::RequestKind::Erasure, "")
        .unwrap();
    assert_eq!(s.status, "verified");
    assert_eq!(v.carry_out(&me, &s.id, None).unwrap_err().code(), "forbidden");
}

#[test]
fn jobs_do_their_job_only() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    let job = crate::authz::Principal::system(crate::authz::Job::Retention);
    assert!(v.retention_run(&job, &Default::default(), &NoProgress).is_ok());
    assert_eq!(v.get(&job, &id, &masked()).unwrap_err().code(), "forbidden");
    assert_eq!(v.scheduled_backup(&job, &NoProgress).unwrap_err().code(), "forbidden");
    assert_eq!(v.sync_erasure_ledger(&job).unwrap_err().code(), "forbidden");
}

#[test]
fn the_operator_acts_with_its_configured_roles() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    // init gives the operator the roles the README's first session needs.
    let p = v.operator("anyone");
    assert_eq!(p.roles(), ["data_steward", "privacy_officer", "administrator"]);
    assert_eq!(p.actor(), "operator:anyone");
    // A reveal its roles do not allow is refused and audited.
    let e = v
        .get(
            &p,
            &id,
            &v.access(Some("legal_obligation"), true, Some("national_id")).unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    let ev = last_event(&v);
    assert_eq!(ev.actor, "operator:anyone");
    assert!(ev.detail.unwrap().contains("[operator]"));
}
