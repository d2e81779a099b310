//! Option validation and the OTP seed decoder on any values.
//!
//! Input: newline-separated fields: otp_seed, token_secret (a list split on
//! tabs), digits, period, algorithm, window, nonce_length, replay_capacity.
//! A missing or empty field is left at its default (the seed excepted: a
//! present seed field is always passed on). An integer field is read as a
//! decimal if it is one, else as the little-endian value of its bytes, so
//! that every i64 can be reached.
//!
//! Checks: a refusal names an option whose value really is out of range,
//! and its message is plain text that echoes no value (every secret starts
//! with byte 0x01 here, which no message may contain; a seed of 20 bytes or
//! more without a space must not appear in it); an accepted configuration has every value in
//! its documented range and mints tokens that verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_auth::error::Reason;
use token_auth::scheme::{Options, Verifier};
use token_auth::{token, totp};

fn integer(field: Option<&[u8]>) -> Option<i64> {
    let field = field.filter(|f| !f.is_empty())?;
    if let Some(n) = std::str::from_utf8(field).ok().and_then(|text| text.parse::<i64>().ok()) {
        return Some(n);
    }
    let mut bytes = [0u8; 8];
    let used = field.len().min(8);
    bytes[..used].copy_from_slice(&field[..used]);
    Some(i64::from_le_bytes(bytes))
}

fn in_range(value: Option<i64>, low: i64, high: i64) -> bool {
    value.is_none_or(|v| (low..=high).contains(&v))
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == b'\n');
    let seed = fields.next().map(<[u8]>::to_vec);
    let secrets: Vec<Vec<u8>> = match fields.next() {
        None => Vec::new(),
        Some(list) => list
            .split(|&b| b == b'\t')
            .map(|s| {
                let mut secret = vec![0x01];
                secret.extend_from_slice(s);
                secret
            })
            .collect(),
    };
    let digits = integer(fields.next());
    let period = integer(fields.next());
    let algorithm = fields.next().filter(|f| !f.is_empty()).map(<[u8]>::to_vec);
    let window = integer(fields.next());
    let nonce_length = integer(fields.next());
    let replay_capacity = integer(fields.next());
    let options = Options {
        otp_seed: seed.clone(),
        token_secrets: secrets.clone(),
        digits,
        period,
        algorithm: algorithm.clone(),
        window,
        nonce_length,
        replay_capacity,
        ..Options::default()
    };

    let seed_ok =
        seed.as_deref().is_some_and(|s| totp::decode_seed(s).is_ok_and(|bytes| bytes.len() >= totp::MIN_SEED_BYTES));
    let secrets_ok = !secrets.is_empty()
        && secrets.len() <= token::MAX_SECRETS
        && secrets.iter().all(|s| s.len() >= token::MIN_SECRET_BYTES);
    let algorithm_ok = algorithm.as_deref().is_none_or(|a| totp::Algorithm::parse(a).is_ok());
    let good = |option: &str| match option {
        "otp_seed" => seed_ok,
        "token_secret" => secrets_ok,
        "digits" => in_range(digits, 6, 10),
        "period" => in_range(period, 1, 3600),
        "algorithm" => algorithm_ok,
        "window" => in_range(window, 0, 10),
        "nonce_length" => in_range(nonce_length, 8, 128),
        "replay_capacity" => in_range(replay_capacity, 1, 100_000_000),
        other => panic!("an error named an unknown option {other:?}"),
    };

    match Verifier::new(&options) {
        Err(err) => {
            let option = err.option();
            assert!(!good(option), "{option} was blamed but its value is fine");
            let message = err.to_string();
            assert!(message.starts_with(&format!("{option}: ")), "{message:?}");
            assert!(message.bytes().all(|b| (0x20..0x7f).contains(&b)), "not plain text: {message:?}");
            // No message has a run of 20 characters without a space.
            if let Some(seed) = seed.as_deref().filter(|s| s.len() >= 20 && !s.contains(&b' ')) {
                assert!(!message.as_bytes().windows(seed.len()).any(|w| w == seed), "the seed was echoed");
            }
        }
        Ok(verifier) => {
            for option in [
                "otp_seed",
                "token_secret",
                "digits",
                "period",
                "algorithm",
                "window",
                "nonce_length",
                "replay_capacity",
            ] {
                assert!(good(option), "{option} is out of range but was accepted");
            }
            let scheme = verifier.scheme().expect("a token scheme");
            let digits = scheme.totp().digits() as usize;
            let nonce = vec![b'7'; scheme.nonce_length()];
            let now = 1_700_000_000 + data.len() as u64 * 977;
            let minted = scheme.generate(b"alice", b"example.com", &nonce, now).expect("a valid configuration mints");
            assert_eq!(minted.len(), digits + nonce.len() + 1 + token::SIGNATURE_CHARS);
            assert_eq!(&minted[..digits], scheme.totp().code_at(now));
            assert!(scheme.verify(b"alice", b"example.com", minted.as_bytes(), now).is_ok());
            assert_eq!(scheme.verify(b"alicf", b"example.com", minted.as_bytes(), now), Err(Reason::BadSignature));
        }
    }
});
