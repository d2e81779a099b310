//! The Rust side of `make bench` (see bench/README.md).
//!
//!     cargo run --release --example bench_floor [-- --quick]
//!
//! 1. The crypto floor: what a valid verification cannot avoid, with nothing
//!    around it: one HMAC-SHA1 of the OTP step and one HMAC-SHA256 of the
//!    signed message, both from pre-keyed states, and the base64 decode of
//!    the 44-character signature. Measured separately and as one loop.
//! 2. The core without Lua: `Scheme::verify` and `Verifier::verify` on
//!    fresh tokens (what the binding adds is the Lua figure minus this).
//! 3. The replay cache at 10k, 100k and 1M live entries: memory per entry
//!    (resident set of a child process before and after filling), insert
//!    and lookup cost, expiry cost per entry, and a steady state where
//!    tokens keep arriving and expiring.
//!
//! Output: one `name<TAB>value<TAB>unit` line per figure on stdout, each the
//! median of several runs; progress on stderr. No secret is printed.
#![allow(clippy::expect_used, clippy::cast_possible_truncation)]

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use token_auth::replay::{Fingerprint, ReplayCache, EXPIRY_BATCH};
use token_auth::scheme::{Options, Scheme, Verifier};

/// Step start: all tokens are minted and checked in this OTP step.
const T: u64 = 1_700_000_010 / 30 * 30;
const USER: &[u8] = b"alice";
const HOST: &[u8] = b"example.com";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn emit(name: &str, value: f64, unit: &str) {
    println!("{name}\t{value:.4}\t{unit}");
}

/// Nanoseconds per iteration of `body`, median of `runs` runs of `iterations`.
fn time_ns(runs: usize, iterations: u64, mut body: impl FnMut(u64)) -> f64 {
    // Warm up caches and the branch predictor.
    for i in 0..iterations / 10 {
        body(i);
    }
    let samples = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iterations {
                body(i);
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        })
        .collect();
    median(samples)
}

/// Forty signed digits (8 OTP + 32 nonce) that differ per iteration.
fn signed_digits(i: u64) -> [u8; 40] {
    let mut digits = *b"1234567800000000000000000000000000000000";
    let text = format!("{i:032}");
    digits[8..].copy_from_slice(text.as_bytes());
    digits
}

fn random_seed() -> String {
    token_auth::random::base32(token_auth::random::SEED_BYTES).expect("OS randomness")
}

fn random_secret() -> Vec<u8> {
    token_auth::random::base32(token_auth::random::SECRET_BYTES).expect("OS randomness").into_bytes()
}

fn crypto_floor(runs: usize, iterations: u64) {
    let seed = token_auth::totp::decode_seed(random_seed().as_bytes()).expect("seed");
    let secret = random_secret();
    let sha1 = Hmac::<Sha1>::new_from_slice(&seed).expect("any key length");
    let sha256 = Hmac::<Sha256>::new_from_slice(&secret).expect("any key length");
    // A real signature to decode (its content does not change the cost).
    let signatures: Vec<String> = (0..64u64)
        .map(|i| {
            let mut mac = sha256.clone();
            mac.update(&signed_digits(i));
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        })
        .collect();
    let step = T / 30;

    let hmac_sha1 = time_ns(runs, iterations, |i| {
        let mut mac = sha1.clone();
        mac.update(&black_box(step + (i & 1)).to_be_bytes());
        black_box(mac.finalize().into_bytes());
    });
    let hmac_sha256 = time_ns(runs, iterations, |i| {
        let digits = signed_digits(i);
        let mut mac = sha256.clone();
        mac.update(black_box(&digits));
        mac.update(USER);
        mac.update(b"@");
        mac.update(HOST);
        black_box(mac.finalize().into_bytes());
    });
    let decode = time_ns(runs, iterations, |i| {
        let mut out = [0u8; 33];
        let text = &signatures[(i & 63) as usize];
        black_box(base64::engine::general_purpose::STANDARD.decode_slice(black_box(text.as_bytes()), &mut out).ok());
        black_box(out);
    });
    let digits_only = time_ns(runs, iterations, |i| {
        black_box(signed_digits(black_box(i)));
    });
    let floor = time_ns(runs, iterations, |i| {
        let digits = signed_digits(i);
        let mut out = [0u8; 33];
        let text = &signatures[(i & 63) as usize];
        black_box(base64::engine::general_purpose::STANDARD.decode_slice(black_box(text.as_bytes()), &mut out).ok());
        let mut mac = sha256.clone();
        mac.update(black_box(&digits));
        mac.update(USER);
        mac.update(b"@");
        mac.update(HOST);
        black_box(mac.finalize().into_bytes());
        let mut mac = sha1.clone();
        mac.update(&black_box(step).to_be_bytes());
        black_box(mac.finalize().into_bytes());
    });
    emit("floor_hmac_sha1", hmac_sha1, "ns");
    emit("floor_hmac_sha256", hmac_sha256 - digits_only, "ns");
    emit("floor_base64_decode", decode, "ns");
    // The loop makes its varying input (formatting the digits) too: take it out.
    emit("floor_total", floor - digits_only, "ns");
}

