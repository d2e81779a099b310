//! The token scheme: options validated once, keys prepared once, then
//! tokens verified, minted and explained.

use crate::error::{ConfigError, Reason};
use crate::jwt::{self, Jwt};
use crate::replay::{Claim, Fingerprint, Replay, ReplayCache, Wait};
use crate::store::RedisStore;
use crate::token::{self, Secrets};
use crate::totp::{self, Algorithm, Totp};

/// Options as the caller gave them, before validation. `None` means the
/// default. Integers are checked for range by [`Scheme::new`].
#[derive(Clone, Default)]
pub struct Options {
    /// The base32 OTP seed (`otp_seed`).
    pub otp_seed: Option<Vec<u8>>,
    /// The accepted secrets (`token_secret`), the first one signs.
    pub token_secrets: Vec<Vec<u8>>,
    /// OTP length (`digits`), default 8.
    pub digits: Option<i64>,
    /// Step length in seconds (`period`), default 30.
    pub period: Option<i64>,
    /// `SHA1` (default), `SHA256` or `SHA512` (`algorithm`).
    pub algorithm: Option<Vec<u8>>,
    /// Steps accepted each way (`window`), default 1.
    pub window: Option<i64>,
    /// Nonce digits (`nonce_length`), default 32.
    pub nonce_length: Option<i64>,
    /// Live entries a verifier remembers (`replay_capacity`).
    pub replay_capacity: Option<i64>,
    /// Live entries of one user (`replay_per_user`).
    pub replay_per_user: Option<i64>,
    /// A shared replay store (`replay_store`, `redis://...`) instead of
    /// the in-process cache. May hold a password: never printed.
    pub replay_store: Option<Vec<u8>>,
    /// Connect timeout in milliseconds (`replay_store_connect_timeout`).
    pub replay_store_connect_timeout: Option<i64>,
    /// Reply timeout in milliseconds (`replay_store_timeout`).
    pub replay_store_timeout: Option<i64>,
    /// CA certificates to trust for `rediss://` (`replay_store_ca`, a PEM file).
    pub replay_store_ca: Option<Vec<u8>>,
    /// Client certificate for `rediss://` (`replay_store_cert`, a PEM file).
    pub replay_store_cert: Option<Vec<u8>>,
    /// Its key (`replay_store_key`, a PEM file).
    pub replay_store_key: Option<Vec<u8>>,
    /// Sentinels to ask for the master (`replay_store_sentinels`, `host:port`).
    pub replay_store_sentinels: Vec<Vec<u8>>,
    /// The master's name in Sentinel (`replay_store_master`).
    pub replay_store_master: Option<Vec<u8>>,
    /// Replicas that must acknowledge a claim (`replay_store_replicas`).
    pub replay_store_replicas: Option<i64>,
    /// The JWT options (`jwt_*`); JWTs are accepted once keys are set.
    pub jwt: jwt::Options,
}

impl core::fmt::Debug for Options {
    // Never print the seed or the secrets.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Options")
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("window", &self.window)
            .field("nonce_length", &self.nonce_length)
            .field("replay_capacity", &self.replay_capacity)
            .field("replay_per_user", &self.replay_per_user)
            .field("replay_store", &self.replay_store.as_ref().map(|_| "(set)"))
            .field("replay_store_connect_timeout", &self.replay_store_connect_timeout)
            .field("replay_store_timeout", &self.replay_store_timeout)
            .field("replay_store_ca", &self.replay_store_ca.as_ref().map(|_| "(set)"))
            .field("replay_store_cert", &self.replay_store_cert.as_ref().map(|_| "(set)"))
            .field("replay_store_key", &self.replay_store_key.as_ref().map(|_| "(set)"))
            .field("replay_store_sentinels", &self.replay_store_sentinels.len())
            .field("replay_store_master", &self.replay_store_master.as_ref().map(|_| "(set)"))
            .field("replay_store_replicas", &self.replay_store_replicas)
            .field("jwt", &self.jwt)
            .finish_non_exhaustive()
    }
}

/// How far [`Scheme::explain`] looks for a matching OTP: a day each way,
/// enough to spot any timezone mistake...
const EXPLAIN_SPAN_SECONDS: u64 = 86_400;
/// ...but never more than this many steps each way (a day at 30 s), so
/// that `period = 1` costs what the default does.
pub const EXPLAIN_MAX_STEPS: u64 = 2_880;

