//! Every operation checks its caller: the composite paths and the
//! privilege paths, decided inside the vault for every kind of principal.

use crate::access::identity::AccountKind;
use crate::rights::requests::NewRequest;
use crate::testkit::*;
use crate::*;
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
        new_collection_basis: None,
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
fn a_person_reveals_only_within_the_step_up_time_of_their_last_code() {
    use crate::access::authz::{Principal, Who};
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    let at = |age_ms: i64| {
        Principal(Who::Staff {
            account: "li.na".into(),
            roles: vec!["cs_agent".into()],
            mfa: true,
            mfa_at_ms: Some(now_ms() - age_ms),
            courses: vec!["privacy_basics".into()],
        })
    };
    let reveal = v.access(Some("customer_service"), true, Some("mobile")).unwrap();
    // Default: 15 minutes.
    assert!(v.get(&at(14 * 60_000), &id, &reveal).is_ok());
    let e = v.get(&at(16 * 60_000), &id, &reveal).unwrap_err();
    assert_eq!(e.code(), "step_up_required", "{e}");
    assert!(e.to_string().contains("900 seconds"), "{e}");
    assert_eq!(
        last_event(&v)
            .detail
            .as_deref()
            .map(|d| d.contains("step-up") || d.contains("900")),
        Some(true)
    );
    // The masked card needs no fresh code; a session that never had one
    // reveals nothing.
    assert!(v
        .get(&at(16 * 60_000), &id, &Access::masked(purpose("customer_service")))
        .is_ok());
    let never = Principal(Who::Staff {
        account: "li.na".into(),
        roles: vec!["cs_agent".into()],
        mfa: true,
        mfa_at_ms: None,
        courses: vec!["privacy_basics".into()],
    });
    assert_eq!(v.get(&never, &id, &reveal).unwrap_err().code(), "step_up_required");
    // Applications and the local operator are no person with a code.
    assert!(v.get(&op(), &id, &reveal).is_ok());
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
    approve_all(&v);
    assert!(v.authenticate_bootstrap(&token).unwrap().is_none());
    assert_eq!(
        v.bootstrap_status().unwrap(),
        crate::operations::bootstrap::BootstrapStatus::Off
    );
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
    approve_all(&v);
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
        approve_all(&v);
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
    // From November on, a calendar missing next year is a warning of its own.
    let warnings = v.status(&op()).unwrap().warnings;
    assert!(warnings.iter().all(|w| w.contains("holiday data")), "{warnings:?}");
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
    let job = crate::access::authz::Principal::system(crate::access::authz::Job::Retention);
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

fn give(purpose: &str) -> crate::privacy::consent::ConsentInput {
    crate::privacy::consent::ConsentInput {
        purpose: purpose.into(),
        action: crate::privacy::consent::ConsentAction::Give,
        channel: "phone".into(),
        language: "zh".into(),
        separate: false,
        by: None,
        text_sha256: None,
        notice_version: None,
        document_sha256: None,
    }
}

const PASS: &str = "correct horse battery staple";

#[test]
fn administrators_hand_out_administrative_roles_and_officers_the_others() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.create_account(
        &op(),
        "it.admin",
        AccountKind::Staff,
        &["administrator".into()],
        Some(PASS),
    )
    .unwrap();
    approve_all(&v);
    let admin = staff("it.admin", &["administrator"], true, false);
    // An administrator alone gives nobody personal data.
    for roles in [vec!["cs_agent"], vec!["privacy_officer"], vec!["data_steward"]] {
        let roles: Vec<String> = roles.into_iter().map(String::from).collect();
        let e = v
            .create_account(&admin, "mallory", AccountKind::Staff, &roles, Some(PASS))
            .unwrap_err();
        assert_eq!(e.code(), "forbidden", "{roles:?}: {e}");
        assert!(e.to_string().contains("review_access"), "{e}");
        assert!(last_event(&v).detail.unwrap().contains("review_access"));
        let e = v
            .create_account(&admin, "svc.mallory", AccountKind::Service, &roles, None)
            .unwrap_err();
        assert_eq!(e.code(), "forbidden", "{roles:?}: {e}");
    }
    assert!(v.account(&op(), "mallory").is_err(), "nothing was created");
    // Administrative roles are the administrator's to give.
    v.create_account(&admin, "li.na", AccountKind::Staff, &[], Some(PASS))
        .unwrap();
    approve_all(&v);
    v.create_account(
        &admin,
        "it.two",
        AccountKind::Staff,
        &["administrator".into()],
        Some(PASS),
    )
    .unwrap();
    approve_all(&v);
    assert_eq!(
        v.set_roles(&admin, "li.na", &["cs_agent".into()]).unwrap_err().code(),
        "forbidden"
    );
    // Without MFA an administrator does nothing at all.
    let no_mfa = staff("it.admin", &["administrator"], false, false);
    assert_eq!(
        v.create_account(&no_mfa, "x.y", AccountKind::Staff, &[], Some(PASS))
            .unwrap_err()
            .code(),
        "mfa_required"
    );
    // The privacy officer grants data roles to an account that exists, but
    // creates none, never changes their own, and never gives an
    // administrator data.
    v.create_account(
        &op(),
        "po.one",
        AccountKind::Staff,
        &["privacy_officer".into()],
        Some(PASS),
    )
    .unwrap();
    approve_all(&v);
    let officer = staff("po.one", &["privacy_officer"], true, true);
    // A data grant waits for a second person: not whoever asked, not the
    // account changed, and someone who could grant it (an administrator
    // alone holds no review_access).
    let a = v.set_roles(&officer, "li.na", &["cs_agent".into()]).unwrap();
    assert!(a.roles.is_empty());
    assert_eq!(a.pending_approvals.len(), 1);
    assert_eq!(a.pending_approvals[0].roles, vec!["cs_agent".to_string()]);
    let id = a.pending_approvals[0].id.clone();
    assert_eq!(v.approve(&officer, &id).unwrap_err().code(), "separation_of_duties");
    let target = staff("li.na", &["privacy_officer"], true, true);
    assert_eq!(v.approve(&target, &id).unwrap_err().code(), "separation_of_duties");
    assert_eq!(v.approve(&admin, &id).unwrap_err().code(), "forbidden");
    assert_eq!(
        v.approve(&service("svc.po", &["privacy_officer"]), &id)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    let done = v.approve(&op2(), &id).unwrap();
    assert_eq!(done.state, crate::access::staff::ApprovalState::Approved);
    assert_eq!(done.decided_by.as_deref(), Some("operator:second"));
    assert_eq!(v.account(&op(), "li.na").unwrap().roles, vec!["cs_agent".to_string()]);
    assert!(v.approve(&op(), &id).is_err(), "decided once");
    assert_eq!(
        v.create_account(&officer, "eve", AccountKind::Staff, &["cs_agent".into()], Some(PASS))
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        v.set_roles(&officer, "po.one", &["privacy_officer".into(), "data_steward".into()])
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        v.set_roles(&admin, "it.admin", &[]).unwrap_err().code(),
        "forbidden",
        "nobody changes their own roles"
    );
    let e = v
        .set_roles(&op(), "it.two", &["administrator".into(), "data_steward".into()])
        .unwrap_err();
    assert_eq!(e.code(), "bad_input");
    assert!(e.to_string().contains("not both"), "{e}");
    // An officer cannot make an administrator, nor take the role away.
    assert_eq!(
        v.set_roles(&officer, "li.na", &["cs_agent".into(), "administrator".into()])
            .unwrap_err()
            .code(),
        "bad_input"
    );
    assert_eq!(v.set_roles(&officer, "it.two", &[]).unwrap_err().code(), "forbidden");
    assert_eq!(
        v.set_roles(&officer, "it.two", &["administrator".into()])
            .unwrap()
            .roles,
        vec!["administrator".to_string()],
        "an unchanged set is no change"
    );
    // Both people are on the record: who asked, who approved and applied.
    let tail = v.audit_tail(&op(), 40).unwrap();
    assert!(tail.iter().any(|e| e.event.action == Action::Account
        && e.event.actor == "staff:po.one"
        && e.event.detail.as_deref()
            == Some(&*format!("approval {id} asked for: grant_roles li.na roles=[cs_agent]"))));
    assert!(tail.iter().any(|e| e.event.action == Action::Account
        && e.event.actor == "operator:second"
        && e.event.detail.as_deref() == Some(&*format!("roles of li.na: [] -> [cs_agent] (approval {id})"))));
}

#[test]
fn the_bootstrap_administrator_is_an_administrator_only() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let token = v.issue_bootstrap_token(&op()).unwrap();
    let boot = v.authenticate_bootstrap(&token).unwrap().unwrap();
    assert_eq!(
        v.create_account(
            &boot,
            "root.admin",
            AccountKind::Staff,
            &["administrator".into(), "privacy_officer".into()],
            Some(PASS)
        )
        .unwrap_err()
        .code(),
        "forbidden"
    );
    assert!(v.authenticate_bootstrap(&token).unwrap().is_some(), "still on");
}

