//! `/v1` staff accounts: create and list, roles, training records, and an
//! account's life after creation: e-mail on file, one-time links,
//! disable/enable, unlock, delete, MFA reset, the approvals that wait for a
//! second person, one's own password, and the open "forgot password"
//! endpoint. Each is one expression; the vault
//! decides who may.

use super::docs::*;
use super::ApiResult;
use crate::extract::{Caller, Client, Lng, J, Q};
use crate::problem::Problem;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use custodia_vault::access::identity::AccountKind;
use custodia_vault::access::staff::LinkKind;
use custodia_vault::VaultError;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

#[utoipa::path(delete, path = "/v1/accounts/{name}", tag = "accounts",
    params(("name" = String, Path, description = "Login name")),
    responses((status = 204, description = "Deleted: secrets, address and roles removed, sessions and tokens stopped; the name stays taken"), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Delete an account (needs `manage_accounts`; never one's own or the last administrator).
pub async fn delete_account(State(s): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult {
    c.run(&s, move |v, p| v.delete_account(p, &name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An e-mail address.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    /// Where the person's links and alerts go.
    email: String,
}

#[utoipa::path(put, path = "/v1/accounts/{name}/email", tag = "accounts", request_body = EmailInput,
    params(("name" = String, Path, description = "Login name")),
    responses((status = 200, description = "The account (address masked)"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Record a staff member's e-mail address (needs `manage_accounts`; the old address is told).
pub async fn set_email(
    State(s): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    J(b): J<EmailInput>,
) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.set_email(p, &name, &b.email)).await?).into_response())
}

/// Which link to send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// `setup` (choose a password, then enroll MFA) or `mfa` (enroll again after a reset).
    kind: String,
}

#[utoipa::path(post, path = "/v1/accounts/{name}/links", tag = "accounts", request_body = LinkInput,
    params(("name" = String, Path, description = "Login name")),
    responses((status = 201, description = "Sent: {account, kind, to (masked), expires_at}; the link itself goes only to the person"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 502, body = ProblemDoc)),
    security(("bearer" = [])))]
