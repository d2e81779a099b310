//! The token parser on any bytes, for any accepted digits and nonce length.
//!
//! Input: one byte choosing the OTP digits (6 to 10), one choosing the nonce
//! length (8 to 128), then the token. Besides "never panics", it checks what
//! the parser promises: a parsed token has exactly one spelling (writing it
//! back gives the input), its OTP is the number its first digits spell, and
//! whatever is refused is refused with a token reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_auth::error::Reason;
use token_auth::token;

fuzz_target!(|data: &[u8]| {
    let [digits_byte, nonce_byte, token @ ..] = data else {
        return;
    };
    let digits = 6 + usize::from(*digits_byte) % 5;
    let nonce_length = 8 + usize::from(*nonce_byte) % 121;
    match token::parse(token, digits, nonce_length) {
        Ok(parsed) => {
            assert_eq!(parsed.signed_digits.len(), digits + nonce_length);
            assert!(parsed.signed_digits.iter().all(u8::is_ascii_digit));
            let spelled: u64 = std::str::from_utf8(&parsed.signed_digits[..digits])
                .expect("digits are ASCII")
                .parse()
                .expect("digits spell a number");
            assert_eq!(parsed.otp, spelled);
            let written = token::format(parsed.signed_digits, &parsed.signature);
            assert_eq!(written.as_bytes(), token, "a second spelling was accepted");
        }
        Err(reason) => {
            assert!(
                matches!(reason, Reason::Malformed | Reason::NonceLength | Reason::BadEncoding),
                "parse gave {reason:?}"
            );
            // Far too long: refused as a whole, without a diagnosis that
            // would have to look at every byte.
            if token.len() > 512 {
                assert_eq!(reason, Reason::Malformed);
            }
        }
    }
});
