//! The token scheme: options validated once, keys prepared once, then
//! tokens verified, minted and explained.

use crate::error::{ConfigError, Reason};
use crate::replay::{self, Fingerprint, ReplayCache};
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
            .finish_non_exhaustive()
    }
}

/// Default OTP length, as in the community module.
pub const DEFAULT_DIGITS: u32 = 8;
/// Default step length in seconds.
pub const DEFAULT_PERIOD: u64 = 30;
/// Default steps accepted each way.
pub const DEFAULT_WINDOW: u64 = 1;
/// Default nonce length: what the community module's README generator makes.
pub const DEFAULT_NONCE_LENGTH: usize = 32;
/// Accepted windows: past ten steps a stolen token lives too long.
pub const WINDOW: core::ops::RangeInclusive<u64> = 0..=10;
/// Accepted nonce lengths: short nonces repeat, long ones are pointless.
pub const NONCE_LENGTH: core::ops::RangeInclusive<usize> = 8..=128;
/// How far [`Scheme::explain`] looks for a matching OTP: a day each way,
/// enough to spot any timezone mistake...
const EXPLAIN_SPAN_SECONDS: u64 = 86_400;
/// ...but never more than this many steps each way (a day at 30 s), so
/// that `period = 1` costs what the default does.
pub const EXPLAIN_MAX_STEPS: u64 = 2_880;

fn in_range<T: TryFrom<i64> + PartialOrd>(
    value: Option<i64>,
    default: T,
    range: &core::ops::RangeInclusive<T>,
    option: &'static str,
    rule: &str,
) -> Result<T, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    T::try_from(value)
        .ok()
        .filter(|value| range.contains(value))
        .ok_or_else(|| ConfigError::new(option, format!("must be {rule}")))
}

/// The OTP half of the options: what [`Scheme`] needs and what a bare
/// `totp()` call takes.
///
/// # Errors
/// [`ConfigError`] naming `otp_seed`, `digits`, `period` or `algorithm`.
pub fn totp_from(options: &Options) -> Result<Totp, ConfigError> {
    let seed_text = options.otp_seed.as_deref().ok_or_else(|| ConfigError::new("otp_seed", "is missing"))?;
    let seed = totp::decode_seed(seed_text)?;
    let digits = in_range(options.digits, DEFAULT_DIGITS, &totp::DIGITS, "digits", "an integer from 6 to 10")?;
    let period =
        in_range(options.period, DEFAULT_PERIOD, &totp::PERIOD, "period", "an integer from 1 to 3600 (seconds)")?;
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
        let window = in_range(options.window, DEFAULT_WINDOW, &WINDOW, "window", "an integer from 0 to 10 (steps)")?;
        let nonce_length = in_range(
            options.nonce_length,
            DEFAULT_NONCE_LENGTH,
            &NONCE_LENGTH,
            "nonce_length",
            "an integer from 8 to 128",
        )?;
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

    /// The second at which a token minted in `step` stops verifying.
    #[must_use]
    pub fn expiry(&self, step: u64) -> u64 {
        step.saturating_add(self.window + 1).saturating_mul(self.totp.period())
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
#[derive(Debug)]
pub struct Verifier {
    scheme: Scheme,
    replay: ReplayCache,
}

impl Verifier {
    /// Validates the options (including `replay_capacity`) and keys the HMACs.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad option.
    pub fn new(options: &Options) -> Result<Self, ConfigError> {
        let scheme = Scheme::new(options)?;
        let capacity = in_range(
            options.replay_capacity,
            replay::DEFAULT_CAPACITY,
            &(1..=replay::MAX_CAPACITY),
            "replay_capacity",
            "an integer from 1 to 100000000",
        )?;
        Ok(Verifier { scheme, replay: ReplayCache::new(capacity) })
    }

    /// The scheme behind this verifier.
    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The replay cache.
    #[must_use]
    pub fn replay_cache(&self) -> &ReplayCache {
        &self.replay
    }

    /// Checks a token and records it as used.
    ///
    /// # Errors
    /// The [`Reason`] of the first failed check, [`Reason::Replayed`] or
    /// [`Reason::ReplayCacheFull`].
    pub fn verify(&mut self, username: &[u8], host: &[u8], token: &[u8], now: u64) -> Result<Verified, Reason> {
        // Expire on every call, not only on success, so that a stream of
        // refused tokens still lets expired entries go.
        self.replay.expire(now, replay::EXPIRY_BATCH);
        let verified = self.scheme.verify(username, host, token, now)?;
        self.replay.insert(verified.fingerprint, self.scheme.expiry(verified.step), now)?;
        Ok(verified)
    }
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
        assert_eq!(verifier.replay_cache().len(), 2);
        // Entries go when the token could no longer verify anyway.
        assert_eq!(verifier.verify(b"alice", b"example.com", a.as_bytes(), T + 60), Err(Reason::OtpMismatch));
        assert_eq!(verifier.replay_cache().len(), 1);
        assert_eq!(verifier.verify(b"alice", b"example.com", b.as_bytes(), T + 90), Err(Reason::OtpMismatch));
        assert!(verifier.replay_cache().is_empty());
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
        assert_eq!(garbage.detail.map(|d| d.code), Some("no_space"));
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
