//! Properties of the pure core, over generated users, hosts, secrets, seeds,
//! digits, periods, algorithms, windows, nonce lengths and times; and the
//! bounds on cost: a huge token is refused as cheaply as a normal one, and
//! the replay cache keeps its bound under a flood and recovers.
//!
//! The expected values come from independent code where there is any: OTP
//! codes from a direct RFC 4226 implementation over the `hmac` crate, tokens
//! from a one-shot HMAC-SHA256 and base64, seeds from `data-encoding`'s
//! stock base32.

// Helpers of a test may panic: a panic is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use proptest::collection::vec;
use proptest::prelude::*;
use token_auth::error::Reason;
use token_auth::replay::{Fingerprint, ReplayCache};
use token_auth::scheme::{Options, Scheme, Verifier};
use token_auth::token;

/// Anything the time argument of the binding can carry: up to 2^53.
const MAX_TIME: u64 = 1 << 53;

/// A configuration drawn at random, with the raw seed kept for the
/// independent OTP computation.
#[derive(Clone, Debug)]
struct Config {
    seed: Vec<u8>,
    seed_text: Vec<u8>,
    secrets: Vec<Vec<u8>>,
    digits: u32,
    period: u64,
    algorithm: usize,
    window: u64,
    nonce_length: usize,
}

const ALGORITHMS: [&str; 3] = ["SHA1", "SHA256", "SHA512"];

impl Config {
    fn options(&self) -> Options {
        Options {
            otp_seed: Some(self.seed_text.clone()),
            token_secrets: self.secrets.clone(),
            digits: Some(i64::from(self.digits)),
            period: Some(i64::try_from(self.period).expect("small")),
            algorithm: Some(ALGORITHMS[self.algorithm].as_bytes().to_vec()),
            window: Some(i64::try_from(self.window).expect("small")),
            nonce_length: Some(i64::try_from(self.nonce_length).expect("small")),
            ..Options::default()
        }
    }

    fn scheme(&self) -> Scheme {
        Scheme::new(&self.options()).expect("a generated configuration is valid")
    }

    /// RFC 4226 HOTP, written out here rather than taken from the crate.
    fn reference_code(&self, time: u64) -> String {
        fn hmac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        let counter = (time / self.period).to_be_bytes();
        let hash = match self.algorithm {
            0 => hmac_of::<Hmac<sha1::Sha1>>(&self.seed, &counter),
            1 => hmac_of::<Hmac<sha2::Sha256>>(&self.seed, &counter),
            _ => hmac_of::<Hmac<sha2::Sha512>>(&self.seed, &counter),
        };
        let offset = usize::from(hash[hash.len() - 1] & 0x0f);
        let value =
            u32::from_be_bytes([hash[offset], hash[offset + 1], hash[offset + 2], hash[offset + 3]]) & 0x7fff_ffff;
        format!("{:0width$}", u64::from(value) % 10u64.pow(self.digits), width = self.digits as usize)
    }

    /// The token the scheme should mint, computed with a one-shot HMAC.
    fn reference_token(&self, username: &[u8], host: &[u8], nonce: &[u8], time: u64) -> Vec<u8> {
        let mut digits = self.reference_code(time).into_bytes();
        digits.extend_from_slice(nonce);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.secrets[0]).expect("any key length");
        mac.update(&digits);
        mac.update(username);
        mac.update(b"@");
        mac.update(host);
        let mut token = digits;
        token.push(b' ');
        token.extend_from_slice(
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()).as_bytes(),
        );
        token
    }

    /// Whether a token with this OTP verifies at `time`: some step within
    /// the window has that code (OTP codes of distant steps can collide).
    fn otp_in_window(&self, otp: &[u8], time: u64) -> bool {
        let current = time / self.period;
        let low = current.saturating_sub(self.window);
        (low..=current + self.window).any(|step| self.reference_code(step * self.period).as_bytes() == otp)
    }
}

