//! Fresh secrets, seeds and nonces from the operating system's CSPRNG.

/// Bytes of entropy in a new OTP seed: 160 bits, RFC 4226's recommendation,
/// 32 base32 characters (pyotp accepts it; it refuses under 112 bits).
pub const SEED_BYTES: usize = 20;
/// Bytes of entropy in a new token secret: 256 bits, the HMAC-SHA256 block
/// size's worth of security.
pub const SECRET_BYTES: usize = 32;

/// `count` random bytes.
///
/// # Errors
/// The operating system's error when it has no randomness to give.
pub fn bytes(count: usize) -> Result<Vec<u8>, getrandom::Error> {
    let mut buffer = vec![0u8; count];
    getrandom::fill(&mut buffer)?;
    Ok(buffer)
}

/// `count` bytes of entropy as unpadded base32, ready for a config file.
///
/// # Errors
/// As [`bytes`].
pub fn base32(count: usize) -> Result<String, getrandom::Error> {
    Ok(data_encoding::BASE32_NOPAD.encode(&bytes(count)?))
}

/// `count` uniformly random ASCII decimal digits.
///
/// # Errors
/// As [`bytes`].
pub fn digits(count: usize) -> Result<Vec<u8>, getrandom::Error> {
    let mut digits = Vec::with_capacity(count);
    while digits.len() < count {
        // Bytes from 250 up would favour the digits 0 to 5: drop them.
        for byte in bytes(count)? {
            if byte < 250 && digits.len() < count {
                digits.push(b'0' + byte % 10);
            }
        }
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_values_have_the_promised_size_and_differ() {
        let seed = base32(SEED_BYTES).expect("os randomness");
        assert_eq!(seed.len(), 32);
        assert!(crate::totp::decode_seed(seed.as_bytes()).is_ok());
        assert_ne!(seed, base32(SEED_BYTES).expect("os randomness"));
        assert_eq!(base32(SECRET_BYTES).expect("os randomness").len(), 52);
    }

    #[test]
    fn digits_are_digits_and_cover_the_range() {
        let many = digits(10_000).expect("os randomness");
        assert_eq!(many.len(), 10_000);
        let mut counts = [0usize; 10];
        for d in &many {
            assert!(d.is_ascii_digit());
            counts[usize::from(d - b'0')] += 1;
        }
        // Each digit expects 1000; 800 is over six standard deviations away.
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
