//! The signature algorithms (RFC 7518 section 3, RFC 8037 section 3.1)
//! and the key material each one takes. Every check is the RustCrypto
//! crates' own: `hmac` (constant-time `verify_slice`), `rsa` (PKCS#1 v1.5
//! and PSS with the hash's length as salt), `p256`/`p384` (ECDSA with the
//! fixed-size `r || s` signature of JWS) and `ed25519-dalek`
//! (`verify_strict`).

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier as _;
use rsa::RsaPublicKey;
use sha2::{Sha256, Sha384, Sha512};

/// A JWS algorithm this verifier knows. `none` is not one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Alg {
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 (salt of 32 bytes).
    Ps256,
    /// RSASSA-PSS with SHA-384 (salt of 48 bytes).
    Ps384,
    /// RSASSA-PSS with SHA-512 (salt of 64 bytes).
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// EdDSA on Ed25519 (RFC 8037).
    EdDsa,
}

impl Alg {
    /// Every algorithm, in the order the README lists them.
    pub const ALL: [Alg; 12] = [
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    /// Every name, as [`Alg::name`] spells them.
    pub const NAMES: [&'static str; 12] =
        ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

    /// The name in a JWS header (`alg`) and in a JWK.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named exactly `name` (names are case-sensitive).
    #[must_use]
    pub fn parse(name: &[u8]) -> Option<Alg> {
        Alg::ALL.into_iter().find(|alg| alg.name().as_bytes() == name)
    }

    /// Is this an HMAC algorithm (a shared secret, never a public key)?
    #[must_use]
    pub const fn is_hmac(self) -> bool {
        matches!(self, Alg::Hs256 | Alg::Hs384 | Alg::Hs512)
    }

    /// The smallest HMAC secret for it: the hash's output size
    /// (RFC 7518 section 3.2).
    #[must_use]
    pub const fn min_secret_bytes(self) -> usize {
        match self {
            Alg::Hs384 => 48,
            Alg::Hs512 => 64,
            _ => 32,
        }
    }
}

/// A verifying key, of one kind. Which algorithm it serves is the
/// key's, not the token's: see [`super::keys::Key`].
#[derive(Clone)]
pub enum Material {
    /// An HMAC secret (from the configuration only).
    Hmac(Vec<u8>),
    /// An RSA public key of 2048 to 8192 bits.
    Rsa(Box<RsaPublicKey>),
    /// A P-256 public key.
    P256(p256::ecdsa::VerifyingKey),
    /// A P-384 public key.
    P384(p384::ecdsa::VerifyingKey),
    /// An Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl core::fmt::Debug for Material {
    // Never print a secret.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Material::Hmac(_) => "Hmac(..)",
            Material::Rsa(_) => "Rsa",
            Material::P256(_) => "P256",
            Material::P384(_) => "P384",
            Material::Ed25519(_) => "Ed25519",
        })
    }
}

impl Material {
    /// Can this material serve `alg`?
    #[must_use]
    pub fn serves(&self, alg: Alg) -> bool {
        match self {
            Material::Hmac(_) => alg.is_hmac(),
            Material::Rsa(_) => {
                matches!(alg, Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512)
            }
            Material::P256(_) => alg == Alg::Es256,
            Material::P384(_) => alg == Alg::Es384,
            Material::Ed25519(_) => alg == Alg::EdDsa,
        }
    }
}

fn hmac_ok<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
    match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(input);
            mac.verify_slice(signature).is_ok()
        }
        Err(_) => false,
    }
}

fn rsa_ok(key: &RsaPublicKey, alg: Alg, input: &[u8], signature: &[u8]) -> bool {
    use rsa::traits::PublicKeyParts as _;
    use rsa::{Pkcs1v15Sign, Pss};
    use sha2::Digest as _;
    // RFC 8017: the signature is exactly as long as the modulus (public
    // lengths, compared before any arithmetic).
    let length = signature.len();
    if length != key.size() {
        return false;
    }
    let verified = match alg {
        Alg::Rs256 => key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input), signature),
        Alg::Rs384 => key.verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(input), signature),
        Alg::Rs512 => key.verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(input), signature),
        // Pss::new takes the hash's output size as the salt length, as
        // RFC 7518 section 3.5 requires.
        Alg::Ps256 => key.verify(Pss::new::<Sha256>(), &Sha256::digest(input), signature),
        Alg::Ps384 => key.verify(Pss::new::<Sha384>(), &Sha384::digest(input), signature),
        Alg::Ps512 => key.verify(Pss::new::<Sha512>(), &Sha512::digest(input), signature),
        _ => return false,
    };
    verified.is_ok()
}

/// Does `signature` sign `input` under `material` with `alg`? False
/// when the material does not serve `alg`.
#[must_use]
pub fn verify(material: &Material, alg: Alg, input: &[u8], signature: &[u8]) -> bool {
    if !material.serves(alg) {
        return false;
    }
    match material {
        Material::Hmac(secret) => match alg {
            Alg::Hs256 => hmac_ok::<Hmac<Sha256>>(secret, input, signature),
            Alg::Hs384 => hmac_ok::<Hmac<Sha384>>(secret, input, signature),
            _ => hmac_ok::<Hmac<Sha512>>(secret, input, signature),
        },
        Material::Rsa(key) => rsa_ok(key, alg, input, signature),
        Material::P256(key) => {
            p256::ecdsa::Signature::from_slice(signature).is_ok_and(|signature| key.verify(input, &signature).is_ok())
        }
        Material::P384(key) => {
            p384::ecdsa::Signature::from_slice(signature).is_ok_and(|signature| key.verify(input, &signature).is_ok())
        }
        Material::Ed25519(key) => <[u8; 64]>::try_from(signature)
            .is_ok_and(|bytes| key.verify_strict(input, &ed25519_dalek::Signature::from_bytes(&bytes)).is_ok()),
    }
}
