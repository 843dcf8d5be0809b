//! Consent receipts in the Kantara Initiative Consent Receipt v1.1 layout
//! (the basis of ISO/IEC TS 27560), extended with the notice version, the
//! hash of the exact text shown, the consent kinds and the channel.
//! Custodia signs them as compact JWS (see `custodia-crypto::jws`).

use serde::{Deserialize, Serialize};

/// The receipt format version.
pub const RECEIPT_VERSION: &str = "KI-CR-v1.1.0";

/// The organisation responsible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiiController {
    /// Name.
    pub pii_controller: String,
    /// Contact person or office.
    pub contact: String,
    /// Postal address.
    pub address: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: String,
}

/// One purpose consented to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptPurpose {
    /// Purpose id.
    pub purpose: String,
    /// Category (here: the purpose's English name).
    pub purpose_category: Vec<String>,
    /// `EXPLICIT` (general) or `SEPARATE` / `GUARDIAN` as required.
    pub consent_type: String,
    /// Field names covered.
    pub pii_category: Vec<String>,
    /// Whether it is the primary purpose of the service.
    pub primary_purpose: bool,
    /// How consent ends (withdrawal, retention).
    pub termination: String,
    /// Whether data goes to third parties.
    pub third_party_disclosure: bool,
    /// Who, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party_name: Option<String>,
}

/// The service the consent is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptService {
    /// Service name.
    pub service: String,
    /// Purposes.
    pub purposes: Vec<ReceiptPurpose>,
}

/// A consent receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// Format version.
    pub version: String,
    /// Jurisdiction, e.g. `CN`.
    pub jurisdiction: String,
    /// Seconds since the epoch.
    pub consent_timestamp: i64,
    /// Channel: web, app, paper, phone, in person.
    pub collection_method: String,
    /// Receipt id.
    #[serde(rename = "consentReceiptID")]
    pub consent_receipt_id: String,
    /// Language of the text shown.
    pub language: String,
    /// The customer (pseudonymous id).
    pub pii_principal_id: String,
    /// The controller(s).
    pub pii_controllers: Vec<PiiController>,
    /// Where the notice is published.
    pub policy_url: String,
    /// What was consented to.
    pub services: Vec<ReceiptService>,
    /// Whether sensitive information is involved.
    pub sensitive: bool,
    /// Sensitive categories.
    pub spi_cat: Vec<String>,
    /// Custodia extension: notice version shown.
    pub notice_version: u32,
    /// Custodia extension: SHA-256 (hex) of the exact text shown.
    pub notice_text_sha256: String,
    /// Custodia extension: `given` or `withdrawn`.
    pub action: String,
    /// Custodia extension: the text shown, line by line, when it was
    /// Custodia's own (its SHA-256 is `notice_text_sha256`): what a separate
    /// consent must tell (recipients, transfers, necessity and impact,
    /// risks) is part of what is signed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consent_text: Vec<String>,
    /// Custodia extension: for written consent, SHA-256 of the signed document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_sha256: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kantara_field_names() {
        let r = Receipt {
            version: RECEIPT_VERSION.into(),
            jurisdiction: "CN".into(),
            consent_timestamp: 1_800_000_000,
            collection_method: "web".into(),
            consent_receipt_id: "rcpt_1".into(),
            language: "zh".into(),
            pii_principal_id: "cus_0190a4b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
            pii_controllers: vec![],
            policy_url: "https://example.com/privacy".into(),
            services: vec![ReceiptService {
                service: "Customer account".into(),
                purposes: vec![ReceiptPurpose {
                    purpose: "marketing".into(),
                    purpose_category: vec!["Marketing".into()],
                    consent_type: "EXPLICIT".into(),
                    pii_category: vec!["email".into()],
                    primary_purpose: false,
                    termination: "withdrawal or 24 months after last activity".into(),
                    third_party_disclosure: false,
                    third_party_name: None,
                }],
            }],
            sensitive: false,
            spi_cat: vec![],
            notice_version: 2,
            notice_text_sha256: "00".into(),
            action: "given".into(),
            consent_text: vec![],
            document_sha256: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "version",
            "jurisdiction",
            "consentTimestamp",
            "collectionMethod",
            "consentReceiptID",
            "piiPrincipalId",
            "piiControllers",
            "policyUrl",
            "services",
            "sensitive",
            "spiCat",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert!(v["services"][0]["purposes"][0].get("thirdPartyDisclosure").is_some());
        let back: Receipt = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
