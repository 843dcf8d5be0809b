//! `custodia detect`, `custodia scan`, `custodia detokenize` and the
//! de-identified form of `custodia export`.

use clap::Args;
use custodia_deid::columns::{CellKind, ColumnSample};
use custodia_deid::Kind;
use custodia_vault::{Vault, VaultError};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// A UTF-8 text file, or `-` (the default) for standard input.
    pub file: Option<PathBuf>,
    /// Leave out findings scored below this (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub min_score: f32,
    /// Report only these types (comma-separated: cn_id, cn_mobile, cn_landline,
    /// bank_card, email, phone, iban, us_ssn, passport, ipv4, ipv6, person_name, address).
    #[arg(long)]
    pub types: Option<String>,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// The CSV file (with a header row).
    pub file: PathBuf,
    /// Rows to sample from the start of the file.
    #[arg(long, default_value_t = 2000)]
    pub rows: usize,
    /// Print the column report as JSON instead of a proposed schema.
    #[arg(long)]
    pub json: bool,
    /// Write the proposed schema here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DetokenizeArgs {
    /// The token (tok_…), or its written form [[type tok_…]].
    pub token: String,
    /// Declared purpose; it must cover the field the token came from.
    #[arg(long)]
    pub purpose: String,
}

/// Texts are read in blocks of whole lines of about this size, so files of
/// any size stream; a finding never spans a block boundary (it would have
/// to cross a line break).
const BLOCK: usize = 1 << 20;

/// `custodia detect`: one JSON object per finding.
pub fn detect(a: &DetectArgs) -> Result<i32, VaultError> {
    let kinds = match &a.types {
        None => None,
        Some(list) => Some(Kind::parse_all(list.split(',')).map_err(|e| VaultError::Input(format!("--types: {e}")))?),
    };
    let (name, input): (String, Box<dyn Read>) = match a.file.as_deref() {
        None => ("standard input".into(), Box::new(std::io::stdin().lock())),
        Some(p) if p == Path::new("-") => ("standard input".into(), Box::new(std::io::stdin().lock())),
        Some(p) => (
            p.display().to_string(),
            Box::new(std::fs::File::open(p).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?),
        ),
    };
    let mut rdr = std::io::BufReader::with_capacity(1 << 16, input);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let (mut byte_base, mut char_base) = (0usize, 0usize);
    let mut block = Vec::with_capacity(BLOCK + 4096);
    loop {
        block.clear();
        while block.len() < BLOCK {
            let n = rdr
                .read_until(b'\n', &mut block)
                .map_err(|e| VaultError::Io(format!("{name}: {e}")))?;
            if n == 0 {
                break;
            }
        }
        if block.is_empty() {
            break;
        }
        let text = std::str::from_utf8(&block).map_err(|e| {
            VaultError::Input(format!(
                "{name}: not UTF-8 at byte {}; convert it first (e.g. iconv -f GB18030 -t UTF-8)",
                byte_base + e.valid_up_to()
            ))
        })?;
        for mut f in custodia_deid::detect(text) {
            if f.score < a.min_score || kinds.as_ref().is_some_and(|k| !k.contains(&f.kind)) {
                continue;
            }
            f.start += char_base;
            f.end += char_base;
            f.byte_start += byte_base;
            f.byte_end += byte_base;
            serde_json::to_writer(&mut out, &f).map_err(|e| VaultError::Io(e.to_string()))?;
            out.write_all(b"\n")?;
        }
        byte_base += text.len();
        char_base += text.chars().count();
    }
    out.flush()?;
    Ok(0)
}

