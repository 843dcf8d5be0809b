//! The access policy and its decision engine.
//!
//! A policy (TOML, see `data/default-policy.toml`) names roles; each role
//! holds grants = permissions × fields (or classifications) × customer
//! scope × purposes. [`Policy::decide`] is pure and allocation-free on the
//! allow path: given who asks (roles, MFA, valid training) and what for
//! (permission, field, the customer's internal attributes, purpose), it
//! returns allow or deny together with the rule that decided. Anything not
//! granted is denied.

use crate::ids::{FieldName, Purpose};
use crate::rights::RequestKind;
use crate::schema::{Classification, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The policy shipped with Custodia.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../data/default-policy.toml");

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See a field's masked value.
    ReadMasked,
    /// See a field's clear value.
    Reveal,
    /// Create or change a field.
    Write,
    /// Delete customers.
    Delete,
    /// Export customers.
    Export,
    /// Record consents and withdrawals customers give through staff or an
    /// application, and issue privacy-portal entry codes.
    RecordConsent,
    /// See the value behind a vault token (found in free text, or issued by
    /// a de-identified export).
    Detokenize,
    /// Change the policy, schema and notices.
    ManagePolicy,
    /// Read and verify the audit log.
    ReadAudit,
    /// Create, disable and assign roles to accounts.
    ManageAccounts,
    /// Rotate keys, run backups.
    ManageKeys,
    /// Record staff training.
    ManageTraining,
    /// Run access reviews.
    ReviewAccess,
    /// Handle data-subject requests (acknowledge, extend, deny, complete,
    /// notify recipients), legal holds and destruction certificates.
    HandleRequests,
    /// Log data-subject requests and verify the requester's identity.
    VerifyIdentity,
    /// Create a record of a person on the suppression list of erased
    /// people, stating the new collection basis (e.g. they signed up again).
    ReadmitErased,
    /// Scan text for personal information (`POST /v1/detect`).
    Detect,
}

impl Permission {
    /// Every permission, for listings and matrices.
    pub const ALL: [Permission; 17] = [
        Permission::ReadMasked,
        Permission::Reveal,
        Permission::Write,
        Permission::Delete,
        Permission::Export,
        Permission::RecordConsent,
        Permission::Detokenize,
        Permission::ManagePolicy,
        Permission::ReadAudit,
        Permission::ManageAccounts,
        Permission::ManageKeys,
        Permission::ManageTraining,
        Permission::ReviewAccess,
        Permission::HandleRequests,
        Permission::VerifyIdentity,
        Permission::ReadmitErased,
        Permission::Detect,
    ];

    /// Permissions on customer data (they need a field and a purpose).
    pub fn is_data(self) -> bool {
        matches!(
            self,
            Permission::ReadMasked
                | Permission::Reveal
                | Permission::Write
                | Permission::Delete
                | Permission::Export
                | Permission::RecordConsent
                | Permission::Detokenize
                | Permission::ReadmitErased
        )
    }

    /// Running the system without touching customers' data: accounts,
    /// tokens, keys and backups. A role made only of these (and
    /// `read_audit`) is administrative: an account administrator may hand
    /// it out alone; every other role is granted by whoever reviews access.
    pub fn is_administration(self) -> bool {
        matches!(self, Permission::ManageAccounts | Permission::ManageKeys)
    }

    /// Whether a role granting this needs its holder to sign in with MFA:
    /// anything that exposes or changes personal data, gives out access,
    /// or changes the rules (only masked reads, consents, identity checks
    /// and reading the audit log go without).
    pub fn needs_mfa(self) -> bool {
        self.exposes_data()
            || self.is_administration()
            || matches!(
                self,
                Permission::ManagePolicy
                    | Permission::ManageTraining
                    | Permission::ReviewAccess
                    | Permission::HandleRequests
            )
    }