fn options(seed: &str, secret: &[u8], capacity: i64) -> Options {
    Options {
        otp_seed: Some(seed.as_bytes().to_vec()),
        token_secrets: vec![secret.to_vec()],
        replay_capacity: Some(capacity),
        // One user mints them all: let it use the whole cache.
        replay_per_user: Some(capacity),
        ..Options::default()
    }
}

fn core_verify(runs: usize, count: usize) {
    let seed = random_seed();
    let secret = random_secret();
    let options = options(&seed, &secret, i64::try_from(count).expect("small"));
    let scheme = Scheme::new(&options).expect("valid options");
    let tokens: Vec<String> =
        (0..count as u64).map(|i| scheme.generate(USER, HOST, &signed_digits(i)[8..], T).expect("mint")).collect();
    let stateless = time_ns(runs, count as u64, |i| {
        black_box(scheme.verify(USER, HOST, black_box(tokens[i as usize].as_bytes()), T).is_ok());
    });
    let mut samples = Vec::new();
    for _ in 0..runs {
        let mut verifier = Verifier::new(&options).expect("valid options");
        let start = Instant::now();
        for token in &tokens {
            assert!(verifier.verify(USER, HOST, black_box(token.as_bytes()), T).is_ok());
        }
        samples.push(start.elapsed().as_nanos() as f64 / count as f64);
    }
    emit("core_scheme_verify_valid", stateless, "ns");
    emit("core_verifier_verify_valid", median(samples), "ns");
}

