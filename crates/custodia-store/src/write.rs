//! Every [`Mutation`], written once: each goes to its concern's statements
//! inside the store's open transaction. The stores chain the mutation's
//! audit events after it when [`Applied::appends_events`].

use crate::codes::Codes;
use crate::sql::Sql;
use crate::{access, customers, privacy, rights, Applied, Mutation, StoreError};
use custodia_core::audit::AuditEvent;

/// Apply `m` inside the open transaction (its audit events excepted).
pub(crate) fn apply(tx: &mut dyn Sql, codes: &Codes, m: &Mutation) -> Result<Applied, StoreError> {
    match m {
        Mutation::Insert { customer, consents, .. } => {
            let done = customers::insert(tx, codes, customer)?;
            if done == Applied::Done {
                privacy::insert_receipts(tx, consents)?;
            }
            Ok(done)
        }
        Mutation::Update { customer, .. } => customers::update(tx, codes, customer),
        Mutation::Delete { id, .. } => customers::delete(tx, id),
        Mutation::Rewrap {
            id,
            from_kek,
            to_kek,
            wrapped_dk,
        } => customers::rewrap(tx, id, *from_kek, *to_kek, wrapped_dk),
        Mutation::SetFlags { id, flags, .. } => customers::set_flags(tx, id, *flags),
        Mutation::BeginBulkLoad => customers::begin_bulk_load(tx, codes),
        Mutation::EndBulkLoad => customers::end_bulk_load(tx, &codes.list),
        Mutation::SetMeta { key, value } => customers::set_meta(tx, key, value),
        Mutation::Audit(_) => Ok(Applied::Done),

        Mutation::PutAccount { account, create, .. } => access::put_account(tx, account, *create),
        Mutation::PutAccountIf {
            account,
            expect_updated_ms,
            ..
        } => Ok(match access::put_account_if(tx, account, *expect_updated_ms)? {
            true => Applied::Done,
            false => Applied::NotFound,
        }),
        Mutation::CountFailure {
            key,
            now_ms,
            window_ms,
            limit,
            lock_ms,
            ..
        } => access::count_failure(tx, key, *now_ms, *window_ms, *limit, *lock_ms),
        Mutation::ClearCounters { keys, prefixes, .. } => access::clear_counters(tx, keys, prefixes),
        Mutation::PutAccountLink { link, .. } => access::put_link(tx, link),
        Mutation::UseAccountLink {
            digest,
            now_ms,
            account,
            expect_updated_ms,
            ..
        } => access::use_link(tx, digest, *now_ms, account, *expect_updated_ms),
        Mutation::DropAccountLinks { account } => access::drop_links(tx, account),
        Mutation::PutApproval { approval, .. } => access::put_approval(tx, approval),
        Mutation::DecideApproval { approval, .. } => access::decide_approval(tx, approval),
        Mutation::RevokeSessions { account, .. } => access::revoke_sessions(tx, account),
        Mutation::PutSession { session, .. } => access::put_session(tx, session),
        Mutation::PutCampaign {
            id,
            created_by,
            created_ms,
            items,
            ..
        } => access::put_campaign(tx, id, created_by, *created_ms, items),
        Mutation::DecideReview { item, account, .. } => access::decide_review(tx, item, account.as_deref()),
        Mutation::PutToken { token, .. } => access::put_token(tx, token),
        Mutation::RevokeToken { id, .. } => access::revoke_token(tx, id),
        Mutation::PutTraining { training, .. } => access::put_training(tx, training),

        Mutation::PutNotice { notice, .. } => privacy::put_notice(tx, notice),
        Mutation::PutConsents { customer, receipts, .. } => privacy::put_consents(tx, customer, receipts),
        Mutation::PutPortalToken { token, .. } => privacy::put_portal_token(tx, token),
        Mutation::UsePortalToken {
            digest, now_ms, then, ..
        } => privacy::use_portal_token(tx, digest, *now_ms, then.as_ref()),

        Mutation::PutRequest {
            request,
            expect_status,
            log,
            recipients,
            clock,
            ..
        } => rights::put_request(tx, request, expect_status.as_deref(), log, recipients, clock.as_ref()),
        Mutation::Erase {
            tombstone,
            certificate,
            rekeyed,
            request,
            replay,
            ..
        } => rights::erase(
            tx,
            codes,
            rights::Erasure {
                tombstone,
                certificate: certificate.as_ref(),
                rekeyed: rekeyed.as_deref(),
                request: request.as_deref(),
                replay: *replay,
            },
        ),
        Mutation::PutTombstone { tombstone, .. } => rights::put_tombstone(tx, tombstone),
        Mutation::PutVaultTokens {
            customer,
            replace,
            tokens,
            ..
        } => rights::put_vault_tokens(tx, customer, replace, tokens),
        Mutation::PutCertificate { certificate, .. } => rights::put_certificate(tx, certificate),
        Mutation::PutHold { hold, .. } => rights::put_hold(tx, hold),
        Mutation::PutLifecycle { lifecycle, .. } => rights::put_lifecycle(tx, lifecycle),
    }
}

impl Mutation {
    /// The audit events written with this mutation when it applies.
    pub fn events(&self) -> &[AuditEvent] {
        match self {
            Mutation::Rewrap { .. }
            | Mutation::BeginBulkLoad
            | Mutation::EndBulkLoad
            | Mutation::SetMeta { .. }
            | Mutation::DropAccountLinks { .. } => &[],
            Mutation::Audit(events)
            | Mutation::Insert { events, .. }
            | Mutation::Update { events, .. }
            | Mutation::Delete { events, .. }
            | Mutation::SetFlags { events, .. }
            | Mutation::PutAccount { events, .. }
            | Mutation::PutAccountIf { events, .. }
            | Mutation::CountFailure { events, .. }
            | Mutation::ClearCounters { events, .. }
            | Mutation::PutAccountLink { events, .. }
            | Mutation::UseAccountLink { events, .. }
            | Mutation::PutApproval { events, .. }
            | Mutation::DecideApproval { events, .. }
            | Mutation::RevokeSessions { events, .. }
            | Mutation::PutSession { events, .. }
            | Mutation::PutCampaign { events, .. }
            | Mutation::DecideReview { events, .. }
            | Mutation::PutToken { events, .. }
            | Mutation::RevokeToken { events, .. }
            | Mutation::PutTraining { events, .. }
            | Mutation::PutNotice { events, .. }
            | Mutation::PutConsents { events, .. }
            | Mutation::PutPortalToken { events, .. }
            | Mutation::UsePortalToken { events, .. }
            | Mutation::PutRequest { events, .. }
            | Mutation::Erase { events, .. }
            | Mutation::PutTombstone { events, .. }
            | Mutation::PutVaultTokens { events, .. }
            | Mutation::PutCertificate { events, .. }
            | Mutation::PutHold { events, .. }
            | Mutation::PutLifecycle { events, .. } => events,
        }
    }
}

impl Applied {
    /// Whether the mutation took effect, so that its audit events are
    /// chained with it (a refused one leaves no trace in the log; the vault
    /// records refusals itself).
    pub fn appends_events(&self) -> bool {
        matches!(self, Applied::Done | Applied::Counted(..))
    }
}
