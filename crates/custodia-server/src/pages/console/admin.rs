//! The administrator's pages: accounts through their whole life (invite —
//! the person enrolls through their own link —, disable and enable,
//! unlock, roles and MFA resets that wait for a second person's approval),
//! service accounts and their tokens (shown once, revocable), and the
//! approvals waiting. Each form calls the vault operation the API and CLI
//! call, which decides whether this caller may.

use crate::pages::desk::{all, csrf_form, no_store, one, Ctx, Desk, Posted};
use crate::pages::i18n::{fill, Text};
use crate::pages::{render, Layout};
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custodia_core::accounts::{AccountKind, LinkKind};
use custodia_vault::access::identity::AccountView;
use custodia_vault::access::staff::ApprovalView;
use custodia_vault::VaultError;
use serde::Deserialize;
use zeroize::Zeroizing;

/// A role to choose: (id, label, chosen).
type RoleChoice = (String, String, bool);

fn role_choices(c: &Ctx, chosen: &[String]) -> Vec<RoleChoice> {
    c.s.vault
        .policy()
        .roles()
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                c.lang.pick(&r.name_en, &r.name_zh).to_owned(),
                chosen.contains(&r.id),
            )
        })
        .collect()
}

/// An approval as a row: (id, what, account, roles, requested by, when).
fn approval_row(a: &ApprovalView) -> (String, String, String, String, String, String) {
    (
        a.id.clone(),
        a.kind.as_str().to_owned(),
        a.account.clone(),
        a.roles.join(", "),
        a.requested_by.clone(),
        a.requested_at.clone(),
    )
}

/// What the last form did.
#[derive(Default)]
struct Said {
    error: Option<String>,
    done: Option<String>,
}

impl Said {
    fn done(m: String) -> Said {
        Said {
            done: Some(m),
            error: None,
        }
    }

    fn error(m: String) -> Said {
        Said {
            error: Some(m),
            done: None,
        }
    }

