use super::*;
use crate::schema::Schema;

fn setup() -> (Schema, Policy) {
    let s = Schema::default_schema();
    let p = Policy::default_policy(&s);
    (s, p)
}

fn attrs(dept: &str) -> BTreeMap<String, String> {
    [("department".to_string(), dept.to_string())].into_iter().collect()
}

fn roles(r: &[&str]) -> Vec<String> {
    r.iter().map(|s| s.to_string()).collect()
}

/// (roles, mfa, trained, permission, field, department, purpose) → expected.
type Case = (
    &'static [&'static str],
    bool,
    bool,
    Permission,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Result<&'static str, DenyReason>,
);

#[test]
fn default_policy_decisions() {
    use DenyReason::*;
    use Permission::*;
    let (s, p) = setup();
    let cases: &[Case] = &[
        // Agents: masked reads in their departments for service purposes.
        (
            &["cs_agent"],
            true,
            true,
            ReadMasked,
            Some("email"),
            Some("service"),
            Some("customer_service"),
            Ok("cs_agent"),
        ),
        (
            &["cs_agent"],
            true,
            true,
            ReadMasked,
            Some("email"),
            Some("risk"),
            Some("customer_service"),
            Err(NoGrant),
        ),
        (
            &["cs_agent"],
            true,
            true,
            ReadMasked,
            Some("email"),
            Some("service"),
            Some("marketing"),
            Err(NoGrant),
        ),
        (
            &["cs_agent"],
            true,
            true,
            ReadMasked,
            Some("email"),
            Some("service"),
            None,
            Err(PurposeRequired),
        ),
        // Reveal of the phone for service only, with MFA and training.
        (
            &["cs_agent"],
            true,
            true,
            Reveal,
            Some("mobile"),
            Some("sales"),
            Some("customer_service"),
            Ok("cs_agent"),
        ),
        (
            &["cs_agent"],
            true,
            true,
            Reveal,
            Some("national_id"),
            Some("sales"),
            Some("customer_service"),
            Err(NoGrant),
        ),
        (
            &["cs_agent"],
            false,
            true,
            Reveal,
            Some("mobile"),
            Some("sales"),
            Some("customer_service"),
            Err(MfaRequired),
        ),
        (
            &["cs_agent"],
            false,
            true,
            ReadMasked,
            Some("mobile"),
            Some("sales"),
            Some("customer_service"),
            Err(MfaRequired),
        ),
        (
            &["cs_agent"],
            true,
            false,
            Reveal,
            Some("mobile"),
            Some("sales"),
            Some("customer_service"),
            Err(TrainingRequired("privacy_basics".into())),
        ),
        (
            &["cs_agent"],
            true,
            false,
            ReadMasked,
            Some("mobile"),
            Some("sales"),
            Some("customer_service"),
            Ok("cs_agent"),
        ),
        (
            &["cs_agent"],
            true,
            true,
            Export,
            None,
            Some("sales"),
            Some("customer_service"),
            Err(NoGrant),
        ),
        // Scope attribute missing on the customer: out of scope.
        (
            &["cs_agent"],
            true,
            true,
            ReadMasked,
            Some("email"),
            None,
            Some("customer_service"),
            Err(NoGrant),
        ),
        // Risk analysts reveal IDs in the risk department only.
        (
            &["risk_analyst"],
            true,
            true,
            Reveal,
            Some("national_id"),
            Some("risk"),
            Some("risk_control"),
            Ok("risk_analyst"),
        ),
        (
            &["risk_analyst"],
            true,
            true,
            Reveal,
            Some("national_id"),
            Some("sales"),
            Some("risk_control"),
            Err(NoGrant),
        ),
        (
            &["risk_analyst"],
            true,
            true,
            ReadMasked,
            Some("national_id"),
            Some("sales"),
            Some("risk_control"),
            Ok("risk_analyst"),
        ),
        // The privacy officer audits and reviews, reveals only for the customer's own request, never exports.
        (
            &["privacy_officer"],
            true,
            true,
            ReadAudit,
            None,
            None,
            None,
            Ok("privacy_officer"),
        ),
        (
            &["privacy_officer"],
            true,
            true,
            ReviewAccess,
            None,
            None,
            None,
            Ok("privacy_officer"),
        ),
        (
            &["privacy_officer"],
            true,
            true,
            Reveal,
            Some("bank_card"),
            Some("sales"),
            Some("data_subject_request"),
            Ok("privacy_officer"),
        ),
        (
            &["privacy_officer"],
            true,
            true,
            Reveal,
            Some("bank_card"),
            Some("sales"),
            Some("marketing"),
            Err(NoGrant),
        ),
        (
            &["privacy_officer"],
            true,
            true,
            Export,
            None,
            None,
            Some("data_subject_request"),
            Err(NoGrant),
        ),
        (
            &["privacy_officer"],
            true,
            true,
            ManageKeys,
            None,
            None,
            None,
            Err(NoGrant),
        ),
        // The administrator manages accounts and keys (with MFA: they hand
        // out access) and sees no personal data.
        (
            &["administrator"],
            true,
            false,
            ManageAccounts,
            None,
            None,
            None,
            Ok("administrator"),
        ),
        (
            &["administrator"],
            false,
            false,
            ManageAccounts,
            None,
            None,
            None,
            Err(MfaRequired),
        ),
        (
            &["administrator"],
            true,
            false,
            ManageKeys,
            None,
            None,
            None,
            Ok("administrator"),
        ),
        (
            &["administrator"],
            true,
            true,
            ReadMasked,
            Some("name"),
            Some("sales"),
            Some("legal_obligation"),
            Err(NoGrant),
        ),
        (
            &["administrator"],
            true,
            true,
            ReadAudit,
            None,
            None,
            None,
            Err(NoGrant),
        ),
        // Unknown roles and no roles: nothing.
        (
            &["ghost"],
            true,
            true,
            ReadMasked,
            Some("name"),
            Some("sales"),
            Some("customer_service"),
            Err(NoGrant),
        ),
        (&[], true, true, ReadAudit, None, None, None, Err(NoGrant)),
        // Several roles: the first matching grant decides.
        (
            &["administrator", "cs_agent"],
            true,
            true,
            Reveal,
            Some("mobile"),
            Some("service"),
            Some("customer_service"),
            Ok("cs_agent"),
        ),
    ];
    for (i, (r, mfa, trained, perm, field, dept, purpose)) in
        cases.iter().map(|c| (c.0, c.1, c.2, c.3, c.4, c.5, c.6)).enumerate()
    {
        let rs = roles(r);
        let courses = if trained {
            roles(&["privacy_basics"])
        } else {
            Vec::new()
        };
        let who = Subject {
            roles: &rs,
            mfa,
            valid_courses: &courses,
            trained: false,
        };
        let fdef = field.map(|f| s.field(f).unwrap());
        let a = dept.map(attrs);
        let pur = purpose.map(|x| Purpose::new(x).unwrap());
        let d = p.decide(
            &who,
            &Request {
                permission: perm,
                field: fdef.map(|f| (&f.name, f.classification)),
                attrs: a.as_ref(),
                purpose: pur.as_ref(),
            },
        );
        match &cases[i].7 {
            Ok(role) => {
                assert!(d.allowed, "case {i}: {d}");
                assert_eq!(d.rule.as_ref().unwrap().role, *role, "case {i}");
                assert!(d.rule.as_ref().unwrap().line > 0);
            }
            Err(reason) => {
                assert!(!d.allowed, "case {i}: {d}");
                assert_eq!(d.reason.as_ref(), Some(reason), "case {i}: {d}");
            }
        }
    }
}

