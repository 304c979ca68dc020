//! The load test's identity provider: generates signing keys and token files, serves discovery
//! and JWKS on loopback, measures the RS256 verification rate of the crypto library stsd uses,
//! and times a server's start to ready. Driven by `bench/load.sh`.
//!
//! ```text
//! bench_idp gen --dir D --issuer URL --audience A [--threads T] [--cold N] [--warm N] [--bulk N]
//! bench_idp serve --dir D --listen 127.0.0.1:PORT
//! bench_idp verify-rate --dir D [--seconds S]
//! bench_idp wait-ready --url http://127.0.0.1:PORT/readyz --since-ns T [--timeout-ms M]
//! bench_idp cache-memory --dir D --issuer URL --audience A --tokens FILE [--count N]
//! ```

#[path = "../benches/support/tokens.rs"]
mod tokens;

use std::collections::HashMap;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use stsd::jwks::KeySet;
use stsd::providers::{Jws, JwsAlgorithm, Registry};
use tokens::{k8s_claims, Alg, Signer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        fail("usage: bench_idp gen|serve|verify-rate|wait-ready [options]");
    };
    let opts = options(rest);
    match command.as_str() {
        "gen" => gen(&opts),
        "serve" => serve(&opts),
        "verify-rate" => verify_rate(&opts),
        "wait-ready" => wait_ready(&opts),
        "cache-memory" => cache_memory(&opts),
        other => fail(&format!("unknown command {other}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("bench_idp: {message}");
    std::process::exit(2);
}

fn options(args: &[String]) -> HashMap<String, String> {
    let mut opts = HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else {
            fail(&format!("unexpected argument {flag}"));
        };
        let Some(value) = it.next() else {
            fail(&format!("--{name} needs a value"));
        };
        opts.insert(name.to_owned(), value.clone());
    }
    opts
}

fn required<'a>(opts: &'a HashMap<String, String>, name: &str) -> &'a str {
    opts.get(name)
        .map(String::as_str)
        .unwrap_or_else(|| fail(&format!("--{name} is required")))
}

fn number(opts: &HashMap<String, String>, name: &str, default: u64) -> u64 {
    opts.get(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| fail(&format!("--{name} must be a number")))
    })
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Keys, JWKS, discovery document and token files:
/// `cold-<i>.txt` (RS256, distinct, one file per load thread), `warm.txt` (a few RS256 tokens
/// presented over and over), `bulk-<i>.txt` (EdDSA, distinct: cheap to sign in bulk, for the
/// memory bound of the verified-token cache).
fn gen(opts: &HashMap<String, String>) {
    let dir = PathBuf::from(required(opts, "dir"));
    let issuer = required(opts, "issuer");
    let audience = required(opts, "audience");
    let threads = number(opts, "threads", 2).max(1);
    let cold = number(opts, "cold", 100_000);
    let warm = number(opts, "warm", 16);
    let bulk = number(opts, "bulk", 0);
    let lifetime = i64::try_from(number(opts, "lifetime-secs", 6 * 3600)).unwrap_or(i64::MAX);
    fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("create {}: {e}", dir.display())));

    let rsa = Signer::generate(Alg::Rs256);
    let ed = Signer::generate(Alg::EdDsa);
    write(
        &dir.join("jwks.json"),
        &tokens::jwks(&[&rsa, &ed]).to_string(),
    );
    let discovery = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
    });
    write(&dir.join("discovery.json"), &discovery.to_string());

    let now = unix_now();
    let started = Instant::now();
    let mut next = 0u64;
    for (name, signer, count, files) in [
        ("cold", &rsa, cold, threads),
        ("warm", &rsa, warm, 1),
        ("bulk", &ed, bulk, threads),
    ] {
        if count == 0 {
            continue;
        }
        let per_file = count.div_ceil(files);
        std::thread::scope(|scope| {
            for f in 0..files {
                let first = next + f * per_file;
                let last = (first + per_file).min(next + count);
                let path = if files == 1 {
                    dir.join(format!("{name}.txt"))
                } else {
                    dir.join(format!("{name}-{}.txt", f + 1))
                };
                let signer = signer.duplicate();
                scope.spawn(move || {
                    let file = fs::File::create(&path)
                        .unwrap_or_else(|e| fail(&format!("create {}: {e}", path.display())));
                    let mut out = BufWriter::new(file);
                    for n in first..last {
                        let claims = k8s_claims(issuer, audience, n, now - 5, now + lifetime);
                        writeln!(out, "{}", signer.sign(&claims))
                            .unwrap_or_else(|e| fail(&format!("write: {e}")));
                    }
                    out.flush().unwrap_or_else(|e| fail(&format!("write: {e}")));
                });
            }
        });
        next += count;
    }
    println!(
        "generated {cold} cold, {warm} warm, {bulk} bulk tokens in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| fail(&format!("write {}: {e}", path.display())));
}