#[test]
fn break_glass_leaves_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    let bg = crate::access::authz::Principal(crate::access::authz::Who::BreakGlass {
        admin: "it.admin".into(),
        token: "bg_1".into(),
    });
    // It opens the data …
    assert!(v.get(&bg, &id, &reveal(&v, "security_incident")).is_ok());
    // … and nothing that would outlive it.
    for e in [
        v.create_account(
            &bg,
            "backdoor",
            AccountKind::Staff,
            &["administrator".into()],
            Some(PASS),
        )
        .unwrap_err(),
        v.create_account(&bg, "backdoor.svc", AccountKind::Service, &[], None)
            .unwrap_err(),
        v.record_training(
            &bg,
            "li.na",
            "privacy_basics",
            chrono::Utc::now().date_naive(),
            100,
            None,
        )
        .unwrap_err(),
        v.start_review(&bg).unwrap_err(),
    ] {
        assert_eq!(e.code(), "forbidden", "{e}");
        assert!(e.to_string().contains("break-glass"), "{e}");
    }
    v.create_account(&op(), "svc", AccountKind::Service, &[], None).unwrap();
    approve_all(&v);
    assert_eq!(v.issue_token(&bg, "svc", &[], 30).unwrap_err().code(), "forbidden");
    assert_eq!(
        v.set_roles(&bg, "svc", &["data_steward".into()]).unwrap_err().code(),
        "forbidden"
    );
}

