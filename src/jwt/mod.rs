//! JSON Web Tokens beside the mod_auth_token format: the compact JWS
//! ([`compact`]), the algorithms ([`alg`]), keys and key sets ([`keys`])
//! and the claims ([`claims`]). Stateless like [`crate::scheme::Scheme`]:
//! one-time use is the verifier's ([`crate::scheme::Verifier`]), through
//! the same replay cache or store as the other tokens.
//!
//! The order of the checks: size and shape, `alg` (never `none`, on the
//! allowlist), the candidate keys (by `kid`, then by the algorithm each
//! key carries), the signature, and only then the claims.

pub mod alg;
pub mod claims;
pub mod compact;
pub mod keys;

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::{ConfigError, ConfigProblem, Reason};
use crate::options::{
    JWT_ALGORITHMS, JWT_AUDIENCE, JWT_ISSUER, JWT_KEYS_REFRESH, JWT_LEEWAY, JWT_MAX_LIFETIME, JWT_SECRET,
    JWT_SECRET_ALGORITHM, JWT_USERNAME_CLAIM,
};
pub use alg::Alg;
pub use keys::{Key, KeyError, KeySet};

/// Entries of an issuer or audience allowlist, at most.
pub const MAX_ALLOWED: usize = 32;

/// The JWT options as given, before validation (`None`: the default).
#[derive(Clone, Default)]
pub struct Options {
    /// A JWKS, a JWK or PEM public keys: the text itself, or the path of
    /// a file holding it (`jwt_keys`).
    pub keys: Option<Vec<u8>>,
    /// A JWKS URL (`jwt_keys_url`): fetched by the caller (the plugin),
    /// which hands the set over with [`Jwt::set_keys`]; until then the
    /// verifier has no keys from it.
    pub keys_url: Option<Vec<u8>>,
    /// Seconds between fetches of `keys_url` (`jwt_keys_refresh`).
    pub keys_refresh: Option<i64>,
    /// HMAC secrets (`jwt_secret`), raw bytes.
    pub secrets: Vec<Vec<u8>>,
    /// The algorithm the secrets serve (`jwt_secret_algorithm`), HS256.
    pub secret_algorithm: Option<Vec<u8>>,
    /// The accepted algorithms (`jwt_algorithms`); default: all twelve
    /// (each key still serves only its own).
    pub algorithms: Option<Vec<Vec<u8>>>,
    /// `jwt_leeway` in seconds.
    pub leeway: Option<i64>,
    /// `jwt_max_lifetime` in seconds.
    pub max_lifetime: Option<i64>,
    /// `jwt_issuer`: accepted `iss` values.
    pub issuers: Vec<Vec<u8>>,
    /// `jwt_audience`: accepted `aud` values.
    pub audiences: Vec<Vec<u8>>,
    /// `jwt_username_claim`, default `sub`.
    pub username_claim: Option<Vec<u8>>,
    /// `jwt_single_use`, default true.
    pub single_use: Option<bool>,
}

impl Options {
    /// Is any JWT option set?
    #[must_use]
    pub fn any_set(&self) -> bool {
        self.keys.is_some()
            || self.keys_url.is_some()
            || self.keys_refresh.is_some()
            || !self.secrets.is_empty()
            || self.secret_algorithm.is_some()
            || self.algorithms.is_some()
            || self.leeway.is_some()
            || self.max_lifetime.is_some()
            || !self.issuers.is_empty()
            || !self.audiences.is_empty()
            || self.username_claim.is_some()
            || self.single_use.is_some()
    }

    /// Are keys, a key URL or secrets configured (so that JWTs are accepted)?
    #[must_use]
    pub fn has_keys(&self) -> bool {
        self.keys.is_some() || self.keys_url.is_some() || !self.secrets.is_empty()
    }
}

impl core::fmt::Debug for Options {
    // Never print the secrets.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Options")
            .field("keys", &self.keys.as_ref().map(|_| "(set)"))
            .field("keys_url", &self.keys_url.as_ref().map(|_| "(set)"))
            .field("secrets", &self.secrets.len())
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .field("single_use", &self.single_use)
            .finish_non_exhaustive()
    }
}

fn text(option: &'static str, bytes: &[u8]) -> Result<String, ConfigError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ConfigError::invalid(option, "is not UTF-8 text"))
}

/// Reads the key set option: the text itself when it starts like a JWKS
/// or PEM, else a file path.
///
/// # Errors
/// [`ConfigError`] naming `jwt_keys`.
pub fn load_keys(value: &[u8]) -> Result<KeySet, ConfigError> {
    let unreadable = |err: &std::io::Error| {
        ConfigError::new("jwt_keys", ConfigProblem::Unreadable, format!("cannot be read ({})", err.kind()))
    };
    let trimmed = value.trim_ascii_start();
    let text = if trimmed.starts_with(b"{") || trimmed.starts_with(b"-----BEGIN") {
        value.to_vec()
    } else {
        let path = core::str::from_utf8(value).map_err(|_| ConfigError::invalid("jwt_keys", "is not a UTF-8 path"))?;
        let file = std::fs::File::open(path).map_err(|err| unreadable(&err))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, keys::MAX_KEY_SET_BYTES as u64 + 1), &mut bytes)
            .map_err(|err| unreadable(&err))?;
        bytes
    };
    KeySet::parse(&text).map_err(|err| ConfigError::invalid("jwt_keys", err.to_string()))
}

