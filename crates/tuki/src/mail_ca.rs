//! Extra certificate authorities trusted for the mail servers.
//!
//! Organisations with a private CA (common in IT departments) run IMAP and
//! SMTP servers whose certificates the built-in web PKI roots do not know.
//! `tuki serve --mail-ca-file FILE` (`TUKI_MAIL_CA_FILE`) names a PEM bundle
//! whose certificates the IMAP pollers and the outbox sender trust *in
//! addition to* those roots; certificates are always checked, there is no
//! switch to accept any.
//!
//! The file is read once at start-up: an unreadable file or one without a
//! usable certificate stops `tuki serve` with a message naming it, rather
//! than failing every mail connection later.

use std::path::Path;

use anyhow::{bail, Context};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::RootCertStore;

/// The certificates of a CA bundle, checked.
#[derive(Debug, Clone)]
pub struct MailCa {
    /// The file as read, for lettre (SMTP).
    pub pem: Vec<u8>,
    /// Its certificates, for rustls (IMAP).
    pub certs: Vec<CertificateDer<'static>>,
}

/// Reads and checks a PEM bundle of CA certificates.
pub fn load(path: &Path) -> anyhow::Result<MailCa> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the mail CA file {}", path.display()))?;
    let certs = parse(&pem).with_context(|| format!("mail CA file {}", path.display()))?;
    Ok(MailCa { pem, certs })
}

fn parse(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        bail!("no certificate in it (expected PEM blocks: -----BEGIN CERTIFICATE-----)");
    }
    for (i, cert) in certs.iter().enumerate() {
        RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| anyhow::anyhow!("certificate {} cannot be trusted: {e}", i + 1))?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        let e = parse(b"").unwrap_err().to_string();
        assert!(e.contains("no certificate"), "{e}");
        let e = parse(b"just some text\n").unwrap_err().to_string();
        assert!(e.contains("no certificate"), "{e}");
        let e = parse(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
            .unwrap_err()
            .to_string();
        assert!(!e.is_empty());
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = format!("{:#}", load(Path::new("/nonexistent/ca.pem")).unwrap_err());
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
