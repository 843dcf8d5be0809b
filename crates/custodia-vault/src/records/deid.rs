//! De-identification in the vault: free-text fields scanned on write
//! (findings redacted, tokenized or refused per the schema), vault tokens
//! and their audited detokenization, and de-identified exports under a
//! profile with k-anonymity, l-diversity and a re-identification risk
//! report.

use crate::access::authz::Principal;
use crate::error::FieldProblem;
use crate::progress::Progress;
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::policy::Permission;
use custodia_core::schema::{FieldType, ScanAction};
use custodia_core::{CustomerId, FieldName, Purpose};
use custodia_crypto::FieldCipher;
use custodia_deid::detect::Kind;
use custodia_deid::ff1::{Alphabet, Ff1};
use custodia_deid::kanon::{Classes, Risk};
use custodia_deid::ops;
use custodia_deid::profile::{Gen, Profile, Rule, TokenMode};
use custodia_store::prelude::*;
use custodia_store::{Mutation, StoredCustomer, VaultToken};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// Field code under which vault-token values are sealed (outside the
/// schema's 64 field codes).
const TOKEN_CODE: u8 = 253;
/// Findings below this score are left in the text.
const MIN_SCORE: f32 = 0.6;

fn token_field() -> FieldName {
    FieldName::new("vault_token").expect("a valid name")
}

fn random_token() -> String {
    let mut b = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    format!("tok_{}", custodia_core::audit::to_hex(&b))
}

/// The written form of a token inside text.
pub fn token_in_text(kind: &str, token: &str) -> String {
    format!("[[{kind} {token}]]")
}

/// What a de-identified export did.
#[derive(Debug, Clone, Serialize)]
pub struct DeidReport {
    /// Fields written.
    pub fields: Vec<String>,
    /// Schema fields the profile does not name (dropped).
    pub dropped: Vec<String>,
    /// k, l, suppression and prosecutor risk.
    pub risk: Risk,
    /// The k the profile asked for.
    pub k_required: usize,
    /// The l the profile asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l_required: Option<usize>,
    /// Wall time.
    pub seconds: f64,
}

/// Keys of the de-identification operators, derived from the master secret.
struct Keys {
    hash: [u8; 32],
    substitute: [u8; 32],
    shift: [u8; 32],
    noise: [u8; 32],
    token: [u8; 32],
    ff1_digits: Ff1,
    ff1_alnum: Ff1,
}

/// One record under a profile.
struct DeidRow {
    /// Output cells, in the profile's output order (empty when measuring).
    cells: Vec<String>,
    /// Quasi-identifier values.
    qi: Vec<String>,
    /// The sensitive value, when the profile names one.
    sensitive: Option<String>,
    /// Vault tokens made for it.
    tokens: Vec<VaultToken>,
}

/// Which pass of a de-identified export a record is processed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Counting classes: quasi-identifiers and the sensitive value only.
    Measure,
    /// Writing the released records.
    Write,
    /// Writing, and storing the vault tokens made.
    WriteWithTokens,
}

/// What the operators need to know about the record at hand.
struct RecordCx<'a> {
    keys: &'a Keys,
    customer: CustomerId,
    /// Per-export seed: noise differs between exports, agrees between passes.
    run: u64,
    today: chrono::NaiveDate,
    /// Present when vault tokens are made (second pass).
    cipher: Option<FieldCipher>,
    tokens: Vec<VaultToken>,
}

impl Vault {
    fn deid_keys(&self) -> Keys {
        let k = |p: &str| *self.keys().derive_subkey(p).expose();
        let ff1 = k("deid-ff1-v1");
        Keys {
            hash: k("deid-hash-v1"),
            substitute: k("deid-substitute-v1"),
            shift: k("deid-date-shift-v1"),
            noise: k("deid-noise-v1"),
            token: k("deid-vault-token-v1"),
            ff1_digits: Ff1::new(&ff1, Alphabet::Digits),
            ff1_alnum: Ff1::new(&ff1, Alphabet::Alnum),
        }
    }

