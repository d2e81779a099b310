//! Why a token was refused, and why a configuration was.
//!
//! Both enums carry a stable short code (what Lua and logs see, what
//! counters are named after) and a `Display` text for people.

use core::fmt;

/// Why a token did not verify. The `jwt_*` codes are a JWT's (see [`crate::jwt`]).
///
/// The codes are part of the public interface: plugins map them to SASL
/// conditions and metrics, operators grep logs for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Not `<digits> <base64>`: wrong characters, extra spaces, too long.
    Malformed,
    /// The digit part is not exactly `digits + nonce_length` long.
    NonceLength,
    /// The signature is not standard padded base64 of exactly 32 bytes.
    BadEncoding,
    /// The username or host is empty or holds `@` or `/`.
    InvalidJid,
    /// No accepted secret signed this OTP, nonce and JID.
    BadSignature,
    /// Correctly signed, but the OTP is outside the accepted window.
    OtpMismatch,
    /// The token was accepted before.
    Replayed,
    /// The replay cache is full of live entries, so the token is refused
    /// rather than risk forgetting one of them.
    ReplayCacheFull,
    /// This user already holds `replay_per_user` live entries of the
    /// in-process cache, so one account cannot fill it for everybody.
    ReplayUserFull,
    /// The shared replay store (Redis) did not answer in time or refused
    /// the write: the token is refused rather than risk a replay.
    ReplayStoreUnavailable,
    /// The JWT, or one of its parts, is longer than the size bounds.
    JwtTooLarge,
    /// Not three non-empty parts separated by dots.
    JwtMalformed,
    /// A part is not canonical unpadded base64url.
    JwtBadEncoding,
    /// The header is not a strict JSON object with a string `alg`, has a `kid` that is not a string, or asks for extensions (`crit`).
    JwtBadHeader,
    /// `alg` is `none`: never accepted.
    JwtAlgNone,
    /// `alg` is not on the configured allowlist (or not supported).
    JwtAlgNotAllowed,
    /// No key has the header's `kid` (and no key without a kid exists).
    JwtUnknownKid,
    /// No candidate key carries the header's `alg`: algorithm confusion is refused here.
    JwtNoKeyForAlg,
    /// No candidate key verifies the signature.
    JwtBadSignature,
    /// The claims are not a strict JSON object, or a registered claim has the wrong type (times must be JSON integers).
    JwtBadClaims,
    /// No `exp` claim: an expiry is required.
    JwtMissingExp,
    /// `exp` plus the leeway is not after now.
    JwtExpired,
    /// `nbf` is later than now plus the leeway.
    JwtNotYetValid,
    /// `iat` is later than now plus the leeway.
    JwtIssuedInFuture,
    /// `exp - iat` (or `exp - now` without `iat`) exceeds the maximum lifetime.
    JwtLifetimeTooLong,
    /// `iss` is missing or not on the allowlist.
    JwtIssuer,
    /// `aud` is missing or names none of the accepted audiences.
    JwtAudience,
    /// The username claim is missing or not a string.
    JwtMissingUsername,
    /// The username claim names another user (or is not a valid username or bare JID).
    JwtWrongUser,
    /// The username claim is a JID on another host.
    JwtWrongHost,
}

impl Reason {
    /// Every reason, in the order of the checks.
    pub const ALL: [Reason; 30] = [
        Reason::Malformed,
        Reason::NonceLength,
        Reason::BadEncoding,
        Reason::InvalidJid,
        Reason::BadSignature,
        Reason::OtpMismatch,
        Reason::Replayed,
        Reason::ReplayCacheFull,
        Reason::ReplayUserFull,
        Reason::ReplayStoreUnavailable,
        Reason::JwtTooLarge,
        Reason::JwtMalformed,
        Reason::JwtBadEncoding,
        Reason::JwtBadHeader,
        Reason::JwtAlgNone,
        Reason::JwtAlgNotAllowed,
        Reason::JwtUnknownKid,
        Reason::JwtNoKeyForAlg,
        Reason::JwtBadSignature,
        Reason::JwtBadClaims,
        Reason::JwtMissingExp,
        Reason::JwtExpired,
        Reason::JwtNotYetValid,
        Reason::JwtIssuedInFuture,
        Reason::JwtLifetimeTooLong,
        Reason::JwtIssuer,
        Reason::JwtAudience,
        Reason::JwtMissingUsername,
        Reason::JwtWrongUser,
        Reason::JwtWrongHost,
    ];

