//! Data-subject rights: the kinds of request, the state machine every
//! request follows, and (in submodules) the statutory clocks and the
//! working-day calendars they run on.
//!
//! ```text
//! received ──verify──▶ verified ──start──▶ in_progress ──complete──▶ completed
//!    │                    │                     │
//!    └──────── deny ──────┴──────── deny ───────┴──▶ denied (with reason)
//!    any open state ──extend (once, with reason)──▶ extended ──start/complete/deny──▶ …
//! ```
//!
//! Opt-outs and consent withdrawals need no identity verification (11 CCR
//! §7026(d); withdrawing must be as easy as consenting, PIPL Art. 15).

pub mod calendar;
pub mod clock;

use serde::{Deserialize, Serialize};

/// A kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Everything held about the person (PIPL Art. 45; GDPR Art. 15; CCPA §1798.110).
    Access,
    /// A machine-readable copy (PIPL Art. 45 ¶3; GDPR Art. 20).
    Portability,
    /// Correct inaccurate data (PIPL Art. 46; GDPR Art. 16; CCPA §1798.106).
    Rectification,
    /// Delete (PIPL Art. 47; GDPR Art. 17; CCPA §1798.105).
    Erasure,
    /// Keep but do not process (PIPL Art. 44; GDPR Art. 18).
    Restriction,
    /// Object / opt out of sale or sharing (GDPR Art. 21; CCPA §1798.120).
    Objection,
    /// Withdraw every consent (PIPL Art. 15; GDPR Art. 7(3)).
    ConsentWithdrawal,
    /// Limit the use of sensitive personal information (CCPA §1798.121;
    /// 11 CCR §7027): no verification, 15 business days.
    LimitSensitive,
}

