//! TLS to the store (`rediss://`): the client configuration, made once per
//! store from the options. rustls does the protocol (with ring's
//! cryptography); the socket layer drives it over the non-blocking socket.
//!
//! The server's certificate is verified against `replay_store_ca` (a PEM
//! file of one or more CA certificates) or, without it, the system's trust
//! store; its name (or IP address) must be the URL's host. A client
//! certificate is offered when `replay_store_cert` and `replay_store_key`
//! (PEM files) are both set.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::error::{ConfigError, ConfigProblem};

impl Tls {
    /// The same configuration for another host (a master Sentinel named).
    pub(super) fn for_host(&self, host: &str) -> Result<Tls, ConfigError> {
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| ConfigError::invalid("replay_store", "names a host that is no DNS name or IP address"))?;
        Ok(Tls { config: self.config.clone(), server_name })
    }
}

/// What a TLS connection needs: the configuration and the name to verify.
#[derive(Clone, Debug)]
pub(super) struct Tls {
    pub(super) config: Arc<ClientConfig>,
    pub(super) server_name: ServerName<'static>,
}

fn path<'a>(option: &'static str, bytes: &'a [u8]) -> Result<&'a Path, ConfigError> {
    core::str::from_utf8(bytes).map(Path::new).map_err(|_| ConfigError::invalid(option, "must be a file path in UTF-8"))
}

/// Only the file's name and the problem's kind are shown: never its content.
fn unreadable(option: &'static str, what: &str) -> ConfigError {
    ConfigError::new(option, ConfigProblem::Unreadable, format!("cannot be read as {what}"))
}

fn certificates(option: &'static str, file: &[u8]) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path(option, file)?)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|_| unreadable(option, "a PEM file of certificates"))?;
    if certs.is_empty() {
        return Err(ConfigError::invalid(option, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The roots: the CA file's certificates, or the system's.
fn roots(ca: Option<&[u8]>) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(file) => {
            for cert in certificates("replay_store_ca", file)? {
                roots
                    .add(cert)
                    .map_err(|_| ConfigError::invalid("replay_store_ca", "holds a certificate that is not a CA"))?;
            }
        }
        None => {
            // Certificates the system holds but rustls cannot read are left
            // out, as every TLS client does.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(ConfigError::new(
                    "replay_store_ca",
                    ConfigProblem::Missing,
                    "is not set and the system has no trusted CA certificates: name a PEM file",
                ));
            }
        }
    }
    Ok(roots)
}

/// The configuration for `host`, from the TLS options.
///
/// # Errors
/// [`ConfigError`] naming `replay_store_ca`, `replay_store_cert` or
/// `replay_store_key` (a file that cannot be read, holds nothing usable, or
/// a certificate without its key), or `replay_store` (a host that is no
/// DNS name or IP address).
pub(super) fn configure(
    host: &str,
    ca: Option<&[u8]>,
    cert: Option<&[u8]>,
    key: Option<&[u8]>,
) -> Result<Tls, ConfigError> {
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|_| ConfigError::invalid("replay_store", "names a host that is no DNS name or IP address"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| ConfigError::new("replay_store", ConfigProblem::Unsupported, "cannot use TLS in this build"))?
        .with_root_certificates(roots(ca)?);
    let config = match (cert, key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates("replay_store_cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(path("replay_store_key", key)?)
                .map_err(|_| unreadable("replay_store_key", "a PEM private key"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|_| ConfigError::invalid("replay_store_key", "does not match replay_store_cert"))?
        }
        (Some(_), None) => return Err(ConfigError::conflict("replay_store_key", "is needed with replay_store_cert")),
        (None, Some(_)) => return Err(ConfigError::conflict("replay_store_cert", "is needed with replay_store_key")),
    };
    Ok(Tls { config: Arc::new(config), server_name })
}