    /// Scan a free-text value: findings redacted, tokenized (tokens
    /// returned, values sealed under `cipher`) or refused.
    pub(crate) fn scan_free_text(
        &self,
        customer: CustomerId,
        cipher: &FieldCipher,
        field: &FieldName,
        action: ScanAction,
        value: &str,
        now: i64,
    ) -> Result<(String, Vec<VaultToken>), FieldProblem> {
        let found: Vec<_> = custodia_deid::detect(value)
            .into_iter()
            .filter(|f| f.score >= MIN_SCORE)
            .collect();
        if found.is_empty() {
            return Ok((value.to_owned(), Vec::new()));
        }
        if action == ScanAction::Refuse {
            let mut kinds: Vec<&str> = found.iter().map(|f| f.kind.as_str()).collect();
            kinds.dedup();
            return Err(FieldProblem {
                field: field.to_string(),
                code: "personal_data_in_free_text".into(),
                message: format!(
                    "holds personal information ({}); put it in its own field or leave it out",
                    kinds.join(", ")
                ),
            });
        }
        let mut out = String::with_capacity(value.len());
        let mut tokens = Vec::new();
        let mut last = 0;
        for f in &found {
            out.push_str(&value[last..f.byte_start]);
            match action {
                ScanAction::Redact => out.push_str(&ops::label(f.kind)),
                _ => {
                    let token = random_token();
                    let sealed = cipher.seal_record(&[(TOKEN_CODE, &token_field(), f.text.as_bytes())]);
                    out.push_str(&token_in_text(f.kind.as_str(), &token));
                    tokens.push(VaultToken {
                        token,
                        customer,
                        field: field.to_string(),
                        kind: f.kind.as_str().into(),
                        sealed,
                        created_ms: now,
                    });
                }
            }
            last = f.byte_end;
        }
        out.push_str(&value[last..]);
        Ok((out, tokens))
    }

    /// The value behind a vault token, for `purpose`; every use and every
    /// refusal is audited. Needs `detokenize` of the token's field for the
    /// customer; the purpose must be usable for the customer and cover the
    /// field, as for a reveal.
    pub fn detokenize(&self, p: &Principal, token: &str, purpose: &Purpose) -> Result<String, VaultError> {
        let t = token.trim().trim_start_matches("[[").trim_end_matches("]]");
        let t = t.rsplit(' ').next().unwrap_or(t);
        let unknown = || VaultError::NotFound(format!("token {:?}", t.chars().take(40).collect::<String>()));
        let vt = self.store().vault_token(t)?.ok_or_else(unknown)?;
        let rec = self.store().get(&vt.customer)?.ok_or_else(unknown)?;
        let attrs = crate::access::authz::attrs_of(&rec)?;
        // A token of a customer outside the caller's scope is as unknown as
        // one that was never issued.
        if !self.sees(p, rec.id, &attrs) {
            self.audit_refusal(p, Some(rec.id), Some(purpose), &unknown());
            return Err(unknown());
        }
        let def = self.schema().field(&vt.field);
        self.require(
            p,
            Permission::Detokenize,
            def,
            Some(&attrs),
            Some(purpose),
            Some(rec.id),
        )?;
        let actor = p.actor();
        let actor = actor.as_str();
        let clear = self.decrypt(&rec)?;
        let allowed = self.gate(rec.id, rec.flags, &clear, purpose).and_then(|allowed| {
            if allowed.iter().any(|f| f.as_str() == vt.field) {
                Ok(())
            } else {
                Err(VaultError::PurposeLimitation {
                    purpose: purpose.to_string(),
                    version: self.notices().current().map(|n| n.version).unwrap_or(0),
                    fields: vec![vt.field.clone()],
                })
            }
        });
        if let Err(e) = allowed {
            self.audit_refusal(p, Some(rec.id), Some(purpose), &e);
            return Err(e);
        }
        let value = self
            .cipher_for(&rec)?
            .open_field(&vt.sealed, TOKEN_CODE, &token_field())?
            .ok_or(custodia_crypto::CryptoError::Decrypt)?;
        let mut e = AuditEvent::new(now_ms(), actor, Action::Reveal);
        e.customer = Some(rec.id);
        e.purpose = Some(purpose.clone());
        e.fields = FieldName::new(&vt.field).ok().into_iter().collect();
        e.detail = Some(format!("detokenized {} ({})", vt.token, vt.kind));
        self.audit(vec![e])?;
        String::from_utf8(value).map_err(|_| custodia_crypto::CryptoError::Decrypt.into())
    }

