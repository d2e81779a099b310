//! Stateless verification, the verifier and `explain` on any username, host,
//! token and time, against a fixed configuration.
//!
//! Input: byte 0 is the username length (its high bit also asks for
//! `explain`, which searches a day of OTP steps and is slow), byte 1 the
//! host length, bytes 2-3 a signed time offset in seconds (little-endian)
//! from `T`, then the username, the host and the token.
//!
//! The oracle: a token verifies only if it is one of the few minted here for
//! that same username and host, and its OTP is the code of a step within the
//! window of the verification time. The fuzzer cannot forge an HMAC, so any
//! other success is a bug. The verifier must agree with the stateless check
//! and then refuse the same token as replayed; `explain` must agree too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use token_auth::error::Reason;
use token_auth::scheme::{Accepted, Options, Scheme, Verifier};

const SEED: &[u8] = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SECRET: &[u8] = b"JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7";
const OLD_SECRET: &[u8] = b"an older secret, still accepted";
const T: u64 = 1_700_000_010;

struct Minted {
    username: &'static [u8],
    host: &'static [u8],
    token: String,
    key_index: usize,
}

struct Fixture {
    scheme: Scheme,
    options: Options,
    minted: Vec<Minted>,
}

fn options(secrets: &[&[u8]]) -> Options {
    Options {
        otp_seed: Some(SEED.to_vec()),
        token_secrets: secrets.iter().map(|s| s.to_vec()).collect(),
        ..Options::default()
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let options = options(&[SECRET, OLD_SECRET]);
        let scheme = Scheme::new(&options).expect("valid options");
        let old = Scheme::new(&self::options(&[OLD_SECRET])).expect("valid options");
        let mint = |scheme: &Scheme, username: &'static [u8], host: &'static [u8], nonce: &[u8], time, key_index| {
            Minted { username, host, token: scheme.generate(username, host, nonce, time).expect("mint"), key_index }
        };
        let minted = vec![
            mint(&scheme, b"alice", b"example.com", b"01234567890123456789012345678901", T, 0),
            mint(&scheme, b"alice", b"example.com", b"11111111111111111111111111111111", T + 30, 0),
            mint(&old, b"bob", b"example.com", b"22222222222222222222222222222222", T, 1),
            mint(&scheme, b"42", b"example.com", b"00000000000000000000000000000001", T, 0),
        ];
        Fixture { scheme, options, minted }
    })
}

fuzz_target!(|data: &[u8]| {
    let [user_byte, host_byte, t0, t1, rest @ ..] = data else {
        return;
    };
    let want_explain = user_byte & 0x80 != 0;
    let user_len = usize::from(user_byte & 0x7f).min(rest.len());
    let (username, rest) = rest.split_at(user_len);
    let host_len = usize::from(*host_byte).min(rest.len());
    let (host, token) = rest.split_at(host_len);
    let now = T.saturating_add_signed(i64::from(i16::from_le_bytes([*t0, *t1])));

    let fixture = fixture();
    let scheme = &fixture.scheme;
    let result = scheme.verify(username, host, token, now);

    let minted =
        fixture.minted.iter().find(|m| m.username == username && m.host == host && m.token.as_bytes() == token);
    let otp_in_window = || {
        let current = now / 30;
        let otp = &token[..8];
        (current - 1..=current + 1).any(|step| scheme.totp().code_at(step * 30).as_bytes() == otp)
    };
    match (&result, minted) {
        (Ok(verified), Some(minted)) => {
            assert!(otp_in_window(), "accepted outside the window");
            assert_eq!(verified.key_index, minted.key_index);
        }
        (Ok(_), None) => panic!("a token that was never minted verified"),
        (Err(Reason::OtpMismatch), Some(_)) => assert!(!otp_in_window(), "refused inside the window"),
        (Err(reason), Some(_)) => panic!("a minted token was refused: {reason:?}"),
        (Err(reason), None) => {
            assert!(!matches!(reason, Reason::Replayed | Reason::ReplayCacheFull), "stateless verify gave {reason:?}")
        }
    }

    let mut verifier = Verifier::new(&fixture.options).expect("valid options");
    let first = verifier.verify(username, host, token, now);
    assert_eq!(first, result.map(Accepted::Token), "the verifier disagrees with the scheme");
    let second = verifier.verify(username, host, token, now).map(|_| ());
    match first {
        Ok(_) => assert_eq!(second, Err(Reason::Replayed)),
        Err(reason) => assert_eq!(second, Err(reason)),
    }
    assert!(verifier.replay_cache().map_or(0, |cache| cache.len()) <= 1);

    if want_explain {
        let diagnosis = scheme.explain(username, host, token, now);
        assert_eq!(diagnosis.result, result.map(|_| ()), "explain disagrees with verify");
        if let Some(index) = diagnosis.key_index {
            let minted = minted.expect("explain found a signer for a token that was never minted");
            assert_eq!(index, minted.key_index);
        }
        if result.is_ok() {
            let offset = diagnosis.step_offset.expect("a valid token has a step");
            assert!((-1..=1).contains(&offset), "offset {offset}");
        }
    }
});
