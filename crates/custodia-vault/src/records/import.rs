//! Streaming CSV import.
//!
//! Reads any size of file in bounded memory: rows are taken in chunks,
//! validated and encrypted on every core, and committed in one transaction
//! per chunk while the next chunk is being prepared. Every row ends up
//! either accepted (created, or already present by external id) or rejected
//! with its line number and reasons; the counts always add up to the rows
//! read. Re-importing a file skips the rows whose `external_id` is already
//! stored (it never updates them: use `customer update` for changes).

use crate::error::{FieldProblem, VaultError};
use crate::progress::Progress;
use crate::records::input::RecordInput;
use crate::{now_ms, unknown_field, Vault};
use custodia_core::audit::{Action, AuditEvent};
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation, Pending};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

/// Import settings.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The purpose the records are collected for (the caller's grants to
    /// write them, and to record consents they bring, are for it).
    pub purpose: custodia_core::Purpose,
    /// Column renames applied to the header: CSV name → field name.
    pub rename: BTreeMap<String, String>,
    /// Rows per transaction.
    pub chunk: usize,
    /// How the consents in a `consents` column were collected (`paper`,
    /// `web`, …); required when the file has that column.
    pub consent_channel: Option<String>,
    /// Language of the consent text shown, for rows without a `locale`.
    pub consent_language: Option<String>,
    /// The byte between columns (`,` unless told).
    pub delimiter: u8,
}

impl ImportOptions {
    /// Options with the defaults, for records collected for `purpose`.
    pub fn new(purpose: custodia_core::Purpose) -> Self {
        ImportOptions {
            purpose,
            rename: BTreeMap::new(),
            chunk: 2000,
            consent_channel: None,
            consent_language: None,
            delimiter: b',',
        }
    }
}

/// The column holding consents given with each row:
/// `purpose[+separate][+guardian]` entries separated by `;`.
pub const CONSENTS_COLUMN: &str = "consents";

/// The column stating, for a row of a person erased before, why they are
/// collected again (needs `readmit_erased`; empty for every other row).
pub const BASIS_COLUMN: &str = "new_collection_basis";

/// One rejected row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line where the row starts.
    pub line: u64,
    /// What is wrong with it.
    pub problems: Vec<FieldProblem>,
}

impl Reject {
    /// All problems on one line of text.
    pub fn reason(&self) -> String {
        self.problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Data rows read (the header excluded).
    pub rows_read: u64,
    /// New customers created.
    pub created: u64,
    /// Rows whose external id was already stored (skipped, unchanged).
    pub existing: u64,
    /// Rows refused.
    pub rejected: u64,
    /// The first rejects (all of them go to the rejects file).
    pub rejects: Vec<Reject>,
    /// Rows created with a warning (e.g. a mobile number an erased person
    /// had).
    pub warned: u64,
    /// The first warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Reject>,
}

impl ImportReport {
    /// Rows accepted: created or already present.
    pub fn accepted(&self) -> u64 {
        self.created + self.existing
    }
}

const REPORT_REJECTS: usize = 100;

/// Most physical lines, and bytes, one quoted record may span before its
/// opening quote is taken for one left unclosed.
const QUOTED_LINES: usize = 1000;
const QUOTED_BYTES: usize = 1 << 20;

/// Longest line read; a longer one stops the import (no CSV row is that long).
const MAX_LINE: usize = 16 << 20;

/// What the guard writes in place of a line taken out: a record of its own
/// (so the parser yields it and memory stays bounded), which the importer
/// reports as the unclosed quote it stands for.
const UNCLOSED_MARK: &[u8] = b"\x00custodia:unclosed-quote\x00";

/// Where the CSV grammar stands at the end of a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    FieldStart,
    Unquoted,
    Quoted,
    AfterClose,
}