#[test]
fn a_changed_contact_gets_no_portal_code_for_a_while() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    let agent = staff("li.na", &["cs_agent"], true, true);
    let cs = purpose("customer_service");
    // Before any change the code would go (only the missing mail server stops it).
    assert_eq!(
        v.send_portal_code(&agent, &id, &cs, None).unwrap_err().code(),
        "delivery_failed"
    );
    // Writing the same address again changes nothing.
    v.update(
        &agent,
        &id,
        &[("email".to_string(), Some("zhang@example.com".to_string()))].into(),
        None,
        &cs,
    )
    .unwrap();
    assert_eq!(
        v.send_portal_code(&agent, &id, &cs, None).unwrap_err().code(),
        "delivery_failed"
    );
    v.update(
        &agent,
        &id,
        &[("email".to_string(), Some("mallory@example.net".to_string()))].into(),
        None,
        &cs,
    )
    .unwrap();
    let e = v.send_portal_code(&agent, &id, &cs, None).unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(e.to_string().contains("e-mail address was changed by staff"), "{e}");
    assert!(!e.to_string().contains("mallory"), "no contact in the refusal: {e}");
    assert_eq!(last_event(&v).customer.map(|c| c.to_string()), Some(id.clone()));
    // The mobile was not changed: that channel is open (no SMS gateway
    // here, so delivery is what stops it).
    assert_eq!(
        v.send_portal_code(&agent, &id, &cs, Some(crate::privacy::delivery::Channel::Sms))
            .unwrap_err()
            .code(),
        "delivery_failed"
    );
    // An edit of another field sets no hold.
    let other = customer_in(&v, "service").to_string();
    v.update(
        &agent,
        &other,
        &[("address".to_string(), Some("北京市朝阳区1号".to_string()))].into(),
        None,
        &cs,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        v.send_portal_code(&agent, &other, &cs, None).unwrap_err().code(),
        "delivery_failed"
    );
}