/// Serves `/.well-known/openid-configuration` and `/jwks` from the generated files until killed.
fn serve(opts: &HashMap<String, String>) {
    let dir = PathBuf::from(required(opts, "dir"));
    let listen = required(opts, "listen").to_owned();
    let read = |name: &str| {
        fs::read(dir.join(name)).unwrap_or_else(|e| fail(&format!("read {name}: {e}")))
    };
    let discovery = read("discovery.json");
    let jwks = read("jwks.json");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .unwrap_or_else(|e| fail(&format!("bind {listen}: {e}")));
        println!("serving on {listen}");
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let (discovery, jwks) = (discovery.clone(), jwks.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = match path {
                    "/.well-known/openid-configuration" => ("200 OK", discovery),
                    "/jwks" => ("200 OK", jwks),
                    _ => ("404 Not Found", b"{}".to_vec()),
                };
                let header = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(header.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
}

/// CPU time of the calling thread (the scheduler's own accounting, in nanoseconds).
fn thread_cpu() -> Duration {
    let text = fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// RS256 verifications per CPU-second through stsd's own key handling (josekit over OpenSSL),
/// on one thread: the signature alone, and parse + key lookup + signature as the cold path
/// does before its claim checks.
fn verify_rate(opts: &HashMap<String, String>) {
    let dir = PathBuf::from(required(opts, "dir"));
    let seconds = number(opts, "seconds", 3);
    let jwks = fs::read(dir.join("jwks.json")).unwrap_or_else(|e| fail(&format!("jwks: {e}")));
    let keys = KeySet::from_json(&jwks, &JwsAlgorithm::ALL).unwrap_or_else(|e| fail(&e));
    let text = fs::read_to_string(dir.join("warm.txt")).unwrap_or_else(|e| fail(&format!("{e}")));
    let tokens: Vec<&str> = text.lines().collect();
    if tokens.is_empty() {
        fail("warm.txt has no tokens");
    }
    let budget = Duration::from_secs(seconds);

    let parsed: Vec<Jws<'_>> = tokens
        .iter()
        .map(|t| Jws::parse(t).unwrap_or_else(|_| fail("unparsable token")))
        .collect();
    let rate = measure(budget, |i| {
        let jws = &parsed[i % parsed.len()];
        let key = keys
            .find(jws.kid(), JwsAlgorithm::Rs256)
            .unwrap_or_else(|_| fail("no key"));
        key.verify(
            JwsAlgorithm::Rs256,
            jws.signing_input().as_bytes(),
            jws.signature(),
        )
    });
    println!("rs256_verify_per_cpu_s {rate:.0}");

    let rate = measure(budget, |i| {
        let Ok(jws) = Jws::parse(tokens[i % tokens.len()]) else {
            return false;
        };
        keys.find(jws.kid(), JwsAlgorithm::Rs256).is_ok_and(|key| {
            key.verify(
                JwsAlgorithm::Rs256,
                jws.signing_input().as_bytes(),
                jws.signature(),
            )
        })
    });
    println!("rs256_parse_verify_per_cpu_s {rate:.0}");
}

/// Runs `op` until `budget` of thread CPU time is spent; returns calls per CPU-second.
fn measure(budget: Duration, mut op: impl FnMut(usize) -> bool) -> f64 {
    let start = thread_cpu();
    let mut calls = 0usize;
    loop {
        for _ in 0..256 {
            if !op(calls) {
                fail("verification failed");
            }
            calls += 1;
        }
        let spent = thread_cpu().saturating_sub(start);
        if spent >= budget {
            return calls as f64 / spent.as_secs_f64();
        }
    }
}

/// Polls `url` (plain HTTP on loopback) every millisecond until it answers 200; prints the
/// milliseconds since `since-ns` (a `date +%s%N` taken just before the server was started).
fn wait_ready(opts: &HashMap<String, String>) {
    let url = required(opts, "url");
    let since = u128::from(number(opts, "since-ns", 0));
    let timeout = Duration::from_millis(number(opts, "timeout-ms", 10_000));
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| fail("only http:// URLs"));
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    let request = format!("GET /{path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            let mut response = Vec::new();
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_end(&mut response).is_ok()
                && response.starts_with(b"HTTP/1.1 200")
            {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let ms = now.saturating_sub(since) as f64 / 1e6;
                println!("{ms:.1}");
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    fail(&format!("{url} not ready after {timeout:?}"));
}

fn rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Verifies the tokens of FILE through a registry (keys from a running `serve`) and reports
/// what the verified-token cache holds and what the process grew by, per entry.
fn cache_memory(opts: &HashMap<String, String>) {
    let issuer = required(opts, "issuer");
    let audience = required(opts, "audience");
    let text = fs::read_to_string(required(opts, "tokens"))
        .unwrap_or_else(|e| fail(&format!("tokens: {e}")));
    let count = usize::try_from(number(opts, "count", u64::MAX)).unwrap_or(usize::MAX);
    let config = serde_json::json!({
        "sts": { "signingKey": "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=" },
        "providers": [{ "name": "k8s", "type": "oidc", "enabled": true,
            "config": { "issuer": issuer, "clientId": audience, "jwksUri": format!("{issuer}/jwks") } }],
    });
    let loaded = stsd::config::load_str(&config.to_string(), "bench", &|_| None)
        .unwrap_or_else(|e| fail(&format!("config: {e:?}")));
    let sts = &loaded.config.sts;
    let registry = Registry::new(&loaded.config.providers, sts.clock_skew)
        .unwrap_or_else(|e| fail(&format!("registry: {e}")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    let now = unix_now();
    let tokens: Vec<&str> = text.lines().take(count).collect();
    runtime.block_on(async {
        // The first verification fetches the keys; measure from there.
        if let Err(e) = registry.verify(tokens[0], now).await {
            fail(&format!("first token refused: {e}"));
        }
        let before = rss_kib();
        for token in &tokens[1..] {
            if let Err(e) = registry.verify(token, now).await {
                fail(&format!("token refused: {e}"));
            }
        }
        let cache = registry.token_cache();
        let entries = cache.entry_count();
        let grown = rss_kib().saturating_sub(before);
        println!("tokens_verified {}", tokens.len());
        println!("cache_entries {entries}");
        println!("cache_weight_bytes {}", cache.weighted_size());
        println!("rss_growth_kib {grown}");
        if let Some(per_entry) = (grown * 1024).checked_div(entries) {
            println!("rss_bytes_per_entry {per_entry}");
        }
        if let Some(per_entry) = cache.weighted_size().checked_div(entries) {
            println!("weight_bytes_per_entry {per_entry}");
        }
    });
}
