//! Audit events: who did what to whose data, for which purpose, with what
//! outcome. Events never carry field values, only field names.
//!
//! The canonical byte encoding defined here is what the hash chain covers;
//! it must stay stable across releases (a new encoding needs a new
//! `AUDIT_FORMAT`).

use crate::ids::{CustomerId, FieldName, Purpose};
use serde::{Deserialize, Serialize};

/// Version of the canonical event encoding.
pub const AUDIT_FORMAT: u8 = 1;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Data directory initialized.
    Init,
    /// A customer record was created.
    Create,
    /// A record was read with masked values.
    Read,
    /// Clear values were shown for a declared purpose.
    Reveal,
    /// An exact-match search ran.
    Search,
    /// A record was changed.
    Update,
    /// A record was deleted (its data key destroyed).
    Delete,
    /// Records were exported.
    Export,
    /// An import run started or finished.
    Import,
    /// A key-encryption-key rotation started, progressed or finished.
    KeyRotate,
    /// An API token was issued.
    TokenIssue,
    /// A request was refused before touching data (bad token, etc.).
    AccessDenied,
    /// A staff or service account was created or changed.
    Account,
    /// MFA was enrolled, confirmed or reset.
    Mfa,
    /// A training record was entered.
    Training,
    /// A sign-in attempt (ok or denied).
    Login,
    /// An account or client address was locked out after failed sign-ins.
    Lockout,
    /// A session ended.
    Logout,
    /// An access review was opened or a grant certified or revoked.
    Review,
    /// A privacy notice version was published.
    Notice,
    /// A consent was given or withdrawn.
    Consent,
    /// A privacy-portal link was issued, used or refused.
    Portal,
    /// A customer's request (correction, deletion, …) was received or changed.
    Request,
    /// A legal hold was set or released.
    Hold,
    /// A retention run started or finished.
    Retention,
    /// A backup was created, verified or restored.
    Backup,
    /// Break-glass access was opened (or refused).
    BreakGlass,
}

impl Action {
    /// The snake_case name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Init => "init",
            Action::Create => "create",
            Action::Read => "read",
            Action::Reveal => "reveal",
            Action::Search => "search",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Export => "export",
            Action::Import => "import",
            Action::KeyRotate => "key_rotate",
            Action::TokenIssue => "token_issue",
            Action::AccessDenied => "access_denied",
            Action::Account => "account",
            Action::Mfa => "mfa",
            Action::Training => "training",
            Action::Login => "login",
            Action::Lockout => "lockout",
            Action::Logout => "logout",
            Action::Review => "review",
            Action::Notice => "notice",
            Action::Consent => "consent",
            Action::Portal => "portal",
            Action::Request => "request",
            Action::Hold => "hold",
            Action::Retention => "retention",
            Action::Backup => "backup",
            Action::BreakGlass => "break_glass",
        }
    }

    /// Parse the stored name.
    pub fn parse(s: &str) -> Option<Action> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused by a rule (authorization, validation).
    Denied,
    /// Failed for another reason.
    Failed,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
    /// Parse the stored name.
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "ok" => Some(Outcome::Ok),
            "denied" => Some(Outcome::Denied),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// One audit event, before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// Who acted: `token:<id>`, `cli:<os user>`, `system`.
    pub actor: String,
    /// What was done.
    pub action: Action,
    /// Whose data, when one customer is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
    /// Which fields were touched (names only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fields: Vec<FieldName>,
    /// The declared purpose, when one was needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// How it ended.
    pub outcome: Outcome,
    /// A short machine-readable note (error code, counts); never values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEvent {
    /// A new successful event for `actor` doing `action`, stamped `ts_ms`.
    pub fn new(ts_ms: i64, actor: impl Into<String>, action: Action) -> AuditEvent {
        AuditEvent {
            ts_ms,
            actor: actor.into(),
            action,
            customer: None,
            fields: Vec::new(),
            purpose: None,
            outcome: Outcome::Ok,
            detail: None,
        }
    }

    /// The canonical bytes covered by the chain MAC for event number `seq`.
    /// Length-prefixed so no two events encode alike.
    pub fn canonical_bytes(&self, seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(AUDIT_FORMAT);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.ts_ms.to_be_bytes());
        put(&mut out, self.actor.as_bytes());
        put(&mut out, self.action.as_str().as_bytes());
        match &self.customer {
            Some(c) => {
                out.push(1);
                out.extend_from_slice(c.as_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&(self.fields.len() as u32).to_be_bytes());
        for f in &self.fields {
            put(&mut out, f.as_str().as_bytes());
        }
        put(&mut out, self.purpose.as_ref().map_or("", |p| p.as_str()).as_bytes());
        put(&mut out, self.outcome.as_str().as_bytes());
        put(&mut out, self.detail.as_deref().unwrap_or("").as_bytes());
        out
    }
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// An event as stored: placed in the chain at `seq` with its MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainedEvent {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// MAC of the previous event (zeros for the first).
    #[serde(serialize_with = "hex32")]
    pub prev: [u8; 32],
    /// MAC over `prev` and this event's canonical bytes.
    #[serde(serialize_with = "hex32")]
    pub mac: [u8; 32],
}