/// A validated JWT verifier: keys, allowlist and claims policy.
#[derive(Clone, Debug)]
pub struct Jwt {
    keys: Vec<Key>,
    keys_url: Option<String>,
    keys_refresh: u64,
    secrets: Vec<Key>,
    allowed: Vec<Alg>,
    policy: claims::Policy,
    single_use: bool,
    skipped: usize,
}

/// What a verified JWT is.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// Its claims.
    pub claims: Map<String, Value>,
    /// The algorithm that verified it.
    pub alg: Alg,
    /// The `kid` of the key that verified it, if that key has one.
    pub kid: Option<String>,
    /// The first second at which it no longer verifies (`exp + leeway`).
    pub dead_at: u64,
    /// What it is remembered by against replay: SHA-256 over its issuer
    /// and `jti`, or over its signature when it has no `jti`.
    pub replay_id: [u8; 32],
}

/// A correctly signed token's claims, before the claims checks.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The claims.
    pub claims: Map<String, Value>,
    /// The algorithm that verified it.
    pub alg: Alg,
    /// The `kid` of the key that verified it, if that key has one.
    pub kid: Option<String>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl Jwt {
    /// Validates the JWT options; `Ok(None)` when no key or secret is set.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad `jwt_*` option.
    pub fn new(options: &Options) -> Result<Option<Jwt>, ConfigError> {
        if !options.has_keys() {
            if options.any_set() {
                return Err(ConfigError::conflict(
                    "jwt_keys",
                    "is not set (nor jwt_secret), so the other jwt options mean nothing",
                ));
            }
            return Ok(None);
        }
        let secret_algorithm = match &options.secret_algorithm {
            None => Alg::Hs256,
            Some(name) => {
                Alg::parse(name).filter(|alg| alg.is_hmac()).ok_or_else(|| JWT_SECRET_ALGORITHM.not_a_choice())?
            }
        };
        if options.secrets.len() > JWT_SECRET.most_values() {
            return Err(JWT_SECRET.too_many_values());
        }
        let secrets = options
            .secrets
            .iter()
            .map(|secret| {
                keys::secret(secret, secret_algorithm)
                    .map_err(|err| ConfigError::new("jwt_secret", ConfigProblem::TooWeak, err.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match &options.keys {
            Some(value) => load_keys(value)?,
            None => KeySet::default(),
        };
        let keys_url = match &options.keys_url {
            None => None,
            Some(url) => {
                let url = text("jwt_keys_url", url)?;
                let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                if !rest.is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace)) {
                    return Err(ConfigError::invalid("jwt_keys_url", "must be an http:// or https:// URL"));
                }
                Some(url)
            }
        };
        if options.keys_refresh.is_some() && keys_url.is_none() {
            return Err(ConfigError::conflict("jwt_keys_url", "is not set, so jwt_keys_refresh means nothing"));
        }
        let keys_refresh = JWT_KEYS_REFRESH.integer(options.keys_refresh)?;
        let allowed = match &options.algorithms {
            None => Alg::ALL.to_vec(),
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new("jwt_algorithms", ConfigProblem::EmptyList, "is an empty list"));
            }
            Some(list) => list
                .iter()
                .map(|name| {
                    Alg::parse(name).ok_or_else(|| {
                        ConfigError::new(
                            JWT_ALGORITHMS.name,
                            ConfigProblem::NotAChoice,
                            format!("lists an unknown algorithm (known: {})", Alg::NAMES.join(", ")),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let strings = |spec: &crate::options::OptionSpec, list: &[Vec<u8>]| -> Result<Vec<String>, ConfigError> {
            if list.len() > spec.most_values() {
                return Err(spec.too_many_values());
            }
            list.iter().map(|value| text(spec.name, value)).collect()
        };
        let username_claim = match &options.username_claim {
            None => JWT_USERNAME_CLAIM.default_text().to_owned(),
            Some(name) if name.is_empty() => return Err(ConfigError::invalid("jwt_username_claim", "is empty")),
            Some(name) => text("jwt_username_claim", name)?,
        };
        let policy = claims::Policy {
            leeway: JWT_LEEWAY.integer(options.leeway)?,
            max_lifetime: JWT_MAX_LIFETIME.integer(options.max_lifetime)?,
            issuers: strings(&JWT_ISSUER, &options.issuers)?,
            audiences: strings(&JWT_AUDIENCE, &options.audiences)?,
            username_claim,
        };
        Ok(Some(Jwt {
            skipped: keys.skipped,
            keys: keys.keys,
            keys_url,
            keys_refresh,
            secrets,
            allowed,
            policy,
            single_use: options.single_use.unwrap_or(true),
        }))
    }

    /// Replaces the key set (a reload, a JWKS refresh). The secrets stay.
    pub fn set_keys(&mut self, set: KeySet) {
        self.skipped = set.skipped;
        self.keys = set.keys;
    }

    /// The keys of the set (not the secrets).
    #[must_use]
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The JWKS URL the caller keeps the keys in step with, if any.
    #[must_use]
    pub fn keys_url(&self) -> Option<&str> {
        self.keys_url.as_deref()
    }

    /// Seconds between fetches of [`Self::keys_url`].
    #[must_use]
    pub fn keys_refresh(&self) -> u64 {
        self.keys_refresh
    }

    /// JWKs passed over when the set was loaded.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// How many configured secrets verify HS tokens.
    #[must_use]
    pub fn secret_count(&self) -> usize {
        self.secrets.len()
    }

    /// Does a verified JWT log in once only?
    #[must_use]
    pub fn single_use(&self) -> bool {
        self.single_use
    }

    /// The claims policy.
    #[must_use]
    pub fn policy(&self) -> &claims::Policy {
        &self.policy
    }

    /// Checks a JWT's signature and claims at `now`, for nobody in
    /// particular (the Lua API's `verify(token)`); no replay check.
    ///
    /// # Errors
    /// The [`Reason`] of the first failed check (the `jwt_*` codes).
    pub fn verify_claims(&self, token: &[u8], now: u64) -> Result<Verified, Reason> {
        let signed = self.signed_claims(token)?;
        let times = self.policy.check(&signed.claims, now)?;
        let replay_id = replay_id(&signed.claims, &signed.signature);
        Ok(Verified { claims: signed.claims, alg: signed.alg, kid: signed.kid, dead_at: times.dead_at, replay_id })
    }

    /// The signature checks alone: the claims of a correctly signed token,
    /// their times and values not yet looked at (`explain` shows them).
    ///
    /// # Errors
    /// As [`Self::verify_claims`], up to [`Reason::JwtBadClaims`] (a
    /// payload that is not a strict JSON object).
    pub fn signed_claims(&self, token: &[u8]) -> Result<Signed, Reason> {
        let parsed = compact::parse(token)?;
        let alg = Alg::parse(parsed.alg.as_bytes())
            .filter(|alg| self.allowed.contains(alg))
            .ok_or(Reason::JwtAlgNotAllowed)?;
        // Candidates: the keys with the token's kid and the keys (and
        // secrets) without one, which serve any kid; every key for a
        // token without a kid.
        let mut candidates = self
            .keys
            .iter()
            .chain(self.secrets.iter())
            .filter(|key| parsed.kid.is_none() || key.kid.is_none() || key.kid == parsed.kid)
            .peekable();
        if candidates.peek().is_none() {
            return Err(Reason::JwtUnknownKid);
        }
        let mut of_alg = candidates.filter(|key| key.alg == alg).peekable();
        if of_alg.peek().is_none() {
            // A kid that no key of the set has is what a rotation looks
            // like, even when keys without a kid (secrets) were candidates.
            let kid_known = parsed.kid.is_none() || self.keys.iter().any(|key| key.kid == parsed.kid);
            return Err(if kid_known { Reason::JwtNoKeyForAlg } else { Reason::JwtUnknownKid });
        }
        let key = of_alg
            .find(|key| alg::verify(&key.material, alg, parsed.signing_input, &parsed.signature))
            .ok_or(Reason::JwtBadSignature)?;
        let claims = compact::object(&parsed.payload).ok_or(Reason::JwtBadClaims)?;
        Ok(Signed { claims, alg, kid: key.kid.clone(), signature: parsed.signature })
    }

    /// [`Self::verify_claims`], then the username claim against
    /// `username@host`.
    ///
    /// # Errors
    /// As [`Self::verify_claims`], and [`Reason::JwtMissingUsername`],
    /// [`Reason::JwtWrongUser`] or [`Reason::JwtWrongHost`].
    pub fn verify(&self, username: &[u8], host: &[u8], token: &[u8], now: u64) -> Result<Verified, Reason> {
        let verified = self.verify_claims(token, now)?;
        self.policy.check_user(&verified.claims, username, host)?;
        Ok(verified)
    }
}

/// The replay id: issuer and `jti` when there is a `jti` (a new signature
/// of the same token is the same token), else the signature.
fn replay_id(claims: &Map<String, Value>, signature: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"prosody-token-auth jwt replay v1\0");
    if let Some(Value::String(jti)) = claims.get("jti") {
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        for part in [b"jti".as_slice(), iss.as_bytes(), jti.as_bytes()] {
            hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            hash.update(part);
        }
    } else {
        hash.update(b"sig");
        hash.update(signature);
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests;
