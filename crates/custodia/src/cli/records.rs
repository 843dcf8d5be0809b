//! Customer records from the command line: import a file, add, read,
//! find, update and erase one customer, export.

use super::*;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The purpose the records are collected for (e.g. contract_performance).
    #[arg(long)]
    pub purpose: String,
    /// Write rejected rows here (line, reason, original columns).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Rename a column: CSV_NAME=FIELD (repeatable).
    #[arg(long = "map", value_name = "CSV_NAME=FIELD")]
    pub map: Vec<String>,
    /// Rows per transaction.
    #[arg(long, default_value_t = 2000)]
    pub chunk: usize,
    /// How the consents in a `consents` column were collected: web, app, paper, phone, in_person.
    #[arg(long)]
    pub consent_channel: Option<String>,
    /// Language of the consent text shown (en or zh), for rows without a locale.
    #[arg(long)]
    pub consent_language: Option<String>,
    /// The column separator: `,` (default), `;`, `tab` or `|`.
    #[arg(long, default_value = ",", value_parser = parse_delimiter)]
    pub delimiter: u8,
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "," => Ok(b','),
        ";" => Ok(b';'),
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "|" => Ok(b'|'),
        _ => Err("use , ; tab or |".into()),
    }
}

#[derive(Args, Debug, Clone)]
pub struct RevealArgs {
    /// Show clear values (of the fields the purpose and your roles allow).
    #[arg(long)]
    pub reveal: bool,
    /// Declared purpose, from the schema's catalog (every access to customer data declares one).
    #[arg(long)]
    pub purpose: String,
    /// Reveal only these fields (comma-separated).
    #[arg(long)]
    pub fields: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum CustomerCmd {
    /// Create a customer from FIELD=VALUE pairs.
    Add {
        /// FIELD=VALUE (repeatable).
        #[arg(required = true, value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// The company's own key.
        #[arg(long)]
        external_id: Option<String>,
        /// The purpose the record is collected for.
        #[arg(long)]
        purpose: String,
        /// For a person erased before: why they are collected again (e.g.
        /// "signed up again on 2026-12-01"); needs readmit_erased.
        #[arg(long, value_name = "TEXT")]
        new_collection_basis: Option<String>,
    },
    /// Show a customer (masked unless --reveal --purpose).
    Get {
        /// Customer id (cus_…).
        id: String,
        #[command(flatten)]
        reveal: RevealArgs,
    },
    /// Exact-match search on a searchable field.
    Find {
        /// The field.
        #[arg(long)]
        field: String,
        /// The value.
        #[arg(long)]
        value: String,
        /// Most results.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        reveal: RevealArgs,
    },
    /// Change fields: FIELD=VALUE sets, FIELD= removes.
    Update {
        /// Customer id.
        id: String,
        /// FIELD=VALUE (repeatable); an empty value removes the field.
        #[arg(required = true, value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Refuse if the record is no longer at this version.
        #[arg(long)]
        if_version: Option<i64>,
        /// The purpose you change it for.
        #[arg(long)]
        purpose: String,
    },
    /// Delete a customer (destroys its data key).
    Delete {
        /// Customer id.
        id: String,
        /// The purpose you delete it for (e.g. legal_obligation).
        #[arg(long)]
        purpose: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub reveal: RevealArgs,
    /// De-identify under this profile (TOML: per-field rules, quasi-identifiers, k, l)
    /// and write CSV with records in classes smaller than k suppressed.
    #[arg(long, value_name = "PROFILE", conflicts_with_all = ["reveal", "fields", "format"])]
    pub deidentify: Option<PathBuf>,
    /// With --deidentify: write the report (k, l, suppressed, risk) as JSON here.
    #[arg(long, requires = "deidentify")]
    pub report: Option<PathBuf>,
}

/// `custodia import`.
pub(super) fn import(dir: &DataDir, operator: &str, a: ImportArgs) -> Result<i32, VaultError> {
    init_logging("warn");
    let (v, p) = open_as(dir, operator)?;
    let file = std::fs::File::open(&a.file).map_err(|e| VaultError::Io(format!("{}: {e}", a.file.display())))?;
    let size = file.metadata().ok().map(|m| m.len());
    let mut opts = ImportOptions {
        chunk: a.chunk,
        consent_channel: a.consent_channel.clone(),
        consent_language: a.consent_language.clone(),
        delimiter: a.delimiter,
        ..ImportOptions::new(v.purpose(&a.purpose)?)
    };
    for (k, val) in parse_pairs(&a.map)? {
        opts.rename.insert(k.to_lowercase(), val);
    }
    // Rejected rows hold personal data in clear: private, never overwritten.
    let mut rejects_file = match &a.rejects {
        Some(path) => Some(std::io::BufWriter::new(create_private(path)?)),
        None => None,
    };
    let bar = Bar::new("import");
    let report = v.import(
        &p,
        std::io::BufReader::with_capacity(1 << 20, file),
        size,
        &opts,
        rejects_file.as_mut().map(|w| w as &mut dyn Write),
        &bar,
    )?;
    if let Some(mut w) = rejects_file {
        w.flush()?;
    }
    print_json(&serde_json::json!({
        "rows_read": report.rows_read, "accepted": report.accepted(), "created": report.created,
        "existing": report.existing, "rejected": report.rejected,
        "rejects": report.rejects.iter().map(|r| serde_json::json!({"line": r.line, "reason": r.reason()})).collect::<Vec<_>>(),
        "warned": report.warned,
        "warnings": report.warnings.iter().map(|r| serde_json::json!({"line": r.line, "warning": r.reason()})).collect::<Vec<_>>(),
    }))?;
    Ok(if report.rejected > 0 { 3 } else { 0 })
}

/// `custodia customer …`.
pub(super) fn customer(dir: &DataDir, operator: &str, c: CustomerCmd) -> Result<i32, VaultError> {
    init_logging("warn");
    let (v, p) = open_as(dir, operator)?;
    match c {
        CustomerCmd::Add {
            set,
            external_id,
            purpose,
            new_collection_basis,
        } => {
            let input = RecordInput {
                external_id,
                fields: parse_pairs(&set)?.into_iter().collect(),
                consents: Vec::new(),
                new_collection_basis,
            };
            print_json(&v.create(&p, &input, &v.purpose(&purpose)?)?)?;
        }
        CustomerCmd::Get { id, reveal } => {
            let acc = access(&v, &reveal)?;
            print_json(&v.get(&p, &id, &acc)?)?;
        }
        CustomerCmd::Find {
            field,
            value,
            limit,
            reveal,
        } => {
            let acc = access(&v, &reveal)?;
            let found = v.find(&p, &field, &value, &acc, limit)?;
            print_json(&found)?;
            if found.is_empty() {
                eprintln!("no customer has {field} equal to that value (among those your roles let you see)");
                return Ok(4);
            }
        }
        CustomerCmd::Update {
            id,
            set,
            if_version,
            purpose,
        } => {
            let patch: RecordPatch = parse_pairs(&set)?
                .into_iter()
                .map(|(k, val)| (k, if val.is_empty() { None } else { Some(val) }))
                .collect();
            print_json(&v.update(&p, &id, &patch, if_version, &v.purpose(&purpose)?)?)?;
        }
        CustomerCmd::Delete { id, purpose } => {
            // Crypto-shredding with a tombstone and a signed certificate.
            let erased = v.delete(&p, &id, &v.purpose(&purpose)?)?;
            eprintln!("deleted {id}; certificate {}", erased.certificate_id);
            print_json(&erased)?;
        }
    }
    Ok(0)
}

/// `custodia export`.
pub(super) fn export(dir: &DataDir, operator: &str, a: ExportArgs) -> Result<i32, VaultError> {
    init_logging("warn");
    let (v, p) = open_as(dir, operator)?;
    if let Some(profile) = &a.deidentify {
        return super::deid::export_deidentified(
            &v,
            &p,
            &v.purpose(&a.reveal.purpose)?,
            profile,
            a.output.as_deref(),
            a.report.as_deref(),
        );
    }
    let acc = access(&v, &a.reveal)?;
    let format = match a.format {
        Format::Csv => ExportFormat::Csv,
        Format::Json => ExportFormat::Json,
    };
    let bar = Bar::new("export");
    let report = match &a.output {
        Some(path) => {
            let mut w = std::io::BufWriter::new(create_private(path)?);
            let r = v.export(&p, &mut w, format, &acc, &bar)?;
            w.flush()?;
            r
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            let r = v.export(&p, &mut w, format, &acc, &bar)?;
            w.flush()?;
            r
        }
    };
    eprintln!(
        "exported {} customers{}{}",
        report.records,
        if report.revealed {
            " (clear values: handle as personal data)"
        } else {
            " (masked)"
        },
        if report.without_consent > 0 {
            format!("; left out {} without consent to the purpose", report.without_consent)
        } else {
            String::new()
        }
    );
    Ok(0)
}