    /// Permissions that expose or change personal data in clear.
    pub fn exposes_data(self) -> bool {
        matches!(
            self,
            Permission::Reveal
                | Permission::Write
                | Permission::Delete
                | Permission::Export
                | Permission::Detokenize
                | Permission::ReadmitErased
        )
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadMasked => "read_masked",
            Permission::Reveal => "reveal",
            Permission::Write => "write",
            Permission::Delete => "delete",
            Permission::Export => "export",
            Permission::RecordConsent => "record_consent",
            Permission::Detokenize => "detokenize",
            Permission::ManagePolicy => "manage_policy",
            Permission::ReadAudit => "read_audit",
            Permission::ManageAccounts => "manage_accounts",
            Permission::ManageKeys => "manage_keys",
            Permission::ManageTraining => "manage_training",
            Permission::ReviewAccess => "review_access",
            Permission::HandleRequests => "handle_requests",
            Permission::VerifyIdentity => "verify_identity",
            Permission::ReadmitErased => "readmit_erased",
            Permission::Detect => "detect",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which fields a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSel {
    /// Every field.
    Any,
    /// Every field of a classification.
    Class(Classification),
    /// One field.
    Name(FieldName),
}

impl FieldSel {
    fn matches(&self, name: &FieldName, class: Classification) -> bool {
        match self {
            FieldSel::Any => true,
            FieldSel::Class(c) => *c == class,
            FieldSel::Name(n) => n == name,
        }
    }
}

impl fmt::Display for FieldSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldSel::Any => f.write_str("*"),
            FieldSel::Class(c) => write!(f, "class:{}", format!("{c:?}").to_lowercase()),
            FieldSel::Name(n) => f.write_str(n.as_str()),
        }
    }
}

/// One grant of a role.
#[derive(Debug, Clone)]
pub struct Grant {
    /// What it allows.
    pub permissions: Vec<Permission>,
    /// On which fields (data permissions).
    pub fields: Vec<FieldSel>,
    /// For which customers: attribute → allowed values (empty: all).
    pub scope: Vec<(String, Vec<String>)>,
    /// For which purposes (data permissions).
    pub purposes: Vec<Purpose>,
    /// Line of the grant in the policy file.
    pub line: usize,
}

impl Grant {
    fn in_scope(&self, attrs: Option<&BTreeMap<String, String>>) -> bool {
        self.scope.iter().all(|(attr, allowed)| {
            attrs
                .and_then(|a| a.get(attr))
                .is_some_and(|v| allowed.iter().any(|x| x == v))
        })
    }
}

/// A role: a named set of grants.
#[derive(Debug, Clone)]
pub struct Role {
    /// Identifier used in account assignments.
    pub id: String,
    /// English name.
    pub name_en: String,
    /// Chinese name.
    pub name_zh: String,
    /// The grants.
    pub grants: Vec<Grant>,
    /// Whether the role can expose personal data or hand out access, and
    /// so needs MFA ([`Permission::needs_mfa`]).
    pub requires_mfa: bool,
    /// Whether the role only administers the system
    /// ([`Permission::is_administration`], plus `read_audit`).
    pub administrative: bool,
    /// Line of the role in the policy file.
    pub line: usize,
}

/// A problem in a policy file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// A training course: what counts as passing it and how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Course {
    /// Identifier used in training records.
    pub id: String,
    /// English name.
    pub name_en: String,
    /// Chinese name.
    pub name_zh: String,
    /// Lowest score (0-100) that counts as passing.
    pub pass_mark: i64,
    /// Days a passed training stays valid.
    pub valid_days: i64,
}

/// Pass mark of courses listed by id only (policy files written before
/// courses had their own tables).
pub const DEFAULT_PASS_MARK: i64 = 60;
/// Validity of courses listed by id only.
pub const DEFAULT_VALID_DAYS: i64 = 365;

/// Which steps of a data-subject request must be done by different people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeparationOfDuties {
    /// Request kinds whose requester's identity verifier may not also
    /// complete them (default: access, portability and erasure, the kinds
    /// that hand out or destroy the whole record).
    pub verifier_cannot_complete: Vec<RequestKind>,
}

