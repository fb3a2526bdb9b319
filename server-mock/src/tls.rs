//! TLS on the emulator's listener: a certificate authority and a server
//! certificate made at start-up (rcgen), or a certificate and key the caller
//! gives, served with rustls (ring, as the AWS SDK's client uses).

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

/// The names a generated server certificate is valid for by default.
pub(crate) const DEFAULT_HOSTS: &[&str] = &["127.0.0.1", "localhost", "::1"];

/// How the emulator gets its certificate.
#[derive(Clone)]
pub(crate) enum TlsSetup {
    /// A new CA and a server certificate it signs, for these names (IP
    /// addresses or DNS names, `*.` wildcards allowed).
    Generate { hosts: Vec<String> },
    /// A PEM certificate chain (server certificate first) and its PEM private key.
    Pem {
        chain: Vec<u8>,
        key: Zeroizing<Vec<u8>>,
    },
}

impl std::fmt::Debug for TlsSetup {
    /// The private key is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsSetup::Generate { hosts } => {
                f.debug_struct("Generate").field("hosts", hosts).finish()
            }
            TlsSetup::Pem { chain, .. } => f
                .debug_struct("Pem")
                .field("chain_bytes", &chain.len())
                .field("key", &"[REDACTED]")
                .finish(),
        }
    }
}

/// A listener's TLS: the acceptor, and the PEM of the CA that signed its
/// certificate when the emulator made it.
#[derive(Clone)]
pub(crate) struct TlsServer {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) ca_pem: Option<Arc<str>>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("generated_ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Makes (or loads) the certificate and builds the acceptor. Errors say what
    /// is wrong with the given certificate or key.
    pub(crate) fn new(setup: &TlsSetup) -> Result<Self, String> {
        let (chain, key, ca_pem) = match setup {
            TlsSetup::Generate { hosts } => {
                let generated = generate(hosts)?;
                (generated.chain, generated.key, Some(generated.ca_pem))
            }
            TlsSetup::Pem { chain, key } => {
                let chain = CertificateDer::pem_slice_iter(chain)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("the TLS certificate file is not PEM: {e}"))?;
                if chain.is_empty() {
                    return Err("the TLS certificate file holds no CERTIFICATE block".into());
                }
                // The parser's message names the PEM problem, never key bytes.
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                    format!(
                        "the TLS key file holds no usable private key (PKCS#8, PKCS#1 or SEC1 \
                         PEM): {e}"
                    )
                })?;
                (chain, key, None)
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up failed: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("the TLS certificate and key do not make a usable pair: {e}"))?;
        // The emulator speaks HTTP/1.1 only; saying so lets clients skip asking.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem: ca_pem.map(Arc::from),
        })
    }
}

struct Generated {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca_pem: String,
}

/// A fresh CA (ECDSA P-256, valid for a year) and a server certificate for
/// `hosts` signed by it. The CA's key is dropped here: nothing else can be signed
/// with it, so trusting its certificate trusts this one emulator only.
fn generate(hosts: &[String]) -> Result<Generated, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let fail = |e: rcgen::Error| format!("cannot make the emulator's TLS certificate: {e}");
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::hours(1);
    let not_after = now + time::Duration::days(365);

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "lockbox-mock local CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(fail)?).map_err(fail)?;

    let mut leaf = CertificateParams::new(hosts.to_vec())
        .map_err(|e| format!("cannot make a TLS certificate for {hosts:?}: {e}"))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "lockbox-mock");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_key = KeyPair::generate().map_err(fail)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).map_err(fail)?;
    let key = PrivateKeyDer::try_from(leaf_key.serialize_der())
        .map_err(|e| format!("cannot use the emulator's TLS key: {e}"))?;
    Ok(Generated {
        chain: vec![leaf_cert.der().clone(), ca.der().clone()],
        key,
        ca_pem: ca.pem(),
    })
}