/// A fingerprint with HMAC-like bits, from a counter.
fn fingerprint(n: u64) -> Fingerprint {
    let mut signature = [0u8; 32];
    let mixed = n.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    signature[..8].copy_from_slice(&(mixed ^ (mixed >> 31)).to_le_bytes());
    signature[8..16].copy_from_slice(&n.to_le_bytes());
    Fingerprint::of(&signature)
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Child process: fills a cache with `n` live entries and prints the growth
/// of its resident set. A fresh process keeps earlier allocations out.
fn replay_memory_child(n: u64) {
    let before = resident_bytes();
    let mut cache = ReplayCache::new(usize::try_from(n).expect("fits"));
    for i in 0..n {
        cache.insert(fingerprint(i), T + 90, T + i * 30 / n).expect("room");
    }
    let after = resident_bytes();
    assert_eq!(cache.len() as u64, n);
    black_box(&cache);
    println!("{}", after.saturating_sub(before));
}

fn replay_memory(n: u64) -> f64 {
    let exe = std::env::current_exe().expect("own path");
    let samples = (0..3)
        .map(|_| {
            let out = Command::new(&exe).args(["--replay-memory-child", &n.to_string()]).output().expect("child runs");
            let bytes: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("child prints bytes");
            bytes / n as f64
        })
        .collect();
    median(samples)
}

fn replay_speed(n: u64, runs: usize) {
    let capacity = usize::try_from(n).expect("fits");
    let (mut fill, mut lookup, mut expire, mut steady, mut pause) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        // Fill: n tokens arrive during one step, all live until T + 90.
        let mut cache = ReplayCache::new(capacity);
        let start = Instant::now();
        for i in 0..n {
            cache.insert(fingerprint(i), T + 90, T + i * 30 / n).expect("room");
        }
        fill.push(start.elapsed().as_nanos() as f64 / n as f64);

        // Lookups of present entries (replays), in scattered order.
        let probes = n.min(200_000);
        let start = Instant::now();
        for k in 0..probes {
            // 1_000_003 is prime: k -> i visits distinct entries.
            let i = k * 1_000_003 % n;
            black_box(cache.insert(fingerprint(i), T + 90, T + 30).is_err());
        }
        lookup.push(start.elapsed().as_nanos() as f64 / probes as f64);

        // Expiry: all n go at once.
        let start = Instant::now();
        cache.purge(T + 90);
        expire.push(start.elapsed().as_nanos() as f64 / n as f64);
        assert!(cache.is_empty());

        // Steady state: tokens arrive at an even rate and live until the end
        // of the step after next (as a verifier with window 1 keeps them),
        // so the live count swings between n/2 and n. Four steps long. Each
        // check expires a batch first, as `Verifier::verify` does.
        let rate = n / 60;
        let total = rate * 120;
        let mut cache = ReplayCache::new(capacity);
        let start = Instant::now();
        for i in 0..total {
            let now = T + i / rate;
            cache.expire(now, EXPIRY_BATCH);
            cache.insert(fingerprint(1_000_000_000 + i), (now / 30 + 2) * 30, now).expect("room");
        }
        steady.push(start.elapsed().as_nanos() as f64 / total as f64);
    }
    // Once more, timing every operation, for the longest single one (the
    // hash table growing, now that expiry goes a batch at a time).
    let rate = n / 60;
    let mut cache = ReplayCache::new(capacity);
    let mut worst = 0u128;
    for i in 0..rate * 120 {
        let now = T + i / rate;
        let one = Instant::now();
        cache.expire(now, EXPIRY_BATCH);
        cache.insert(fingerprint(2_000_000_000 + i), (now / 30 + 2) * 30, now).expect("room");
        worst = worst.max(one.elapsed().as_nanos());
    }
    pause.push(worst as f64 / 1000.0);
    let label = match n {
        10_000 => "10k",
        100_000 => "100k",
        1_000_000 => "1M",
        _ => "n",
    };
    emit(&format!("replay_{label}_insert"), median(fill), "ns");
    emit(&format!("replay_{label}_lookup"), median(lookup), "ns");
    emit(&format!("replay_{label}_expire"), median(expire), "ns");
    emit(&format!("replay_{label}_steady"), median(steady), "ns");
    emit(&format!("replay_{label}_worst_pause"), median(pause), "us");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--replay-memory-child" {
        replay_memory_child(args[2].parse().expect("a count"));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 7 };
    let iterations = if quick { 100_000 } else { 400_000 };

    eprintln!("bench_floor: crypto floor");
    crypto_floor(runs, iterations);
    eprintln!("bench_floor: core verify");
    core_verify(runs, if quick { 50_000 } else { 200_000 });
    for n in [10_000u64, 100_000, 1_000_000] {
        eprintln!("bench_floor: replay cache with {n} entries");
        emit(
            &format!(
                "replay_{}_bytes",
                if n == 10_000 {
                    "10k"
                } else if n == 100_000 {
                    "100k"
                } else {
                    "1M"
                }
            ),
            replay_memory(n),
            "bytes",
        );
        replay_speed(n, if quick { 1 } else { 3 });
    }
}
