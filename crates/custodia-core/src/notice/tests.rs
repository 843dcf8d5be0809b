use super::*;
use crate::consent::{Ages, ConsentKind, Regime};

const V1: &str = r#"
version = 1
effective = "2026-01-01"
title_en = "Privacy notice"
title_zh = "隐私政策"
body_en = "How we handle your information."
body_zh = "我们如何处理您的个人信息。"

[[purposes]]
id = "customer_service"
basis = "contract"
fields = ["name", "mobile", "email"]
retention = { years = 3, from = "contract_end" }
recipients = [{ name = "SMS Gateway Ltd", role = "processor" }]

[[purposes]]
id = "marketing"
basis = "consent"
fields = ["name", "email"]
retention = { months = 24, from = "last_activity" }

[[purposes]]
id = "risk_control"
basis = "consent"
fields = ["name", "national_id"]
retention = { years = 5, from = "collection" }
necessity_en = "Verifying identity prevents fraud against the customer."
necessity_zh = "核验身份以防止针对客户的欺诈。"
"#;

fn schema() -> Schema {
    Schema::default_schema()
}

#[test]
fn parses_and_computes_requirements() {
    let n = Notice::from_toml(V1, &schema()).unwrap();
    let req = |id: &str, age| {
        n.requirement(id, &schema(), &[Regime::Pipl], Ages::default(), age)
            .unwrap()
    };
    assert!(!req("customer_service", None).needed(), "contract basis");
    assert_eq!(kind_names(&req("marketing", None)), vec!["general"]);
    assert_eq!(
        kind_names(&req("risk_control", None)),
        vec!["general", "separate"],
        "sensitive national_id"
    );
    assert!(req("marketing", Some(12)).kinds.contains(&ConsentKind::Guardian));
    assert!(n
        .requirement("nope", &schema(), &[Regime::Pipl], Ages::default(), None)
        .is_none());
}

#[test]
fn refuses_bad_notices_with_lines() {
    let bad = V1
        .replace(
            "\"national_id\"]\nretention = { years = 5, from = \"collection\" }\nnecessity_en",
            "\"national_id\", \"shoe\"]\nretention = { years = 5, from = \"collection\" }\nnecessity_en",
        )
        .replace("id = \"marketing\"", "id = \"gossip\"");
    let errs = Notice::from_toml(&bad, &schema()).unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("purpose gossip is not in the schema's catalog")),
        "{text:?}"
    );
    assert!(text.iter().any(|t| t.contains("field shoe")), "{text:?}");
    assert!(errs.iter().all(|e| e.line > 0), "{errs:?}");
    let no_necessity = V1.replace(
        "necessity_en = \"Verifying identity prevents fraud against the customer.\"\n",
        "",
    );
    let errs = Notice::from_toml(&no_necessity, &schema()).unwrap_err();
    assert!(errs[0].message.contains("PIPL Art. 30"), "{errs:?}");
    assert!(Notice::from_toml("version = 1\nextra = true", &schema()).is_err());
}

#[test]
fn material_changes_need_renewal() {
    let s = schema();
    let v1 = Notice::from_toml(V1, &s).unwrap();
    let v2_text = V1
        .replace("version = 1", "version = 2")
        .replace("fields = [\"name\", \"email\"]", "fields = [\"name\", \"email\", \"mobile\"]")
        .replace("retention = { months = 24, from = \"last_activity\" }", "retention = { months = 24, from = \"last_activity\" }\ntransfers = [{ country = \"SG\", recipient = \"Ad Partner Pte\", mechanism = \"standard_contract\" }]")
        .replace("retention = { years = 5, from = \"collection\" }", "retention = { years = 3, from = \"collection\" }")
        .replace("How we handle your information.", "How we handle your information, clarified.");
    let v2 = Notice::from_toml(&v2_text, &s).unwrap();
    let changes = diff(&v1, &v2);
    let m = |c: &Change| c.material();
    let marketing = Purpose::new("marketing").unwrap();
    assert!(changes.contains(&Change::FieldAdded {
        purpose: marketing.clone(),
        field: FieldName::new("mobile").unwrap()
    }));
    assert!(changes.contains(&Change::TransferAdded {
        purpose: marketing.clone(),
        country: "SG".into()
    }));
    assert!(changes.contains(&Change::RetentionShorter {
        purpose: Purpose::new("risk_control").unwrap()
    }));
    assert!(changes.contains(&Change::TextChanged));
    assert_eq!(changes.iter().filter(|c| m(c)).count(), 2);
    assert_eq!(
        renewal_needed(&changes, &v2).into_iter().collect::<Vec<_>>(),
        vec![marketing]
    );
    // A new consent-based purpose or a longer retention needs renewal; contract-based purposes never do.
    let v3 = Notice::from_toml(
        &V1.replace(
            "retention = { years = 3, from = \"contract_end\" }",
            "retention = { years = 10, from = \"contract_end\" }",
        )
        .replace("months = 24", "months = 36"),
        &s,
    )
    .unwrap();
    let changes = diff(&v1, &v3);
    assert_eq!(changes.len(), 2);
    assert_eq!(
        renewal_needed(&changes, &v3)
            .into_iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        vec!["marketing"]
    );
}