/// The OTP half of the options: what [`Scheme`] needs and what a bare
/// `totp()` call takes.
///
/// # Errors
/// [`ConfigError`] naming `otp_seed`, `digits`, `period` or `algorithm`.
pub fn totp_from(options: &Options) -> Result<Totp, ConfigError> {
    let seed_text = options.otp_seed.as_deref().ok_or_else(|| ConfigError::missing(crate::options::OTP_SEED.name))?;
    let seed = totp::decode_seed(seed_text)?;
    let digits = crate::options::DIGITS.integer(options.digits)?;
    let period = crate::options::PERIOD.integer(options.period)?;
    let algorithm = options.algorithm.as_deref().map(Algorithm::parse).transpose()?.unwrap_or_default();
    Totp::new(&seed, digits, period, algorithm)
}

/// What a successful check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The OTP step the token was minted in.
    pub step: u64,
    /// Which secret signed it (0 is the first).
    pub key_index: usize,
    /// What the replay cache remembers it by.
    pub fingerprint: Fingerprint,
}

/// What [`Scheme::explain`] found out about a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// The verdict of a stateless check.
    pub result: Result<(), Reason>,
    /// Which secret signed the token, if any did.
    pub key_index: Option<usize>,
    /// The token's OTP step minus the current one, if its OTP matches any
    /// step within a day either way.
    pub step_offset: Option<i64>,
    /// The step length in seconds, to turn the offset into time.
    pub period: u64,
    /// How many steps each way were searched for `step_offset` (0 when
    /// the signature did not verify: then the step is not looked for).
    pub searched_steps: u64,
    /// Why a malformed token is malformed, in detail.
    pub detail: Option<crate::detail::Detail>,
}

/// A validated, keyed token scheme. Stateless: see [`Verifier`] for the
/// replay cache.
#[derive(Clone, Debug)]
pub struct Scheme {
    totp: Totp,
    secrets: Secrets,
    window: u64,
    nonce_length: usize,
}

impl Scheme {
    /// Validates every option and keys the HMACs once.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad option.
    pub fn new(options: &Options) -> Result<Self, ConfigError> {
        let totp = totp_from(options)?;
        let secrets = Secrets::new(&options.token_secrets)?;
        let window = crate::options::WINDOW.integer(options.window)?;
        let nonce_length = crate::options::NONCE_LENGTH.integer(options.nonce_length)?;
        Ok(Scheme { totp, secrets, window, nonce_length })
    }

    /// The TOTP generator.
    #[must_use]
    pub fn totp(&self) -> &Totp {
        &self.totp
    }

    /// The nonce length in digits.
    #[must_use]
    pub fn nonce_length(&self) -> usize {
        self.nonce_length
    }

    /// The steps accepted each way.
    #[must_use]
    pub fn window(&self) -> u64 {
        self.window
    }

    /// How many secrets verify.
    #[must_use]
    pub fn secret_count(&self) -> usize {
        self.secrets.len()
    }

    /// Checks a token for `username@host` at `now` (Unix seconds), without
    /// replay protection. Checks run cheapest first; the OTP is looked for
    /// in the current step first, then one step back, one ahead, and so on.
    ///
    /// # Errors
    /// The [`Reason`] of the first failed check.
    pub fn verify(&self, username: &[u8], host: &[u8], token: &[u8], now: u64) -> Result<Verified, Reason> {
        token::check_jid(username, host)?;
        let parsed = token::parse(token, self.totp.digits() as usize, self.nonce_length)?;
        let key_index = self.secrets.verify(&parsed, username, host)?;
        let current = self.totp.step(now);
        let step = self.find_step(current, self.window, parsed.otp).ok_or(Reason::OtpMismatch)?;
        Ok(Verified { step, key_index, fingerprint: Fingerprint::of(&parsed.signature) })
    }

    /// The step within `span` steps of `current` whose code is `otp`,
    /// nearest first.
    fn find_step(&self, current: u64, span: u64, otp: u64) -> Option<u64> {
        if self.totp.matches(current, otp) {
            return Some(current);
        }
        (1..=span).find_map(|distance| {
            let earlier = current.checked_sub(distance).filter(|&step| self.totp.matches(step, otp));
            earlier.or_else(|| current.checked_add(distance).filter(|&step| self.totp.matches(step, otp)))
        })
    }