impl Default for SeparationOfDuties {
    fn default() -> Self {
        SeparationOfDuties {
            verifier_cannot_complete: vec![RequestKind::Access, RequestKind::Portability, RequestKind::Erasure],
        }
    }
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    roles: Vec<Role>,
    courses: Vec<Course>,
    training_required_for: Vec<Permission>,
    separation: SeparationOfDuties,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    #[serde(default)]
    training: Option<RawTraining>,
    #[serde(default)]
    separation_of_duties: Option<RawSeparation>,
    #[serde(default)]
    roles: Vec<toml::Spanned<RawRole>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraining {
    #[serde(default)]
    courses: Vec<toml::Spanned<RawCourse>>,
    #[serde(default)]
    required_for: Vec<toml::Spanned<String>>,
}

/// A course as written: its id alone (older policy files) or a table.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCourse {
    Id(String),
    Table(RawCourseTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCourseTable {
    id: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    pass_mark: i64,
    valid_days: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeparation {
    verifier_cannot_complete: Vec<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    id: toml::Spanned<String>,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    grants: Vec<toml::Spanned<RawGrant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    actions: Vec<toml::Spanned<String>>,
    #[serde(default)]
    fields: Vec<toml::Spanned<String>>,
    #[serde(default)]
    scope: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    purposes: Vec<toml::Spanned<String>>,
}

fn valid_course_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Why a request was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// Data access without a declared purpose.
    PurposeRequired,
    /// No grant of the caller's roles covers the request.
    NoGrant,
    /// A grant covers it, but its role needs MFA and the account has none.
    MfaRequired,
    /// A grant covers it, but this training is missing or expired.
    TrainingRequired(String),
    /// A grant covers a reveal, but the person's last second-factor code
    /// is older than the step-up time allows (checked by the vault, which
    /// knows the session).
    StepUp {
        /// The step-up time, in seconds.
        seconds: u32,
    },
}

/// Which rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// The role.
    pub role: String,
    /// 1-based grant number within the role.
    pub grant: usize,
    /// Line of the grant in the policy file.
    pub line: usize,
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Why not, when denied.
    pub reason: Option<DenyReason>,
    /// The grant that allowed it (or would have, for MFA/training denials).
    pub rule: Option<RuleRef>,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = self
            .rule
            .as_ref()
            .map(|r| format!("role {} grant #{} (policy line {})", r.role, r.grant, r.line));
        match (&self.reason, rule) {
            (None, Some(r)) => write!(f, "allow by {r}"),
            (None, None) => f.write_str("allow"),
            (Some(DenyReason::PurposeRequired), _) => f.write_str("deny: data access must declare a purpose"),
            (Some(DenyReason::NoGrant), _) => {
                f.write_str("deny: no grant of the caller's roles allows this (default deny)")
            }
            (Some(DenyReason::MfaRequired), Some(r)) => write!(
                f,
                "deny: {r} needs multi-factor authentication, which the account has not enrolled"
            ),
            (Some(DenyReason::TrainingRequired(c)), Some(r)) => write!(f, "deny: {r} needs valid training {c:?}"),
            (Some(DenyReason::StepUp { seconds }), _) => write!(
                f,
                "deny: revealing needs a second-factor code confirmed in the last {seconds} seconds"
            ),
            (Some(other), None) => write!(f, "deny: {other:?}"),
        }
    }
}

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Role ids assigned to the account.
    pub roles: &'a [String],
    /// Whether the account has MFA enrolled (and used it for this session).
    pub mfa: bool,
    /// Courses whose training is currently valid (passed, not expired).
    pub valid_courses: &'a [String],
    /// Training gates do not apply (applications and the local operator,
    /// who are not people taking courses in this sense).
    pub trained: bool,
}

/// What is asked.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The permission needed.
    pub permission: Permission,
    /// The field and its classification (data permissions on one field).
    pub field: Option<(&'a FieldName, Classification)>,
    /// The customer's internal attributes (for scoped grants).
    pub attrs: Option<&'a BTreeMap<String, String>>,
    /// The declared purpose.
    pub purpose: Option<&'a Purpose>,
}