/// `custodia scan`: classify the columns of a CSV and propose a schema.
pub fn scan(a: &ScanArgs) -> Result<i32, VaultError> {
    let f = std::fs::File::open(&a.file).map_err(|e| VaultError::Io(format!("{}: {e}", a.file.display())))?;
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(f);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| VaultError::Input(format!("{}: {e}", a.file.display())))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let mut samples = vec![ColumnSample::default(); headers.len()];
    let mut rows = 0;
    for rec in rdr.records().take(a.rows) {
        let rec = rec.map_err(|e| VaultError::Input(format!("{}: {e}", a.file.display())))?;
        for (s, v) in samples.iter_mut().zip(rec.iter()) {
            s.add(v);
        }
        rows += 1;
    }
    let reports: Vec<_> = headers.iter().zip(&samples).map(|(h, s)| s.verdict(h)).collect();
    if a.json {
        crate::cli::print_json(&serde_json::json!({ "rows_sampled": rows, "columns": reports }))?;
        return Ok(0);
    }
    let (schema, names) = propose_schema(&reports, &a.file, rows);
    // The proposal must be a schema Custodia accepts.
    custodia_core::schema::Schema::from_toml(&schema)
        .map_err(|e| VaultError::Io(format!("internal error: the proposed schema does not load: {e}")))?;
    match &a.output {
        Some(p) => std::fs::write(p, &schema).map_err(|e| VaultError::Io(format!("{}: {e}", p.display())))?,
        None => print!("{schema}"),
    }
    eprintln!("{rows} rows sampled");
    let maps: Vec<String> = reports
        .iter()
        .zip(&names)
        .filter(|(r, n)| !n.is_empty() && r.header != **n)
        .map(|(r, n)| format!("--map {}={n}", shell_word(&r.header)))
        .collect();
    if !maps.is_empty() {
        eprintln!(
            "import with the proposed schema: custodia import {} {}",
            shell_word(&a.file.display().to_string()),
            maps.join(" ")
        );
    }
    for r in &reports {
        eprintln!(
            "  {:<24} {:<20} {:>5.1}%{}",
            r.header,
            kind_label(r.kind),
            r.confidence * 100.0,
            if r.header_agrees {
                ""
            } else {
                "  (header suggests otherwise or nothing)"
            }
        );
    }
    Ok(0)
}

fn kind_label(k: CellKind) -> &'static str {
    match k {
        CellKind::Pii(k) => k.as_str(),
        CellKind::Date => "date",
        CellKind::TextWithPii => "free text with PII",
        CellKind::Other => "other",
    }
}