#[test]
fn a_portal_request_counts_as_verified_by_whoever_sent_the_code() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service");
    let me = customer_via(id, "staff:po.one");
    let s = v
        .portal_request(&me, custodia_core::rights::RequestKind::Access, "")
        .unwrap();
    assert_eq!(s.status, "verified");
    let po_one = staff("po.one", &["privacy_officer"], true, true);
    let e = v.carry_out(&po_one, &s.id, None).unwrap_err();
    assert_eq!(e.code(), "separation_of_duties", "{e}");
    let po_two = staff("po.two", &["privacy_officer"], true, true);
    assert!(v.carry_out(&po_two, &s.id, None).unwrap().package.is_some());
}

#[test]
fn consents_are_given_only_to_purposes_the_caller_takes_consents_for() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let id = customer_in(&v, "service").to_string();
    // The officer records withdrawals while answering a request, but
    // gives no consent to marketing in a customer's name.
    let officer = staff("po.one", &["privacy_officer"], true, true);
    let e = v
        .record_consents(&officer, &id, &[give("marketing")], &dsr())
        .unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(e.to_string().contains("record_consent for marketing"), "{e}");
    let marketing = |v: &Vault| {
        v.customer_consents(&op(), &id, &dsr())
            .unwrap()
            .purposes
            .into_iter()
            .find(|p| p.purpose.as_str() == "marketing")
            .unwrap()
            .receipt
    };
    assert!(marketing(&v).is_none(), "nothing was recorded");
    let mut w = give("marketing");
    w.action = crate::privacy::consent::ConsentAction::Withdraw;
    assert!(v.record_consents(&officer, &id, &[w], &dsr()).is_ok());
    // An agent takes a marketing consent on the phone.
    let agent = staff("li.na", &["cs_agent"], true, true);
    assert!(v
        .record_consents(&agent, &id, &[give("marketing")], &purpose("customer_service"))
        .is_ok());
}

