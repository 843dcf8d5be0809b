//! Principals and purposes for the vault's own tests. Each test acts as a
//! principal with roles from the default policy, as a real caller would.

use crate::access::authz::{Principal, Who};
use crate::{Access, Vault};
use custodia_core::{CustomerId, Purpose};

/// The local operator with the roles `init` gives (data steward, privacy
/// officer, administrator).
pub(crate) fn op() -> Principal {
    operator("tester", &["data_steward", "privacy_officer", "administrator"])
}

/// A second operator with the same roles (a second person, for separation
/// of duties).
pub(crate) fn op2() -> Principal {
    operator("second", &["data_steward", "privacy_officer", "administrator"])
}

/// An operator with these roles.
pub(crate) fn operator(name: &str, roles: &[&str]) -> Principal {
    Principal(Who::Operator {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    })
}

/// A staff member signed in, with or without MFA and valid training.
pub(crate) fn staff(account: &str, roles: &[&str], mfa: bool, trained: bool) -> Principal {
    Principal(Who::Staff {
        account: account.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        mfa,
        mfa_at_ms: mfa.then(crate::now_ms),
        courses: if trained {
            vec!["privacy_basics".into()]
        } else {
            Vec::new()
        },
    })
}

/// A service account's token with every scope its roles allow.
pub(crate) fn service(account: &str, roles: &[&str]) -> Principal {
    Principal(Who::Service {
        account: account.into(),
        token: "tok_test".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        scopes: custodia_core::policy::Permission::ALL.to_vec(),
    })
}

/// A customer in the portal.
pub(crate) fn customer(id: CustomerId) -> Principal {
    Principal(Who::Customer {
        customer: id,
        code_from: "staff:agent".into(),
    })
}

/// A customer in the portal whose code `from` sent.
pub(crate) fn customer_via(id: CustomerId, from: &str) -> Principal {
    Principal(Who::Customer {
        customer: id,
        code_from: from.into(),
    })
}

/// A purpose of the default catalog.
pub(crate) fn purpose(s: &str) -> Purpose {
    Purpose::new(s).expect("a purpose id")
}

/// Records are collected for the contract.
pub(crate) fn cp() -> Purpose {
    purpose("contract_performance")
}

/// The purpose that sees every field (answering the customer).
pub(crate) fn dsr() -> Purpose {
    purpose("data_subject_request")
}

/// Destruction for retention and the law.
pub(crate) fn legal() -> Purpose {
    purpose("legal_obligation")
}

/// A masked read of every field (for the customer's own request).
pub(crate) fn masked() -> Access {
    Access::masked(dsr())
}

/// A reveal of every field the purpose allows.
pub(crate) fn reveal(v: &Vault, p: &str) -> Access {
    v.access(Some(p), true, None).expect("a purpose of the catalog")
}

/// A caller the policy allows everything (break-glass): for tests of the
/// notice and consent rules, which apply to every caller alike.
pub(crate) fn unrestricted() -> Principal {
    Principal(Who::BreakGlass {
        admin: "test-admin".into(),
        token: "tok_test".into(),
    })
}

/// Approve every pending change as a second person (`op2()`, or `op()`
/// for what `op2()` asked for), the way a company's second administrator
/// would.
pub(crate) fn approve_all(v: &Vault) {
    for a in v.approvals(&op(), true).unwrap() {
        let second = if a.requested_by == "operator:second" {
            op()
        } else {
            op2()
        };
        v.approve(&second, &a.id).unwrap();
    }
}