/// E-mail a staff member a one-time link (needs `manage_accounts`).
pub async fn send_link(
    State(s): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    J(b): J<LinkInput>,
) -> ApiResult {
    let sent = c
        .run(&s, move |v, p| {
            let kind = match b.kind.as_str() {
                "setup" => LinkKind::Setup,
                "mfa" => LinkKind::Mfa,
                other => {
                    return Err(VaultError::Input(format!(
                        "kind is setup or mfa, not {:?}",
                        other.chars().take(32).collect::<String>()
                    )))
                }
            };
            v.send_link(p, &name, kind)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

/// Why an account is disabled.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableInput {
    /// Reason, recorded in the audit log.
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/accounts/{name}/disable", tag = "accounts", request_body = DisableInput,
    params(("name" = String, Path, description = "Login name")),
    responses((status = 200, description = "The account; its sessions and tokens stop at once"), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Disable an account (needs `manage_accounts`; never one's own or the last administrator).
pub async fn disable(
    State(s): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    J(b): J<DisableInput>,
) -> ApiResult {
    Ok(Json(
        c.run(&s, move |v, p| v.set_disabled(p, &name, true, b.reason.as_deref()))
            .await?,
    )
    .into_response())
}

#[utoipa::path(post, path = "/v1/accounts/{name}/enable", tag = "accounts",
    params(("name" = String, Path, description = "Login name")),
    responses((status = 200, description = "The account"), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Enable a disabled account (needs `manage_accounts`).
pub async fn enable(State(s): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.set_disabled(p, &name, false, None)).await?).into_response())
}

#[utoipa::path(post, path = "/v1/accounts/{name}/unlock", tag = "accounts",
    params(("name" = String, Path, description = "Login name")),
    responses((status = 204, description = "Sign-in counters cleared"), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Clear an account's sign-in counters: shut-out addresses, a locked second factor (needs `manage_accounts`).
pub async fn unlock(State(s): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult {
    c.run(&s, move |v, p| v.unlock(p, &name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/accounts/{name}/mfa-reset", tag = "accounts",
    params(("name" = String, Path, description = "Login name")),
    responses((status = 202, description = "The approval it waits for"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Ask for a staff member's second factor to be reset (needs `manage_accounts`; a second person approves).
pub async fn reset_mfa(State(s): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult {
    let a = c.run(&s, move |v, p| v.request_mfa_reset(p, &name)).await?;
    Ok((StatusCode::ACCEPTED, Json(a)).into_response())
}

/// Approval listing options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    /// Only those still waiting.
    #[serde(default)]
    pending: bool,
}

#[utoipa::path(get, path = "/v1/approvals", tag = "accounts", params(ApprovalsQuery),
    responses((status = 200, description = "Approvals, newest first"), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Changes waiting for (or decided by) a second person (needs `manage_accounts` or `review_access`).
pub async fn list_approvals(State(s): State<AppState>, c: Caller, Q(q): Q<ApprovalsQuery>) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.approvals(p, q.pending)).await?).into_response())
}

#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "accounts",
    params(("id" = String, Path, description = "Approval id")),
    responses((status = 200, description = "Approved and applied"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Approve a pending change: a person other than whoever asked and the account changed.
pub async fn approve(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.approve(p, &id)).await?).into_response())
}

/// A refusal's note.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// Why.
    #[serde(default)]
    note: Option<String>,
}

#[utoipa::path(post, path = "/v1/approvals/{id}/reject", tag = "accounts", request_body = RejectInput,
    params(("id" = String, Path, description = "Approval id")),
    responses((status = 200, description = "Rejected (or, by whoever asked, withdrawn)"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Reject a pending change, or withdraw one's own.
pub async fn reject(State(s): State<AppState>, c: Caller, Path(id): Path<String>, J(b): J<RejectInput>) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.reject(p, &id, b.note.as_deref())).await?).into_response())
}

/// A password change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    /// The current password.
    current: String,
    /// The new one (passes the password policy).
    new: String,
}

#[utoipa::path(post, path = "/v1/session/password", tag = "meta", request_body = PasswordInput,
    responses((status = 204, description = "Changed; every other session ended"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// A signed-in staff member changes their own password.
pub async fn change_password(
    State(s): State<AppState>,
    c: Caller,
    client: Client,
    h: HeaderMap,
    J(b): J<PasswordInput>,
) -> ApiResult {
    let Some(_permit) = crate::pages::staff::password_check_permit(&s, client.0).await else {
        return Err(Problem::new(
            "sign_in_busy",
            "password checks are busy; retry in a few seconds",
            c.lang,
        ));
    };
    let token = crate::pages::session_cookie(&h);
    let (current, new) = (Zeroizing::new(b.current), Zeroizing::new(b.new));
    c.run(&s, move |v, p| v.change_password(p, &current, &new, token.as_deref()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A fresh second-factor code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpInput {
    /// A code from the authenticator, or a recovery code.
    code: String,
}

#[utoipa::path(post, path = "/v1/session/step-up", tag = "meta", request_body = StepUpInput,
    responses((status = 204, description = "Confirmed: reveals are allowed for `[sign_in] step_up_seconds` again"), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// A signed-in staff member confirms their second factor again (the
/// step-up a reveal asks for, `step_up_required`).
pub async fn step_up(
    State(s): State<AppState>,
    c: Caller,
    client: Client,
    h: HeaderMap,
    J(b): J<StepUpInput>,
) -> ApiResult {
    let token = crate::pages::session_cookie(&h).map(Zeroizing::new);
    let code = Zeroizing::new(b.code);
    let from = client.0.to_string();
    c.run(&s, move |v, p| {
        v.step_up(p, token.as_deref().map(|t| t.as_str()), &code, &from)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who forgot their password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotInput {
    /// Account name.
    name: String,
}

#[utoipa::path(post, path = "/v1/password/forgot", tag = "meta", request_body = ForgotInput,
    responses((status = 202, description = "Always the same answer: if the account exists and has an address, a link is on its way")))]
/// Ask for a password link to the account's own address (open; says nothing about the account).
pub async fn forgot_password(
    State(s): State<AppState>,
    Lng(lang): Lng,
    client: Client,
    J(b): J<ForgotInput>,
) -> ApiResult {
    let ip = client.0.to_string();
    let vault = s.vault.clone();
    // Not awaited: the answer must not take longer when a mail goes out
    // (that would tell which accounts exist).
    let _ = lang;
    drop(tokio::task::spawn_blocking(move || vault.forgot_password(&b.name, &ip)));
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "if the account exists and has an e-mail address on file, a link is on its way"})),
    )
        .into_response())
}

/// A completed training, entered by whoever holds `manage_training`
/// (never for themselves).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingInput {
    /// Staff account.
    account: String,
    /// Course id from the policy, e.g. `privacy_basics`.
    course: String,
    /// Completion date, YYYY-MM-DD.
    completed: String,
    /// Score 0-100 (below the course's pass mark it is recorded but does not count).
    score: i64,
    /// Expiry date, YYYY-MM-DD (default and latest: the course's validity).
    #[serde(default)]
    expires: Option<String>,
}

#[utoipa::path(post, path = "/v1/training", tag = "meta", request_body = TrainingInput,
    responses((status = 201, description = "Recorded"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Record a staff member's completed training (needs `manage_training`).
pub async fn record_training(State(s): State<AppState>, c: Caller, J(t): J<TrainingInput>) -> ApiResult {
    let view = c
        .run(&s, move |v, p| {
            let date = |s: &str, what: &str| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| VaultError::Input(format!("{what} is not a date written YYYY-MM-DD")))
            };
            let expires = t.expires.as_deref().map(|e| date(e, "expires")).transpose()?;
            v.record_training(
                p,
                &t.account,
                &t.course,
                date(&t.completed, "completed")?,
                t.score,
                expires,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A new account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// Login name (2-64 of a-z, 0-9, `.`, `_`, `-`, `@`).
    name: String,
    /// `staff` (a person: password, then MFA) or `service` (an application: API tokens).
    kind: String,
    /// Roles from the policy.
    roles: Vec<String>,
    /// A staff member's first password (passes the password policy), for
    /// a server without mail. Prefer `email`: the person then gets a setup
    /// link and chooses the password themselves.
    #[serde(default)]
    password: Option<String>,
    /// A staff member's e-mail address: a one-time setup link goes there.
    #[serde(default)]
    email: Option<String>,
}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = AccountInput,
    responses((status = 201, description = "The account (no secrets)"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Create an account (needs `manage_accounts`; the bootstrap token creates
/// the first administrator, and is switched off by it).
pub async fn create_account(State(s): State<AppState>, c: Caller, J(a): J<AccountInput>) -> ApiResult {
    let view = c
        .run(&s, move |v, p| {
            let kind = match a.kind.as_str() {
                "staff" => AccountKind::Staff,
                "service" => AccountKind::Service,
                _ => return Err(VaultError::Input("kind is staff or service".into())),
            };
            let password = a.password.map(Zeroizing::new);
            match (kind, a.email.as_deref(), password) {
                (AccountKind::Staff, Some(email), None) => v.invite_staff(p, &a.name, &a.roles, email),
                (_, Some(_), _) => Err(VaultError::Input(
                    "give a staff account an e-mail address (it gets a setup link) or a password, not both; service accounts have neither".into(),
                )),
                (kind, None, password) => {
                    v.create_account(p, &a.name, kind, &a.roles, password.as_deref().map(String::as_str))
                }
            }
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/v1/accounts", tag = "accounts",
    responses((status = 200, description = "Every account: name, kind, roles, MFA, trainings (no secrets)"), (status = 403, body = ProblemDoc)),
    security(("bearer" = [])))]
/// List accounts (needs `manage_accounts` or `review_access`).
pub async fn list_accounts(State(s): State<AppState>, c: Caller) -> ApiResult {
    Ok(Json(c.run(&s, |v, p| v.accounts(p)).await?).into_response())
}

/// An account's new set of roles.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesInput {
    /// Every role the account holds afterwards.
    roles: Vec<String>,
}

#[utoipa::path(put, path = "/v1/accounts/{name}/roles", tag = "accounts", request_body = RolesInput,
    params(("name" = String, Path, description = "Login name")),
    responses((status = 200, description = "The account (no secrets)"), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)),
    security(("bearer" = [])))]
/// Replace an account's roles: administrative roles need `manage_accounts`,
/// every other role `review_access` (a privacy officer); never one's own.
pub async fn set_roles(
    State(s): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    J(r): J<RolesInput>,
) -> ApiResult {
    Ok(Json(c.run(&s, move |v, p| v.set_roles(p, &name, &r.roles)).await?).into_response())
}

/// This concern's routes behind authentication.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_training))
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(set_roles))
        .routes(routes!(delete_account))
        .routes(routes!(set_email))
        .routes(routes!(send_link))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(unlock))
        .routes(routes!(reset_mfa))
        .routes(routes!(list_approvals))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(change_password))
        .routes(routes!(step_up))
}

/// This concern's open routes (no authentication).
pub(crate) fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(forgot_password))
}