    /// Find personal information in text an application or a person sends
    /// (nothing of it is stored or logged). Needs `detect`; the bootstrap
    /// token, customers and jobs may not. Calls per caller are limited
    /// (`[http] detect_per_minute`) and the answer stays under twice the
    /// text's size (`truncated` says when findings were left out).
    pub fn detect(&self, p: &Principal, text: &str, opts: &DetectOptions) -> Result<Detection, VaultError> {
        if p.is_bootstrap() || p.customer().is_some() || p.kind() == "system" {
            return Err(self.forbid(p, None, "detection is for staff, applications and operators"));
        }
        self.require_admin(p, custodia_core::policy::Permission::Detect)?;
        if !(0.0..=1.0).contains(&opts.min_score) {
            return Err(VaultError::Input("min_score must be between 0 and 1".into()));
        }
        // Counted per account (all of a service's tokens together).
        let who = p.account().map(|a| format!("account:{a}")).unwrap_or_else(|| p.actor());
        self.detect_budget.take(&who, self.config().http.detect_per_minute)?;
        let all: Vec<custodia_deid::Finding> = custodia_deid::detect(text)
            .into_iter()
            .filter(|f| f.score >= opts.min_score && opts.kinds.as_ref().is_none_or(|k| k.contains(&f.kind)))
            .collect();
        // What is returned stays under twice the text's size (a short text
        // gets 8 KiB) and at most MAX_FINDINGS findings: dense text cannot
        // make a huge answer.
        let budget = (2 * text.len()).saturating_sub(64).max(8 << 10);
        let mut used = 0usize;
        let mut findings = Vec::new();
        let total = all.len();
        for f in all {
            let shown = ShownFinding::of(f, opts.detail);
            let size = serde_json::to_vec(&shown).map(|v| v.len() + 1).unwrap_or(usize::MAX);
            if findings.len() >= MAX_FINDINGS || used + size > budget {
                break;
            }
            used += size;
            findings.push(shown);
        }
        Ok(Detection {
            truncated: findings.len() < total,
            total,
            findings,
        })
    }

    /// Check a profile against the schema and load its hierarchy files
    /// (paths relative to `base`).
    pub fn load_profile(&self, text: &str, base: &std::path::Path) -> Result<Profile, VaultError> {
        let mut p = Profile::from_toml(text)
            .map_err(|errs| VaultError::Input(format!("the profile is not valid: {}", errs.join("; "))))?;
        let mut problems = Vec::new();
        for (f, rule) in p.fields.iter_mut() {
            let Some(def) = self.schema().field(f) else {
                problems.push(format!("{f} is not a field of the schema"));
                continue;
            };
            match rule {
                Rule::Substitute if kind_of(def.kind).is_none() => {
                    problems.push(format!("{f}: no realistic substitute exists for type {:?}", def.kind))
                }
                Rule::ShiftDates { .. } if def.kind != FieldType::Date => {
                    problems.push(format!("{f}: shift_dates needs a date field"))
                }
                Rule::Generalize(Gen::Hierarchy { path, loaded, .. }) => {
                    let full = base.join(&*path);
                    match std::fs::read_to_string(&full) {
                        Ok(t) => match custodia_deid::hierarchy::Hierarchy::from_arx_csv(&t) {
                            Ok(h) => *loaded = Some(h),
                            Err(e) => problems.push(format!("{f}: {}: {e}", full.display())),
                        },
                        Err(e) => problems.push(format!("{f}: {}: {e}", full.display())),
                    }
                }
                _ => {}
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Input(format!(
                "the profile is not valid: {}",
                problems.join("; ")
            )));
        }
        Ok(p)
    }