#[test]
fn explanations_name_the_rule() {
    let (s, p) = setup();
    let rs = roles(&["cs_agent"]);
    let courses = roles(&["privacy_basics"]);
    let f = s.field("mobile").unwrap();
    let a = attrs("service");
    let pur = Purpose::new("customer_service").unwrap();
    let req = Request {
        permission: Permission::Reveal,
        field: Some((&f.name, f.classification)),
        attrs: Some(&a),
        purpose: Some(&pur),
    };
    let d = p.decide(
        &Subject {
            roles: &rs,
            mfa: true,
            valid_courses: &courses,
            trained: false,
        },
        &req,
    );
    let line = DEFAULT_POLICY_TOML
        .lines()
        .position(|l| l.trim() == "fields = [\"mobile\"]")
        .unwrap()
        + 1;
    assert_eq!(d.rule.as_ref().unwrap().grant, 2);
    assert!(
        d.rule.as_ref().unwrap().line < line && d.rule.as_ref().unwrap().line > line - 4,
        "{d}"
    );
    assert!(
        d.to_string()
            .starts_with("allow by role cs_agent grant #2 (policy line"),
        "{d}"
    );
    let d = p.decide(
        &Subject {
            roles: &rs,
            mfa: false,
            valid_courses: &courses,
            trained: false,
        },
        &req,
    );
    assert!(d.to_string().contains("multi-factor"), "{d}");
}