    /// The second from which a token accepted at `now` can no longer
    /// verify at any step: every step within reach at `now` (the window
    /// around the current step) is out of reach again. Decided by time,
    /// not by the step that matched: with a short OTP two steps of the
    /// window can share a code, and an entry kept only for the nearest one
    /// would go while the other still verifies (6 digits, seed
    /// XVGR73KMZH2M4XMY twice: steps 61797158 and 61797159).
    #[must_use]
    pub fn expiry_after(&self, now: u64) -> u64 {
        let last_in_reach = self.totp.step(now).saturating_add(self.window);
        last_in_reach.saturating_add(self.window + 1).saturating_mul(self.totp.period())
    }

    /// How many characters of a valid token are its OTP and nonce digits.
    #[must_use]
    pub fn digits_length(&self) -> usize {
        self.totp.digits() as usize + self.nonce_length
    }

    /// Mints a token for `username@host` at `now` with the given nonce digits.
    ///
    /// # Errors
    /// [`Reason::InvalidJid`]; [`Reason::NonceLength`] when the nonce is
    /// not exactly `nonce_length` ASCII digits.
    pub fn generate(&self, username: &[u8], host: &[u8], nonce: &[u8], now: u64) -> Result<String, Reason> {
        token::check_jid(username, host)?;
        if nonce.len() != self.nonce_length || !nonce.iter().all(u8::is_ascii_digit) {
            return Err(Reason::NonceLength);
        }
        let mut signed_digits = self.totp.code_at(now).into_bytes();
        signed_digits.extend_from_slice(nonce);
        let signature = self.secrets.sign(&signed_digits, username, host);
        Ok(token::format(&signed_digits, &signature))
    }

    /// Checks a token and, whatever the verdict, says which secret signed
    /// it and how far its OTP step is from ours: the usual cause of a
    /// refused token is a generator whose clock or timezone is off. The
    /// step is looked for only in a token whose signature verified (a
    /// forged one costs no search), at most [`EXPLAIN_MAX_STEPS`] each way.
    #[must_use]
    pub fn explain(&self, username: &[u8], host: &[u8], token: &[u8], now: u64) -> Diagnosis {
        let period = self.totp.period();
        let result = self.verify(username, host, token, now).map(|_| ());
        let digit_count = self.totp.digits() as usize + self.nonce_length;
        let detail = match result {
            Err(Reason::Malformed | Reason::NonceLength | Reason::BadEncoding) => crate::detail::of(token, digit_count),
            _ => None,
        };
        let mut diagnosis = Diagnosis { result, key_index: None, step_offset: None, period, searched_steps: 0, detail };
        if let Ok(parsed) = token::parse(token, self.totp.digits() as usize, self.nonce_length) {
            diagnosis.key_index = self.secrets.verify(&parsed, username, host).ok();
            if diagnosis.key_index.is_some() {
                let current = self.totp.step(now);
                let span = (EXPLAIN_SPAN_SECONDS / period).min(EXPLAIN_MAX_STEPS);
                diagnosis.searched_steps = span;
                diagnosis.step_offset = self.find_step(current, span, parsed.otp).map(|step| {
                    // Both are below 2^63 for any time a u64 second count reaches
                    // through the binding (which caps time at 2^53).
                    i64::try_from(step).unwrap_or(i64::MAX).saturating_sub(i64::try_from(current).unwrap_or(i64::MAX))
                });
            }
        }
        diagnosis
    }
}

/// A scheme with its replay cache: each token is accepted at most once.
/// With JWT keys configured it takes JWTs too (told apart by their shape,
/// [`jwt::compact::looks_like_jwt`]), through the same replay cache.
#[derive(Debug)]
pub struct Verifier {
    scheme: Option<Scheme>,
    jwt: Option<Jwt>,
    replay: Replay,
}

/// What a verifier accepted.
#[derive(Clone, Debug, PartialEq)]
pub enum Accepted {
    /// A mod_auth_token token.
    Token(Verified),
    /// A JWT, with its claims.
    Jwt(Box<jwt::Verified>),
}

impl Verifier {
    /// Validates the options (including the replay options) and keys the
    /// HMACs. With `replay_store` the store is parsed, not yet connected.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad option.
    pub fn new(options: &Options) -> Result<Self, ConfigError> {
        let jwt = Jwt::new(&options.jwt)?;
        // JWTs alone need no OTP seed or token secret.
        let jwt_only = jwt.is_some() && options.otp_seed.is_none() && options.token_secrets.is_empty();
        let scheme = if jwt_only { None } else { Some(Scheme::new(options)?) };
        let replay = Replay::new(options)?;
        Ok(Verifier { scheme, jwt, replay })
    }

