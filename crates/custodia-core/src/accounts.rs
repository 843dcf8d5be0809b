//! The kinds and states of staff-account records, shared by the vault and
//! the store (which refuses a stored value that is none of them).

use serde::Serialize;

/// Whether an account is a person or an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A person.
    Staff,
    /// An application.
    Service,
}

impl AccountKind {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Staff => "staff",
            AccountKind::Service => "service",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<AccountKind> {
        [AccountKind::Staff, AccountKind::Service]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a one-time link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Choose a first password (and enroll MFA when the roles need it).
    Setup,
    /// Choose a new password (the second factor is still asked for).
    Password,
    /// Enroll MFA again after a reset (the password is asked for).
    Mfa,
}

impl LinkKind {
    /// Every kind.
    pub const ALL: [LinkKind; 3] = [LinkKind::Setup, LinkKind::Password, LinkKind::Mfa];

    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Setup => "setup",
            LinkKind::Password => "password",
            LinkKind::Mfa => "mfa",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<LinkKind> {
        LinkKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How long a link stays valid: a forgotten-password link briefly, the
    /// others long enough to reach a new colleague.
    pub fn hours(self) -> i64 {
        match self {
            LinkKind::Password => 1,
            LinkKind::Setup | LinkKind::Mfa => 72,
        }
    }
}

/// What a change waiting for approval does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// Give the account roles.
    GrantRoles,
    /// Remove the account's second factor and send it an enrollment link.
    ResetMfa,
    /// Record a new e-mail address (where links go).
    SetEmail,
}

impl ApprovalKind {
    /// Every kind.
    pub const ALL: [ApprovalKind; 3] = [ApprovalKind::GrantRoles, ApprovalKind::ResetMfa, ApprovalKind::SetEmail];

    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::GrantRoles => "grant_roles",
            ApprovalKind::ResetMfa => "reset_mfa",
            ApprovalKind::SetEmail => "set_email",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<ApprovalKind> {
        ApprovalKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a second person.
    Pending,
    /// Approved and applied.
    Approved,
    /// Refused by a second person.
    Rejected,
    /// Withdrawn by whoever asked.
    Cancelled,
}

impl ApprovalState {
    /// Every state.
    pub const ALL: [ApprovalState; 4] = [
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::Rejected,
        ApprovalState::Cancelled,
    ];

    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Cancelled => "cancelled",
        }
    }

    /// The state named `s`, if any.
    pub fn parse(s: &str) -> Option<ApprovalState> {
        ApprovalState::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

macro_rules! display_by_name {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_by_name!(AccountKind, LinkKind, ApprovalKind, ApprovalState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_state_round_trips_and_nothing_else_parses() {
        for k in [AccountKind::Staff, AccountKind::Service] {
            assert_eq!(AccountKind::parse(k.as_str()), Some(k));
        }
        for k in LinkKind::ALL {
            assert_eq!(LinkKind::parse(k.as_str()), Some(k));
        }
        for k in ApprovalKind::ALL {
            assert_eq!(ApprovalKind::parse(k.as_str()), Some(k));
        }
        for k in ApprovalState::ALL {
            assert_eq!(ApprovalState::parse(k.as_str()), Some(k));
        }
        for bad in ["", "admin", "Staff", "PENDING", "grant-roles"] {
            assert!(AccountKind::parse(bad).is_none() && LinkKind::parse(bad).is_none());
            assert!(ApprovalKind::parse(bad).is_none() && ApprovalState::parse(bad).is_none());
        }
        assert_eq!(LinkKind::Password.hours(), 1);
    }
}