#[test]
fn a_duplicate_external_id_names_only_a_customer_the_caller_sees() {
    let d = tempfile::tempdir().unwrap();
    let v = with_roles(
        d.path(),
        "[[roles]]\nid = \"service_clerk\"\n  [[roles.grants]]\n  actions = [\"read_masked\", \"write\"]\n  fields = [\"*\"]\n  scope = { department = [\"service\"] }\n  purposes = [\"contract_performance\"]\n",
    );
    let mut input = RecordInput {
        external_id: Some("CRM-7".into()),
        fields: [("name", "张三"), ("mobile", "13800138000"), ("department", "risk")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        consents: Vec::new(),
        new_collection_basis: None,
    };
    let risk = v.create(&op(), &input, &cp()).unwrap().id;
    input.fields.insert("department".into(), "service".into());
    let steward = staff("ds.one", &["data_steward"], true, true);
    let e = v.create(&steward, &input, &cp()).unwrap_err();
    assert!(
        e.to_string().contains(&risk.to_string()),
        "the steward sees every customer: {e}"
    );
    // A clerk who only sees the service department gets a conflict with no id.
    let clerk = service("crm", &["service_clerk"]);
    let e = v.create(&clerk, &input, &cp()).unwrap_err();
    assert_eq!(
        e.problems().first().map(|p| p.code.as_str()),
        Some("duplicate_external_id"),
        "{e}"
    );
    assert_eq!(e.problems()[0].code, "duplicate_external_id", "{e}");
    assert!(!e.to_string().contains(&risk.to_string()), "{e}");
}

#[test]
fn lifecycle_dates_schedule_destruction_and_need_delete() {
    let d = tempfile::tempdir().unwrap();
    let v = with_roles(
        d.path(),
        "[[roles]]\nid = \"editor\"\n  [[roles.grants]]\n  actions = [\"read_masked\", \"write\"]\n  fields = [\"*\"]\n  purposes = [\"contract_performance\"]\n",
    );
    let id = customer_in(&v, "service").to_string();
    let input = crate::rights::retention::LifecycleInput {
        contract_end: Some("1990-01-01".into()),
        ..Default::default()
    };
    let editor = service("editor", &["editor"]);
    let e = v.set_lifecycle(&editor, &id, &input, &cp()).unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(e.to_string().contains("delete"), "{e}");
    assert!(v.set_lifecycle(&op(), &id, &input, &cp()).is_ok());
}

#[test]
fn a_deidentified_export_keeps_the_reveal_and_consent_rules() {
    let d = tempfile::tempdir().unwrap();
    let v = with_roles(
        d.path(),
        "[[roles]]\nid = \"analyst\"\n  [[roles.grants]]\n  actions = [\"read_masked\", \"export\"]\n  fields = [\"*\"]\n  purposes = [\"marketing\", \"contract_performance\"]\n  [[roles.grants]]\n  actions = [\"reveal\"]\n  fields = [\"email\"]\n  purposes = [\"marketing\", \"contract_performance\"]\n",
    );
    let a = customer_in(&v, "service");
    let b = customer_in(&v, "service");
    let _c = customer_in(&v, "service");
    let analyst = service("bi", &["analyst"]);
    let run = |profile: &str, pu: &custodia_core::Purpose| {
        let profile = v.load_profile(profile, d.path()).unwrap();
        let mut out = Vec::new();
        v.export_deidentified(&analyst, pu, &mut out, &profile, &NoProgress)
            .map(|r| (r, String::from_utf8(out).unwrap()))
    };
    // A field kept in clear is a reveal: the ID number is not the analyst's.
    let e = run("k = 2\n[fields]\nmobile = \"keep\"\n", &cp()).unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(e.to_string().contains("reveal of mobile"), "{e}");
    let e = run("k = 2\n[fields]\nmobile = { action = \"mask\", first = 10 }\n", &cp()).unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    // And only what the notice lists for the purpose leaves in clear.
    let e = run("k = 2\n[fields]\nnational_id = \"keep\"\n", &cp()).unwrap_err();
    assert_eq!(e.code(), "purpose_limitation", "{e}");
    // Transformed, it may go.
    let (r, _) = run("k = 2\n[fields]\nnational_id = \"hash\"\n", &cp()).unwrap();
    assert_eq!(r.risk.released, 3);
    // Under a consent purpose only the customers who gave it are released.
    for c in [a, b] {
        v.record_consents(&op(), &c.to_string(), &[give("marketing")], &cp())
            .unwrap();
    }
    let (r, out) = run("k = 2\n[fields]\nemail = \"keep\"\n", &purpose("marketing")).unwrap();
    assert_eq!(r.risk.released, 2, "{out}");
    assert!(out.contains("zhang@example.com"));
}

#[test]
fn whoever_set_a_contact_never_sends_it_a_portal_code() {
    let d = tempfile::tempdir().unwrap();
    drop(new_vault(d.path()));
    let dd = DataDir::new(d.path().join("data"));
    let cfg = std::fs::read_to_string(dd.root().join("config.toml")).unwrap();
    assert!(cfg.contains("contact_hold_hours = 72"), "{cfg}");
    std::fs::write(
        dd.root().join("config.toml"),
        cfg.replace("contact_hold_hours = 72", "contact_hold_hours = 0"),
    )
    .unwrap();
    let v = Vault::open(&dd, &|| unreachable!()).unwrap();
    let id = customer_in(&v, "service").to_string();
    let cs = purpose("customer_service");
    let mallory = staff("mallory", &["cs_agent"], true, true);
    v.update(
        &mallory,
        &id,
        &[("email".to_string(), Some("mallory@example.net".to_string()))].into(),
        None,
        &cs,
    )
    .unwrap();
    // No hold is configured, but the person who set the address is not
    // the one to send it a code; someone else may (no mail server here).
    let e = v.send_portal_code(&mallory, &id, &cs, None).unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(e.to_string().contains("you set this contact yourself"), "{e}");
    let other = staff("li.na", &["cs_agent"], true, true);
    assert_eq!(
        v.send_portal_code(&other, &id, &cs, None).unwrap_err().code(),
        "delivery_failed"
    );
}

#[test]
fn tokens_for_data_roles_are_not_an_administrators_alone() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    let admin = operator("it.admin", &["administrator"]);
    v.create_account(&op(), "crm-app", AccountKind::Service, &["data_steward".into()], None)
        .unwrap();
    approve_all(&v);
    let e = v.issue_token(&admin, "crm-app", &[], 30).unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    assert!(e.to_string().contains("review_access"), "{e}");
    assert!(v.issue_token(&op(), "crm-app", &[], 30).is_ok());
    // A token taken while the account had no data roles does not get them
    // when a privacy officer grants them later: it is revoked.
    v.create_account(&admin, "bi-app", AccountKind::Service, &[], None)
        .unwrap();
    approve_all(&v);
    let t = v.issue_token(&admin, "bi-app", &[], 30).unwrap();
    assert!(v.authenticate_token(&t.token).unwrap().is_ok());
    let officer = staff("po.one", &["privacy_officer"], true, true);
    v.set_roles(&officer, "bi-app", &["risk_analyst".into()]).unwrap();
    approve_all(&v);
    assert!(v.authenticate_token(&t.token).unwrap().is_err(), "revoked by the grant");
}