    /// Where used tokens are remembered.
    #[must_use]
    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    /// The shared store, to ping it (benchmarks, health checks).
    pub fn replay_store_mut(&mut self) -> Option<&mut RedisStore> {
        match &mut self.replay {
            Replay::Shared(store) => Some(store),
            Replay::Local(_) => None,
        }
    }

    /// The scheme behind this verifier, unless it takes JWTs only.
    #[must_use]
    pub fn scheme(&self) -> Option<&Scheme> {
        self.scheme.as_ref()
    }

    /// The JWT verifier, when JWT keys are configured.
    #[must_use]
    pub fn jwt(&self) -> Option<&Jwt> {
        self.jwt.as_ref()
    }

    /// The JWT verifier, to replace its keys (reload, JWKS refresh).
    pub fn jwt_mut(&mut self) -> Option<&mut Jwt> {
        self.jwt.as_mut()
    }

    /// The in-process replay cache, unless a shared store is used.
    #[must_use]
    pub fn replay_cache(&self) -> Option<&ReplayCache> {
        match &self.replay {
            Replay::Local(cache) => Some(cache),
            Replay::Shared(_) => None,
        }
    }

    /// Every check but the replay check: what the token verified as, and
    /// what to remember it by (nothing for a reusable JWT).
    fn check(
        &mut self,
        username: &[u8],
        host: &[u8],
        token: &[u8],
        now: u64,
    ) -> Result<(Accepted, Option<Claim>), Reason> {
        self.replay.tick(now);
        if let Some(jwt) = &self.jwt {
            if jwt::compact::looks_like_jwt(token) || self.scheme.is_none() {
                let verified = jwt.verify(username, host, token, now)?;
                let claim = jwt.single_use().then(|| Claim::of_jwt(&verified));
                return Ok((Accepted::Jwt(Box::new(verified)), claim));
            }
        }
        let Some(scheme) = &self.scheme else { return Err(Reason::JwtMalformed) };
        let verified = scheme.verify(username, host, token, now)?;
        // Verified: the token starts with exactly this many digits.
        let digits = token.get(..scheme.digits_length()).ok_or(Reason::Malformed)?;
        let claim = Claim {
            fingerprint: verified.fingerprint,
            expires_at: scheme.expiry_after(now),
            store_part: digits.to_vec(),
        };
        Ok((Accepted::Token(verified), Some(claim)))
    }

    /// Checks a token and records it as used: in the in-process cache,
    /// or with one round trip to the shared store, waited for. A JWT with
    /// `jwt_single_use` false is not recorded.
    ///
    /// # Errors
    /// The [`Reason`] of the first failed check, [`Reason::Replayed`],
    /// [`Reason::ReplayUserFull`], [`Reason::ReplayCacheFull`] or
    /// [`Reason::ReplayStoreUnavailable`].
    pub fn verify(&mut self, username: &[u8], host: &[u8], token: &[u8], now: u64) -> Result<Accepted, Reason> {
        let (accepted, claim) = self.check(username, host, token, now)?;
        if let Some(claim) = claim {
            self.replay.record(&claim, username, host, now, Wait::Yes)?;
        }
        Ok(accepted)
    }

    /// [`Self::verify`] without waiting for the shared store: a token that
    /// passes every other check is claimed with [`RedisStore::send_claim`],
    /// and its verdict comes from [`RedisStore::collect`] under the ticket
    /// returned here. With the in-process cache the verdict is immediate.
    ///
    /// # Errors
    /// As [`Self::verify`], except the replay verdict of a sent claim.
    pub fn begin(&mut self, username: &[u8], host: &[u8], token: &[u8], now: u64) -> Result<Begun, Reason> {
        let (accepted, claim) = self.check(username, host, token, now)?;
        let Some(claim) = claim else { return Ok(Begun::Accepted(accepted)) };
        Ok(match self.replay.record(&claim, username, host, now, Wait::No)? {
            Some(ticket) => Begun::Claimed(ticket),
            None => Begun::Accepted(accepted),
        })
    }

