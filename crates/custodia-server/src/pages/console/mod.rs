//! The staff console (`/console`): where a signed-in person lands. Each
//! concern has its module — [`customers`] (search, the masked card, reveal,
//! edits, consents, codes), [`requests`] (the queue, one request and its
//! steps, the dashboard), [`audit`] (the audit viewer), [`reviews`] (access
//! reviews, the policy and explain), [`admin`] (accounts and tokens). Every page calls the same caller-bound vault operation as
//! the API, through the [`Desk`](super::desk::Desk) and
//! [`Posted`](super::desk::Posted) extractors; searched values travel only
//! in POST bodies, never in a URL.

pub mod admin;
pub mod audit;
pub mod customers;
pub mod requests;
pub mod reviews;

use super::desk::{Ctx, Desk};
use super::i18n::{fill, Text};
use super::{render, Lang, Layout};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

pub(crate) fn purpose_label(c: &Ctx, id: &str) -> String {
    c.s.vault
        .schema()
        .purpose(id)
        .map(|p| c.lang.pick(&p.name_en, &p.name_zh).to_owned())
        .unwrap_or_else(|| id.to_owned())
}

pub(crate) fn field_label(c: &Ctx, name: &str) -> String {
    c.s.vault
        .schema()
        .field(name)
        .map(|f| c.lang.pick(&f.label_en, &f.label_zh).to_owned())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| name.to_owned())
}

/// The purposes of the notice in force, as (id, label).
pub(crate) fn purposes(c: &Ctx) -> Vec<(String, String)> {
    let state = c.s.vault.notices();
    state
        .current()
        .map(|n| {
            n.purposes
                .iter()
                .map(|p| (p.id.to_string(), purpose_label(c, p.id.as_str())))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn kind_label(lang: Lang, kind: &str) -> String {
    custodia_core::rights::RequestKind::parse(kind)
        .map(|k| lang.pick(k.name_en(), k.name_zh()).to_owned())
        .unwrap_or_else(|| kind.to_owned())
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    page: Layout,
    t: &'static Text,
    who: String,
    /// (href, id, label)
    links: Vec<(String, String, String)>,
}

/// GET /console: where staff land after signing in.
pub async fn home(desk: Desk) -> Response {
    desk.page(|c| {
        let t = c.t;
        let link = |href: &str, id: &str, label: &str| (href.to_owned(), id.to_owned(), label.to_owned());
        let links = vec![
            link("/console/search", "link-search", &t.console.link_search),
            link("/console/requests", "link-requests", &t.queue.link),
            link("/console/dashboard", "link-dashboard", &t.dash.link),
            link("/console/audit", "link-audit", &t.audit.link),
            link("/console/reviews", "link-reviews", &t.reviews.link),
            link("/console/policy", "link-policy", &t.reviews.title_policy),
            link("/console/accounts", "link-accounts", &t.admin.link),
            link("/reports/consents", "link-reports", &t.console.link_reports),
            link("/account", "link-account", &t.console.link_account),
        ];
        let page = HomePage {
            page: c.layout(&t.console.title_home),
            t,
            who: fill(&t.console.who, &[("name", &c.sess.account)]),
            links,
        };
        render(&page, StatusCode::OK)
    })
    .await
}