    fn status(&self) -> StatusCode {
        if self.error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct AccountsPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    accounts: Vec<AccountView>,
    roles: Vec<RoleChoice>,
    approvals: Vec<(String, String, String, String, String, String)>,
    said: Said,
}

fn accounts_page(c: &Ctx, said: Said) -> Response {
    let t = c.t;
    let v = &c.s.vault;
    let accounts = match v.accounts(&c.p) {
        Ok(a) => a.into_iter().filter(|a| !a.deleted).collect(),
        Err(e) => return c.refusal(&t.admin.title, &e),
    };
    let approvals = v
        .approvals(&c.p, true)
        .map(|l| l.iter().map(approval_row).collect())
        .unwrap_or_default();
    let status = said.status();
    let page = AccountsPage {
        page: c.layout(&t.admin.title).wide(),
        t,
        csrf: c.sess.csrf.clone(),
        accounts,
        roles: role_choices(c, &[]),
        approvals,
        said,
    };
    no_store(render(&page, status))
}

/// GET /console/accounts: every account, the approvals waiting, and the
/// forms to invite a person or create a service account.
pub async fn accounts(desk: Desk) -> Response {
    desk.page(|c| accounts_page(c, Said::default())).await
}

/// POST /console/accounts: invite a staff member (a setup link goes to
/// their address; they choose the password and enroll MFA themselves) or
/// create a service account. Data roles wait for a second person.
/// The form's fields: `kind`, `name`, `email`, and `role` once per role.
pub async fn create(post: Posted<Vec<(String, String)>>) -> Response {
    post.run(|c, f| {
        let v = &c.s.vault;
        let name = one(&f, "name").trim();
        let roles = all(&f, "role");
        let made = match one(&f, "kind") {
            "staff" => v.invite_staff(&c.p, name, &roles, one(&f, "email").trim()),
            "service" => v.create_account(&c.p, name, AccountKind::Service, &roles, None),
            _ => Err(VaultError::Input("kind is staff or service".into())),
        };
        match made {
            Ok(a) => {
                let msg = match (&a.kind, &a.email) {
                    (AccountKind::Staff, Some(to)) => fill(&c.t.admin.invited, &[("name", &a.name), ("to", to)]),
                    _ => fill(&c.t.admin.created, &[("name", &a.name)]),
                };
                accounts_page(c, Said::done(msg))
            }
            Err(e) => accounts_page(c, Said::error(c.detail(&e))),
        }
    })
    .await
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    a: AccountView,
    service: bool,
    roles: Vec<RoleChoice>,
    /// (id, expires, revoked)
    tokens: Vec<(String, String, bool)>,
    /// A token just issued: shown on this page once, never again.
    issued: Option<Zeroizing<String>>,
    said: Said,
}

fn account_page(c: &Ctx, name: &str, said: Said, issued: Option<Zeroizing<String>>) -> Response {
    let t = c.t;
    let v = &c.s.vault;
    let found = v
        .accounts(&c.p)
        .map(|l| l.into_iter().find(|a| a.name == name && !a.deleted));
    let a = match found {
        Ok(Some(a)) => a,
        Ok(None) => {
            return c.refusal(
                &t.admin.title_account,
                &VaultError::NotFound(format!("account {name:?}")),
            )
        }
        Err(e) => return c.refusal(&t.admin.title_account, &e),
    };
    let tokens = v
        .tokens(&c.p)
        .map(|l| {
            l.into_iter()
                .filter(|x| x.account == a.name)
                .map(|x| (x.id, x.expires_at, x.revoked))
                .collect()
        })
        .unwrap_or_default();
    let status = said.status();
    let page = AccountPage {
        page: c.layout(&t.admin.title_account),
        t,
        csrf: c.sess.csrf.clone(),
        service: a.kind == AccountKind::Service,
        roles: role_choices(c, &a.roles),
        tokens,
        issued,
        said,
        a,
    };
    no_store(render(&page, status))
}

/// GET /console/accounts/{name}: one account and what can be done to it.
pub async fn account(Path(name): Path<String>, desk: Desk) -> Response {
    desk.page(move |c| account_page(c, &name, Said::default(), None)).await
}

csrf_form!(ApprovalForm);

/// POST /console/accounts/{name}/{action}: disable (with a reason),
/// enable, unlock, reset-mfa (waits for approval), setup-link, roles
/// (added grants wait for approval), token (issue; shown once), revoke.
/// The form's fields: `reason`, `role` once per role, `days`, `token`.
pub async fn account_action(
    Path((name, action)): Path<(String, String)>,
    post: Posted<Vec<(String, String)>>,
) -> Response {
    post.run(move |c, f| {
        let (v, p, t) = (&c.s.vault, &c.p, c.t);
        let reason = Some(one(&f, "reason").trim()).filter(|r| !r.is_empty());
        let token = one(&f, "token").trim();
        let mut issued = None;
        let done: Result<String, VaultError> = match action.as_str() {
            "disable" => v
                .set_disabled(p, &name, true, reason)
                .map(|_| t.admin.disabled_done.clone()),
            "enable" => v
                .set_disabled(p, &name, false, None)
                .map(|_| t.admin.enabled_done.clone()),
            "unlock" => v.unlock(p, &name).map(|_| t.admin.unlocked_done.clone()),
            "reset-mfa" => v.request_mfa_reset(p, &name).map(|_| t.admin.waiting.clone()),
            "setup-link" => v
                .send_link(p, &name, LinkKind::Setup)
                .map(|s| fill(&t.admin.link_sent, &[("to", &s.to), ("until", &s.expires_at)])),
            "roles" => v.set_roles(p, &name, &all(&f, "role")).map(|a| {
                if a.pending_approvals.is_empty() {
                    t.admin.roles_done.clone()
                } else {
                    t.admin.waiting.clone()
                }
            }),
            "token" => match one(&f, "days").trim().parse::<u32>() {
                Ok(days) => v.issue_token(p, &name, &[], days).map(|tok| {
                    issued = Some(tok.token.clone());
                    fill(&t.admin.token_done, &[("id", &tok.id), ("until", &tok.expires_at)])
                }),
                Err(_) => Err(VaultError::Input("days: a whole number of days, 1 to 366".into())),
            },
            "revoke" => v
                .revoke_token(p, token)
                .map(|_| fill(&t.admin.revoked_done, &[("id", token)])),
            _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
        };
        match done {
            Ok(m) => account_page(c, &name, Said::done(m), issued),
            Err(e) => account_page(c, &name, Said::error(c.detail(&e)), None),
        }
    })
    .await
}

/// An approval's form.
#[derive(Deserialize)]
pub struct ApprovalForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// POST /console/approvals/{id}/{approve|reject}: the second person's
/// decision (the vault refuses the one who asked).
pub async fn decide(Path((id, action)): Path<(String, String)>, post: Posted<ApprovalForm>) -> Response {
    post.run(move |c, f| {
        let v = &c.s.vault;
        let note = Some(f.note.trim()).filter(|n| !n.is_empty());
        let r = match action.as_str() {
            "approve" => v.approve(&c.p, &id),
            "reject" => v.reject(&c.p, &id, note),
            _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
        };
        match r {
            Ok(a) => {
                let msg = fill(
                    &c.t.admin.decided,
                    &[
                        ("kind", a.kind.as_str()),
                        ("name", &a.account),
                        ("state", a.state.as_str()),
                    ],
                );
                accounts_page(c, Said::done(msg))
            }
            Err(e) => accounts_page(c, Said::error(c.detail(&e))),
        }
    })
    .await
}