    /// Whom a bearer JWT is for on `host`, after its signature and claims
    /// checked out; nothing is recorded (the login that follows is).
    ///
    /// # Errors
    /// As [`Self::verify_bearer`], without the replay reasons.
    pub fn bearer_username(&self, host: &[u8], token: &[u8], now: u64) -> Result<String, Reason> {
        let jwt = self.jwt.as_ref().ok_or(Reason::JwtMalformed)?;
        let verified = jwt.verify_claims(token, now)?;
        jwt.policy().username_for(&verified.claims, host)
    }

    /// A bearer JWT that names its own user (SASL OAUTHBEARER): the
    /// signature and claims, the user from the username claim on `host`,
    /// then the replay check as for [`Self::verify`], waited for.
    ///
    /// # Errors
    /// [`Reason::JwtMalformed`] when no JWT keys are configured; else as
    /// [`Jwt::verify`], and the replay reasons.
    pub fn verify_bearer(&mut self, host: &[u8], token: &[u8], now: u64) -> Result<(String, jwt::Verified), Reason> {
        self.replay.tick(now);
        let jwt = self.jwt.as_ref().ok_or(Reason::JwtMalformed)?;
        let verified = jwt.verify_claims(token, now)?;
        let username = jwt.policy().username_for(&verified.claims, host)?;
        if jwt.single_use() {
            self.replay.record(&Claim::of_jwt(&verified), username.as_bytes(), host, now, Wait::Yes)?;
        }
        Ok((username, verified))
    }

    /// A JWT for nobody in particular (the Lua API's `verify(token)`):
    /// signature and claims, then, with `jwt_single_use`, the replay
    /// check through the same cache or store, waited for.
    ///
    /// # Errors
    /// [`Reason::JwtMalformed`] when no JWT keys are configured; else as
    /// [`Jwt::verify_claims`], and the replay reasons.
    pub fn verify_jwt(&mut self, token: &[u8], now: u64) -> Result<jwt::Verified, Reason> {
        self.replay.tick(now);
        let jwt = self.jwt.as_ref().ok_or(Reason::JwtMalformed)?;
        let verified = jwt.verify_claims(token, now)?;
        if jwt.single_use() {
            self.replay.record(&Claim::of_jwt(&verified), b"", b"", now, Wait::Yes)?;
        }
        Ok(verified)
    }
}