/// base32 with random case and '=' sprinkled anywhere: all of it must
/// decode to the same seed.
fn seed_text(seed: &[u8], lower: &[bool], padding: &[usize]) -> Vec<u8> {
    let plain = data_encoding::BASE32_NOPAD.encode(seed);
    let mut text: Vec<u8> = plain
        .bytes()
        .zip(lower.iter().cycle())
        .map(|(c, &lower)| if lower { c.to_ascii_lowercase() } else { c })
        .collect();
    for &at in padding {
        text.insert(at % (text.len() + 1), b'=');
    }
    text
}

fn config() -> impl Strategy<Value = Config> {
    (
        vec(any::<u8>(), 10..40),
        vec(any::<bool>(), 1..8),
        vec(any::<usize>(), 0..4),
        vec(vec(any::<u8>(), 16..64), 1..4),
        6u32..=10,
        prop_oneof![Just(30u64), 1u64..=3600],
        0usize..3,
        0u64..=10,
        prop_oneof![Just(32usize), 8usize..=128],
    )
        .prop_map(|(seed, lower, padding, secrets, digits, period, algorithm, window, nonce_length)| Config {
            seed_text: seed_text(&seed, &lower, &padding),
            seed,
            secrets,
            digits,
            period,
            algorithm,
            window,
            nonce_length,
        })
}

/// A username or host: any bytes but '@' and '/', not empty.
fn jid_part() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z0-9.-]{1,20}".prop_map(String::into_bytes),
        vec(any::<u8>().prop_filter("no @ or /", |&b| b != b'@' && b != b'/'), 1..40),
    ]
}

fn nonce(length: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(0u8..10, length).prop_map(|digits| digits.into_iter().map(|d| b'0' + d).collect())
}