/// The state after `line`, and whether a quote was closed before data
/// (`"a"b`): the parser reads on, but in a record spanning lines it means
/// the quote that opened it was never closed where it should have been.
fn quote_state(mut st: Quote, line: &[u8], delimiter: u8) -> (Quote, bool) {
    let mut malformed = false;
    for &c in line {
        st = match (st, c) {
            (Quote::Quoted, b'"') => Quote::AfterClose,
            (Quote::Quoted, _) => Quote::Quoted,
            (Quote::AfterClose, b'"') => Quote::Quoted,
            (_, b'\n' | b'\r') => Quote::FieldStart,
            (_, d) if d == delimiter => Quote::FieldStart,
            (Quote::FieldStart, b'"') => Quote::Quoted,
            (Quote::AfterClose, _) => {
                malformed = true;
                Quote::Unquoted
            }
            _ => Quote::Unquoted,
        };
    }
    (st, malformed)
}

/// Lines whose quote never closes, taken out of the stream (as `\n`, so
/// line numbers stay right) with their line number and text.
type Unclosed = std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<(u64, Vec<u8>)>>>;

/// The reject of a line whose quote never closed.
fn unclosed_row(line: u64, text: &[u8]) -> Row {
    let mut raw = csv::ByteRecord::new();
    raw.push_field(text.strip_suffix(b"\n").unwrap_or(text));
    Row {
        line,
        raw,
        parsed: Err(vec![problem(
            "row",
            "unclosed_quote",
            "a quote opened on this line is never closed; the line was left out and the lines after it were read as rows".into(),
        )]),
    }
}

/// Frames the input into records the way the CSV parser will, so that a
/// quote left open cannot swallow the rest of the file: a quoted field
/// spanning more than [`QUOTED_LINES`] lines or [`QUOTED_BYTES`] bytes, or
/// running to the end, is taken for an unclosed quote; its first line is
/// taken out and reported, and the lines after it are read again as rows.
struct QuoteGuard<R> {
    inner: std::io::BufReader<R>,
    delimiter: u8,
    /// Lines to read again (after an unclosed quote), with their numbers.
    again: std::collections::VecDeque<(u64, Vec<u8>)>,
    next_line: u64,
    out: Vec<u8>,
    at: usize,
    unclosed: Unclosed,
}

impl<R: Read> QuoteGuard<R> {
    fn line(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        if let Some(l) = self.again.pop_front() {
            return Ok(Some(l));
        }
        let mut buf = Vec::new();
        if std::io::BufRead::read_until(&mut (&mut self.inner).take(MAX_LINE as u64 + 1), b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        self.next_line += 1;
        if buf.len() > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {} is longer than {} MiB", self.next_line, MAX_LINE >> 20),
            ));
        }
        Ok(Some((self.next_line, buf)))
    }

    /// The next record's bytes into `out` (empty at the end).
    fn frame(&mut self) -> std::io::Result<()> {
        self.out.clear();
        self.at = 0;
        let Some((n, first)) = self.line()? else { return Ok(()) };
        let (mut st, _) = quote_state(Quote::FieldStart, &first, self.delimiter);
        if st != Quote::Quoted {
            self.out = first;
            return Ok(());
        }
        let mut bytes = first.len();
        let mut pending = vec![(n, first)];
        while pending.len() <= QUOTED_LINES && bytes <= QUOTED_BYTES {
            let Some((m, l)) = self.line()? else { break };
            let (next, malformed) = quote_state(st, &l, self.delimiter);
            st = next;
            bytes += l.len();
            pending.push((m, l));
            if malformed {
                break;
            }
            if st != Quote::Quoted {
                self.out = pending.into_iter().flat_map(|(_, l)| l).collect();
                return Ok(());
            }
        }
        let mut rest = pending.into_iter();
        let (n, first) = rest.next().expect("the first line");
        self.out.extend_from_slice(UNCLOSED_MARK);
        if first.ends_with(b"\n") {
            self.out.push(b'\n');
        }
        self.unclosed.borrow_mut().push_back((n, first));
        for l in rest.rev() {
            self.again.push_front(l);
        }
        Ok(())
    }
}