    /// The stable snake_case code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::NonceLength => "nonce_length",
            Reason::BadEncoding => "bad_encoding",
            Reason::InvalidJid => "invalid_jid",
            Reason::BadSignature => "bad_signature",
            Reason::OtpMismatch => "otp_mismatch",
            Reason::Replayed => "replayed",
            Reason::ReplayCacheFull => "replay_cache_full",
            Reason::ReplayUserFull => "replay_user_full",
            Reason::ReplayStoreUnavailable => "replay_store_unavailable",
            Reason::JwtTooLarge => "jwt_too_large",
            Reason::JwtMalformed => "jwt_malformed",
            Reason::JwtBadEncoding => "jwt_bad_encoding",
            Reason::JwtBadHeader => "jwt_bad_header",
            Reason::JwtAlgNone => "jwt_alg_none",
            Reason::JwtAlgNotAllowed => "jwt_alg_not_allowed",
            Reason::JwtUnknownKid => "jwt_unknown_kid",
            Reason::JwtNoKeyForAlg => "jwt_no_key_for_alg",
            Reason::JwtBadSignature => "jwt_bad_signature",
            Reason::JwtBadClaims => "jwt_bad_claims",
            Reason::JwtMissingExp => "jwt_missing_exp",
            Reason::JwtExpired => "jwt_expired",
            Reason::JwtNotYetValid => "jwt_not_yet_valid",
            Reason::JwtIssuedInFuture => "jwt_issued_in_future",
            Reason::JwtLifetimeTooLong => "jwt_lifetime_too_long",
            Reason::JwtIssuer => "jwt_issuer",
            Reason::JwtAudience => "jwt_audience",
            Reason::JwtMissingUsername => "jwt_missing_username",
            Reason::JwtWrongUser => "jwt_wrong_user",
            Reason::JwtWrongHost => "jwt_wrong_host",
        }
    }

    /// A sentence for people.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            Reason::Malformed => "the token is not <digits> <base64 signature>",
            Reason::NonceLength => "the OTP and nonce digits do not have the configured length",
            Reason::BadEncoding => "the signature is not padded standard base64 of 32 bytes",
            Reason::InvalidJid => "the username or host is empty or contains '@' or '/'",
            Reason::BadSignature => "the signature does not match: wrong secret, or minted for another user or host",
            Reason::OtpMismatch => "the OTP is outside the accepted time window (expired or clock skew)",
            Reason::Replayed => "the token has already been used",
            Reason::ReplayCacheFull => "the replay cache is full; refusing rather than forgetting",
            Reason::ReplayUserFull => "this user holds the most live tokens the replay cache allows one user",
            Reason::ReplayStoreUnavailable => {
                "the shared replay store did not answer; refusing rather than risk a replay"
            }
            Reason::JwtTooLarge => "the JWT is longer than any accepted JWT (16 KiB)",
            Reason::JwtMalformed => "the JWT is not three non-empty dot-separated parts",
            Reason::JwtBadEncoding => "a part of the JWT is not unpadded base64url",
            Reason::JwtBadHeader => "the JWT header is not a JSON object with a string alg (and no crit)",
            Reason::JwtAlgNone => "the JWT is unsigned (alg none), which is never accepted",
            Reason::JwtAlgNotAllowed => "the JWT's algorithm is not on the allowlist",
            Reason::JwtUnknownKid => "no key of the key set has the JWT's kid",
            Reason::JwtNoKeyForAlg => "no key of the JWT's algorithm is configured (keys carry their algorithm)",
            Reason::JwtBadSignature => "the JWT signature does not verify with any candidate key",
            Reason::JwtBadClaims => "the JWT claims are not a JSON object, or a registered claim has the wrong type",
            Reason::JwtMissingExp => "the JWT has no exp claim; an expiry is required",
            Reason::JwtExpired => "the JWT has expired (exp plus the leeway is past)",
            Reason::JwtNotYetValid => "the JWT is not valid yet (nbf is ahead, beyond the leeway)",
            Reason::JwtIssuedInFuture => "the JWT was issued in the future (iat is ahead, beyond the leeway)",
            Reason::JwtLifetimeTooLong => "the JWT lives longer than the configured maximum (exp - iat)",
            Reason::JwtIssuer => "the JWT's issuer (iss) is missing or not on the allowlist",
            Reason::JwtAudience => "the JWT's audience (aud) is missing or names none of the accepted audiences",
            Reason::JwtMissingUsername => "the JWT lacks the username claim, or it is not a string",
            Reason::JwtWrongUser => "the JWT was issued for another user",
            Reason::JwtWrongHost => "the JWT names a JID on another host",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for Reason {}

/// A configuration value that cannot be used.
///
/// The message names the option and what is wrong with it; it never
/// contains the value, since the value may be a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    option: &'static str,
    problem: String,
}

impl ConfigError {
    /// A problem with `option`, described without its value.
    #[must_use]
    pub fn new(option: &'static str, problem: impl Into<String>) -> Self {
        ConfigError { option, problem: problem.into() }
    }

    /// The name of the offending option.
    #[must_use]
    pub fn option(&self) -> &'static str {
        self.option
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.problem)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            let code = reason.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
            assert!(!reason.text().is_empty());
        }
    }

    #[test]
    fn config_error_names_the_option() {
        let err = ConfigError::new("otp_seed", "is not base32");
        assert_eq!(err.to_string(), "otp_seed: is not base32");
        assert_eq!(err.option(), "otp_seed");
    }
}
