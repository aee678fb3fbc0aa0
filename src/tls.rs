//! HTTPS: a certificate from files, or one generated on first start and kept in the data
//! directory. The SHA-256 fingerprint is logged so the owner can check it in the browser.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::{Config, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read TLS private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot write the self-signed certificate in {dir}: {reason}")]
    Write { dir: PathBuf, reason: String },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("TLS configuration rejected: {0}")]
    Config(String),
}

/// The server's TLS configuration for `cfg`, or `None` when TLS is off.
pub fn server_config(cfg: &Config) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let (cert_path, key_path) = match cfg.tls {
        TlsMode::Off => return Ok(None),
        TlsMode::Files => match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => {
                return Err(TlsError::Config(
                    "IGLOO_TLS=files needs IGLOO_TLS_CERT and IGLOO_TLS_KEY".into(),
                ));
            }
        },
        TlsMode::SelfSigned => {
            let dir = cfg.data_dir().join("tls");
            ensure_self_signed(&dir, &self_signed_names(cfg))?
        }
    };
    let (certs, key) = load(&cert_path, &key_path)?;
    let fingerprint = fingerprint(&certs[0]);
    tracing::info!(cert = %cert_path.display(), sha256 = %fingerprint, "TLS certificate");
    build(certs, key).map(Some)
}

fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(sc))
}

/// Reads a PEM certificate chain and private key.
pub fn load(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| TlsError::Cert {
            path: cert_path.into(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert {
            path: cert_path.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Cert {
            path: cert_path.into(),
            reason: "no PEM certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Key {
        path: key_path.into(),
        reason: e.to_string(),
    })?;
    Ok((certs, key))
}

/// `AB:CD:…` SHA-256 of the certificate's DER bytes, as browsers show it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Keeps the existing certificate in `dir` when it loads, else writes a new one.
/// Returns the certificate and key paths.
pub fn ensure_self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if load(&cert_path, &key_path).is_ok() {
        return Ok((cert_path, key_path));
    }
    let werr = |e: std::io::Error| TlsError::Write {
        dir: dir.into(),
        reason: e.to_string(),
    };
    fs::create_dir_all(dir).map_err(werr)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(werr)?;
    let ck = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    // Write to temporary files and rename, so a crash never leaves half a key behind.
    write_atomic(&key_path, ck.signing_key.serialize_pem().as_bytes(), 0o600).map_err(werr)?;
    write_atomic(&cert_path, ck.cert.pem().as_bytes(), 0o644).map_err(werr)?;
    tracing::info!(dir = %dir.display(), names = ?names, "generated a self-signed TLS certificate");
    Ok((cert_path, key_path))
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// Host names and addresses the certificate should cover: localhost, the machine's host
/// name (and its `.local` mDNS name), loopback, the bind address and the primary LAN address.
pub fn self_signed_names(cfg: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    // /etc/hostname when /proc/sys is hidden (the Pi unit's ProcSubset=pid).
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"));
    if let Ok(h) = hostname {
        let h = h.trim();
        if !h.is_empty() && h != "localhost" {
            names.push(h.to_string());
            if !h.contains('.') {
                names.push(format!("{h}.local"));
            }
        }
    }
    let mut ips: Vec<IpAddr> = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
    let bind = cfg.bind.ip();
    if !bind.is_unspecified() {
        ips.push(bind);
    } else if let Some(ip) = primary_ipv4() {
        ips.push(ip);
    }
    for ip in ips {
        let s = ip.to_string();
        if !names.contains(&s) {
            names.push(s);
        }
    }
    names
}

/// The address the machine would use to reach the outside: a UDP "connect" sends nothing,
/// it only asks the kernel for a route.
fn primary_ipv4() -> Option<IpAddr> {
    let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
