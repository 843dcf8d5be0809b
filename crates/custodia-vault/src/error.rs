//! The vault's error type. Every variant has a stable code; the server and
//! CLI turn them into problem details and one-line messages.

use custodia_crypto::CryptoError;
use custodia_store::StoreError;
use serde::Serialize;

/// One field's problem, as reported for a record or CSV row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The field (or column) name.
    pub field: String,
    /// Stable rule code, e.g. `national_id_checksum`, `unknown_field`.
    pub code: String,
    /// What is wrong, in English; never contains the value.
    pub message: String,
}

impl FieldProblem {
    /// A problem of `field` with rule `code`, explained by `message`.
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a vault operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The record's fields break the schema (unknown, missing or invalid).
    #[error("invalid record: {}", join(.0))]
    Invalid(Vec<FieldProblem>),
    /// No customer with that id.
    #[error("customer {0} not found")]
    NotFound(String),
    /// The record changed since the caller read it.
    #[error("customer was modified concurrently (now at version {current}); read it again and retry")]
    VersionConflict {
        /// Current version.
        current: i64,
    },
    /// The access policy refused the request (the text names the rule).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// A grant covers the request, but the caller has not verified a
    /// second factor in this session.
    #[error("not allowed without multi-factor authentication: {0}")]
    MfaRequired(String),
    /// A reveal by a person whose last second-factor code is older than
    /// the step-up time: confirm a fresh code first.
    #[error("confirm your second factor again to reveal personal data: your last code was confirmed more than {seconds} seconds ago")]
    StepUpRequired {
        /// The step-up time (`[sign_in] step_up_seconds`).
        seconds: u32,
    },
    /// A grant covers the request, but the caller's training is missing,
    /// failed or expired.
    #[error("not allowed without valid training {course:?}: {detail}")]
    TrainingRequired {
        /// The course.
        course: String,
        /// The decision.
        detail: String,
    },
    /// The same person may not do both steps (separation of duties).
    #[error("separation of duties: {0}")]
    SeparationOfDuties(String),
    /// Customer data was accessed without declaring a purpose.
    #[error("this access must declare a purpose from the catalog (?purpose=…, or --purpose …)")]
    PurposeRequired,
    /// The purpose is not in the catalog.
    #[error("unknown purpose {given:?}; the catalog lists: {}", .accepted.join(", "))]
    UnknownPurpose {
        /// What was given (cut to 64 characters).
        given: String,
        /// The catalog's purposes.
        accepted: Vec<String>,
    },
    /// Search on a field that has no index.
    #[error("field {0:?} is not searchable")]
    NotSearchable(String),
    /// A batch exceeded the limit.
    #[error("a batch holds at most {max} records (got {got})")]
    BatchTooLarge {
        /// The limit.
        max: usize,
        /// What was sent.
        got: usize,
    },
    /// Input that cannot be read at all (CSV structure, headers, encoding).
    #[error("{0}")]
    Input(String),
    /// The data directory does not exist or is not initialized.
    #[error("no Custodia data directory at {0}; run `custodia init` (or `custodia serve`, which initializes)")]
    NotInitialized(String),
    /// `init` on a directory that already holds data.
    #[error("{0} already holds a Custodia data directory")]
    AlreadyInitialized(String),
    /// Configuration problems.
    #[error("configuration: {0}")]
    Config(String),
    /// File system problems.
    #[error("{0}")]
    Io(String),
    /// No channel is configured to reach customers (mail, SMS webhook).
    #[error("delivery: {0}")]
    Delivery(String),
    /// No privacy notice is published, so no purpose may be used.
    #[error("no privacy notice is published; publish one with `custodia notice publish FILE` (or POST /v1/notices)")]
    NoNotice,
    /// A notice version that cannot be published.
    #[error("notice version: {0}")]
    NoticeVersion(String),
    /// The purpose is not described in the notice in force.
    #[error("purpose {purpose} is not described in the privacy notice (version {version}); undisclosed purposes cannot be used (PIPL Art. 17)")]
    PurposeNotInNotice {
        /// The purpose.
        purpose: String,
        /// The notice version in force.
        version: u32,
    },
    /// Fields the notice does not list for the declared purpose.
    #[error("the privacy notice (version {version}) does not list {} for purpose {purpose}", .fields.join(", "))]
    PurposeLimitation {
        /// The purpose.
        purpose: String,
        /// The notice version in force.
        version: u32,
        /// The fields.
        fields: Vec<String>,
    },
    /// The purpose rests on consent, and the customer's consent of the
    /// required kind is not in force.
    #[error("purpose {purpose} needs the customer's {} consent ({}): {reason}", .kinds.join(" and "), .citations.join(", "))]
    ConsentRequired {
        /// The purpose.
        purpose: String,
        /// Where the customer stands (`never_given`, `withdrawn`, `renewal_needed`, `kind_missing`).
        state: String,
        /// The kinds required.
        kinds: Vec<String>,
        /// The rules that require them.
        citations: Vec<String>,
        /// Why the consent on record does not do.
        reason: String,
    },
    /// A request cannot take this step now (wrong state, deadline passed,
    /// changed meanwhile).
    #[error("{0}")]
    RequestState(String),
    /// A legal hold stops the destruction.
    #[error("customer {customer} is under legal hold ({reasons}); release the hold before erasing")]
    LegalHold {
        /// The customer.
        customer: String,
        /// The holds' reasons.
        reasons: String,
    },
    /// The purpose may not be used while processing is restricted or after an objection.
    #[error("purpose {purpose} may not be used for this customer: {why}")]
    ProcessingStopped {
        /// The purpose.
        purpose: String,
        /// Restricted, or objected.
        why: String,
    },
    /// The person was erased before: an identifier of the new record is on
    /// the suppression list of erased people.
    #[error("this person was erased before (matched on {}; tombstone {tombstone}, destruction certificate {certificate}); to collect them again, a caller allowed to readmit_erased states the new collection basis (new_collection_basis)", .matched.join(", "))]
    ErasedBefore {
        /// The identifiers that matched (`external_id`, `id_document`).
        matched: Vec<String>,
        /// The erasure's tombstone.
        tombstone: String,
        /// Its destruction certificate.
        certificate: String,
    },
    /// A caller sent more requests than its budget allows.
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cryptography failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn join(p: &[FieldProblem]) -> String {
    p.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("; ")
}

impl VaultError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::Invalid(p) if p.iter().all(|x| x.code == "unknown_field") => "unknown_field",
            VaultError::Invalid(p) if p.iter().all(|x| x.code == "not_necessary") => "not_necessary",
            VaultError::Invalid(_) => "invalid_record",
            VaultError::NotFound(_) => "not_found",
            VaultError::VersionConflict { .. } => "version_conflict",
            VaultError::Forbidden(_) => "forbidden",
            VaultError::MfaRequired(_) => "mfa_required",
            VaultError::StepUpRequired { .. } => "step_up_required",
            VaultError::TrainingRequired { .. } => "training_required",
            VaultError::SeparationOfDuties(_) => "separation_of_duties",
            VaultError::PurposeRequired => "purpose_required",
            VaultError::UnknownPurpose { .. } => "unknown_purpose",
            VaultError::NotSearchable(_) => "not_searchable",
            VaultError::BatchTooLarge { .. } => "batch_too_large",
            VaultError::Input(_) => "bad_input",
            VaultError::NotInitialized(_) => "not_initialized",
            VaultError::AlreadyInitialized(_) => "already_initialized",
            VaultError::Config(_) => "config",
            VaultError::NoNotice => "no_notice",
            VaultError::Delivery(_) => "delivery_failed",
            VaultError::NoticeVersion(_) => "notice_version",
            VaultError::PurposeNotInNotice { .. } => "purpose_not_in_notice",
            VaultError::PurposeLimitation { .. } => "purpose_limitation",
            VaultError::ConsentRequired { .. } => "consent_required",
            VaultError::RequestState(_) => "request_state",
            VaultError::LegalHold { .. } => "legal_hold",
            VaultError::ProcessingStopped { .. } => "processing_stopped",
            VaultError::ErasedBefore { .. } => "erased_before",
            VaultError::TooManyRequests(_) => "too_many_requests",
            VaultError::Io(_) => "io",
            VaultError::Store(StoreError::Unavailable(_)) | VaultError::Store(StoreError::Closed) => {
                "storage_unavailable"
            }
            VaultError::Store(_) => "storage",
            VaultError::Crypto(CryptoError::WrongSecret) => "wrong_master_secret",
            VaultError::Crypto(_) => "crypto",
        }
    }

    /// Field problems, when the error is about a record's content.
    pub fn problems(&self) -> &[FieldProblem] {
        match self {
            VaultError::Invalid(p) => p,
            _ => &[],
        }
    }
}

impl From<std::io::Error> for VaultError {
    fn from(e: std::io::Error) -> Self {
        VaultError::Io(e.to_string())
    }
}
