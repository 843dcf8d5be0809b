//! Periodic access reviews: which grants each account holds, how they were
//! used (from the audit log), what looks wrong, and a campaign in which a
//! reviewer certifies or revokes every role assignment.

use crate::{now_ms, Vault, VaultError};
use custodia_core::accounts::AccountKind;
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::policy::Permission;
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation, ReviewItem};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One grant held by one account, with its use.
#[derive(Debug, Clone, Serialize)]
pub struct GrantUse {
    /// Account.
    pub account: String,
    /// Role.
    pub role: String,
    /// Grant number within the role.
    pub grant: usize,
    /// Policy line of the grant.
    pub line: usize,
    /// What it allows.
    pub permissions: Vec<String>,
    /// On which fields.
    pub fields: Vec<String>,
    /// For which customers.
    pub scope: String,
    /// For which purposes.
    pub purposes: Vec<String>,
    /// Last use (RFC 3339), if any.
    pub last_use: Option<String>,
    /// Uses found in the audit log.
    pub uses: u64,
    /// Permissions of the grant never used.
    pub unused_permissions: Vec<String>,
    /// Purposes of the grant never used.
    pub unused_purposes: Vec<String>,
    /// `unused` (no use within the window), `broader_than_use`.
    pub flags: Vec<String>,
}

/// Problems of an account as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct AccountFinding {
    /// Account.
    pub account: String,
    /// `mfa_missing`, `training_expired`, `disabled`.
    pub flags: Vec<String>,
}

/// The review report.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    /// When it was made.
    pub generated_at: String,
    /// The unused-grant window in days.
    pub unused_days: i64,
    /// Every grant of every account.
    pub grants: Vec<GrantUse>,
    /// Accounts with problems.
    pub accounts: Vec<AccountFinding>,
}

fn permission_of(action: Action) -> Option<Permission> {
    Some(match action {
        Action::Read | Action::Search => Permission::ReadMasked,
        Action::Reveal => Permission::Reveal,
        Action::Create | Action::Update => Permission::Write,
        Action::Delete => Permission::Delete,
        Action::Export => Permission::Export,
        Action::KeyRotate => Permission::ManageKeys,
        Action::Account | Action::Mfa | Action::TokenIssue => Permission::ManageAccounts,
        Action::Training => Permission::ManageTraining,
        Action::Review => Permission::ReviewAccess,
        _ => return None,
    })
}

/// The account an audit actor stands for (`service:NAME/tok…`, `staff:NAME`).
fn account_of(actor: &str) -> Option<&str> {
    actor
        .strip_prefix("service:")
        .map(|r| r.split('/').next().unwrap_or(r))
        .or_else(|| actor.strip_prefix("staff:"))
}