impl<R: Read> Read for QuoteGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.out.len() {
            self.frame()?;
            // Nothing framed and nothing to read again: the end.
            if self.out.is_empty() && self.again.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Counts lines as bytes pass to the CSV parser, because the parser's own
/// line numbers are off by one for CRLF files. Keeps only the newline
/// offsets not yet passed by the parser, so memory stays bounded.
struct LineCounter<R> {
    inner: R,
    state: std::rc::Rc<std::cell::RefCell<Lines>>,
}

#[derive(Default)]
struct Lines {
    consumed: u64,
    pending: std::collections::VecDeque<u64>,
    passed: u64,
}

impl Lines {
    /// 1-based line number of a record starting at byte `offset` (offsets
    /// only grow). The parser places a CRLF record's start on the `\n` that
    /// ends the previous line, so a newline at `offset` itself counts.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|&n| n <= offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut st = self.state.borrow_mut();
        let base = st.consumed;
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            st.pending.push_back(base + i as u64);
        }
        st.consumed += n as u64;
        Ok(n)
    }
}

struct Row {
    line: u64,
    raw: csv::ByteRecord,
    parsed: Result<RecordInput, Vec<FieldProblem>>,
}

fn problem(field: &str, code: &str, message: String) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        code: code.into(),
        message,
    }
}

/// Whether a header cell can be a column name: a short identifier.
/// Anything else (digits, an address, a name in Chinese) is data, and is
/// never echoed back.
fn is_column_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 64
        && h.bytes().any(|b| b.is_ascii_alphabetic())
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' ' | b'.'))
        && !h.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Names other systems give the default schema's fields.
const SYNONYMS: &[(&str, &str)] = &[
    ("phone", "mobile"),
    ("phone_number", "mobile"),
    ("mobile_phone", "mobile"),
    ("cellphone", "mobile"),
    ("cell", "mobile"),
    ("tel", "mobile"),
    ("telephone", "mobile"),
    ("e-mail", "email"),
    ("mail", "email"),
    ("email_address", "email"),
    ("id_number", "national_id"),
    ("id_no", "national_id"),
    ("id_card", "national_id"),
    ("idcard", "national_id"),
    ("ssn", "national_id"),
    ("full_name", "name"),
    ("customer_name", "name"),
    ("addr", "address"),
    ("street", "address"),
    ("birthday", "birth_date"),
    ("dob", "birth_date"),
    ("date_of_birth", "birth_date"),
    ("dept", "department"),
    ("lang", "locale"),
    ("language", "locale"),
    ("crm_id", "external_id"),
    ("customer_id", "external_id"),
    ("card", "bank_card"),
    ("card_number", "bank_card"),
];

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The field a column name probably means, if any.
fn near_miss(vault: &Vault, name: &str) -> Option<String> {
    let n = name.replace([' ', '-', '.'], "_");
    if let Some((_, f)) = SYNONYMS.iter().find(|(s, _)| *s == n || *s == name) {
        if *f == "external_id" || vault.schema().field(f).is_some() {
            return Some((*f).to_owned());
        }
    }
    vault
        .schema()
        .fields()
        .iter()
        .map(|f| (edit_distance(&n, f.name.as_str()), f.name.to_string()))
        .filter(|(d, f)| *d <= 2 && *d < f.len() / 2)
        .min()
        .map(|(_, f)| f)
}

/// Why a one-column header is probably another delimiter's file.
fn other_delimiter(header: &csv::ByteRecord, delimiter: u8) -> Option<&'static str> {
    if header.len() != 1 {
        return None;
    }
    let cell = header.get(0).unwrap_or_default();
    [
        (b';', "semicolons (;)"),
        (b'\t', "tabs"),
        (b'|', "vertical bars (|)"),
        (b',', "commas (,)"),
    ]
    .into_iter()
    .find(|(d, _)| *d != delimiter && cell.contains(d))
    .map(|(_, name)| name)
}