#[test]
fn role_mfa_and_administrative_are_derived() {
    let (s, p) = setup();
    // (role, needs MFA, administrative)
    let table = [
        ("cs_agent", true, false),
        ("risk_analyst", true, false),
        ("marketing_specialist", true, false),
        ("data_steward", true, false),
        ("privacy_officer", true, false),
        // Accounts and keys hand out access: MFA, though no personal data.
        ("administrator", true, true),
    ];
    for (id, mfa, admin) in table {
        let r = p.role(id).unwrap_or_else(|| panic!("built-in role {id}"));
        assert_eq!(r.requires_mfa, mfa, "{id} requires_mfa");
        assert_eq!(r.administrative, admin, "{id} administrative");
    }
    assert_eq!(p.roles().len(), table.len(), "every built-in role is in the table");
    let custom = |actions: &str| {
        let toml = format!("version = 1\n[[roles]]\nid = \"r\"\nname_en = \"R\"\nname_zh = \"R\"\n  [[roles.grants]]\n  actions = [{actions}]\n");
        let p = Policy::from_toml(&toml, &s).unwrap_or_else(|e| panic!("{actions}: {e:?}"));
        let r = p.role("r").unwrap().clone();
        (r.requires_mfa, r.administrative)
    };
    assert_eq!(custom("\"read_audit\""), (false, true));
    assert_eq!(custom("\"manage_keys\", \"read_audit\""), (true, true));
    assert_eq!(custom("\"verify_identity\""), (false, false));
    assert_eq!(custom("\"manage_training\""), (true, false));
    assert_eq!(custom("\"review_access\""), (true, false));
}

#[test]
fn bad_policies_report_every_error_with_its_line() {
    let s = Schema::default_schema();
    let text = r#"version = 1
[[roles]]
id = "a"
  [[roles.grants]]
  actions = ["reveal", "fly"]
  fields = ["mobile", "shoe_size", "class:secret"]
  purposes = ["gossip"]
  scope = { mobile = ["x"] }
[[roles]]
id = "a"
  [[roles.grants]]
  actions = ["read_audit", "reveal"]
  fields = ["*"]
  purposes = ["marketing"]
"#;
    let errs = Policy::from_toml(text, &s).unwrap_err();
    let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    for want in [
        "line 5: unknown action \"fly\"",
        "line 6: unknown field or class \"shoe_size\"",
        "line 6: unknown field or class \"class:secret\"",
        "line 7: unknown purpose \"gossip\"",
        "scope attribute \"mobile\" is not an internal field",
        "line 10: role \"a\" is declared twice",
        "line 12: a grant mixes data and administration actions",
    ] {
        assert!(got.iter().any(|g| g.contains(want)), "missing {want:?} in {got:#?}");
    }
    let e = Policy::from_toml("version = 1\n[[roles]]\nid = \"x\"\nbogus = 1\n", &s).unwrap_err();
    assert_eq!(e[0].line, 4, "{e:?}");
    let e = Policy::from_toml("version = [", &s).unwrap_err();
    assert_eq!(e[0].line, 1);
    let e = Policy::from_toml(
        "version = 1\n[[roles]]\nid = \"x\"\n  [[roles.grants]]\n  actions = [\"reveal\"]\n",
        &s,
    )
    .unwrap_err();
    assert!(e[0].message.contains("needs fields and purposes"), "{e:?}");
}

#[test]
fn courses_as_tables_or_plain_ids() {
    let s = Schema::default_schema();
    let (_, p) = setup();
    let c = p.course("privacy_basics").unwrap();
    assert_eq!((c.pass_mark, c.valid_days), (80, 365));
    assert!(p.passes("privacy_basics", 80));
    assert!(!p.passes("privacy_basics", 79));
    assert!(!p.passes("no_such_course", 100));
    // Policy files written before courses had tables keep loading.
    let old = "version = 1\n[training]\ncourses = [\"privacy_basics\", \"aml\"]\nrequired_for = [\"reveal\"]\n";
    let p = Policy::from_toml(old, &s).unwrap();
    let c = p.course("aml").unwrap();
    assert_eq!((c.pass_mark, c.valid_days), (DEFAULT_PASS_MARK, DEFAULT_VALID_DAYS));
    assert_eq!(p.courses_for(Permission::Reveal).len(), 2);
    assert!(p.courses_for(Permission::Export).is_empty());
    // Bad courses are reported with their line.
    let bad = "version = 1\n[training]\nrequired_for = [\"reveal\"]\n[[training.courses]]\nid = \"x y\"\npass_mark = 101\nvalid_days = 0\n";
    let errs: Vec<String> = Policy::from_toml(bad, &s)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    for want in [
        "must be 1-64 letters",
        "pass_mark must be 0-100",
        "valid_days must be 1-3660",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(want) && e.starts_with("line ")),
            "{want}: {errs:?}"
        );
    }
    let none = "version = 1\n[training]\nrequired_for = [\"reveal\"]\n";
    assert!(Policy::from_toml(none, &s).is_err());
}