/// A configuration, a JID, a nonce and a time, with the minted token.
fn minted() -> impl Strategy<Value = (Config, Vec<u8>, Vec<u8>, Vec<u8>, u64)> {
    config().prop_flat_map(|config| {
        let length = config.nonce_length;
        (Just(config), jid_part(), jid_part(), nonce(length), 0..=MAX_TIME)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn minted_tokens_are_the_reference_tokens_and_verify((config, user, host, nonce, time) in minted()) {
        let scheme = config.scheme();
        let token = scheme.generate(&user, &host, &nonce, time).expect("mint");
        prop_assert_eq!(token.as_bytes(), &config.reference_token(&user, &host, &nonce, time)[..]);
        prop_assert_eq!(scheme.totp().code_at(time), config.reference_code(time));
        let verified = scheme.verify(&user, &host, token.as_bytes(), time).expect("verifies when minted");
        prop_assert_eq!(verified.step, time / config.period);
        prop_assert_eq!(verified.key_index, 0);

        let mut verifier = Verifier::new(&config.options()).expect("valid");
        prop_assert!(verifier.verify(&user, &host, token.as_bytes(), time).is_ok());
        prop_assert_eq!(verifier.verify(&user, &host, token.as_bytes(), time).map(|_| ()), Err(Reason::Replayed));
    }

    #[test]
    fn tokens_verify_across_the_window_and_not_beyond(
        (config, user, host, nonce, time) in minted(),
        offset in -15i64..=15,
        within in any::<u64>(),
    ) {
        let scheme = config.scheme();
        let token = scheme.generate(&user, &host, &nonce, time).expect("mint");
        // Any second of the step `offset` steps away.
        let step = (time / config.period).checked_add_signed(offset);
        prop_assume!(step.is_some_and(|step| step * config.period <= MAX_TIME));
        let at = step.expect("checked") * config.period + within % config.period;
        let otp = &token.as_bytes()[..config.digits as usize];
        let want = if offset.unsigned_abs() <= config.window {
            Ok(())
        } else if config.otp_in_window(otp, at) {
            // A distant step happens to have the same code: it verifies,
            // as it would for the generator.
            Ok(())
        } else {
            Err(Reason::OtpMismatch)
        };
        prop_assert_eq!(scheme.verify(&user, &host, token.as_bytes(), at).map(|_| ()), want);
    }

    #[test]
    fn tokens_never_verify_for_another_user_host_or_secret(
        (config, user, host, nonce, time) in minted(),
        other_user in jid_part(),
        other_host in jid_part(),
        other_secret in vec(any::<u8>(), 16..64),
    ) {
        let scheme = config.scheme();
        let token = scheme.generate(&user, &host, &nonce, time).expect("mint");
        let token = token.as_bytes();
        if other_user != user {
            prop_assert_eq!(scheme.verify(&other_user, &host, token, time).map(|_| ()), Err(Reason::BadSignature));
        }
        if other_host != host {
            prop_assert_eq!(scheme.verify(&user, &other_host, token, time).map(|_| ()), Err(Reason::BadSignature));
        }
        // The boundary between user and host cannot move: '@' is in neither.
        if host.len() > 1 {
            let mut moved_user = user.clone();
            moved_user.push(host[0]);
            prop_assert_eq!(scheme.verify(&moved_user, &host[1..], token, time).map(|_| ()), Err(Reason::BadSignature));
        }
        if !config.secrets.contains(&other_secret) {
            let mut other = config.clone();
            other.secrets = vec![other_secret];
            prop_assert_eq!(other.scheme().verify(&user, &host, token, time).map(|_| ()), Err(Reason::BadSignature));
        }
    }

    #[test]
    fn every_accepted_secret_verifies_and_the_first_one_signs(
        (config, user, host, nonce, time) in minted(),
    ) {
        let scheme = config.scheme();
        for secret in &config.secrets {
            let mut single = config.clone();
            single.secrets = vec![secret.clone()];
            let token = single.scheme().generate(&user, &host, &nonce, time).expect("mint");
            // The first matching secret is reported (two may be equal).
            let first = config.secrets.iter().position(|s| s == secret).expect("present");
            prop_assert_eq!(scheme.verify(&user, &host, token.as_bytes(), time).map(|v| v.key_index), Ok(first));
        }
    }

    #[test]
    fn every_single_byte_change_truncation_or_extension_is_refused(
        (config, user, host, nonce, time) in minted(),
        deltas in vec(1u8..=255, 200),
        extension in vec(any::<u8>(), 1..8),
    ) {
        let scheme = config.scheme();
        let token = scheme.generate(&user, &host, &nonce, time).expect("mint").into_bytes();
        for (position, delta) in (0..token.len()).zip(&deltas) {
            let mut changed = token.clone();
            changed[position] = changed[position].wrapping_add(*delta);
            prop_assert!(scheme.verify(&user, &host, &changed, time).is_err(), "byte {} changed", position);
        }
        for length in 0..token.len() {
            prop_assert!(scheme.verify(&user, &host, &token[..length], time).is_err(), "cut to {}", length);
        }
        let mut longer = token.clone();
        longer.extend_from_slice(&extension);
        prop_assert!(scheme.verify(&user, &host, &longer, time).is_err());
        let mut prefixed = extension.clone();
        prefixed.extend_from_slice(&token);
        prop_assert!(scheme.verify(&user, &host, &prefixed, time).is_err());
    }

    #[test]
    fn a_parsed_token_has_one_spelling(
        digits in 6usize..=10,
        nonce_length in 8usize..=128,
        signed in vec(0u8..10, 138),
        signature in any::<[u8; 32]>(),
        noise in vec(any::<u8>(), 0..200),
    ) {
        let signed: Vec<u8> = signed[..digits + nonce_length].iter().map(|d| b'0' + d).collect();
        let text = token::format(&signed, &signature);
        let parsed = token::parse(text.as_bytes(), digits, nonce_length).expect("a formatted token parses");
        prop_assert_eq!(parsed.signed_digits, &signed[..]);
        prop_assert_eq!(parsed.signature, signature);
        prop_assert_eq!(parsed.otp, std::str::from_utf8(&signed[..digits]).expect("ascii").parse::<u64>().expect("digits"));
        // Random bytes that happen to parse must be written back identically.
        if let Ok(parsed) = token::parse(&noise, digits, nonce_length) {
            let written = token::format(parsed.signed_digits, &parsed.signature);
            prop_assert_eq!(written.as_bytes(), &noise[..]);
        }
    }

    #[test]
    fn seeds_decode_whatever_the_case_and_padding(config in config()) {
        prop_assert_eq!(token_auth::totp::decode_seed(&config.seed_text).expect("valid"), config.seed.clone());
    }

    #[test]
    fn the_replay_cache_behaves_like_a_set_with_expiry(
        capacity in 1usize..20,
        ops in vec((0u8..40, 0u64..50, 0u64..120, any::<bool>()), 1..200),
    ) {
        let mut cache = ReplayCache::new(capacity);
        let mut model: HashMap<u8, u64> = HashMap::new();
        let mut now = 0u64;
        for (id, step, lifetime, backwards) in ops {
            now = if backwards { now.saturating_sub(step) } else { now + step };
            let mut signature = [0u8; 32];
            signature[0] = id % 3; // few hash values: colliding buckets
            signature[15] = id;
            let got = cache.insert(Fingerprint::of(&signature), now + lifetime, now);
            model.retain(|_, expiry| *expiry > now);
            let want = if model.contains_key(&id) {
                Err(Reason::Replayed)
            } else if model.len() >= capacity {
                Err(Reason::ReplayCacheFull)
            } else {
                model.insert(id, now + lifetime);
                Ok(())
            };
            prop_assert_eq!(got, want);
            prop_assert_eq!(cache.len(), model.len());
            prop_assert!(cache.len() <= capacity);
        }
    }
}

/// Every option with each kind of bad value is refused, naming the option
/// and echoing neither the seed nor a secret.
#[test]
fn every_bad_option_is_refused_by_name_without_echoing_secrets() {
    const SEED: &[u8] = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const SECRET: &[u8] = b"a secret that must never be shown";
    let good = || Options { otp_seed: Some(SEED.to_vec()), token_secrets: vec![SECRET.to_vec()], ..Options::default() };
    type Edit = fn(&mut Options);
    let cases: &[(&str, Edit)] = &[
        ("otp_seed", |o| o.otp_seed = None),
        ("otp_seed", |o| o.otp_seed = Some(Vec::new())),
        ("otp_seed", |o| o.otp_seed = Some(b"JBSWY3DPEHPK3PX!".to_vec())),
        ("otp_seed", |o| o.otp_seed = Some(b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX\0".to_vec())),
        ("otp_seed", |o| o.otp_seed = Some(b"JBSWY3DPEHPK3PX\xff".to_vec())),
        ("otp_seed", |o| o.otp_seed = Some(b"JBSWY3DPEHPK3PXPA".to_vec())),
        ("otp_seed", |o| o.otp_seed = Some(b"JBSWY3DPEHPK3P==".to_vec())),
        ("otp_seed", |o| o.otp_seed = Some(b"========".to_vec())),
        ("token_secret", |o| o.token_secrets.clear()),
        ("token_secret", |o| o.token_secrets = vec![Vec::new()]),
        ("token_secret", |o| o.token_secrets = vec![b"fifteen bytes!!".to_vec()]),
        ("token_secret", |o| o.token_secrets = vec![SECRET.to_vec(), b"short".to_vec()]),
        ("token_secret", |o| o.token_secrets = vec![SECRET.to_vec(); 9]),
        ("digits", |o| o.digits = Some(0)),
        ("digits", |o| o.digits = Some(5)),
        ("digits", |o| o.digits = Some(11)),
        ("digits", |o| o.digits = Some(20)),
        ("digits", |o| o.digits = Some(-8)),
        ("digits", |o| o.digits = Some(i64::MIN)),
        ("digits", |o| o.digits = Some(i64::from(u32::MAX) + 8)),
        ("period", |o| o.period = Some(0)),
        ("period", |o| o.period = Some(-30)),
        ("period", |o| o.period = Some(3601)),
        ("period", |o| o.period = Some(i64::MAX)),
        ("algorithm", |o| o.algorithm = Some(Vec::new())),
        ("algorithm", |o| o.algorithm = Some(b"MD5".to_vec())),
        ("algorithm", |o| o.algorithm = Some(b"SHA1\0".to_vec())),
        ("algorithm", |o| o.algorithm = Some(b"SHA-256".to_vec())),
        ("window", |o| o.window = Some(-1)),
        ("window", |o| o.window = Some(11)),
        ("window", |o| o.window = Some(100)),
        ("window", |o| o.window = Some(i64::MAX)),
        ("nonce_length", |o| o.nonce_length = Some(0)),
        ("nonce_length", |o| o.nonce_length = Some(7)),
        ("nonce_length", |o| o.nonce_length = Some(129)),
        ("nonce_length", |o| o.nonce_length = Some(-32)),
        ("replay_capacity", |o| o.replay_capacity = Some(0)),
        ("replay_capacity", |o| o.replay_capacity = Some(-1)),
        ("replay_capacity", |o| o.replay_capacity = Some(100_000_001)),
        ("replay_capacity", |o| o.replay_capacity = Some(i64::MAX)),
    ];
    for (option, edit) in cases {
        let mut options = good();
        edit(&mut options);
        let err = Verifier::new(&options).expect_err(option);
        let message = err.to_string();
        assert_eq!(err.option(), *option, "{message}");
        assert!(message.starts_with(&format!("{option}: ")), "{message}");
        for secret in [SEED, SECRET, b"JBSWY3DPEHPK3PX", b"fifteen bytes"] {
            assert!(!message.as_bytes().windows(secret.len()).any(|w| w == secret), "{message}");
        }
        assert!(message.bytes().all(|b| (0x20..0x7f).contains(&b)), "{message:?}");
    }
}

/// The default configuration, for the exhaustive and the cost tests.
fn default_scheme() -> Scheme {
    Scheme::new(&Options {
        otp_seed: Some(b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_vec()),
        token_secrets: vec![b"JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7".to_vec()],
        ..Options::default()
    })
    .expect("valid")
}

const T: u64 = 1_700_000_010;

/// Not sampled: every position, every other byte value.
#[test]
fn every_single_byte_change_of_a_token_is_refused_exhaustively() {
    let scheme = default_scheme();
    let token = scheme.generate(b"alice", b"example.com", b"01234567890123456789012345678901", T).expect("mint");
    let mut changed = token.clone().into_bytes();
    for position in 0..changed.len() {
        let original = changed[position];
        for value in (0..=255u8).filter(|&v| v != original) {
            changed[position] = value;
            let result = scheme.verify(b"alice", b"example.com", &changed, T);
            assert!(result.is_err(), "byte {position} set to {value}");
        }
        changed[position] = original;
    }
    assert!(scheme.verify(b"alice", b"example.com", &changed, T).is_ok());
}

/// The cheapest of `batches` runs of `calls` calls, per call: the minimum
/// filters out a loaded machine's interruptions.
fn fastest(batches: usize, calls: u32, mut call: impl FnMut()) -> Duration {
    (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                call();
            }
            start.elapsed() / calls
        })
        .min()
        .expect("at least one batch")
}

/// A megabyte token is refused on its length before any byte of it is
/// looked at: it must cost no more than twice a normal, well-formed token
/// with a wrong signature (which costs an HMAC). Looking at every byte of a
/// megabyte, even at memory speed, takes tens of times longer than that;
/// refusing it on its length takes about a hundredth. It must also cost
/// about what a 600-byte overlong token costs. Measured as the fastest of
/// many batches, interleaved, so that a loaded machine slows them all.
#[test]
fn a_megabyte_token_costs_no_more_than_a_normal_one() {
    let scheme = default_scheme();
    let normal = scheme.generate(b"alice", b"example.com", b"01234567890123456789012345678901", T).expect("mint");
    let forged = {
        // Another signature, still canonical base64 (the changed character
        // is not one of the last, whose low bits must be zero).
        let mut bytes = normal.clone().into_bytes();
        let at = bytes.len() - 5;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).expect("ascii")
    };
    assert_eq!(scheme.verify(b"alice", b"example.com", forged.as_bytes(), T).map(|_| ()), Err(Reason::BadSignature));
    let megabyte_token = {
        // The worst case: a valid-looking start, then a megabyte of digits.
        let mut big = normal.clone().into_bytes();
        big.resize(1 << 20, b'7');
        big
    };
    let megabyte_spaces = vec![b' '; 1 << 20];
    for big in [&megabyte_token, &megabyte_spaces] {
        assert_eq!(scheme.verify(b"alice", b"example.com", big, T).map(|_| ()), Err(Reason::Malformed));
        assert_eq!(scheme.explain(b"alice", b"example.com", big, T).result, Err(Reason::Malformed));
    }
    // Just over the length at which diagnosis stops: what a constant cost
    // for any long token looks like.
    let small = vec![b'7'; 600];
    let mut normal_time = Duration::MAX;
    let mut small_time = Duration::MAX;
    let mut big_time = Duration::MAX;
    let verify = |token: &[u8]| {
        std::hint::black_box(scheme.verify(b"alice", b"example.com", std::hint::black_box(token), T)).ok();
    };
    for _ in 0..10 {
        normal_time = normal_time.min(fastest(5, 200, || verify(forged.as_bytes())));
        small_time = small_time.min(fastest(5, 200, || verify(&small)));
        for big in [&megabyte_token, &megabyte_spaces] {
            big_time = big_time.min(fastest(5, 200, || verify(big)));
        }
    }
    let report = format!("1 MB token: {big_time:?}, 600 B token: {small_time:?}, normal token: {normal_time:?}");
    assert!(big_time <= normal_time * 2, "{report}");
    // Also against a short overlong token, so that a scan of the megabyte
    // cannot hide behind a slow HMAC (as in an unoptimised build).
    assert!(big_time <= small_time * 4 + Duration::from_nanos(100), "{report}");
}

/// A flood of distinct valid tokens fills the replay cache to its bound
/// and no further (refusing rather than forgetting), replays stay
/// replays, and the cache empties and accepts again once they expire.
#[test]
fn the_replay_cache_keeps_its_bound_under_a_flood_and_recovers() {
    let options = Options {
        otp_seed: Some(b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_vec()),
        token_secrets: vec![b"JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7".to_vec()],
        replay_capacity: Some(64),
        ..Options::default()
    };
    let mut verifier = Verifier::new(&options).expect("valid");
    let scheme = verifier.scheme().expect("a token scheme").clone();
    let mint = |n: u64, time: u64| {
        let nonce = format!("{n:032}");
        scheme.generate(b"alice", b"example.com", nonce.as_bytes(), time).expect("mint")
    };
    let flood: Vec<String> = (0..1000).map(|n| mint(n, T)).collect();
    let mut accepted = 0;
    for (n, token) in flood.iter().enumerate() {
        match verifier.verify(b"alice", b"example.com", token.as_bytes(), T + (n as u64 % 30)) {
            Ok(_) => accepted += 1,
            Err(reason) => assert_eq!(reason, Reason::ReplayCacheFull, "token {n}"),
        }
        assert!(verifier.replay_cache().expect("local").len() <= 64);
    }
    assert_eq!(accepted, 64);
    assert_eq!(verifier.replay_cache().expect("local").len(), 64);
    assert_eq!(
        verifier.verify(b"alice", b"example.com", flood[0].as_bytes(), T + 29).map(|_| ()),
        Err(Reason::Replayed)
    );

    // Minted and accepted in the step starting at T, they verify until
    // T + 60, and are remembered until no step in reach at their use is in
    // reach any more, T + 90; fresh tokens are accepted again then.
    let later = T + 90;
    let fresh = mint(5000, later);
    assert!(verifier.verify(b"alice", b"example.com", fresh.as_bytes(), later).is_ok());
    assert!(verifier.replay_cache().expect("local").len() < 64);
    // Expired entries go a batch per check, refused checks included: a
    // handful of checks later only the fresh token is remembered.
    for _ in 0..64 / token_auth::replay::EXPIRY_BATCH {
        assert_eq!(verifier.verify(b"alice", b"example.com", b"junk", later).map(|_| ()), Err(Reason::Malformed));
    }
    assert_eq!(verifier.replay_cache().expect("local").len(), 1);
    assert_eq!(
        verifier.verify(b"alice", b"example.com", flood[0].as_bytes(), later).map(|_| ()),
        Err(Reason::OtpMismatch)
    );
}