/// Resolve the header into field names (None for `external_id`), refusing
/// unknown, duplicate and missing required columns before any row is read.
fn map_header(vault: &Vault, header: &csv::ByteRecord, opts: &ImportOptions) -> Result<Vec<String>, VaultError> {
    if let Some(name) = other_delimiter(header, opts.delimiter) {
        return Err(VaultError::Input(format!(
            "the header has one column, and it holds {name}: the file is probably separated by {name}; say so with --delimiter"
        )));
    }
    let cells: Vec<String> = header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_lowercase()
        })
        .collect();
    let data_like: Vec<usize> = cells
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty() && !opts.rename.contains_key(*h) && !is_column_name(h))
        .map(|(i, _)| i + 1)
        .collect();
    if !data_like.is_empty() {
        let listed: Vec<String> = data_like.iter().take(5).map(|i| i.to_string()).collect();
        return Err(VaultError::Input(format!(
            "the first row does not look like a header: column(s) {} hold values, not field names (they are not repeated here). \
The first row must name the columns, e.g. external_id,name,mobile,email; the fields are: {}",
            listed.join(", "),
            vault
                .schema()
                .fields()
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut names = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, h) in header.iter().enumerate() {
        let h = std::str::from_utf8(h)
            .map_err(|_| VaultError::Input(format!("header column {} is not valid UTF-8", i + 1)))?;
        let h = h.trim_start_matches('\u{feff}').trim().to_lowercase();
        if h.is_empty() {
            return Err(VaultError::Input(format!("header column {} has no name", i + 1)));
        }
        let name = opts.rename.get(&h).cloned().unwrap_or(h);
        if name != "external_id"
            && name != CONSENTS_COLUMN
            && name != BASIS_COLUMN
            && vault.schema().field(&name).is_none()
        {
            unknown.push(name.clone());
        }
        if !seen.insert(name.clone()) {
            return Err(VaultError::Input(format!(
                "column {name:?} appears twice in the header"
            )));
        }
        names.push(name);
    }
    if !unknown.is_empty() {
        return Err(VaultError::Invalid(
            unknown
                .iter()
                .map(|n| {
                    let mut p = unknown_field(n);
                    if let Some(f) = near_miss(vault, n) {
                        p.message = format!("{}; did you mean {f}? (--map {n}={f})", p.message);
                    }
                    p
                })
                .collect(),
        ));
    }
    let missing: Vec<_> = vault
        .schema()
        .fields()
        .iter()
        .filter(|f| f.required && !seen.contains(f.name.as_str()))
        .map(|f| f.name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(VaultError::Input(format!(
            "the header lacks required column(s): {}",
            missing.join(", ")
        )));
    }
    Ok(names)
}

/// Read a `consents` cell.
fn parse_consents(
    cell: &str,
    opts: &ImportOptions,
    locale: Option<&str>,
) -> Result<Vec<crate::privacy::consent::ConsentInput>, FieldProblem> {
    let mut out = Vec::new();
    for entry in cell.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.split('+').map(str::trim);
        let purpose = parts.next().unwrap_or_default().to_owned();
        let mut input = crate::privacy::consent::ConsentInput {
            purpose,
            action: crate::privacy::consent::ConsentAction::Give,
            channel: opts.consent_channel.clone().unwrap_or_default(),
            language: locale
                .or(opts.consent_language.as_deref())
                .map(str::to_owned)
                .ok_or_else(|| {
                    problem(
                        CONSENTS_COLUMN,
                        "unknown_language",
                        "the language of the consent text shown is unknown: add a locale column or --consent-language"
                            .into(),
                    )
                })?,
            separate: false,
            by: None,
            text_sha256: None,
            notice_version: None,
            document_sha256: None,
        };
        for flag in parts {
            match flag {
                "separate" => input.separate = true,
                "guardian" => input.by = Some("guardian".into()),
                // Written consent: the signed document's SHA-256, checked
                // with the answer's other rules.
                f if f.starts_with("written:") => input.document_sha256 = Some(f["written:".len()..].to_owned()),
                other => {
                    return Err(problem(
                        CONSENTS_COLUMN,
                        "consent_flag",
                        format!(
                            "unknown flag {:?}: write purpose, purpose+separate, purpose+separate+guardian, or add +written:SHA256 of the signed document",
                            other.chars().take(32).collect::<String>()
                        ),
                    ))
                }
            }
        }
        out.push(input);
    }
    Ok(out)
}

fn parse_row(names: &[String], rec: &csv::ByteRecord, opts: &ImportOptions) -> Result<RecordInput, Vec<FieldProblem>> {
    if rec.len() != names.len() {
        let hint = if rec.iter().any(|c| c.contains(&b'\n')) {
            " (a quote is probably not closed)"
        } else {
            ""
        };
        return Err(vec![problem(
            "row",
            "column_count",
            format!("has {} columns, the header has {}{hint}", rec.len(), names.len()),
        )]);
    }
    let mut input = RecordInput::default();
    let mut problems = Vec::new();
    let mut consents = None;
    for (name, cell) in names.iter().zip(rec.iter()) {
        match std::str::from_utf8(cell) {
            Err(_) => problems.push(problem(name, "encoding", "is not valid UTF-8".into())),
            Ok(v) if v.trim().is_empty() => {}
            Ok(v) if name == "external_id" => input.external_id = Some(v.to_owned()),
            Ok(v) if name == CONSENTS_COLUMN => consents = Some(v),
            Ok(v) if name == BASIS_COLUMN => input.new_collection_basis = Some(v.to_owned()),
            Ok(v) => {
                input.fields.insert(name.clone(), v.to_owned());
            }
        }
    }
    if let Some(cell) = consents {
        match parse_consents(cell, opts, input.fields.get("locale").map(String::as_str)) {
            Ok(c) => input.consents = c,
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(input)
    } else {
        Err(problems)
    }
}

impl Vault {
    /// Import customers from CSV. `total_bytes` sizes the progress bar;
    /// rejected rows are written to `rejects` (CSV: line, reason, then the
    /// original columns) when given.
    ///
    /// Every row keeps the rules of a create: the caller's `write` of each
    /// field (and `record_consent` for consents it brings) within the new
    /// record's scope, for the import's purpose. A row the policy refuses
    /// is rejected with the reason like any other; the refusals are audited
    /// as one aggregated event.
    pub fn import(
        &self,
        p: &crate::access::authz::Principal,
        input: impl Read,
        total_bytes: Option<u64>,
        opts: &ImportOptions,
        rejects: Option<&mut dyn Write>,
        progress: &dyn Progress,
    ) -> Result<ImportReport, VaultError> {
        let lines = std::rc::Rc::new(std::cell::RefCell::new(Lines::default()));
        let unclosed = Unclosed::default();
        let counted = LineCounter {
            inner: QuoteGuard {
                inner: std::io::BufReader::with_capacity(1 << 16, input),
                delimiter: opts.delimiter,
                again: Default::default(),
                next_line: 0,
                out: Vec::new(),
                at: 0,
                unclosed: unclosed.clone(),
            },
            state: lines.clone(),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .delimiter(opts.delimiter)
            .has_headers(true)
            .from_reader(counted);
        let header = rdr
            .byte_headers()
            .map_err(|e| VaultError::Input(format!("cannot read the CSV header: {e}")))?
            .clone();
        let names = map_header(self, &header, opts)?;
        if names.iter().any(|n| n == CONSENTS_COLUMN) && opts.consent_channel.is_none() {
            return Err(VaultError::Input(
                "the CSV has a consents column: say how the consents were collected (--consent-channel paper|web|app|phone|in_person)".into(),
            ));
        }
        let mut rej_writer = rejects.map(|w| csv::WriterBuilder::new().flexible(true).from_writer(w));
        if let Some(w) = rej_writer.as_mut() {
            let mut h = csv::ByteRecord::new();
            h.push_field(b"line");
            h.push_field(b"reason");
            for f in header.iter() {
                h.push_field(f);
            }
            w.write_byte_record(&h)
                .map_err(|e| VaultError::Io(format!("rejects file: {e}")))?;
        }

        let actor = p.actor();
        let actor = actor.as_str();
        let purpose = &opts.purpose;
        self.require_some_write(p, purpose)?;
        let mut start = AuditEvent::new(now_ms(), actor, Action::Import);
        start.purpose = Some(purpose.clone());
        start.detail = Some("started".into());
        self.audit(vec![start])?;
        // Into an empty vault, blind indexes are built once at the end (a
        // sorted build instead of a million random inserts); searches scan
        // until then. A crash in between leaves them to the next open.
        let bulk = self.apply_one(vec![Mutation::BeginBulkLoad])?.pop() == Some(Applied::Done);

        progress.start(total_bytes.unwrap_or(0), "bytes");
        let mut report = ImportReport::default();
        let mut pending: Option<(Pending, usize)> = None;
        let mut last_byte = 0u64;
        let validator = self.validator();
        // The suppression list of erased people, looked up in memory (one
        // read, where a lookup per row would be a round trip each).
        let erased: std::collections::HashMap<Vec<u8>, custodia_store::SuppressionHit> =
            self.store().suppression_list()?.into_iter().collect();
        let chunk = opts.chunk.clamp(1, 50_000);
        let refused = std::sync::atomic::AtomicU64::new(0);
        let result = (|| -> Result<(), VaultError> {
            loop {
                let mut rows = Vec::with_capacity(chunk);
                let mut at_end = false;
                while rows.len() < chunk {
                    let mut rec = csv::ByteRecord::new();
                    match rdr.read_byte_record(&mut rec) {
                        Ok(false) => {
                            at_end = true;
                            break;
                        }
                        Ok(true) => {
                            let line = lines
                                .borrow_mut()
                                .line_at(rec.position().map(|p| p.byte()).unwrap_or(0));
                            let dropped = (rec.len() == 1 && rec.get(0) == Some(UNCLOSED_MARK))
                                .then(|| unclosed.borrow_mut().pop_front())
                                .flatten();
                            if let Some((line, text)) = dropped {
                                rows.push(unclosed_row(line, &text));
                                continue;
                            }
                            let parsed = parse_row(&names, &rec, opts);
                            rows.push(Row { line, raw: rec, parsed });
                        }
                        Err(e) => {
                            if let csv::ErrorKind::Io(_) = e.kind() {
                                return Err(VaultError::Io(format!("reading the CSV: {e}")));
                            }
                            let line = lines.borrow_mut().line_at(e.position().map(|p| p.byte()).unwrap_or(0));
                            rows.push(Row {
                                line,
                                raw: csv::ByteRecord::new(),
                                parsed: Err(vec![problem("row", "csv", e.to_string())]),
                            });
                        }
                    }
                }
                // Every taken-out line came as its mark; none is left at the
                // end (kept as a safety net: a row is never lost).
                while let Some((line, text)) = at_end.then(|| unclosed.borrow_mut().pop_front()).flatten() {
                    rows.push(unclosed_row(line, &text));
                }
                if rows.is_empty() {
                    break;
                }
                report.rows_read += rows.len() as u64;
                let kek = self.current_kek()?;
                let now = now_ms();
                let notices = self.notices();
                let sealed: Vec<_> = rows
                    .par_iter()
                    .map(|r| match &r.parsed {
                        Err(p) => Err(p.clone()),
                        Ok(input) => {
                            let problems = |e: VaultError| match e {
                                VaultError::Invalid(p) => p,
                                other => vec![problem("row", other.code(), other.to_string())],
                            };
                            match self.check_new(p, input, purpose) {
                                Err(e) => {
                                    if matches!(
                                        e,
                                        VaultError::Forbidden(_)
                                            | VaultError::MfaRequired(_)
                                            | VaultError::TrainingRequired { .. }
                                    ) {
                                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    }
                                    Err(problems(e))
                                }
                                Ok(()) => {
                                    let s = self
                                        .seal_new(input, &validator, kek, now, &notices, actor, !erased.is_empty())
                                        .map_err(problems)?;
                                    let hits: Vec<_> = s
                                        .suppress
                                        .iter()
                                        .filter_map(|e| erased.get(&e.digest).cloned())
                                        .collect();
                                    let (warnings, readmitted) =
                                        self.erased_before(p, input, purpose, &hits).map_err(problems)?;
                                    Ok((s, warnings, readmitted))
                                }
                            }
                        }
                    })
                    .collect();
                let mut muts = Vec::with_capacity(rows.len());
                let mut token_muts = Vec::new();
                for (row, s) in rows.iter().zip(sealed) {
                    match s {
                        Ok((sealed, warnings, readmitted)) => {
                            let mut e = AuditEvent::new(now, actor, Action::Create);
                            e.customer = Some(sealed.customer.id);
                            e.fields = sealed.fields;
                            e.purpose = Some(purpose.clone());
                            e.detail = Some(match &readmitted {
                                Some(r) => format!("import; {r}"),
                                None => "import".into(),
                            });
                            let mut events = vec![e];
                            if !warnings.is_empty() {
                                report.warned += 1;
                                if report.warnings.len() < REPORT_REJECTS {
                                    report.warnings.push(Reject {
                                        line: row.line,
                                        problems: warnings
                                            .into_iter()
                                            .map(|w| problem("mobile", "erased_before_warning", w))
                                            .collect(),
                                    });
                                }
                            }
                            events.extend(self.consent_events(actor, &sealed.consents));
                            let id = sealed.customer.id;
                            muts.push(Mutation::Insert {
                                customer: Box::new(sealed.customer),
                                consents: sealed.consents,
                                events,
                            });
                            if !sealed.tokens.is_empty() {
                                token_muts.push(Mutation::PutVaultTokens {
                                    customer: id,
                                    replace: Vec::new(),
                                    tokens: sealed.tokens,
                                    events: Vec::new(),
                                });
                            }
                        }
                        Err(problems) => {
                            let r = Reject {
                                line: row.line,
                                problems,
                            };
                            if let Some(w) = rej_writer.as_mut() {
                                let mut out = csv::ByteRecord::new();
                                out.push_field(r.line.to_string().as_bytes());
                                out.push_field(r.reason().as_bytes());
                                for f in row.raw.iter() {
                                    out.push_field(f);
                                }
                                w.write_byte_record(&out)
                                    .map_err(|e| VaultError::Io(format!("rejects file: {e}")))?;
                            }
                            report.rejected += 1;
                            if report.rejects.len() < REPORT_REJECTS {
                                report.rejects.push(r);
                            }
                        }
                    }
                }
                if let Some((p, n)) = pending.take() {
                    tally(&mut report, p, n)?;
                }
                let n = muts.len();
                muts.extend(token_muts);
                if n > 0 {
                    pending = Some((self.store().submit(muts), n));
                }
                let byte = rdr.position().byte();
                progress.advance(byte - last_byte);
                last_byte = byte;
            }
            if let Some((p, n)) = pending.take() {
                tally(&mut report, p, n)?;
            }
            Ok(())
        })();
        let indexed = if bulk {
            self.apply_one(vec![Mutation::EndBulkLoad]).map(|_| ())
        } else {
            Ok(())
        };
        progress.finish();
        indexed?;
        if let Some(w) = rej_writer.as_mut() {
            w.flush().map_err(|e| VaultError::Io(format!("rejects file: {e}")))?;
        }
        let refused = refused.into_inner();
        if refused > 0 {
            let mut e = AuditEvent::new(now_ms(), actor, Action::AccessDenied);
            e.outcome = custodia_core::audit::Outcome::Denied;
            e.purpose = Some(purpose.clone());
            e.detail = Some(format!(
                "import: {refused} rows refused by the access policy (each in the rejects)"
            ));
            let _ = self.audit(vec![e]);
        }
        let mut end = AuditEvent::new(now_ms(), actor, Action::Import);
        end.detail = Some(format!(
            "read={} created={} existing={} rejected={}",
            report.rows_read, report.created, report.existing, report.rejected
        ));
        if let Err(e) = result {
            end.outcome = custodia_core::audit::Outcome::Failed;
            let _ = self.audit(vec![end]);
            return Err(VaultError::Io(format!(
                "import stopped after {} new customers were committed: {e}. Running the same import again resumes: rows whose external_id is stored are skipped",
                report.created
            )));
        }
        self.audit(vec![end])?;
        Ok(report)
    }
}

fn tally(report: &mut ImportReport, p: Pending, n: usize) -> Result<(), VaultError> {
    let results = p.wait()?;
    debug_assert!(results.len() >= n);
    let mut results = results.into_iter();
    for r in results.by_ref().take(n) {
        match r? {
            Applied::Done => report.created += 1,
            Applied::ExternalIdExists(_) => report.existing += 1,
            other => return Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
        }
    }
    // The tokens that follow: those of a skipped (existing) row find no
    // customer and are dropped with it.
    for r in results {
        r?;
    }
    Ok(())
}