impl Vault {
    /// Build the access-review report, flagging grants unused for `unused_days`.
    pub fn review_report(
        &self,
        p: &crate::access::authz::Principal,
        unused_days: i64,
    ) -> Result<ReviewReport, VaultError> {
        self.require_any_admin(
            p,
            &[
                custodia_core::policy::Permission::ReviewAccess,
                custodia_core::policy::Permission::ReadAudit,
            ],
        )?;
        let now = now_ms();
        let cutoff = now - unused_days * 86_400_000;
        let accounts = self.store().accounts()?;
        // (account, role, grant index) -> (uses, last ms, permissions used, purposes used)
        type Use = (u64, i64, BTreeSet<Permission>, BTreeSet<String>);
        let mut used: BTreeMap<(String, String, usize), Use> = BTreeMap::new();
        let roles_of: BTreeMap<&str, &Vec<String>> = accounts.iter().map(|a| (a.name.as_str(), &a.roles)).collect();
        let mut from = 1u64;
        loop {
            let page = self.store().audit_range(from, 10_000)?;
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            for e in &page {
                if e.event.outcome != custodia_core::audit::Outcome::Ok {
                    continue;
                }
                let (Some(name), Some(perm)) = (account_of(&e.event.actor), permission_of(e.event.action)) else {
                    continue;
                };
                let Some(roles) = roles_of.get(name) else { continue };
                'roles: for role_id in roles.iter() {
                    let Some(role) = self.policy().role(role_id) else {
                        continue;
                    };
                    for (i, g) in role.grants.iter().enumerate() {
                        let purpose_ok = e
                            .event
                            .purpose
                            .as_ref()
                            .is_none_or(|p| g.purposes.is_empty() || g.purposes.contains(p));
                        if g.permissions.contains(&perm) && purpose_ok {
                            let u = used.entry((name.to_owned(), role_id.clone(), i)).or_default();
                            u.0 += 1;
                            u.1 = u.1.max(e.event.ts_ms);
                            u.2.insert(perm);
                            if let Some(p) = &e.event.purpose {
                                u.3.insert(p.to_string());
                            }
                            break 'roles;
                        }
                    }
                }
            }
        }
        let mut grants = Vec::new();
        let mut findings = Vec::new();
        for a in &accounts {
            let mut flags = Vec::new();
            if a.disabled {
                flags.push("disabled".to_owned());
            }
            let needs_mfa = a
                .roles
                .iter()
                .any(|r| self.policy().role(r).is_some_and(|r| r.requires_mfa));
            if a.kind == AccountKind::Staff && needs_mfa && a.mfa_secret.is_none() {
                flags.push("mfa_missing".to_owned());
            }
            if a.kind == AccountKind::Staff {
                let valid: BTreeSet<String> = self.valid_courses(&a.name)?.into_iter().collect();
                let required: BTreeSet<&String> = Permission::ALL
                    .iter()
                    .flat_map(|p| self.policy().courses_for(*p))
                    .map(|c| &c.id)
                    .collect();
                let gated = a.roles.iter().filter_map(|r| self.policy().role(r)).any(|r| {
                    r.grants
                        .iter()
                        .any(|g| g.permissions.iter().any(|p| !self.policy().courses_for(*p).is_empty()))
                });
                if gated && required.iter().any(|c| !valid.contains(*c)) {
                    flags.push("training_expired".to_owned());
                }
            }
            if !flags.is_empty() {
                findings.push(AccountFinding {
                    account: a.name.clone(),
                    flags,
                });
            }
            for role_id in &a.roles {
                let Some(role) = self.policy().role(role_id) else {
                    continue;
                };
                for (i, g) in role.grants.iter().enumerate() {
                    let u = used.get(&(a.name.clone(), role_id.clone(), i));
                    let (uses, last, perms, purposes) = match u {
                        Some((n, l, p, q)) => (*n, Some(*l), p.clone(), q.clone()),
                        None => (0, None, BTreeSet::new(), BTreeSet::new()),
                    };
                    let unused_permissions: Vec<String> = g
                        .permissions
                        .iter()
                        .filter(|p| !perms.contains(p))
                        .map(|p| p.to_string())
                        .collect();
                    let unused_purposes: Vec<String> = g
                        .purposes
                        .iter()
                        .filter(|p| !purposes.contains(p.as_str()))
                        .map(|p| p.to_string())
                        .collect();
                    let mut flags = Vec::new();
                    if last.is_none_or(|l| l < cutoff) {
                        flags.push("unused".to_owned());
                    } else if !unused_permissions.is_empty() || !unused_purposes.is_empty() {
                        flags.push("broader_than_use".to_owned());
                    }
                    grants.push(GrantUse {
                        account: a.name.clone(),
                        role: role_id.clone(),
                        grant: i + 1,
                        line: g.line,
                        permissions: g.permissions.iter().map(|p| p.to_string()).collect(),
                        fields: g.fields.iter().map(|f| f.to_string()).collect(),
                        scope: if g.scope.is_empty() {
                            "all customers".into()
                        } else {
                            g.scope
                                .iter()
                                .map(|(k, v)| format!("{k} in [{}]", v.join(", ")))
                                .collect::<Vec<_>>()
                                .join("; ")
                        },
                        purposes: g.purposes.iter().map(|p| p.to_string()).collect(),
                        last_use: last.map(crate::records::input::rfc3339),
                        uses,
                        unused_permissions,
                        unused_purposes,
                        flags,
                    });
                }
            }
        }
        Ok(ReviewReport {
            generated_at: crate::records::input::rfc3339(now),
            unused_days,
            grants,
            accounts: findings,
        })
    }

    /// Open a review campaign over every (account, role) assignment.
    pub fn start_review(&self, p: &crate::access::authz::Principal) -> Result<(String, Vec<ReviewItem>), VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReviewAccess)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let mut b = [0u8; 4];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        let id = format!(
            "rev_{}_{}",
            chrono::Utc::now().format("%Y%m%d"),
            custodia_core::audit::to_hex(&b)
        );
        let items: Vec<ReviewItem> = self
            .store()
            .accounts()?
            .into_iter()
            .flat_map(|a| {
                let id = id.clone();
                a.roles.into_iter().map(move |r| ReviewItem {
                    campaign: id.clone(),
                    account: a.name.clone(),
                    role: r,
                    decision: None,
                    decided_by: None,
                    decided_ms: None,
                    note: None,
                })
            })
            .collect();
        let mut e = AuditEvent::new(now_ms(), actor, Action::Review);
        e.detail = Some(format!("campaign {id} opened with {} role assignments", items.len()));
        self.apply_one(vec![Mutation::PutCampaign {
            id: id.clone(),
            created_by: actor.to_owned(),
            created_ms: now_ms(),
            items: items.clone(),
            events: vec![e],
        }])?;
        Ok((id, items))
    }

    /// Certify or revoke one role assignment of a campaign. Revoking
    /// removes the role from the account in the same transaction.
    pub fn decide_review(
        &self,
        p: &crate::access::authz::Principal,
        campaign: &str,
        account: &str,
        role: &str,
        certify: bool,
        note: Option<&str>,
    ) -> Result<(), VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReviewAccess)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let open = self
            .store()
            .review_items(campaign)?
            .into_iter()
            .find(|i| i.account == account && i.role == role);
        let Some(mut item) = open else {
            return Err(VaultError::NotFound(format!(
                "review item {account}/{role} in {campaign}"
            )));
        };
        if item.decision.is_some() {
            return Err(VaultError::Input("this item is decided already".into()));
        }
        if p.person() == Some(account) || p.account() == Some(account) {
            return Err(self.forbid(
                p,
                None,
                "nobody reviews their own access; another reviewer decides this item",
            ));
        }
        if !certify && self.leaves_no_administrator(account, role)? {
            return Err(VaultError::Input(format!(
                "{account} is the last working administrator; create another before revoking {role}"
            )));
        }
        let decision = if certify { "certify" } else { "revoke" };
        item.decision = Some(decision.into());
        item.decided_by = Some(actor.into());
        item.decided_ms = Some(now_ms());
        item.note = note.map(str::to_owned);
        let mut e = AuditEvent::new(now_ms(), actor, Action::Review);
        e.detail = Some(format!("{campaign}: {decision} role {role} of {account}"));
        let mut events = vec![e];
        let account_after = if certify {
            None
        } else {
            let mut a = self
                .store()
                .account(account)?
                .ok_or_else(|| VaultError::NotFound(format!("account {account:?}")))?;
            a.roles.retain(|r| r != role);
            a.updated_ms = now_ms();
            let mut e = AuditEvent::new(now_ms(), actor, Action::Account);
            e.detail = Some(format!(
                "role {role} removed from {account} by access review {campaign}"
            ));
            events.push(e);
            Some(Box::new(a))
        };
        for r in self.store().apply(vec![Mutation::DecideReview {
            item,
            account: account_after,
            events,
        }])? {
            match r? {
                Applied::Done => {}
                _ => return Err(VaultError::Input("this item is decided already".into())),
            }
        }
        Ok(())
    }

    /// Every campaign, newest first, with how far it got.
    pub fn review_campaigns(
        &self,
        p: &crate::access::authz::Principal,
    ) -> Result<Vec<custodia_store::CampaignSummary>, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReviewAccess)?;
        Ok(self.store().review_campaigns()?)
    }

    /// The access policy, for those who review or change it.
    pub fn policy_for(
        &self,
        p: &crate::access::authz::Principal,
    ) -> Result<&custodia_core::policy::Policy, VaultError> {
        self.require_any_admin(p, &[Permission::ReviewAccess, Permission::ManagePolicy])?;
        Ok(self.policy())
    }

    /// The items of a campaign.
    pub fn review_items(
        &self,
        p: &crate::access::authz::Principal,
        campaign: &str,
    ) -> Result<Vec<ReviewItem>, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ReviewAccess)?;
        let items = self.store().review_items(campaign)?;
        if items.is_empty() {
            return Err(VaultError::NotFound(format!("campaign {campaign:?}")));
        }
        Ok(items)
    }
}