#[test]
fn separation_of_duties_defaults_and_overrides() {
    use crate::rights::RequestKind::*;
    let s = Schema::default_schema();
    let (_, p) = setup();
    assert_eq!(
        p.separation().verifier_cannot_complete,
        vec![Access, Portability, Erasure]
    );
    // Policies without the section get the default.
    let p = Policy::from_toml("version = 1\n", &s).unwrap();
    assert_eq!(
        p.separation().verifier_cannot_complete,
        vec![Access, Portability, Erasure]
    );
    let p = Policy::from_toml(
        "version = 1\n[separation_of_duties]\nverifier_cannot_complete = []\n",
        &s,
    )
    .unwrap();
    assert!(p.separation().verifier_cannot_complete.is_empty());
    let e = Policy::from_toml(
        "version = 1\n[separation_of_duties]\nverifier_cannot_complete = [\"erasure\", \"nap\"]\n",
        &s,
    )
    .unwrap_err();
    assert!(e[0].to_string().contains("unknown request kind \"nap\""), "{e:?}");
}

#[test]
fn who_sees_which_customers() {
    let (_, p) = setup();
    let service = attrs("service");
    let risk = attrs("risk");
    // Agents see their departments only; the officer and the steward every
    // customer; the administrator none.
    assert!(p.sees(&roles(&["cs_agent"]), Some(&service)));
    assert!(!p.sees(&roles(&["cs_agent"]), Some(&risk)));
    assert!(!p.sees(&roles(&["cs_agent"]), None));
    assert!(p.sees(&roles(&["privacy_officer"]), Some(&risk)));
    assert!(p.sees(&roles(&["data_steward"]), None));
    assert!(!p.sees(&roles(&["administrator"]), Some(&service)));
    assert!(!p.sees(&[], Some(&service)));
    assert!(p.grants(&roles(&["administrator"]), Permission::ManageAccounts));
    assert!(!p.grants(&roles(&["administrator"]), Permission::ManagePolicy));
    assert!(!p.grants(&roles(&["privacy_officer"]), Permission::ManageAccounts));
    assert!(p.grants(&roles(&["cs_agent"]), Permission::VerifyIdentity));
    assert!(!p.grants(&roles(&["cs_agent"]), Permission::HandleRequests));
}

#[test]
fn default_roles_keep_duties_apart() {
    let (s, p) = setup();
    // No built-in role both manages accounts and touches customer data or
    // the policy.
    for role in p.roles() {
        let admin = role
            .grants
            .iter()
            .any(|g| g.permissions.contains(&Permission::ManageAccounts));
        let data = role.grants.iter().any(|g| g.permissions.iter().any(|x| x.is_data()));
        let policy = role
            .grants
            .iter()
            .any(|g| g.permissions.contains(&Permission::ManagePolicy));
        assert!(
            !(admin && (data || policy)),
            "role {} mixes administration with data or policy",
            role.id
        );
    }
    // The officer can do every part of every request kind.
    let officer = roles(&["privacy_officer"]);
    let dsr = Purpose::new("data_subject_request").unwrap();
    let courses = roles(&["privacy_basics"]);
    let who = Subject {
        roles: &officer,
        mfa: true,
        valid_courses: &courses,
        trained: false,
    };
    for f in s.fields() {
        for perm in [Permission::Reveal, Permission::Write, Permission::Delete] {
            if perm == Permission::Reveal && f.classification == Classification::Internal {
                continue;
            }
            let d = p.decide(
                &who,
                &Request {
                    permission: perm,
                    field: Some((&f.name, f.classification)),
                    attrs: None,
                    purpose: Some(&dsr),
                },
            );
            assert!(d.allowed, "{perm} of {}: {d}", f.name);
        }
    }
    for perm in [Permission::Delete, Permission::RecordConsent] {
        let d = p.decide(
            &who,
            &Request {
                permission: perm,
                field: None,
                attrs: None,
                purpose: Some(&dsr),
            },
        );
        assert!(d.allowed, "{perm}: {d}");
    }
}