/// How far [`Verifier::begin`] got.
#[derive(Debug)]
pub enum Begun {
    /// Accepted, and recorded in the in-process cache (or not single use).
    Accepted(Accepted),
    /// Valid, and claimed in the shared store: the verdict comes with this
    /// ticket from [`RedisStore::collect`].
    Claimed(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const NONCE: &[u8] = b"01234567890123456789012345678901";
    const T: u64 = 1_700_000_000;

    fn options() -> Options {
        Options {
            otp_seed: Some(SEED.into()),
            token_secrets: vec![b"JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7".to_vec()],
            ..Options::default()
        }
    }

    fn scheme() -> Scheme {
        Scheme::new(&options()).expect("valid")
    }

    #[test]
    fn minted_tokens_verify_for_their_jid_only() {
        let scheme = scheme();
        let token = scheme.generate(b"alice", b"example.com", NONCE, T).expect("mint");
        assert_eq!(token.len(), 8 + 32 + 1 + 44);
        let verified = scheme.verify(b"alice", b"example.com", token.as_bytes(), T).expect("valid");
        assert_eq!(verified.step, T / 30);
        assert_eq!(verified.key_index, 0);
        assert_eq!(scheme.verify(b"bob", b"example.com", token.as_bytes(), T), Err(Reason::BadSignature));
        assert_eq!(scheme.verify(b"alice", b"example.org", token.as_bytes(), T), Err(Reason::BadSignature));
        assert_eq!(scheme.verify(b"", b"example.org", token.as_bytes(), T), Err(Reason::InvalidJid));
    }

    #[test]
    fn the_window_is_one_step_each_way_by_default() {
        let scheme = scheme();
        let token = scheme.generate(b"alice", b"example.com", NONCE, T).expect("mint");
        let step_start = T / 30 * 30;
        for (now, want) in [
            (step_start - 31, Err(Reason::OtpMismatch)),
            (step_start - 30, Ok(())),
            (step_start + 59, Ok(())),
            (step_start + 60, Err(Reason::OtpMismatch)),
        ] {
            assert_eq!(scheme.verify(b"alice", b"example.com", token.as_bytes(), now).map(|_| ()), want, "at {now}");
        }
    }

    #[test]
    fn a_wider_or_zero_window_is_honoured() {
        let mut wide = options();
        wide.window = Some(3);
        let wide = Scheme::new(&wide).expect("valid");
        let token = wide.generate(b"alice", b"example.com", NONCE, T).expect("mint");
        assert!(wide.verify(b"alice", b"example.com", token.as_bytes(), T + 90).is_ok());
        let mut exact = options();
        exact.window = Some(0);
        let exact = Scheme::new(&exact).expect("valid");
        assert_eq!(exact.verify(b"alice", b"example.com", token.as_bytes(), T + 30), Err(Reason::OtpMismatch));
    }

    #[test]
    fn the_42_142_forgery_is_refused() {
        // The original let a nonce digit slide into a numeric username.
        let scheme = scheme();
        let nonce = b"00000000000000000000000000000001";
        let token = scheme.generate(b"42", b"example.com", nonce, T).expect("mint");
        assert!(scheme.verify(b"42", b"example.com", token.as_bytes(), T).is_ok());
        let forged = format!("{} {}", &token[..39], &token[41..]);
        assert_eq!(scheme.verify(b"142", b"example.com", forged.as_bytes(), T), Err(Reason::NonceLength));
        assert_eq!(scheme.verify(b"142", b"example.com", token.as_bytes(), T), Err(Reason::BadSignature));
    }

    #[test]
    fn rotation_accepts_every_secret_and_signs_with_the_first() {
        let mut rotated = options();
        rotated.token_secrets.insert(0, b"a brand new secret for rotation".to_vec());
        let rotated = Scheme::new(&rotated).expect("valid");
        let old = scheme().generate(b"alice", b"example.com", NONCE, T).expect("mint");
        assert_eq!(rotated.verify(b"alice", b"example.com", old.as_bytes(), T).map(|v| v.key_index), Ok(1));
        let new = rotated.generate(b"alice", b"example.com", NONCE, T).expect("mint");
        assert_eq!(scheme().verify(b"alice", b"example.com", new.as_bytes(), T), Err(Reason::BadSignature));
    }

    #[test]
    fn generate_refuses_bad_nonces_and_jids() {
        let scheme = scheme();
        assert_eq!(scheme.generate(b"alice", b"h", b"123", T), Err(Reason::NonceLength));
        assert_eq!(scheme.generate(b"alice", b"h", b"0123456789012345678901234567890x", T), Err(Reason::NonceLength));
        assert_eq!(scheme.generate(b"a@b", b"h", NONCE, T), Err(Reason::InvalidJid));
    }

    #[test]
    fn options_are_validated_with_their_names() {
        let check = |edit: &dyn Fn(&mut Options), option: &str| {
            let mut bad = options();
            edit(&mut bad);
            let err = Verifier::new(&bad).expect_err(option);
            assert_eq!(err.option(), option);
            let text = err.to_string();
            assert!(!text.contains(SEED) && !text.contains("JYXEX4IQ"), "{text}");
        };
        check(&|o| o.otp_seed = None, "otp_seed");
        check(&|o| o.otp_seed = Some(b"not base32!".to_vec()), "otp_seed");
        check(&|o| o.token_secrets.clear(), "token_secret");
        check(&|o| o.token_secrets = vec![b"short".to_vec()], "token_secret");
        check(&|o| o.digits = Some(0), "digits");
        check(&|o| o.digits = Some(20), "digits");
        check(&|o| o.period = Some(0), "period");
        check(&|o| o.period = Some(-30), "period");
        check(&|o| o.algorithm = Some(b"MD5".to_vec()), "algorithm");
        check(&|o| o.window = Some(100), "window");
        check(&|o| o.window = Some(-1), "window");
        check(&|o| o.nonce_length = Some(0), "nonce_length");
        check(&|o| o.replay_capacity = Some(0), "replay_capacity");
        check(&|o| o.replay_capacity = Some(i64::MAX), "replay_capacity");
    }

    #[test]
    fn a_verifier_accepts_a_token_once_across_window_switches() {
        let mut verifier = Verifier::new(&options()).expect("valid");
        let scheme = scheme();
        let a = scheme.generate(b"alice", b"example.com", NONCE, T).expect("mint");
        let b = scheme.generate(b"alice", b"example.com", b"11111111111111111111111111111111", T + 30).expect("mint");
        assert!(verifier.verify(b"alice", b"example.com", a.as_bytes(), T).is_ok());
        assert!(verifier.verify(b"alice", b"example.com", b.as_bytes(), T + 30).is_ok());
        // The community module accepted A again here.
        assert_eq!(verifier.verify(b"alice", b"example.com", a.as_bytes(), T + 30), Err(Reason::Replayed));
        assert_eq!(verifier.replay_cache().expect("local").len(), 2);
        // Entries go once no step within reach when the token was accepted
        // is within reach any more: three steps after the step of use.
        assert_eq!(verifier.verify(b"alice", b"example.com", a.as_bytes(), T + 60), Err(Reason::OtpMismatch));
        assert_eq!(verifier.replay_cache().expect("local").len(), 2);
        assert_eq!(verifier.verify(b"alice", b"example.com", b.as_bytes(), T + 90), Err(Reason::OtpMismatch));
        assert_eq!(verifier.replay_cache().expect("local").len(), 1);
        assert_eq!(verifier.verify(b"alice", b"example.com", b.as_bytes(), T + 120), Err(Reason::OtpMismatch));
        assert!(verifier.replay_cache().expect("local").is_empty());
    }

    #[test]
    fn entries_live_by_time_not_by_the_step_that_matched() {
        // The case: with 6 digits, steps 61797158 and 61797159 of
        // this seed share a code. Accepted in the first, the token is in
        // reach again through the second one step later.
        let mut short = options();
        short.otp_seed = Some(b"XVGR73KMZH2M4XMYXVGR73KMZH2M4XMY".to_vec());
        short.digits = Some(6);
        let scheme = Scheme::new(&short).expect("valid");
        let s: u64 = 61_797_158;
        assert_eq!(scheme.totp().code_at(s * 30), scheme.totp().code_at((s + 1) * 30));
        assert_eq!(scheme.totp().code_at(s * 30), "798389", "pyotp's code for this step");
        let token = scheme.generate(b"alice", b"example.com", NONCE, s * 30).expect("mint");
        let mut verifier = Verifier::new(&short).expect("valid");
        let at = |step: u64| step * 30 + 5;
        assert!(verifier.verify(b"alice", b"example.com", token.as_bytes(), at(s)).is_ok());
        assert_eq!(verifier.verify(b"alice", b"example.com", token.as_bytes(), at(s + 1)), Err(Reason::Replayed));
        // Accepted again here before: the entry went with step s + 1.
        assert_eq!(verifier.verify(b"alice", b"example.com", token.as_bytes(), at(s + 2)), Err(Reason::Replayed));
        assert_eq!(verifier.verify(b"alice", b"example.com", token.as_bytes(), at(s + 3)), Err(Reason::OtpMismatch));
        assert!(verifier.replay_cache().expect("local").is_empty());
    }

    #[test]
    fn the_lifetime_covers_every_step_in_reach() {
        for window in [0u64, 1, 3] {
            let mut o = options();
            o.window = Some(i64::try_from(window).expect("small"));
            let scheme = Scheme::new(&o).expect("valid");
            for now in [T, T / 30 * 30, T / 30 * 30 + 29] {
                let step = now / 30;
                // Reach at `now` goes up to step + window; that step stays in
                // reach until step + 2 * window, so the entry lives to the
                // start of step + 2 * window + 1.
                assert_eq!(scheme.expiry_after(now), (step + 2 * window + 1) * 30, "window {window} at {now}");
                // Whichever step in reach a token was minted in, it stops
                // verifying no later than that.
                for minted in step.saturating_sub(window)..=step + window {
                    let token = scheme.generate(b"a", b"h", NONCE, minted * 30).expect("mint");
                    let expiry = scheme.expiry_after(now);
                    assert!(scheme.verify(b"a", b"h", token.as_bytes(), expiry - 1).is_ok() || minted < step + window);
                    assert_eq!(scheme.verify(b"a", b"h", token.as_bytes(), expiry), Err(Reason::OtpMismatch));
                }
            }
        }
    }

    #[test]
    fn a_verifier_gives_each_user_a_share() {
        // The case: capacity 10, 3 per user.
        let mut o = options();
        o.replay_capacity = Some(10);
        o.replay_per_user = Some(3);
        let mut verifier = Verifier::new(&o).expect("valid");
        let scheme = scheme();
        let nonce = |n: u64| format!("{n:032}");
        for n in 0..3 {
            let token = scheme.generate(b"alice", b"example.com", nonce(n).as_bytes(), T).expect("mint");
            assert!(verifier.verify(b"alice", b"example.com", token.as_bytes(), T).is_ok());
        }
        let fourth = scheme.generate(b"alice", b"example.com", nonce(3).as_bytes(), T).expect("mint");
        assert_eq!(verifier.verify(b"alice", b"example.com", fourth.as_bytes(), T), Err(Reason::ReplayUserFull));
        for user in ["bob", "carol", "dave"] {
            let token = scheme.generate(user.as_bytes(), b"example.com", nonce(9).as_bytes(), T).expect("mint");
            assert!(verifier.verify(user.as_bytes(), b"example.com", token.as_bytes(), T).is_ok(), "{user}");
        }
    }

    #[test]
    fn store_options_are_validated() {
        let check = |edit: &dyn Fn(&mut Options), option: &str| {
            let mut bad = options();
            edit(&mut bad);
            assert_eq!(Verifier::new(&bad).expect_err(option).option(), option);
        };
        check(&|o| o.replay_per_user = Some(0), "replay_per_user");
        check(&|o| o.replay_store = Some(b"http://localhost".to_vec()), "replay_store");
        check(&|o| o.replay_store_timeout = Some(5), "replay_store");
        check(
            &|o| {
                o.replay_store = Some(b"redis://127.0.0.1".to_vec());
                o.replay_store_timeout = Some(0);
            },
            "replay_store_timeout",
        );
        let mut good = options();
        good.replay_store = Some(b"redis://127.0.0.1:1/3".to_vec());
        let verifier = Verifier::new(&good).expect("valid");
        assert!(verifier.replay_cache().is_none());
        assert!(matches!(verifier.replay(), Replay::Shared(_)));
    }

    #[test]
    fn a_verifier_with_an_unreachable_store_refuses_valid_tokens_only() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let mut o = options();
        o.replay_store = Some(format!("redis://127.0.0.1:{port}").into_bytes());
        let mut verifier = Verifier::new(&o).expect("valid");
        let token = scheme().generate(b"alice", b"example.com", NONCE, T).expect("mint");
        assert_eq!(verifier.verify(b"alice", b"example.com", token.as_bytes(), T), Err(Reason::ReplayStoreUnavailable));
        // Bad tokens are refused for what they are, without the store.
        assert_eq!(verifier.verify(b"bob", b"example.com", token.as_bytes(), T), Err(Reason::BadSignature));
    }