fn hex32<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&to_hex(b))
}

/// Lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Lowercase or uppercase hex to bytes; `None` for anything else (odd
/// length, a non-hex character, non-ASCII text).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            // from_str_radix alone would take a sign ("+1").
            s.get(i..i + 2)
                .filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|d| u8::from_str_radix(d, 16).ok())
        })
        .collect()
}

/// Which audit events to show: every condition given must hold. Typed, so
/// a filter that names an unknown action or outcome cannot be built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this actor (`staff:alice`, `service:etl/3`, …).
    pub actor: Option<String>,
    /// About this customer.
    pub customer: Option<CustomerId>,
    /// This action.
    pub action: Option<Action>,
    /// For this purpose.
    pub purpose: Option<Purpose>,
    /// With this outcome.
    pub outcome: Option<Outcome>,
    /// At or after (ms since the epoch).
    pub from_ms: Option<i64>,
    /// At or before (ms since the epoch).
    pub to_ms: Option<i64>,
}

impl AuditFilter {
    /// Whether `e` passes every condition.
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.actor.as_ref().is_none_or(|a| *a == e.actor)
            && self.customer.is_none_or(|c| e.customer == Some(c))
            && self.action.is_none_or(|a| a == e.action)
            && self.purpose.as_ref().is_none_or(|p| e.purpose.as_ref() == Some(p))
            && self.outcome.is_none_or(|o| o == e.outcome)
            && self.from_ms.is_none_or(|t| e.ts_ms >= t)
            && self.to_ms.is_none_or(|t| e.ts_ms <= t)
    }

    /// Whether a condition narrows the events to those of one actor or
    /// one customer (the conditions the log has an index for).
    pub fn indexed(&self) -> bool {
        self.actor.is_some() || self.customer.is_some()
    }
}

/// Every action, for filters and forms.
pub const ACTIONS: &[Action] = &[
    Action::Init,
    Action::Create,
    Action::Read,
    Action::Reveal,
    Action::Search,
    Action::Update,
    Action::Delete,
    Action::Export,
    Action::Import,
    Action::KeyRotate,
    Action::TokenIssue,
    Action::AccessDenied,
    Action::Account,
    Action::Mfa,
    Action::Training,
    Action::Login,
    Action::Lockout,
    Action::Logout,
    Action::Review,
    Action::Notice,
    Action::Consent,
    Action::Portal,
    Action::Request,
    Action::Hold,
    Action::Retention,
    Action::Backup,
    Action::BreakGlass,
];

#[cfg(test)]
mod tests {