impl RequestKind {
    /// Every kind.
    pub const ALL: [RequestKind; 8] = [
        RequestKind::Access,
        RequestKind::Portability,
        RequestKind::Rectification,
        RequestKind::Erasure,
        RequestKind::Restriction,
        RequestKind::Objection,
        RequestKind::ConsentWithdrawal,
        RequestKind::LimitSensitive,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Portability => "portability",
            RequestKind::Rectification => "rectification",
            RequestKind::Erasure => "erasure",
            RequestKind::Restriction => "restriction",
            RequestKind::Objection => "objection",
            RequestKind::ConsentWithdrawal => "consent_withdrawal",
            RequestKind::LimitSensitive => "limit_sensitive",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the requester's identity must be verified before the
    /// request is carried out.
    pub fn needs_verification(self) -> bool {
        !matches!(
            self,
            RequestKind::Objection | RequestKind::ConsentWithdrawal | RequestKind::LimitSensitive
        )
    }

    /// Whether a regime knows this kind (the request to limit is the
    /// CCPA's alone).
    pub fn exists_under(self, regime: crate::consent::Regime) -> bool {
        self != RequestKind::LimitSensitive || regime == crate::consent::Regime::Ccpa
    }

    /// Whether third parties the data was sold or shared with must be told
    /// when it is done (11 CCR §7026(f)(2), §7027(g)(2)).
    pub fn notifies_third_parties(self) -> bool {
        matches!(self, RequestKind::Objection | RequestKind::LimitSensitive)
    }

    /// Whether recipients of the data must be told when it is done (GDPR Art. 19).
    pub fn notifies_recipients(self) -> bool {
        matches!(
            self,
            RequestKind::Rectification | RequestKind::Erasure | RequestKind::Restriction
        )
    }

    /// English name.
    pub fn name_en(self) -> &'static str {
        match self {
            RequestKind::Access => "Access my data",
            RequestKind::Portability => "A copy to take elsewhere",
            RequestKind::Rectification => "Correct my information",
            RequestKind::Erasure => "Delete my information",
            RequestKind::Restriction => "Stop using my data (keep it stored)",
            RequestKind::Objection => "Object / do not sell or share",
            RequestKind::ConsentWithdrawal => "Withdraw all my consents",
            RequestKind::LimitSensitive => "Limit the use of my sensitive personal information",
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            RequestKind::Access => "查阅我的信息",
            RequestKind::Portability => "获取可转移的副本",
            RequestKind::Rectification => "更正我的信息",
            RequestKind::Erasure => "删除我的信息",
            RequestKind::Restriction => "限制处理（仅保存）",
            RequestKind::Objection => "拒绝处理／不得出售或共享",
            RequestKind::ConsentWithdrawal => "撤回全部同意",
            RequestKind::LimitSensitive => "限制使用我的敏感个人信息",
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Received, identity not yet verified.
    Received,
    /// Identity verified.
    Verified,
    /// Being carried out.
    InProgress,
    /// The deadline was extended (with a reason told to the person).
    Extended,
    /// Done.
    Completed,
    /// Refused (with a reason told to the person).
    Denied,
}

impl RequestState {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Received => "received",
            RequestState::Verified => "verified",
            RequestState::InProgress => "in_progress",
            RequestState::Extended => "extended",
            RequestState::Completed => "completed",
            RequestState::Denied => "denied",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<RequestState> {
        [
            RequestState::Received,
            RequestState::Verified,
            RequestState::InProgress,
            RequestState::Extended,
            RequestState::Completed,
            RequestState::Denied,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether the request is finished.
    pub fn is_final(self) -> bool {
        matches!(self, RequestState::Completed | RequestState::Denied)
    }
}

/// What happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestEvent {
    /// The requester's identity was verified.
    Verify,
    /// Work started.
    Start,
    /// The deadline is extended.
    Extend,
    /// Done.
    Complete,
    /// Refused.
    Deny,
}

/// Why a transition is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The request is finished.
    #[error("the request is already {0}")]
    Final(&'static str),
    /// The identity must be verified first.
    #[error("verify the requester's identity first")]
    NotVerified,
    /// Already verified.
    #[error("the requester's identity is already verified")]
    AlreadyVerified,
    /// One extension only.
    #[error("the request was extended already; the law allows one extension")]
    AlreadyExtended,
    /// Not from this state.
    #[error("cannot {event} a request that is {state}")]
    Invalid {
        /// Event.
        event: &'static str,
        /// State.
        state: &'static str,
    },
}

/// The facts a transition depends on besides the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFacts {
    /// The kind.
    pub kind: RequestKind,
    /// Whether identity was verified.
    pub verified: bool,
    /// Whether it was extended before.
    pub extended: bool,
}

/// The state after `event`, or why it cannot happen.
pub fn transition(state: RequestState, event: RequestEvent, f: RequestFacts) -> Result<RequestState, TransitionError> {
    use RequestEvent as E;
    use RequestState as S;
    if state.is_final() {
        return Err(TransitionError::Final(state.as_str()));
    }
    let ready = f.verified || !f.kind.needs_verification();
    match (event, state) {
        (E::Verify, _) if f.verified => Err(TransitionError::AlreadyVerified),
        (E::Verify, S::Received) => Ok(S::Verified),
        (E::Verify, S::Extended) => Ok(S::Extended),
        (E::Start | E::Complete, _) if !ready => Err(TransitionError::NotVerified),
        (E::Start, S::Received | S::Verified | S::Extended) => Ok(S::InProgress),
        (E::Complete, S::Received | S::Verified | S::InProgress | S::Extended) => Ok(S::Completed),
        (E::Extend, _) if f.extended => Err(TransitionError::AlreadyExtended),
        (E::Extend, S::Received | S::Verified | S::InProgress) => Ok(S::Extended),
        (E::Deny, _) => Ok(S::Denied),
        (e, s) => Err(TransitionError::Invalid {
            event: match e {
                E::Verify => "verify",
                E::Start => "start",
                E::Extend => "extend",
                E::Complete => "complete",
                E::Deny => "deny",
            },
            state: s.as_str(),
        }),
    }
}

/// What an entry of the suppression list of erased people stands for: a
/// keyed hash of one identifier the erased person had. Imports and creates
/// look new records up in it, so a nightly sync from an old system cannot
/// bring an erased person back (the ledger keeps them erased in this
/// database; this keeps them from being collected again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionKind {
    /// The company's own key of the record (the CRM id).
    ExternalId,
    /// The number of an identity document.
    IdDocument,
    /// A mobile number: only a warning on a match, because numbers are
    /// reassigned to other people.
    Mobile,
}

impl SuppressionKind {
    /// Every kind.
    pub const ALL: [SuppressionKind; 3] = [
        SuppressionKind::ExternalId,
        SuppressionKind::IdDocument,
        SuppressionKind::Mobile,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionKind::ExternalId => "external_id",
            SuppressionKind::IdDocument => "id_document",
            SuppressionKind::Mobile => "mobile",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<SuppressionKind> {
        SuppressionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a match refuses the new record (else it is a warning).
    pub fn refuses(self) -> bool {
        self != SuppressionKind::Mobile
    }
}

impl std::fmt::Display for SuppressionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestEvent as E;
    use RequestState as S;

    fn facts(kind: RequestKind, verified: bool, extended: bool) -> RequestFacts {
        RequestFacts {
            kind,
            verified,
            extended,
        }
    }

    #[test]
    fn transition_table() {
        let erasure = |v, x| facts(RequestKind::Erasure, v, x);
        let optout = facts(RequestKind::Objection, false, false);
        let cases: Vec<(S, E, RequestFacts, Result<S, &str>)> = vec![
            (S::Received, E::Verify, erasure(false, false), Ok(S::Verified)),
            (S::Received, E::Start, erasure(false, false), Err("verify")),
            (S::Received, E::Complete, erasure(false, false), Err("verify")),
            (S::Verified, E::Start, erasure(true, false), Ok(S::InProgress)),
            (S::InProgress, E::Complete, erasure(true, false), Ok(S::Completed)),
            (S::Received, E::Deny, erasure(false, false), Ok(S::Denied)),
            (S::InProgress, E::Extend, erasure(true, false), Ok(S::Extended)),
            (S::Extended, E::Extend, erasure(true, true), Err("extended already")),
            (S::Extended, E::Complete, erasure(true, true), Ok(S::Completed)),
            (S::Extended, E::Verify, erasure(false, true), Ok(S::Extended)),
            (S::Verified, E::Verify, erasure(true, false), Err("already verified")),
            (S::Completed, E::Deny, erasure(true, false), Err("already completed")),
            (S::Denied, E::Start, erasure(true, false), Err("already denied")),
            (S::Received, E::Complete, optout, Ok(S::Completed)),
            (S::Received, E::Start, optout, Ok(S::InProgress)),
        ];
        for (from, ev, f, want) in cases {
            let got = transition(from, ev, f);
            match (got, want) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{from:?} {ev:?}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{from:?} {ev:?}: {e}"),
                (g, w) => panic!("{from:?} {ev:?}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for k in RequestKind::ALL {
            assert_eq!(RequestKind::parse(k.as_str()), Some(k));
            assert!(k.name_zh().chars().any(|c| c as u32 > 0x3000));
        }
        assert_eq!(RequestState::parse("in_progress"), Some(RequestState::InProgress));
        assert_eq!(RequestKind::parse("nope"), None);
        for k in SuppressionKind::ALL {
            assert_eq!(SuppressionKind::parse(k.as_str()), Some(k));
        }
        assert!(SuppressionKind::IdDocument.refuses() && !SuppressionKind::Mobile.refuses());
    }
}
