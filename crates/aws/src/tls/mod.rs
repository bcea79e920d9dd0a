//! TLS for the application: the env's certificate authority, made once by `apply` and kept only in
//! an SSM SecureString that the database instances' role may read, and each instance's server
//! certificate, made at boot by `spotctl agent tls` and naming the endpoint and the instance's
//! addresses, so a client that verifies the server certificate against the CA reaches the primary
//! by its one name whichever instance holds it.
//!
//! May use: `sdk` (reading the CA's parameter), `spotctl_core` (time, names).

use anyhow::{bail, Context, Result};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;

/// Years the CA is valid for. There is no rotation yet (ARD.md, TLS): long enough to outlive envs.
const CA_YEARS: i32 = 20;
/// Years a server certificate is valid for: an instance is replaced long before (each boot issues
/// a new one).
const SERVER_YEARS: i32 = 5;

/// The env's certificate authority: its certificate and private key, both PEM.
#[derive(Clone)]
pub struct Ca {
    pub cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("cert_pem", &self.cert_pem).field("key_pem", &"(secret)").finish()
    }
}

/// A server's certificate (PEM) and its private key (PEM; the caller writes it 0600).
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub names: Vec<String>,
    pub not_after: String,
}

/// The CA's name and uses: the same every time, so an issuer rebuilt from the key matches the
/// certificate the clients hold (its subject, and its key identifier, which is the key's hash).
fn ca_params(env: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "spotctl");
    dn.push(DnType::CommonName, format!("spotctl {env} database CA"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p
}

/// (year, month, day) of a unix time, UTC.
fn ymd(unix: i64) -> (i32, u8, u8) {
    let t = spotctl_core::time::rfc3339(unix);
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|s| s.parse::<i32>().ok()).unwrap_or(1);
    (num(0..4), num(5..7) as u8, num(8..10) as u8)
}

/// From `unix` (a day earlier, for clocks behind) to `years` later (the 28th at the latest, so
/// every month has the day).
fn validity(p: &mut CertificateParams, unix: i64, years: i32) {
    let (y, m, d) = ymd(unix - 86_400);
    p.not_before = date_time_ymd(y, m, d);
    p.not_after = date_time_ymd(y + years, m, d.min(28));
}

const CERT_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const CERT_END: &str = "-----END CERTIFICATE-----";
const KEY_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const KEY_END: &str = "-----END PRIVATE KEY-----";

fn block(text: &str, begin: &str, end: &str) -> Option<String> {
    let start = text.find(begin)?;
    let stop = text[start..].find(end)? + start + end.len();
    Some(format!("{}\n", &text[start..stop]))
}

/// Env `env`'s CA, read from its SSM SecureString in `region` (the operator's or the database
/// instance's credentials; no other role may read it).
pub async fn fetch_ca(aws: &crate::sdk::Aws, region: &str, env: &str) -> Result<Ca> {
    let parameter = spotctl_core::names::Names::new(env, "", region).ca_parameter();
    let got = aws
        .ssm(region)
        .get_parameter()
        .name(&parameter)
        .with_decryption(true)
        .send()
        .await
        .with_context(|| format!("reading the env's CA from {parameter} (made by `spotctl apply`)"))?;
    Ca::from_bundle(got.parameter().and_then(|p| p.value()).unwrap_or_default())
        .with_context(|| format!("the value of {parameter}"))
}

impl Ca {
    /// A new CA for env `env` (an ECDSA P-256 key), valid from `now_unix`.
    pub fn generate(env: &str, now_unix: i64) -> Result<Ca> {
        let key = KeyPair::generate().context("generating the CA's key")?;
        let mut p = ca_params(env);
        validity(&mut p, now_unix, CA_YEARS);
        let cert = p.self_signed(&key).context("signing the CA's certificate")?;
        Ok(Ca { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// What the SecureString holds: the certificate, then the key.
    pub fn bundle(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// Reads [`Ca::bundle`]'s text back.
    pub fn from_bundle(text: &str) -> Result<Ca> {
        let (Some(cert_pem), Some(key_pem)) =
            (block(text, CERT_BEGIN, CERT_END), block(text, KEY_BEGIN, KEY_END))
        else {
            bail!("the CA parameter holds no certificate and private key (PEM)");
        };
        KeyPair::from_pem(&key_pem).context("the CA parameter's private key")?;
        Ok(Ca { cert_pem, key_pem })
    }

    /// A server certificate for env `env`'s instance: `names` (the endpoint first) and `ips`,
    /// signed by this CA, with a fresh key.
    pub fn issue(&self, env: &str, names: &[String], ips: &[IpAddr], now_unix: i64) -> Result<ServerCert> {
        let Some(first) = names.first() else { bail!("a server certificate needs a name") };
        let ca_key = KeyPair::from_pem(&self.key_pem).context("the CA's private key")?;
        let issuer = Issuer::new(ca_params(env), ca_key);
        let key = KeyPair::generate().context("generating the server's key")?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, first.clone());
        p.distinguished_name = dn;
        let mut sans = Vec::new();
        for n in names {
            sans.push(SanType::DnsName(n.clone().try_into().with_context(|| format!("{n} as a DNS name"))?));
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        p.subject_alt_names = sans;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        validity(&mut p, now_unix, SERVER_YEARS);
        let not_after = p.not_after.date().to_string();
        let cert = p.signed_by(&key, &issuer).context("signing the server's certificate")?;
        let mut all: Vec<String> = names.to_vec();
        all.extend(ips.iter().map(IpAddr::to_string));
        Ok(ServerCert { cert_pem: cert.pem(), key_pem: key.serialize_pem(), names: all, not_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_round_trips_and_a_bundle_without_a_key_is_refused() {
        let ca = Ca::generate("dev", 1_790_000_000).expect("ca");
        let back = Ca::from_bundle(&ca.bundle()).expect("parses");
        assert_eq!(back.cert_pem, ca.cert_pem);
        assert!(Ca::from_bundle(&ca.cert_pem).is_err());
        assert!(!format!("{ca:?}").contains("PRIVATE KEY"), "Debug never shows the key");
    }

    #[test]
    fn a_server_certificate_is_issued_by_the_rebuilt_ca() {
        let ca = Ca::from_bundle(&Ca::generate("dev", 1_790_000_000).expect("ca").bundle()).expect("ca");
        let ips: Vec<IpAddr> = vec!["203.0.113.7".parse().expect("ip"), "172.31.5.9".parse().expect("ip")];
        let s = ca.issue("dev", &["db.dev.spotctl.internal".into()], &ips, 1_790_000_000).expect("issued");
        assert!(s.cert_pem.starts_with(CERT_BEGIN) && s.key_pem.starts_with(KEY_BEGIN));
        assert_eq!(s.names, ["db.dev.spotctl.internal", "203.0.113.7", "172.31.5.9"]);
        assert!(s.not_after.starts_with("2031-"), "{}", s.not_after);
        assert!(ca.issue("dev", &[], &ips, 0).is_err());
    }
}
