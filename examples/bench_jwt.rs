//! The Rust side of the JWT benchmark (bench/jwt.lua runs it in the same
//! `make bench`): the crate's bare `Jwt::verify_claims` per algorithm, on
//! the tokens and keys bench/jwt.lua had PyJWT make.
//!
//!     cargo run --release --example bench_jwt -- DIR SECRET [--quick]
//!
//! DIR holds py.jwks.json and tokens.tsv (`ALG<TAB>token` lines). Output:
//! `rust_jwt_<ALG><TAB>microseconds<TAB>us` lines, each the median of
//! several runs of the process's CPU time (as bench/jwt.lua measures Lua's
//! with os.clock). No secret is printed.
#![allow(clippy::expect_used, clippy::cast_precision_loss)]

use std::hint::black_box;

use rustix::time::{clock_gettime, ClockId};

use token_auth::jwt::{self, Jwt};

/// The time the tokens are checked at: bench/jwt.lua mints them for it.
const NOW: u64 = 1_700_000_000;

/// Seconds of CPU time this process has used.
fn cpu_seconds() -> f64 {
    let now = clock_gettime(ClockId::ProcessCPUTime);
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, secret) = (&args[1], &args[2]);
    let quick = args.iter().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 7 };
    let tokens = std::fs::read_to_string(format!("{dir}/tokens.tsv")).expect("tokens.tsv");
    for line in tokens.lines() {
        let (alg, token) = line.split_once('\t').expect("ALG<TAB>token");
        let mut options = jwt::Options { single_use: Some(false), ..jwt::Options::default() };
        if alg.starts_with("HS") {
            options.secrets = vec![secret.as_bytes().to_vec()];
            options.secret_algorithm = Some(alg.as_bytes().to_vec());
        } else {
            options.keys = Some(format!("{dir}/py.jwks.json").into_bytes());
        }
        let verifier = Jwt::new(&options).expect("valid").expect("configured");
        verifier.verify_claims(token.as_bytes(), NOW).expect("the token verifies");
        // Enough calls for a few tens of milliseconds per run.
        let calls = if alg.starts_with("HS") {
            20_000
        } else if alg.starts_with(['R', 'P']) {
            3_000
        } else {
            1_000
        };
        let calls = if quick { calls / 5 } else { calls };
        let samples = (0..=runs)
            .map(|_| {
                let start = cpu_seconds();
                for _ in 0..calls {
                    black_box(verifier.verify_claims(black_box(token.as_bytes()), NOW).is_ok());
                }
                (cpu_seconds() - start) * 1e6 / f64::from(calls)
            })
            .skip(1)
            .collect();
        println!("rust_jwt_{alg}\t{:.3}\tus", median(samples));
    }
}
