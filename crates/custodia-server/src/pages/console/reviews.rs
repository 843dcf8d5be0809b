//! Access reviews and the policy: campaigns in which a reviewer certifies
//! or revokes every role assignment (nobody their own), the findings of
//! the review report (unused grants, missing MFA, expired training), the
//! roles × grants table and the explain tool. All through the vault's
//! review and explain operations, which need `review_access` (the table
//! and explain also `manage_policy`).

use crate::pages::desk::{csrf_form, no_store, Ctx, Desk, Posted};
use crate::pages::i18n::{fill, Text};
use crate::pages::{render, Layout};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custodia_core::policy::Permission;
use custodia_vault::VaultError;
use serde::Deserialize;

/// A campaign row: (id, opened by, opened at, "n of m decided").
type CampaignRow = (String, String, String, String);

#[derive(Template)]
#[template(path = "console/reviews.html")]
struct ReviewsPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    campaigns: Vec<CampaignRow>,
    /// (account, flags)
    accounts: Vec<(String, String)>,
    /// (account, role, grant, flags, last use)
    grants: Vec<(String, String, usize, String, String)>,
    error: Option<String>,
}

fn reviews_page(c: &Ctx, error: Option<String>) -> Response {
    let t = c.t;
    let v = &c.s.vault;
    let campaigns = match v.review_campaigns(&c.p) {
        Ok(l) => l,
        Err(e) => return c.refusal(&t.reviews.title, &e),
    };
    let report = v.review_report(&c.p, 90).ok();
    let page = ReviewsPage {
        page: c.layout(&t.reviews.title).wide(),
        t,
        csrf: c.sess.csrf.clone(),
        campaigns: campaigns
            .into_iter()
            .map(|x| {
                (
                    x.id,
                    x.created_by,
                    custodia_vault::records::input::rfc3339(x.created_ms),
                    fill(
                        &t.reviews.progress,
                        &[("n", &x.decided.to_string()), ("m", &x.items.to_string())],
                    ),
                )
            })
            .collect(),
        accounts: report
            .as_ref()
            .map(|r| {
                r.accounts
                    .iter()
                    .map(|a| (a.account.clone(), a.flags.join(", ")))
                    .collect()
            })
            .unwrap_or_default(),
        grants: report
            .as_ref()
            .map(|r| {
                r.grants
                    .iter()
                    .filter(|g| !g.flags.is_empty())
                    .map(|g| {
                        (
                            g.account.clone(),
                            g.role.clone(),
                            g.grant,
                            g.flags.join(", "),
                            g.last_use.clone().unwrap_or_else(|| t.reviews.never.clone()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        error: error.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    no_store(render(&page, status))
}

/// GET /console/reviews: campaigns and what the review report found.
pub async fn reviews(desk: Desk) -> Response {
    desk.page(|c| reviews_page(c, None)).await
}

/// A form with only its token.
#[derive(Deserialize)]
pub struct TokenOnly {
    csrf: String,
}

/// The decision on one assignment.
#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    account: String,
    role: String,
    decision: String,
    #[serde(default)]
    note: String,
}

csrf_form!(TokenOnly, DecideForm);

/// POST /console/reviews: open a campaign over every role assignment.
pub async fn start(post: Posted<TokenOnly>) -> Response {
    post.run(|c, _| match c.s.vault.start_review(&c.p) {
        Ok((id, _)) => Redirect::to(&format!("/console/reviews/{id}")).into_response(),
        Err(e) => reviews_page(c, Some(c.detail(&e))),
    })
    .await
}

/// One assignment of a campaign.
struct ItemRow {
    account: String,
    role: String,
    decision: Option<String>,
    decided_by: String,
    note: String,
}

#[derive(Template)]
#[template(path = "console/review.html")]
struct ReviewPage {
    page: Layout,
    t: &'static Text,
    csrf: String,
    id: String,
    items: Vec<ItemRow>,
    error: Option<String>,
    done: Option<String>,
}

fn review_page(c: &Ctx, id: &str, error: Option<String>, done: Option<String>) -> Response {
    let t = c.t;
    let items = match c.s.vault.review_items(&c.p, id) {
        Ok(i) => i,
        Err(e) => return c.refusal(&t.reviews.title_campaign, &e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ReviewPage {
        page: c.layout(&t.reviews.title_campaign).wide(),
        t,
        csrf: c.sess.csrf.clone(),
        id: id.to_owned(),
        items: items
            .into_iter()
            .map(|i| ItemRow {
                account: i.account,
                role: i.role,
                decision: i.decision,
                decided_by: i.decided_by.unwrap_or_default(),
                note: i.note.unwrap_or_default(),
            })
            .collect(),
        error,
        done,
    };
    no_store(render(&page, status))
}

/// GET /console/reviews/{id}: every assignment of a campaign.
pub async fn campaign(Path(id): Path<String>, desk: Desk) -> Response {
    desk.page(move |c| review_page(c, &id, None, None)).await
}

/// POST /console/reviews/{id}/decide: certify or revoke one assignment
/// (revoking removes the role at once; nobody decides their own).
pub async fn decide(Path(id): Path<String>, post: Posted<DecideForm>) -> Response {
    post.run(move |c, f| {
        let certify = match f.decision.as_str() {
            "certify" => true,
            "revoke" => false,
            _ => {
                let e = VaultError::Input("decision is certify or revoke".into());
                return review_page(c, &id, Some(c.detail(&e)), None);
            }
        };
        let note = Some(f.note.trim()).filter(|n| !n.is_empty());
        match c.s.vault.decide_review(&c.p, &id, &f.account, &f.role, certify, note) {
            Ok(()) => {
                let msg = fill(
                    &c.t.reviews.decided,
                    &[("account", &f.account), ("role", &f.role), ("decision", &f.decision)],
                );
                review_page(c, &id, None, Some(msg))
            }
            Err(e @ VaultError::NotFound(_)) => c.refusal(&c.t.reviews.title_campaign, &e),
            Err(e) => review_page(c, &id, Some(c.detail(&e)), None),
        }
    })
    .await
}

/// One grant as a row of the policy table.
struct GrantRow {
    role: String,
    role_name: String,
    grant: usize,
    line: usize,
    permissions: String,
    fields: String,
    scope: String,
    purposes: String,
    mfa: bool,
}

/// The explain tool's question (names and ids, never a personal value).
#[derive(Deserialize, Default)]
pub struct ExplainQuery {
    #[serde(default)]
    account: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    customer: String,
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    page: Layout,
    t: &'static Text,
    rows: Vec<GrantRow>,
    actions: Vec<&'static str>,
    fields: Vec<String>,
    purposes: Vec<String>,
    q: ExplainQuery,
    /// (allowed, explanation)
    answer: Option<(bool, String)>,
    error: Option<String>,
}

/// GET /console/policy: roles × grants, and the explain tool (`?account=…`).
pub async fn policy(q: Query<ExplainQuery>, desk: Desk) -> Response {
    let q = q.0;
    desk.page(move |c| {
        let t = c.t;
        let v = &c.s.vault;
        let policy = match v.policy_for(&c.p) {
            Ok(p) => p,
            Err(e) => return c.refusal(&t.reviews.title_policy, &e),
        };
        let rows = policy
            .roles()
            .iter()
            .flat_map(|r| {
                r.grants.iter().enumerate().map(move |(i, g)| GrantRow {
                    role: r.id.clone(),
                    role_name: c.lang.pick(&r.name_en, &r.name_zh).to_owned(),
                    grant: i + 1,
                    line: g.line,
                    permissions: g.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                    fields: g.fields.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", "),
                    scope: g
                        .scope
                        .iter()
                        .map(|(k, vals)| format!("{k} ∈ {{{}}}", vals.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; "),
                    purposes: g.purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                    mfa: r.requires_mfa,
                })
            })
            .collect();
        fn some(s: &str) -> Option<&str> {
            Some(s.trim()).filter(|s| !s.is_empty())
        }
        let (mut answer, mut error) = (None, None);
        if let Some(account) = some(&q.account) {
            let asked = Permission::parse(q.action.trim())
                .ok_or_else(|| VaultError::Input(format!("action: unknown action {:?}", q.action.trim())))
                .and_then(|perm| v.explain(&c.p, account, some(&q.customer), some(&q.field), perm, some(&q.purpose)));
            match asked {
                Ok(d) => answer = Some((d.allowed, d.to_string())),
                Err(e) => error = Some(c.detail(&e)),
            }
        }
        let status = if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let page = PolicyPage {
            page: c.layout(&t.reviews.title_policy).wide(),
            t,
            rows,
            actions: Permission::ALL.iter().map(|p| p.as_str()).collect(),
            fields: v.schema().fields().iter().map(|f| f.name.to_string()).collect(),
            purposes: v.schema().purposes().iter().map(|p| p.id.to_string()).collect(),
            q,
            answer,
            error,
        };
        no_store(render(&page, status))
    })
    .await
}