/// Columns the importer reads itself.
const IMPORT_COLUMNS: [&str; 2] = ["external_id", "consents"];

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A word as a POSIX shell reads it back.
fn shell_word(s: &str) -> String {
    if s.chars().all(|c| c.is_alphanumeric() || "_-./=".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A schema proposal in the format of the default schema, one field per
/// column, with the default purpose catalog to edit; and the field name
/// chosen for each column (empty: the importer's own column).
pub fn propose_schema(
    reports: &[custodia_deid::columns::ColumnReport],
    file: &Path,
    rows: usize,
) -> (String, Vec<String>) {
    let mut names = Vec::with_capacity(reports.len());
    let mut out = format!(
        "# Custodia schema proposed by `custodia scan` from {} ({rows} rows sampled).\n\
         # Review every field before `custodia init --schema`: classifications and masks\n\
         # follow what was found in the values; columns where nothing personal was found\n\
         # are still treated as personal free text unless they are closed lists (fail closed).\n\n\
         version = 1\ndefault_region = \"CN\"\n",
        file.display()
    );
    let mut used = std::collections::HashSet::new();
    for (i, r) in reports.iter().enumerate() {
        if IMPORT_COLUMNS.contains(&r.field.as_str()) {
            out.push_str(&format!("\n# column {:?} is read by the importer itself\n", r.header));
            names.push(String::new());
            continue;
        }
        let mut name = r.field.clone();
        if name.is_empty() || !used.insert(name.clone()) {
            name = format!("column_{}", i + 1);
            used.insert(name.clone());
        }
        names.push(name.clone());
        let (ty, class, mask, searchable, extra): (&str, &str, String, bool, String) = match r.kind {
            CellKind::Pii(Kind::CnId) => ("cn_national_id", "sensitive", "national_id".into(), true, String::new()),
            CellKind::Pii(Kind::CnMobile | Kind::CnLandline | Kind::Phone) => {
                ("phone", "personal", "phone".into(), true, String::new())
            }
            CellKind::Pii(Kind::Email) => ("email", "personal", "email".into(), true, String::new()),
            CellKind::Pii(Kind::BankCard) => ("bank_card", "sensitive", "card".into(), false, String::new()),
            CellKind::Pii(Kind::PersonName) => ("person_name", "personal", "name".into(), false, String::new()),
            CellKind::Pii(Kind::Address) => ("address", "personal", "address".into(), false, String::new()),
            CellKind::Date => ("date", "personal", "year".into(), false, String::new()),
            CellKind::Pii(Kind::Iban | Kind::UsSsn | Kind::Passport) => {
                ("text", "sensitive", "keep(0,4)".into(), true, "max_len = 40\n".into())
            }
            CellKind::Pii(Kind::Ipv4 | Kind::Ipv6) => ("text", "personal", "full".into(), false, "max_len = 45\n".into()),
            CellKind::TextWithPii => (
                "text",
                "personal",
                "full".into(),
                false,
                "max_len = 2000\nscan = \"tokenize\"\n".into(),
            ),
            CellKind::Other => match &r.values {
                Some(v) => (
                    "text",
                    "internal",
                    "none".into(),
                    false,
                    format!(
                        "allowed = [{}]\n",
                        v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ")
                    ),
                ),
                None => (
                    "text",
                    "personal",
                    "full".into(),
                    false,
                    "max_len = 2000\nscan = \"tokenize\"\n# nothing personal found in the sample; if this column is not about a person,\n# make it classification = \"internal\" without scan\n".into(),
                ),
            },
        };
        out.push_str(&format!(
            "\n[[fields]]\n# column {} — {} ({:.0}% of {} values)\nname = {}\ntype = \"{ty}\"\nclassification = \"{class}\"\n{}mask = {}\n{extra}label_en = {}\nlabel_zh = {}\n",
            toml_str(&r.header),
            kind_label(r.kind),
            r.confidence * 100.0,
            r.sampled,
            toml_str(&name),
            if searchable { "searchable = true\n" } else { "" },
            toml_str(&mask),
            toml_str(&r.header),
            toml_str(&r.header),
        ));
    }
    let catalog = custodia_core::schema::DEFAULT_SCHEMA_TOML;
    if let Some(i) = catalog.find("[[purposes]]") {
        out.push_str("\n# Purposes a reveal or export may declare: the default catalog; edit to yours.\n");
        out.push_str(&catalog[i..]);
    }
    (out, names)
}

/// `custodia detokenize`.
pub fn detokenize(
    v: &Vault,
    p: &custodia_vault::access::authz::Principal,
    a: &DetokenizeArgs,
) -> Result<i32, VaultError> {
    let purpose = v.purpose(&a.purpose)?;
    let value = v.detokenize(p, &a.token, &purpose)?;
    println!("{value}");
    Ok(0)
}

/// `custodia export --deidentify PROFILE`.
pub fn export_deidentified(
    v: &Vault,
    p: &custodia_vault::access::authz::Principal,
    purpose: &custodia_core::Purpose,
    profile_path: &Path,
    output: Option<&Path>,
    report_path: Option<&Path>,
) -> Result<i32, VaultError> {
    let text = std::fs::read_to_string(profile_path)
        .map_err(|e| VaultError::Io(format!("{}: {e}", profile_path.display())))?;
    let base = profile_path.parent().unwrap_or(Path::new("."));
    let profile = v
        .load_profile(&text, base)
        .map_err(|e| VaultError::Input(format!("{}: {e}", profile_path.display())))?;
    let bar = crate::progress::Bar::new("deidentify");
    let report = match output {
        Some(path) => {
            let f = crate::cli::create_private(path)?;
            let mut w = std::io::BufWriter::new(f);
            let r = v
                .export_deidentified(p, purpose, &mut w, &profile, &bar)
                .and_then(|r| w.flush().map(|_| r).map_err(VaultError::from));
            if r.is_err() {
                // A release that failed its checks is not left behind.
                drop(w);
                let _ = std::fs::remove_file(path);
            }
            r?
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            let r = v.export_deidentified(p, purpose, &mut w, &profile, &bar)?;
            w.flush()?;
            r
        }
    };
    let json = serde_json::to_string_pretty(&report).expect("a report serializes");
    if let Some(path) = report_path {
        crate::cli::write_private_file(path, format!("{json}\n").as_bytes())?;
    }
    let r = &report.risk;
    eprintln!(
        "de-identified export: {} of {} records released in {} classes, {} suppressed; k = {} (asked {}){}; prosecutor risk max {:.4}, average {:.4}; {:.1} s",
        r.released,
        r.records,
        r.classes,
        r.suppressed,
        r.k,
        report.k_required,
        match (r.l, report.l_required) {
            (Some(l), Some(want)) => format!(", l = {l} (asked {want})"),
            (Some(l), None) => format!(", l = {l}"),
            _ => String::new(),
        },
        r.max_risk,
        r.avg_risk,
        report.seconds
    );
    if !report.dropped.is_empty() {
        eprintln!("fields left out (not in the profile): {}", report.dropped.join(", "));
    }
    Ok(0)
}