    #[test]
    fn every_action_is_listed_once_and_parses_back() {
        for a in ACTIONS {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        let mut names: Vec<_> = ACTIONS.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len());
        // A new action must be added to the list (the match is exhaustive).
        let listed = |a: Action| match a {
            Action::Init
            | Action::Create
            | Action::Read
            | Action::Reveal
            | Action::Search
            | Action::Update
            | Action::Delete
            | Action::Export
            | Action::Import
            | Action::KeyRotate
            | Action::TokenIssue
            | Action::AccessDenied
            | Action::Account
            | Action::Mfa
            | Action::Training
            | Action::Login
            | Action::Lockout
            | Action::Logout
            | Action::Review
            | Action::Notice
            | Action::Consent
            | Action::Portal
            | Action::Request
            | Action::Hold
            | Action::Retention
            | Action::Backup
            | Action::BreakGlass => ACTIONS.contains(&a),
        };
        assert!(ACTIONS.iter().all(|a| listed(*a)));
    }

    #[test]
    fn a_filter_holds_when_every_condition_does() {
        let c = CustomerId::from_bytes([7; 16]);
        let mut e = AuditEvent::new(1_000, "staff:alice", Action::Reveal);
        e.customer = Some(c);
        e.purpose = Some(Purpose::new("customer_service").unwrap());
        let cases: &[(AuditFilter, bool)] = &[
            (AuditFilter::default(), true),
            (
                AuditFilter {
                    actor: Some("staff:alice".into()),
                    ..Default::default()
                },
                true,
            ),
            (
                AuditFilter {
                    actor: Some("staff:bob".into()),
                    ..Default::default()
                },
                false,
            ),
            (
                AuditFilter {
                    customer: Some(c),
                    action: Some(Action::Reveal),
                    ..Default::default()
                },
                true,
            ),
            (
                AuditFilter {
                    customer: Some(CustomerId::from_bytes([8; 16])),
                    ..Default::default()
                },
                false,
            ),
            (
                AuditFilter {
                    outcome: Some(Outcome::Denied),
                    ..Default::default()
                },
                false,
            ),
            (
                AuditFilter {
                    purpose: Some(Purpose::new("marketing").unwrap()),
                    ..Default::default()
                },
                false,
            ),
            (
                AuditFilter {
                    from_ms: Some(1_000),
                    to_ms: Some(1_000),
                    ..Default::default()
                },
                true,
            ),
            (
                AuditFilter {
                    from_ms: Some(1_001),
                    ..Default::default()
                },
                false,
            ),
            (
                AuditFilter {
                    to_ms: Some(999),
                    ..Default::default()
                },
                false,
            ),
        ];
        for (f, want) in cases {
            assert_eq!(f.matches(&e), *want, "{f:?}");
        }
    }
    use super::*;

    proptest::proptest! {
        #[test]
        fn hex_round_trips_and_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..40), junk in "\\PC{0,12}") {
            proptest::prop_assert_eq!(from_hex(&to_hex(&b)), Some(b.clone()));
            proptest::prop_assert_eq!(from_hex(&to_hex(&b).to_uppercase()), Some(b));
            let _ = from_hex(&junk);
        }
    }

    #[test]
    fn hex_refuses_what_is_not_hex() {
        for bad in ["0", "zz", "é0", "0é", "+1", " 01"] {
            assert_eq!(from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn canonical_encoding_separates_fields() {
        let mut a = AuditEvent::new(1, "ab", Action::Read);
        a.detail = Some("c".into());
        let mut b = AuditEvent::new(1, "a", Action::Read);
        b.detail = Some("bc".into());
        assert_ne!(a.canonical_bytes(1), b.canonical_bytes(1));
        assert_ne!(a.canonical_bytes(1), a.canonical_bytes(2));
    }

    #[test]
    fn actions_round_trip() {
        for a in [
            Action::Init,
            Action::Create,
            Action::Read,
            Action::Reveal,
            Action::Search,
            Action::Update,
            Action::Delete,
            Action::Export,
            Action::Import,
            Action::KeyRotate,
            Action::TokenIssue,
            Action::AccessDenied,
            Action::Account,
            Action::Mfa,
            Action::Training,
            Action::Login,
            Action::Lockout,
            Action::Logout,
            Action::Review,
        ] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("nope"), None);
    }
}