    #[test]
    fn explain_reports_the_clock_offset_and_the_key() {
        let scheme = scheme();
        let token = scheme.generate(b"alice", b"example.com", NONCE, T + 3600).expect("mint");
        let diagnosis = scheme.explain(b"alice", b"example.com", token.as_bytes(), T);
        assert_eq!(diagnosis.result, Err(Reason::OtpMismatch));
        assert_eq!(diagnosis.key_index, Some(0));
        let offset = diagnosis.step_offset.expect("found within a day");
        assert!((119..=121).contains(&offset), "{offset}");
        let other = scheme.explain(b"bob", b"example.com", token.as_bytes(), T);
        assert_eq!(other.result, Err(Reason::BadSignature));
        assert_eq!(other.key_index, None);
        // A forged token gets no step search.
        assert_eq!((other.step_offset, other.searched_steps), (None, 0));
        let garbage = scheme.explain(b"bob", b"example.com", b"nonsense", T);
        assert_eq!(garbage.result, Err(Reason::Malformed));
        assert_eq!(garbage.step_offset, None);
        assert_eq!(garbage.detail.map(|d| d.code()), Some("no_space"));
    }

    #[test]
    fn explain_bounds_the_step_search_for_short_periods() {
        let mut fast = options();
        fast.period = Some(1);
        let fast = Scheme::new(&fast).expect("valid");
        let token = fast.generate(b"alice", b"example.com", NONCE, T + 2000).expect("mint");
        let found = fast.explain(b"alice", b"example.com", token.as_bytes(), T);
        assert_eq!(found.searched_steps, EXPLAIN_MAX_STEPS);
        assert_eq!(found.step_offset, Some(2000));
        let beyond = fast.generate(b"alice", b"example.com", NONCE, T + 5000).expect("mint");
        let far = fast.explain(b"alice", b"example.com", beyond.as_bytes(), T);
        assert_eq!((far.result, far.step_offset), (Err(Reason::OtpMismatch), None));
        assert_eq!(scheme().explain(b"a", b"h", b"1", T).searched_steps, 0);
        assert_eq!(scheme().window(), 1);
        assert_eq!(scheme().secret_count(), 1);
    }
}