impl Policy {
    /// The default policy, checked against `schema`.
    pub fn default_policy(schema: &Schema) -> Policy {
        Policy::from_toml(DEFAULT_POLICY_TOML, schema).expect("the bundled policy is valid")
    }

    /// Parse and validate a policy against the schema (fields, purposes and
    /// scope attributes must exist). Returns every problem found.
    pub fn from_toml(text: &str, schema: &Schema) -> Result<Policy, Vec<PolicyError>> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            vec![PolicyError {
                line: e.span().map(|s| line_at(text, s.start)).unwrap_or(0),
                message: e.message().to_owned(),
            }]
        })?;
        let mut errors = Vec::new();
        let err = |errors: &mut Vec<PolicyError>, offset: usize, message: String| {
            errors.push(PolicyError {
                line: line_at(text, offset),
                message,
            })
        };
        if raw.version != 1 {
            err(&mut errors, 0, format!("unsupported policy version {}", raw.version));
        }
        let mut courses: Vec<Course> = Vec::new();
        let mut training_required_for = Vec::new();
        if let Some(t) = raw.training {
            for c in t.courses {
                let at = c.span().start;
                let course = match c.into_inner() {
                    RawCourse::Id(id) => Course {
                        name_en: id.clone(),
                        name_zh: id.clone(),
                        id,
                        pass_mark: DEFAULT_PASS_MARK,
                        valid_days: DEFAULT_VALID_DAYS,
                    },
                    RawCourse::Table(t) => Course {
                        name_en: if t.name_en.is_empty() { t.id.clone() } else { t.name_en },
                        name_zh: if t.name_zh.is_empty() { t.id.clone() } else { t.name_zh },
                        id: t.id,
                        pass_mark: t.pass_mark,
                        valid_days: t.valid_days,
                    },
                };
                if !valid_course_id(&course.id) {
                    err(
                        &mut errors,
                        at,
                        format!("course id {:?} must be 1-64 letters, digits, '_' and '-'", course.id),
                    );
                }
                if !(0..=100).contains(&course.pass_mark) {
                    err(
                        &mut errors,
                        at,
                        format!("course {:?}: pass_mark must be 0-100", course.id),
                    );
                }
                if !(1..=3660).contains(&course.valid_days) {
                    err(
                        &mut errors,
                        at,
                        format!("course {:?}: valid_days must be 1-3660", course.id),
                    );
                }
                if courses.iter().any(|c| c.id == course.id) {
                    err(&mut errors, at, format!("course {:?} is declared twice", course.id));
                }
                courses.push(course);
            }
            for r in t.required_for {
                match Permission::parse(r.get_ref()) {
                    Some(p) => training_required_for.push(p),
                    None => err(&mut errors, r.span().start, format!("unknown action {:?}", r.get_ref())),
                }
            }
            if !training_required_for.is_empty() && courses.is_empty() {
                errors.push(PolicyError {
                    line: 0,
                    message: "[training] required_for names actions but no course is declared".into(),
                });
            }
        }
        let mut separation = SeparationOfDuties::default();
        if let Some(sep) = raw.separation_of_duties {
            separation.verifier_cannot_complete.clear();
            for k in sep.verifier_cannot_complete {
                match RequestKind::parse(k.get_ref()) {
                    Some(kind) => separation.verifier_cannot_complete.push(kind),
                    None => err(
                        &mut errors,
                        k.span().start,
                        format!(
                            "unknown request kind {:?}; kinds: {}",
                            k.get_ref(),
                            RequestKind::ALL.map(|k| k.as_str()).join(", ")
                        ),
                    ),
                }
            }
        }
        let mut roles = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for role in raw.roles {
            let role_line = line_at(text, role.span().start);
            let role = role.into_inner();
            let id = role.id.get_ref().clone();
            let id_ok = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !id_ok {
                err(
                    &mut errors,
                    role.id.span().start,
                    format!("role id {id:?} must be lowercase letters, digits and underscores"),
                );
            }
            if !seen.insert(id.clone()) {
                err(
                    &mut errors,
                    role.id.span().start,
                    format!("role {id:?} is declared twice"),
                );
            }
            let mut grants = Vec::new();
            for g in role.grants {
                let line = line_at(text, g.span().start);
                let g = g.into_inner();
                let mut permissions = Vec::new();
                for a in &g.actions {
                    match Permission::parse(a.get_ref()) {
                        Some(p) => permissions.push(p),
                        None => err(&mut errors, a.span().start, format!("unknown action {:?}", a.get_ref())),
                    }
                }
                if g.actions.is_empty() {
                    errors.push(PolicyError {
                        line,
                        message: "a grant needs at least one action".into(),
                    });
                }
                let data = permissions.iter().any(|p| p.is_data());
                let admin = permissions.iter().any(|p| !p.is_data());
                if data && admin {
                    err(
                        &mut errors,
                        g.actions[0].span().start,
                        "a grant mixes data and administration actions; split it".into(),
                    );
                }
                let mut fields = Vec::new();
                for f in &g.fields {
                    let v = f.get_ref().as_str();
                    let sel = if v == "*" {
                        Some(FieldSel::Any)
                    } else if let Some(c) = v.strip_prefix("class:") {
                        match c {
                            "internal" => Some(FieldSel::Class(Classification::Internal)),
                            "personal" => Some(FieldSel::Class(Classification::Personal)),
                            "sensitive" => Some(FieldSel::Class(Classification::Sensitive)),
                            _ => None,
                        }
                    } else {
                        schema.field(v).map(|d| FieldSel::Name(d.name.clone()))
                    };
                    match sel {
                        Some(s) => fields.push(s),
                        None => err(&mut errors, f.span().start, format!("unknown field or class {v:?}")),
                    }
                }
                let mut purposes = Vec::new();
                for p in &g.purposes {
                    match schema.purpose(p.get_ref()) {
                        Some(d) => purposes.push(d.id.clone()),
                        None => err(
                            &mut errors,
                            p.span().start,
                            format!("unknown purpose {:?} (not in the schema's catalog)", p.get_ref()),
                        ),
                    }
                }
                for attr in g.scope.keys() {
                    let internal = schema
                        .field(attr)
                        .is_some_and(|f| f.classification == Classification::Internal);
                    if !internal {
                        errors.push(PolicyError {
                            line,
                            message: format!("scope attribute {attr:?} is not an internal field of the schema"),
                        });
                    }
                }
                if data && (g.fields.is_empty() || g.purposes.is_empty()) {
                    errors.push(PolicyError {
                        line,
                        message: "a data grant needs fields and purposes".into(),
                    });
                }
                if admin && (!g.fields.is_empty() || !g.purposes.is_empty() || !g.scope.is_empty()) {
                    errors.push(PolicyError {
                        line,
                        message: "an administration grant takes no fields, purposes or scope".into(),
                    });
                }
                grants.push(Grant {
                    permissions,
                    fields,
                    scope: g.scope.into_iter().collect(),
                    purposes,
                    line,
                });
            }
            let requires_mfa = grants.iter().any(|g| g.permissions.iter().any(|p| p.needs_mfa()));
            let administrative = !grants.is_empty()
                && grants.iter().all(|g| {
                    g.permissions
                        .iter()
                        .all(|p| p.is_administration() || *p == Permission::ReadAudit)
                });
            roles.push(Role {
                id,
                name_en: role.name_en,
                name_zh: role.name_zh,
                grants,
                requires_mfa,
                administrative,
                line: role_line,
            });
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(errors);
        }
        Ok(Policy {
            roles,
            courses,
            training_required_for,
            separation,
        })
    }

    /// The training courses.
    pub fn courses(&self) -> &[Course] {
        &self.courses
    }

    /// A course by id.
    pub fn course(&self, id: &str) -> Option<&Course> {
        self.courses.iter().find(|c| c.id == id)
    }

    /// Which request steps need different people.
    pub fn separation(&self) -> &SeparationOfDuties {
        &self.separation
    }

    /// Whether any grant of `roles` covers `permission`, whatever its
    /// fields, scope and purposes (e.g. "is this an administrator").
    pub fn grants(&self, roles: &[String], permission: Permission) -> bool {
        roles
            .iter()
            .filter_map(|r| self.role(r))
            .any(|role| role.grants.iter().any(|g| g.permissions.contains(&permission)))
    }

    /// Whether a customer with these internal attributes is within the
    /// scope of any data grant of `roles`: the customers a caller may know
    /// to exist. Everyone else is answered "not found", like a customer
    /// that does not exist.
    pub fn sees(&self, roles: &[String], attrs: Option<&BTreeMap<String, String>>) -> bool {
        roles.iter().filter_map(|r| self.role(r)).any(|role| {
            role.grants
                .iter()
                .any(|g| g.permissions.iter().any(|p| p.is_data()) && g.in_scope(attrs))
        })
    }

    /// The roles.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// A role by id.
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }

    /// Whether `id` is an administrative role ([`Role::administrative`]);
    /// an unknown role is not.
    pub fn is_administrative(&self, id: &str) -> bool {
        self.role(id).is_some_and(|r| r.administrative)
    }

    /// Courses required for `p`, if any.
    pub fn courses_for(&self, p: Permission) -> &[Course] {
        if self.training_required_for.contains(&p) {
            &self.courses
        } else {
            &[]
        }
    }

    /// Whether a training with `score` passes `course` (unknown courses
    /// never count).
    pub fn passes(&self, course: &str, score: i64) -> bool {
        self.course(course).is_some_and(|c| score >= c.pass_mark)
    }

    /// Decide a request. Default deny.
    pub fn decide(&self, who: &Subject<'_>, req: &Request<'_>) -> Decision {
        self.decide_in(who, req, false)
    }

    /// Decide a request as if the customer were in every grant's scope:
    /// whether the caller may do this for some customer (e.g. search a
    /// field at all). `req.attrs` is ignored.
    pub fn decide_anywhere(&self, who: &Subject<'_>, req: &Request<'_>) -> Decision {
        self.decide_in(who, req, true)
    }

    fn decide_in(&self, who: &Subject<'_>, req: &Request<'_>, any_scope: bool) -> Decision {
        let data = req.permission.is_data();
        if data && req.purpose.is_none() {
            return Decision {
                allowed: false,
                reason: Some(DenyReason::PurposeRequired),
                rule: None,
            };
        }
        let mut blocked: Option<Decision> = None;
        for role_id in who.roles {
            let Some(role) = self.roles.iter().find(|r| &r.id == role_id) else {
                continue;
            };
            for (i, g) in role.grants.iter().enumerate() {
                if !g.permissions.contains(&req.permission) {
                    continue;
                }
                if data {
                    let field_ok = match req.field {
                        Some((name, class)) => g.fields.iter().any(|s| s.matches(name, class)),
                        // Record-level data actions (delete, export, record_consent) need a grant on every field.
                        None => g.fields.contains(&FieldSel::Any),
                    };
                    let scope_ok = any_scope || g.in_scope(req.attrs);
                    if !field_ok || !scope_ok || !req.purpose.is_some_and(|p| g.purposes.contains(p)) {
                        continue;
                    }
                }
                let rule = Some(RuleRef {
                    role: role.id.clone(),
                    grant: i + 1,
                    line: g.line,
                });
                if role.requires_mfa && !who.mfa {
                    blocked.get_or_insert(Decision {
                        allowed: false,
                        reason: Some(DenyReason::MfaRequired),
                        rule,
                    });
                    continue;
                }
                if !who.trained {
                    if let Some(missing) = self
                        .courses_for(req.permission)
                        .iter()
                        .find(|c| !who.valid_courses.contains(&c.id))
                    {
                        blocked.get_or_insert(Decision {
                            allowed: false,
                            reason: Some(DenyReason::TrainingRequired(missing.id.clone())),
                            rule,
                        });
                        continue;
                    }
                }
                return Decision {
                    allowed: true,
                    reason: None,
                    rule,
                };
            }
        }
        blocked.unwrap_or(Decision {
            allowed: false,
            reason: Some(DenyReason::NoGrant),
            rule: None,
        })
    }
}

#[cfg(test)]
mod tests;
