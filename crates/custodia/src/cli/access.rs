//! Staff access from the command line: accounts, training records, the
//! access policy and access reviews.

use super::*;

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create an account. With --email, staff get a one-time setup link there and choose their own
    /// password; without, the password comes from CUSTODIA_NEW_PASSWORD or a prompt. Roles that reach
    /// personal data or can approve wait for a second person (`custodia user approve`).
    Add {
        /// Login name.
        name: String,
        /// Role from the policy (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// A service account (API tokens, no password, no MFA).
        #[arg(long)]
        service: bool,
        /// The staff member's e-mail address (the setup link goes there).
        #[arg(long, conflicts_with = "service")]
        email: Option<String>,
    },
    /// List accounts.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one account.
    Show {
        /// Login name.
        name: String,
    },
    /// Replace an account's roles (administrative roles need manage_accounts, the others review_access);
    /// roles taken away go at once, roles that reach personal data or can approve wait for a second person.
    Roles {
        /// Login name.
        name: String,
        /// Every role the account holds afterwards (repeatable; none to take all away).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Ask to record a staff member's e-mail address (links and alerts go there): a second person
    /// approves; then the old links stop and the old address is told.
    Email {
        /// Login name.
        name: String,
        /// The address.
        email: String,
    },
    /// E-mail a staff member a one-time link: set up the account, or (--mfa) enroll MFA again.
    /// Nobody but the person sees the link, secret or recovery codes.
    SendLink {
        /// Login name.
        name: String,
        /// An MFA enrollment link (after a reset) instead of a setup link.
        #[arg(long)]
        mfa: bool,
    },
    /// Disable an account: its sessions and tokens stop at once.
    Disable {
        /// Login name.
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Enable a disabled account.
    Enable {
        /// Login name.
        name: String,
    },
    /// Clear an account's sign-in counters (addresses shut out, a locked second factor).
    Unlock {
        /// Login name.
        name: String,
    },
    /// Delete an account: secrets, address and roles removed, sessions and tokens stopped, the name kept.
    Delete {
        /// Login name.
        name: String,
    },
    /// Ask for a staff member's MFA to be reset; once a second person approves, an enrollment link goes
    /// to their address.
    ResetMfa {
        /// Login name.
        name: String,
    },
    /// Changes waiting for a second person's approval (--all: decided ones too).
    Approvals {
        /// Also the decided ones.
        #[arg(long)]
        all: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending change (someone other than whoever asked and the account changed).
    Approve {
        /// Approval id (apr_…).
        id: String,
    },
    /// Reject a pending change, or withdraw your own.
    Reject {
        /// Approval id (apr_…).
        id: String,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TrainingCmd {
    /// Record a completed course.
    Add {
        /// Account.
        name: String,
        /// Course id, e.g. privacy_basics.
        #[arg(long)]
        course: String,
        /// Completion date (YYYY-MM-DD); today when omitted.
        #[arg(long)]
        completed: Option<chrono::NaiveDate>,
        /// Score 0-100 (below the course's pass mark it is recorded but does not count).
        #[arg(long)]
        score: i64,
        /// Days the training stays valid (default and most: the course's validity in the policy).
        #[arg(long)]
        valid_days: Option<i64>,
    },
    /// Import training records from CSV: account,course,completed,score,expires.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Validate a policy file (default: the data directory's) against the schema.
    Check {
        /// Policy file.
        file: Option<PathBuf>,
    },
    /// How the policy decides a request, and which rule decided.
    Explain {
        /// Account name.
        #[arg(long = "as")]
        account: String,
        /// Customer id (for scoped grants).
        #[arg(long)]
        customer: Option<String>,
        /// Field.
        #[arg(long)]
        field: Option<String>,
        /// Action: read_masked, reveal, write, delete, export, manage_policy, read_audit, ...
        #[arg(long)]
        action: String,
        /// Declared purpose.
        #[arg(long)]
        purpose: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReviewCmd {
    /// Every grant with holder, scope, last use and use count; flagged findings.
    Report {
        /// Flag grants unused for this many days.
        #[arg(long, default_value_t = 90)]
        unused_days: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Open a campaign over every role assignment.
    Start,
    /// Certify or revoke one role assignment.
    Decide {
        /// Campaign id.
        campaign: String,
        /// Account.
        account: String,
        /// Role.
        role: String,
        /// Keep the role.
        #[arg(long, conflicts_with = "revoke", required_unless_present = "revoke")]
        certify: bool,
        /// Remove the role.
        #[arg(long)]
        revoke: bool,
        /// Reviewer's note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Show a campaign's items and decisions.
    Show {
        /// Campaign id.
        campaign: String,
    },
}

/// `custodia training …`.
pub(super) fn training(dir: &DataDir, operator: &str, cmd: TrainingCmd) -> Result<i32, VaultError> {
    match cmd {
        TrainingCmd::Import { file } => {
            init_logging("warn");
            let (v, p) = open_as(dir, operator)?;
            let text = std::fs::read(&file).map_err(|e| VaultError::Io(format!("{}: {e}", file.display())))?;
            let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(&text[..]);
            let header: Vec<String> = rdr
                .headers()
                .map_err(|e| VaultError::Input(format!("CSV header: {e}")))?
                .iter()
                .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
                .collect();
            let want = ["account", "course", "completed", "score", "expires"];
            if header != want {
                return Err(VaultError::Input(format!("the header must be {}", want.join(","))));
            }
            let (mut read, mut ok, mut not_passed, mut rejected) = (0u64, 0u64, 0u64, Vec::new());
            for (i, rec) in rdr.records().enumerate() {
                read += 1;
                let line = i as u64 + 2;
                let result = (|| -> Result<bool, String> {
                    let rec = rec.map_err(|e| e.to_string())?;
                    if rec.len() != 5 {
                        return Err(format!("has {} columns, the header has 5", rec.len()));
                    }
                    let date = |s: &str, what: &str| {
                        chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                            .map_err(|_| format!("{what} is not a date written YYYY-MM-DD"))
                    };
                    let score: i64 = rec[3].trim().parse().map_err(|_| "score is not a number".to_string())?;
                    let (completed, expires) = (date(&rec[2], "completed")?, date(&rec[4], "expires")?);
                    v.record_training(&p, rec[0].trim(), rec[1].trim(), completed, score, Some(expires))
                        .map(|t| t.passed)
                        .map_err(|e| e.to_string())
                })();
                match result {
                    Ok(true) => ok += 1,
                    Ok(false) => {
                        ok += 1;
                        not_passed += 1;
                    }
                    Err(reason) => rejected.push(serde_json::json!({"line": line, "reason": reason})),
                }
            }
            print_json(
                &serde_json::json!({"rows_read": read, "accepted": ok, "below_pass_mark": not_passed, "rejected": rejected.len(), "rejects": rejected}),
            )?;
            Ok(if rejected.is_empty() { 0 } else { 3 })
        }
        TrainingCmd::Add {
            name,
            course,
            completed,
            score,
            valid_days,
        } => {
            init_logging("warn");
            let (v, p) = open_as(dir, operator)?;
            let completed = completed.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let expires = valid_days.map(|d| completed + chrono::Duration::days(d));
            let t = v.record_training(&p, &name, &course, completed, score, expires)?;
            if t.passed {
                println!(
                    "recorded: {name} passed {course} on {completed}, valid until {}",
                    t.expires
                );
            } else {
                println!(
                    "recorded: {name} took {course} on {completed} with score {score}, below the pass mark: it does not count"
                );
            }
            Ok(0)
        }
    }
}

/// `custodia policy …`.
pub(super) fn policy(dir: &DataDir, operator: &str, cmd: PolicyCmd) -> Result<i32, VaultError> {
    match cmd {
        PolicyCmd::Check { file } => {
            let path = file.unwrap_or_else(|| dir.policy_path());
            let text =
                std::fs::read_to_string(&path).map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))?;
            let schema_text = std::fs::read_to_string(dir.schema_path())
                .unwrap_or_else(|_| custodia_core::schema::DEFAULT_SCHEMA_TOML.to_owned());
            let schema =
                custodia_core::Schema::from_toml(&schema_text).map_err(|e| VaultError::Config(e.to_string()))?;
            match custodia_core::policy::Policy::from_toml(&text, &schema) {
                Ok(p) => {
                    println!("{}: ok ({} roles)", path.display(), p.roles().len());
                    Ok(0)
                }
                Err(errs) => {
                    for e in &errs {
                        eprintln!("{}:{e}", path.display());
                    }
                    Ok(1)
                }
            }
        }
        PolicyCmd::Explain {
            account,
            customer,
            field,
            action,
            purpose,
            json,
        } => {
            init_logging("warn");
            let (v, p) = open_as(dir, operator)?;
            let perm = custodia_core::policy::Permission::parse(&action).ok_or_else(|| {
                VaultError::Input(format!(
                    "unknown action {action:?}; use one of: {}",
                    custodia_core::policy::Permission::ALL
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let d = v.explain(
                &p,
                &account,
                customer.as_deref(),
                field.as_deref(),
                perm,
                purpose.as_deref(),
            )?;
            if json {
                print_json(&serde_json::json!({
                    "allowed": d.allowed,
                    "reason": d.reason.as_ref().map(|r| format!("{r:?}")),
                    "rule": d.rule.as_ref().map(|r| serde_json::json!({"role": r.role, "grant": r.grant, "line": r.line})),
                    "explanation": d.to_string(),
                }))?;
            } else {
                println!("{d}");
            }
            Ok(if d.allowed { 0 } else { 5 })
        }
    }
}

fn read_new_password(name: &str) -> Result<Zeroizing<String>, VaultError> {
    if let Ok(p) = std::env::var("CUSTODIA_NEW_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(VaultError::Input(
            "set CUSTODIA_NEW_PASSWORD or run on a terminal to type the password".into(),
        ));
    }
    let p = Zeroizing::new(rpassword::prompt_password(format!("New password for {name}: "))?);
    let again = Zeroizing::new(rpassword::prompt_password("Again: ")?);
    if *p != *again {
        return Err(VaultError::Input("the passwords differ".into()));
    }
    Ok(p)
}

pub(super) fn user(v: &Vault, p: &Principal, cmd: UserCmd) -> Result<i32, VaultError> {
    use custodia_vault::access::identity::AccountKind;
    match cmd {
        UserCmd::Add {
            name,
            roles,
            service,
            email,
        } => {
            let (kind, pass) = if service {
                (AccountKind::Service, None)
            } else if email.is_some() {
                (AccountKind::Staff, None)
            } else {
                (AccountKind::Staff, Some(read_new_password(&name)?))
            };
            let a = match &email {
                Some(e) => v.invite_staff(p, &name, &roles, e)?,
                None => v.create_account(p, &name, kind, &roles, pass.as_deref().map(|p| p.as_str()))?,
            };
            print_json(&a)?;
            for ap in &a.pending_approvals {
                eprintln!(
                    "note: roles {} wait for a second person's approval: custodia user approve {}",
                    ap.roles.join(", "),
                    ap.id
                );
            }
            if let Some(to) = &a.email {
                eprintln!("a setup link went to {to}: {name} chooses a password there and, if the roles need it, adds an authenticator");
            } else if kind == AccountKind::Staff
                && (a.mfa_required
                    || a.pending_approvals.iter().any(|x| {
                        x.roles
                            .iter()
                            .any(|r| v.policy().role(r).is_some_and(|r| r.requires_mfa))
                    }))
            {
                eprintln!("note: these roles need MFA: {name} enrolls it after signing in at /mfa/enroll (record an e-mail address with `custodia user email {name} ADDRESS` to send a link instead)");
            }
        }
        UserCmd::List { json } => {
            let all = v.accounts(p)?;
            if json {
                print_json(&all)?;
            } else {
                println!(
                    "{:<24} {:<8} {:<6} {:<9} {:<9} ROLES",
                    "NAME", "KIND", "MFA", "TRAINING", "STATE"
                );
                for a in all {
                    let mfa = if a.kind == custodia_core::accounts::AccountKind::Service {
                        "n/a"
                    } else if a.mfa_enrolled {
                        "yes"
                    } else if a.mfa_required {
                        "NEEDED"
                    } else {
                        "no"
                    };
                    let trained = if a.trainings.iter().any(|t| t.valid) {
                        "valid"
                    } else if a.trainings.is_empty() {
                        "none"
                    } else {
                        "expired"
                    };
                    let state = if a.deleted {
                        "deleted"
                    } else if a.disabled {
                        "disabled"
                    } else if !a.pending_approvals.is_empty() {
                        "pending"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<24} {:<8} {:<6} {:<9} {:<9} {}",
                        a.name,
                        a.kind,
                        mfa,
                        trained,
                        state,
                        a.roles.join(",")
                    );
                }
            }
        }
        UserCmd::Show { name } => print_json(&v.account(p, &name)?)?,
        UserCmd::Roles { name, roles } => {
            let a = v.set_roles(p, &name, &roles)?;
            print_json(&a)?;
            for ap in &a.pending_approvals {
                eprintln!(
                    "note: roles {} wait for a second person's approval: custodia user approve {}",
                    ap.roles.join(", "),
                    ap.id
                );
            }
        }
        UserCmd::Email { name, email } => print_json(&v.set_email(p, &name, &email)?)?,
        UserCmd::SendLink { name, mfa } => {
            let kind = if mfa {
                custodia_vault::access::staff::LinkKind::Mfa
            } else {
                custodia_vault::access::staff::LinkKind::Setup
            };
            print_json(&v.send_link(p, &name, kind)?)?;
        }
        UserCmd::Disable { name, reason } => print_json(&v.set_disabled(p, &name, true, reason.as_deref())?)?,
        UserCmd::Enable { name } => print_json(&v.set_disabled(p, &name, false, None)?)?,
        UserCmd::Unlock { name } => {
            v.unlock(p, &name)?;
            println!("sign-in counters of {name} cleared");
        }
        UserCmd::Delete { name } => {
            v.delete_account(p, &name)?;
            println!("account {name} deleted (the name stays taken; the audit trail keeps it)");
        }
        UserCmd::ResetMfa { name } => {
            let a = v.request_mfa_reset(p, &name)?;
            print_json(&a)?;
            eprintln!("waiting for a second person: custodia user approve {}", a.id);
        }
        UserCmd::Approvals { all, json } => {
            let list = v.approvals(p, !all)?;
            if json {
                print_json(&list)?;
            } else {
                println!(
                    "{:<22} {:<12} {:<20} {:<10} {:<28} ROLES",
                    "ID", "KIND", "ACCOUNT", "STATE", "ASKED BY"
                );
                for a in list {
                    println!(
                        "{:<22} {:<12} {:<20} {:<10} {:<28} {}",
                        a.id,
                        serde_json::to_value(a.kind)
                            .ok()
                            .and_then(|k| k.as_str().map(String::from))
                            .unwrap_or_default(),
                        a.account,
                        serde_json::to_value(a.state)
                            .ok()
                            .and_then(|k| k.as_str().map(String::from))
                            .unwrap_or_default(),
                        a.requested_by,
                        a.roles.join(",")
                    );
                }
            }
        }
        UserCmd::Approve { id } => print_json(&v.approve(p, &id)?)?,
        UserCmd::Reject { id, note } => print_json(&v.reject(p, &id, note.as_deref())?)?,
    }
    Ok(0)
}

pub(super) fn review(v: &Vault, p: &Principal, cmd: ReviewCmd) -> Result<i32, VaultError> {
    match cmd {
        ReviewCmd::Report { unused_days, json } => {
            let r = v.review_report(p, unused_days)?;
            if json {
                print_json(&r)?;
                return Ok(0);
            }
            println!(
                "Access review, {} (unused window {} days)\n",
                r.generated_at, r.unused_days
            );
            println!(
                "{:<20} {:<16} {:>2} {:<28} {:>5} {:<24} FLAGS",
                "ACCOUNT", "ROLE", "#", "PERMISSIONS", "USES", "LAST USE"
            );
            for g in &r.grants {
                let mut flags = g.flags.join(",");
                if !g.unused_permissions.is_empty() && g.uses > 0 {
                    flags.push_str(&format!(" (never: {})", g.unused_permissions.join(",")));
                }
                println!(
                    "{:<20} {:<16} {:>2} {:<28} {:>5} {:<24} {flags}",
                    g.account,
                    g.role,
                    g.grant,
                    g.permissions.join(","),
                    g.uses,
                    g.last_use.as_deref().unwrap_or("never")
                );
                println!(
                    "{:<40} scope: {}; purposes: {}",
                    "",
                    g.scope,
                    if g.purposes.is_empty() {
                        "-".into()
                    } else {
                        g.purposes.join(",")
                    }
                );
            }
            if !r.accounts.is_empty() {
                println!("\nAccounts needing attention:");
                for a in &r.accounts {
                    println!("  {:<20} {}", a.account, a.flags.join(", "));
                }
            }
        }
        ReviewCmd::Start => {
            let (id, items) = v.start_review(p)?;
            println!("{id}");
            eprintln!(
                "{} role assignments to certify or revoke: custodia review decide {id} ACCOUNT ROLE --certify|--revoke",
                items.len()
            );
        }
        ReviewCmd::Decide {
            campaign,
            account,
            role,
            certify,
            revoke,
            note,
        } => {
            debug_assert!(certify != revoke);
            v.decide_review(p, &campaign, &account, &role, certify, note.as_deref())?;
            println!(
                "{}: {} {role} of {account}",
                campaign,
                if certify { "certified" } else { "revoked" }
            );
        }
        ReviewCmd::Show { campaign } => {
            for i in v.review_items(p, &campaign)? {
                println!(
                    "{:<20} {:<16} {:<8} {}",
                    i.account,
                    i.role,
                    i.decision.as_deref().unwrap_or("open"),
                    i.note.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(0)
}