#[test]
fn access_reviews_are_never_of_oneself_and_keep_an_administrator() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    v.create_account(
        &op(),
        "it.admin",
        AccountKind::Staff,
        &["administrator".into()],
        Some(PASS),
    )
    .unwrap();
    approve_all(&v);
    v.create_account(
        &op(),
        "po.one",
        AccountKind::Staff,
        &["privacy_officer".into()],
        Some(PASS),
    )
    .unwrap();
    approve_all(&v);
    let (campaign, _) = v.start_review(&op()).unwrap();
    let me = staff("po.one", &["privacy_officer"], true, true);
    let e = v
        .decide_review(&me, &campaign, "po.one", "privacy_officer", true, None)
        .unwrap_err();
    assert_eq!(e.code(), "forbidden", "{e}");
    let e = v
        .decide_review(&op(), &campaign, "it.admin", "administrator", false, None)
        .unwrap_err();
    assert!(e.to_string().contains("last working administrator"), "{e}");
    assert!(v
        .decide_review(&op(), &campaign, "po.one", "privacy_officer", true, None)
        .is_ok());
}

#[test]
fn an_accounts_life_keeps_its_rules_for_every_caller() {
    let d = tempfile::tempdir().unwrap();
    let v = new_vault(d.path());
    const PASS: &str = "correct horse battery staple";
    v.create_account(
        &op(),
        "it.admin",
        AccountKind::Staff,
        &["administrator".into()],
        Some(PASS),
    )
    .unwrap();
    approve_all(&v);
    v.create_account(&op(), "li.na", AccountKind::Staff, &["cs_agent".into()], Some(PASS))
        .unwrap();
    approve_all(&v);
    let admin = staff("it.admin", &["administrator"], true, false);
    let agent = staff("li.na", &["cs_agent"], true, true);
    // Only account administrators run the lifecycle; never on themselves.
    for e in [
        v.set_disabled(&agent, "it.admin", true, None).unwrap_err(),
        v.unlock(&agent, "it.admin").unwrap_err(),
        v.delete_account(&agent, "it.admin").unwrap_err(),
        v.request_mfa_reset(&agent, "it.admin").unwrap_err(),
        v.set_email(&agent, "it.admin", "x@example.com").unwrap_err(),
        v.approvals(&agent, true).unwrap_err(),
    ] {
        assert_eq!(e.code(), "forbidden", "{e}");
    }
    assert_eq!(
        v.set_disabled(&admin, "it.admin", true, None).unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(v.delete_account(&admin, "it.admin").unwrap_err().code(), "forbidden");
    // The last working administrator stays.
    let e = v.delete_account(&op(), "it.admin").unwrap_err();
    assert!(e.to_string().contains("last working administrator"), "{e}");
    let e = v.set_disabled(&op(), "it.admin", true, None).unwrap_err();
    assert!(e.to_string().contains("last working administrator"), "{e}");
    // Nobody enrolls another person's MFA; an account with an address
    // enrolls only through its link.
    assert_eq!(v.start_mfa(&admin, "li.na").unwrap_err().code(), "forbidden");
    assert!(v.start_mfa(&agent, "li.na").is_ok());
    // An address change waits for a second person too (and a token never asks).
    let a = v.set_email(&admin, "li.na", "li.na@example.com").unwrap();
    assert_eq!(a.email, None);
    assert_eq!(a.pending_approvals[0].email.as_deref(), Some("l***@example.com"));
    assert_eq!(
        v.set_email(&service("svc.admin", &["administrator"]), "li.na", "evil@example.com")
            .unwrap_err()
            .code(),
        "forbidden"
    );
    approve_all(&v);
    assert_eq!(
        v.account(&op(), "li.na").unwrap().email.as_deref(),
        Some("l***@example.com")
    );
    assert_eq!(v.start_mfa(&agent, "li.na").unwrap_err().code(), "forbidden");
    // Links need a mail server; a password link is the person's to ask for.
    assert_eq!(
        v.send_link(&admin, "li.na", crate::access::staff::LinkKind::Setup)
            .unwrap_err()
            .code(),
        "delivery_failed"
    );
    assert_eq!(
        v.send_link(&admin, "li.na", crate::access::staff::LinkKind::Password)
            .unwrap_err()
            .code(),
        "bad_input"
    );
    // Asking for a forgotten password says nothing either way.
    v.forgot_password("li.na", "10.0.0.1").unwrap();
    v.forgot_password("nobody", "10.0.0.1").unwrap();
    assert_eq!(v.link_info("0".repeat(64).as_str()).unwrap_err().code(), "forbidden");
    // An MFA reset waits for someone other than whoever asked.
    let ap = v.request_mfa_reset(&admin, "li.na").unwrap();
    assert_eq!(v.request_mfa_reset(&admin, "li.na").unwrap_err().code(), "bad_input");
    assert_eq!(v.approve(&admin, &ap.id).unwrap_err().code(), "separation_of_duties");
    assert_eq!(v.approve(&agent, &ap.id).unwrap_err().code(), "forbidden");
    let withdrawn = v.reject(&admin, &ap.id, Some("asked by mistake")).unwrap();
    assert_eq!(withdrawn.state, crate::access::staff::ApprovalState::Cancelled);
    let ap = v.request_mfa_reset(&admin, "li.na").unwrap();
    let refused = v.reject(&op2(), &ap.id, None).unwrap();
    assert_eq!(refused.state, crate::access::staff::ApprovalState::Rejected);
    // Disabled accounts neither sign in nor keep sessions; deleted names stay taken.
    let s = v.login("li.na", PASS, None, "10.0.0.2", None).unwrap().result.unwrap();
    v.set_disabled(&admin, "li.na", true, Some("left")).unwrap();
    assert!(v.session(&s.token).unwrap().is_none());
    assert!(v.login("li.na", PASS, None, "10.0.0.2", None).unwrap().result.is_err());
    v.set_disabled(&admin, "li.na", false, None).unwrap();
    assert!(v.login("li.na", PASS, None, "10.0.0.2", None).unwrap().result.is_ok());
    v.delete_account(&admin, "li.na").unwrap();
    assert!(v.account(&op(), "li.na").unwrap().deleted);
    assert!(v.login("li.na", PASS, None, "10.0.0.2", None).unwrap().result.is_err());
    let e = v
        .create_account(&op(), "li.na", AccountKind::Staff, &[], Some(PASS))
        .unwrap_err();
    assert!(e.to_string().contains("exists"), "{e}");
    assert_eq!(
        v.set_disabled(&admin, "li.na", false, None).unwrap_err().code(),
        "not_found"
    );
    assert!(v.audit_verify(&op()).unwrap().ok);
}