    /// Apply one rule to one value of the record `cx` describes.
    fn apply_rule(
        &self,
        cx: &mut RecordCx,
        rule: &Rule,
        def: &custodia_core::FieldDef,
        value: &str,
    ) -> Result<String, VaultError> {
        let (field, ftype) = (def.name.as_str(), def.kind);
        let keys = cx.keys;
        let customer = cx.customer;
        Ok(match rule {
            Rule::Keep => value.to_owned(),
            Rule::Drop => String::new(),
            Rule::Redact => ops::redact(value),
            Rule::Hash => ops::keyed_hash(&keys.hash, field, value),
            Rule::Mask {
                first: None,
                last: None,
            } => def.mask.apply(value),
            Rule::Mask { first, last } => ops::mask(value, first.unwrap_or(0), last.unwrap_or(0)),
            Rule::Substitute => ops::substitute(&keys.substitute, kind_of(ftype).unwrap_or(Kind::PersonName), value),
            Rule::Tokenize(TokenMode::Ff1) => {
                let digits = value.chars().filter(char::is_ascii_digit).count();
                let alnum = value.chars().filter(char::is_ascii_alphanumeric).count();
                let f = if digits * 2 >= alnum.max(1) {
                    &keys.ff1_digits
                } else {
                    &keys.ff1_alnum
                };
                f.encrypt(field.as_bytes(), value)
                    .map_err(|e| VaultError::Input(format!("{field}: {e}")))?
            }
            Rule::Tokenize(mode) => {
                let token = match mode {
                    TokenMode::VaultDeterministic => format!("tok_{}", &ops::keyed_hash(&keys.token, field, value)),
                    _ => random_token(),
                };
                if let Some(c) = &cx.cipher {
                    cx.tokens.push(VaultToken {
                        token: token.clone(),
                        customer,
                        field: field.to_owned(),
                        kind: field.to_owned(),
                        sealed: c.seal_record(&[(TOKEN_CODE, &token_field(), value.as_bytes())]),
                        created_ms: now_ms(),
                    });
                }
                token
            }
            Rule::Generalize(Gen::Builtin(b)) => b.apply(value, cx.today),
            Rule::Generalize(Gen::Hierarchy { level, loaded, .. }) => loaded
                .as_ref()
                .map(|h| h.generalize(value, *level))
                .unwrap_or_else(|| "*".into()),
            Rule::Perturb { epsilon, sensitivity } => {
                let x: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| VaultError::Input(format!("{field}: perturb needs numbers")))?;
                // Seeded per export run and customer, so both passes agree.
                let seed = ops::keyed_hash(&keys.noise, &format!("{}:{field}", cx.run), &customer.to_string());
                let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from_str_radix(&seed, 16).unwrap_or(0));
                format!("{:.2}", ops::perturb(&mut rng, x, *epsilon, *sensitivity))
            }
            Rule::ShiftDates { max_days } => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(|d| ops::shift_date(&keys.shift, &customer.to_string(), d, *max_days).to_string())
                .unwrap_or_else(|_| "*".into()),
        })
    }

    /// One record under the profile: its output cells (when `pass` writes),
    /// its quasi-identifier values and its sensitive value.
    #[allow(clippy::too_many_arguments)] // one record's inputs, all needed; called from two passes
    fn deid_record(
        &self,
        keys: &Keys,
        p: &Profile,
        rec: &StoredCustomer,
        run: u64,
        today: chrono::NaiveDate,
        pass: Pass,
        purpose: &Purpose,
    ) -> Result<Option<DeidRow>, VaultError> {
        let clear = self.decrypt(rec)?;
        // A customer the purpose may not be used for now (no consent,
        // restriction, objection) is not part of the release.
        match self.gate(rec.id, rec.flags, &clear, purpose) {
            Ok(_) => {}
            Err(VaultError::ConsentRequired { .. } | VaultError::ProcessingStopped { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut cx = RecordCx {
            keys,
            customer: rec.id,
            run,
            today,
            cipher: if pass == Pass::WriteWithTokens {
                Some(self.cipher_for(rec)?)
            } else {
                None
            },
            tokens: Vec::new(),
        };
        let mut cells: BTreeMap<&str, String> = BTreeMap::new();
        for (f, rule) in &p.fields {
            // Measuring needs only the quasi-identifiers and the sensitive value.
            if pass == Pass::Measure && !p.quasi_identifiers.contains(f) && p.sensitive.as_ref() != Some(f) {
                continue;
            }
            let def = self.schema().field(f).expect("checked against the schema");
            let v = match clear.get(f.as_str()) {
                Some(v) if rule.emits() => self.apply_rule(&mut cx, rule, def, v)?,
                _ => String::new(),
            };
            cells.insert(f.as_str(), v);
        }
        let out = match pass {
            Pass::Measure => Vec::new(),
            _ => p.output_fields().iter().map(|f| cells[f].clone()).collect(),
        };
        let qi = p.quasi_identifiers.iter().map(|q| cells[q.as_str()].clone()).collect();
        let sensitive = p.sensitive.as_ref().map(|s| cells[s.as_str()].clone());
        Ok(Some(DeidRow {
            cells: out,
            qi,
            sensitive,
            tokens: cx.tokens,
        }))
    }

    /// Export every customer under a de-identification profile as CSV: a
    /// first pass measures the equivalence classes, the second writes the
    /// records of classes that reach k (and l), creating vault tokens where
    /// the profile asks.
    ///
    /// Needs `export` of whole records for `purpose`, and `reveal` of every
    /// field the profile keeps in clear (`keep`, a mask of its own width,
    /// a prefix), which must also be a field the notice lists for the
    /// purpose. Customers outside the caller's grants, and those the
    /// purpose may not be used for now (no consent, restriction,
    /// objection), are not part of the release (nor of its equivalence
    /// classes).
    pub fn export_deidentified(
        &self,
        p: &Principal,
        purpose: &Purpose,
        out: &mut dyn Write,
        profile: &Profile,
        progress: &dyn Progress,
    ) -> Result<DeidReport, VaultError> {
        let d = self.decide_anywhere(p, Permission::Export, None, Some(purpose));
        if !d.allowed {
            let e = self.refusal(p, Permission::Export, None, Some(purpose), &d);
            self.audit_refusal(p, None, Some(purpose), &e);
            return Err(e);
        }
        let actor = p.actor();
        let actor = actor.as_str();
        // Fields that leave in clear are reveals, under the purpose's
        // notice like any other.
        let clear_fields: Vec<&custodia_core::FieldDef> = profile
            .fields
            .iter()
            .filter(|(_, r)| {
                // A prefix is part of the value in clear, like a mask of
                // chosen width.
                matches!(
                    r,
                    Rule::Keep
                        | Rule::Mask { first: Some(_), .. }
                        | Rule::Mask { last: Some(_), .. }
                        | Rule::Generalize(Gen::Builtin(custodia_deid::hierarchy::Builtin::Prefix(_)))
                )
            })
            .filter_map(|(f, _)| self.schema().field(f))
            .filter(|d| d.classification.is_encrypted())
            .collect();
        {
            let state = self.notices();
            let current = state.current().ok_or(VaultError::NoNotice)?;
            let pn = current
                .purpose(purpose.as_str())
                .ok_or_else(|| VaultError::PurposeNotInNotice {
                    purpose: purpose.to_string(),
                    version: current.version,
                })?;
            let outside: Vec<String> = clear_fields
                .iter()
                .filter(|d| !pn.fields.contains(&d.name))
                .map(|d| d.name.to_string())
                .collect();
            if !outside.is_empty() {
                let e = VaultError::PurposeLimitation {
                    purpose: purpose.to_string(),
                    version: current.version,
                    fields: outside,
                };
                self.audit_refusal(p, None, Some(purpose), &e);
                return Err(e);
            }
        }
        for f in &clear_fields {
            let d = self.decide_anywhere(p, Permission::Reveal, Some(f), Some(purpose));
            if !d.allowed {
                let e = self.refusal(p, Permission::Reveal, Some(f), Some(purpose), &d);
                self.audit_refusal(p, None, Some(purpose), &e);
                return Err(e);
            }
        }
        let may = |r: &StoredCustomer| -> Result<bool, VaultError> {
            let attrs = crate::access::authz::attrs_of(r)?;
            Ok(self.sees(p, r.id, &attrs)
                && self
                    .decide(p, Permission::Export, None, Some(&attrs), Some(purpose))
                    .allowed
                && clear_fields.iter().all(|f| {
                    self.decide(p, Permission::Reveal, Some(f), Some(&attrs), Some(purpose))
                        .allowed
                }))
        };
        let started = std::time::Instant::now();
        let keys = self.deid_keys();
        let run: u64 = rand::random();
        let today = chrono::Utc::now().date_naive();
        let (total, _) = self.store().counts(self.refresh_kek()?)?;
        let dropped: Vec<String> = self
            .schema()
            .fields()
            .iter()
            .filter(|f| !profile.fields.contains_key(f.name.as_str()))
            .map(|f| f.name.to_string())
            .collect();
        let mut e = AuditEvent::new(now_ms(), actor, Action::Export);
        e.purpose = Some(purpose.clone());
        e.detail = Some(format!(
            "de-identified export started: k={} l={:?} fields={}",
            profile.k,
            profile.l,
            profile.output_fields().join(",")
        ));
        self.audit(vec![e])?;
        // Pass 1: classes.
        let mut classes = Classes::default();
        progress.start(total * 2, "records");
        self.each_page(&may, |page, scanned| {
            let rows: Vec<Result<_, VaultError>> = page
                .par_iter()
                .map(|r| self.deid_record(&keys, profile, r, run, today, Pass::Measure, purpose))
                .collect();
            for r in rows {
                let Some(row) = r? else { continue };
                classes.add(row.qi, row.sensitive.as_deref());
            }
            progress.advance(scanned);
            Ok(())
        })?;
        // Pass 2: released records.
        let pass = if profile.fields.values().any(|r| {
            matches!(
                r,
                Rule::Tokenize(TokenMode::VaultRandom | TokenMode::VaultDeterministic)
            )
        }) {
            Pass::WriteWithTokens
        } else {
            Pass::Write
        };
        // What is actually written, counted again: the figures reported are
        // those of the release, and a class an erasure between the passes
        // shrank below k is caught.
        let mut released = Classes::default();
        let mut w = csv::Writer::from_writer(out);
        w.write_record(profile.output_fields())
            .map_err(|e| VaultError::Io(e.to_string()))?;
        self.each_page(&may, |page, scanned| {
            let rows: Vec<Result<_, VaultError>> = page
                .par_iter()
                .map(|r| {
                    self.deid_record(&keys, profile, r, run, today, pass, purpose)
                        .map(|x| (r.id, x))
                })
                .collect();
            let mut muts = Vec::new();
            for r in rows {
                let (
                    id,
                    Some(DeidRow {
                        cells,
                        qi,
                        sensitive,
                        tokens,
                    }),
                ) = r?
                else {
                    continue;
                };
                if !classes.keep(&qi, profile.k, profile.l) {
                    continue;
                }
                w.write_record(&cells).map_err(|e| VaultError::Io(e.to_string()))?;
                released.add(qi, sensitive.as_deref());
                if !tokens.is_empty() {
                    muts.push(Mutation::PutVaultTokens {
                        customer: id,
                        replace: Vec::new(),
                        tokens,
                        events: Vec::new(),
                    });
                }
            }
            if !muts.is_empty() {
                for r in self.store().apply(muts)? {
                    r?;
                }
            }
            progress.advance(scanned);
            Ok(())
        })?;
        w.flush().map_err(|e| VaultError::Io(e.to_string()))?;
        progress.finish();
        let risk = release_risk(&classes, &released, profile.k, profile.l)?;
        let mut e = AuditEvent::new(now_ms(), actor, Action::Export);
        e.detail = Some(format!(
            "de-identified export finished: released={} suppressed={} k={} max_risk={:.4}",
            risk.released, risk.suppressed, risk.k, risk.max_risk
        ));
        self.audit(vec![e])?;
        Ok(DeidReport {
            fields: profile.output_fields().iter().map(|s| s.to_string()).collect(),
            dropped,
            risk,
            k_required: profile.k,
            l_required: profile.l,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Visit the records `may` admits, a page at a time, with the number
    /// of records scanned for the page (progress counts every record,
    /// admitted or not).
    fn each_page(
        &self,
        may: &dyn Fn(&StoredCustomer) -> Result<bool, VaultError>,
        mut f: impl FnMut(&[StoredCustomer], u64) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        let mut cursor = 0;
        loop {
            let (page, next) = self.store().scan(cursor, 2000)?;
            if page.is_empty() {
                return Ok(());
            }
            cursor = next;
            let scanned = page.len() as u64;
            let mut admitted = Vec::with_capacity(page.len());
            for r in page {
                if may(&r)? {
                    admitted.push(r);
                }
            }
            f(&admitted, scanned)?;
        }
    }
}

/// The figures of a release: `released` holds what was written, `all`
/// the classes of every record. Fails when a written class is below k (or
/// l), which happens only when records changed or went between the passes.
fn release_risk(all: &Classes, released: &Classes, k: usize, l: Option<usize>) -> Result<Risk, VaultError> {
    let r = released.risk(k, l);
    if r.suppressed > 0 {
        return Err(VaultError::Io(format!(
            "customers were erased or changed during the export, leaving {} written records in classes smaller than k = {k}{}; discard the output and run the export again",
            r.suppressed,
            l.map(|l| format!(" or less diverse than l = {l}")).unwrap_or_default()
        )));
    }
    let records = all.risk(k, l).records;
    Ok(Risk {
        records,
        suppressed: records - r.released,
        ..r
    })
}

/// Most findings one detection returns.
pub const MAX_FINDINGS: usize = 10_000;

/// How to detect.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions {
    /// Only these kinds (all when None).
    pub kinds: Option<Vec<custodia_deid::Kind>>,
    /// Leave out findings scored below this (0–1).
    pub min_score: f32,
    /// Also the matched text, byte offsets and evidence of each finding.
    pub detail: bool,
}

/// One finding as returned: its type, character offsets and score, and
/// with `detail` the rest.
#[derive(Debug, Clone, Serialize)]
pub struct ShownFinding {
    /// What it is.
    #[serde(rename = "type")]
    pub kind: custodia_deid::Kind,
    /// Start, in characters of the text.
    pub start: usize,
    /// End (exclusive), in characters.
    pub end: usize,
    /// Confidence, 0–1 (two decimals).
    pub score: f32,
    /// Start and end in bytes, the matched text and the evidence.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub detail: Option<FindingDetail>,
}

/// What `detail` adds to a finding.
#[derive(Debug, Clone, Serialize)]
pub struct FindingDetail {
    /// Start, in bytes.
    pub byte_start: usize,
    /// End (exclusive), in bytes.
    pub byte_end: usize,
    /// The text found, as written.
    pub text: String,
    /// Why it was taken for what it is.
    pub evidence: Vec<&'static str>,
}

impl ShownFinding {
    fn of(f: custodia_deid::Finding, detail: bool) -> ShownFinding {
        ShownFinding {
            kind: f.kind,
            start: f.start,
            end: f.end,
            score: (f.score * 100.0).round() / 100.0,
            detail: detail.then_some(FindingDetail {
                byte_start: f.byte_start,
                byte_end: f.byte_end,
                text: f.text,
                evidence: f.evidence,
            }),
        }
    }
}

/// What a detection found.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    /// The findings returned.
    pub findings: Vec<ShownFinding>,
    /// How many there were.
    pub total: usize,
    /// Whether some were left out (the answer's size or count bound).
    pub truncated: bool,
}

/// Requests per caller per minute, for operations that cost the server
/// work on text the caller sends.
#[derive(Debug, Default)]
pub(crate) struct CallBudget(std::sync::Mutex<std::collections::HashMap<String, (i64, u32)>>);

impl CallBudget {
    /// Count one call of `who`, refusing it past `per_minute` in the
    /// current minute (0: no limit).
    pub(crate) fn take(&self, who: &str, per_minute: u32) -> Result<(), VaultError> {
        if per_minute == 0 {
            return Ok(());
        }
        let now = crate::now_ms();
        let mut m = self.0.lock().expect("call budget");
        if m.len() > 10_000 {
            m.retain(|_, (start, _)| now - *start < 60_000);
        }
        let e = m.entry(who.to_owned()).or_insert((now, 0));
        if now - e.0 >= 60_000 {
            *e = (now, 0);
        }
        if e.1 >= per_minute {
            return Err(VaultError::TooManyRequests(format!(
                "at most {per_minute} detections a minute per caller; retry in {} s",
                (60_000 - (now - e.0)) / 1000 + 1
            )));
        }
        e.1 += 1;
        Ok(())
    }
}

/// The detector kind matching a schema type (for substitutes).
pub fn kind_of(t: FieldType) -> Option<Kind> {
    match t {
        FieldType::CnNationalId | FieldType::IdDocument => Some(Kind::CnId),
        FieldType::Phone => Some(Kind::CnMobile),
        FieldType::Email => Some(Kind::Email),
        FieldType::BankCard => Some(Kind::BankCard),
        FieldType::PersonName => Some(Kind::PersonName),
        FieldType::Address => Some(Kind::Address),
        FieldType::Date | FieldType::Text | FieldType::Country => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qi(a: &str) -> Vec<String> {
        vec![a.to_owned()]
    }

    #[test]
    fn a_class_shrunk_between_the_passes_fails_the_release() {
        let mut all = Classes::default();
        for c in ["a", "a", "a", "b", "b", "b", "c"] {
            all.add(qi(c), Some(c));
        }
        // Everything of a and b written: k = 3 holds, c suppressed.
        let mut written = Classes::default();
        for c in ["a", "a", "a", "b", "b", "b"] {
            written.add(qi(c), Some(c));
        }
        let r = release_risk(&all, &written, 3, None).unwrap();
        assert_eq!((r.records, r.released, r.suppressed, r.classes, r.k), (7, 6, 1, 2, 3));
        // One of b was erased before the second pass: b is written twice.
        let mut written = Classes::default();
        for c in ["a", "a", "a", "b", "b"] {
            written.add(qi(c), Some(c));
        }
        let e = release_risk(&all, &written, 3, None).unwrap_err().to_string();
        assert!(
            e.contains("leaving 2 written records in classes smaller than k = 3"),
            "{e}"
        );
    }
}
