//! TLS from a PEM certificate chain and key. Any problem with them stops startup: the
//! server never falls back to plaintext.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::server::Tls;

/// The acceptor for sessions, and the SHA-256 of the leaf certificate (SCRAM channel
/// binding, tls-server-end-point).
pub fn acceptor(tls: &Tls) -> Result<(pgwire::tokio::TlsAcceptor, Vec<u8>), String> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|e| format!("tls.{what} {}: {e}", path.display()))
    };
    let cert_pem = read(&tls.cert, "cert")?;
    let key_pem = read(&tls.key, "key")?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.cert {}: {e}", tls.cert.display()))?;
    let Some(leaf) = certs.first() else {
        return Err(format!("tls.cert {}: no PEM certificate in it", tls.cert.display()));
    };
    let hash = super::scram::certificate_hash(leaf);
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("tls.key {}: {e}", tls.key.display()))?
        .ok_or_else(|| format!("tls.key {}: no PEM private key in it", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: the certificate and key do not make a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok((pgwire::tokio::TlsAcceptor::from(Arc::new(config)), hash))
}
