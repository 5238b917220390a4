//! permessage-deflate backends in the same run: zlib-rs, miniz_oxide and (with the `c-zlib`
//! feature, which `cargo xtask bench deflate` turns on) C zlib, each compressing and then
//! decompressing one message at a time with a sync flush, over a JSON-like corpus: 10,000 small
//! objects of 60–300 bytes, 16 documents of 4 KiB and 4 of 64 KiB.
//!
//! Criterion measures the time per message (compress + decompress) in the groups
//! `deflate_L6_ctx`, `deflate_L1_ctx` and `deflate_L6_no-ctx`; `cargo xtask bench deflate
//! --baseline-fn zlib-rs` tabulates them as ratios. When run as a benchmark, the binary then
//! prints its own summary: the backends take turns over the same messages, round after round,
//! and for each it gives the compressed size over the original size and the median time as a
//! ratio to zlib-rs. Compare by those ratios, not by absolute times.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use ws_benches::deflate::{corpus, Backend, Codec, Output, Settings};

/// Window 15 and memLevel 8 throughout: the only settings every backend accepts.
const GROUPS: [(&str, Settings); 3] = [
    ("deflate_L6_ctx", Settings::DEFAULT),
    (
        "deflate_L1_ctx",
        Settings {
            level: 1,
            ..Settings::DEFAULT
        },
    ),
    (
        "deflate_L6_no-ctx",
        Settings {
            context_takeover: false,
            ..Settings::DEFAULT
        },
    ),
];

/// Criterion: one roundtrip per iteration, cycling through the messages of a set on one
/// long-lived codec (with context takeover, the window carries over as on a connection).
fn criterion_groups(c: &mut Criterion, sets: &[(&str, Vec<Vec<u8>>)]) {
    for (group_name, settings) in GROUPS {
        let mut group = c.benchmark_group(group_name);
        for (set, messages) in sets {
            for backend in Backend::all() {
                let mut codec = backend.codec(settings).expect("window 15, memLevel 8");
                let (mut compressed, mut plain) = (Output::default(), Output::default());
                let mut i = 0;
                group.bench_function(BenchmarkId::new(backend.name(), set), |b| {
                    b.iter(|| {
                        let m = &messages[i];
                        i = (i + 1) % messages.len();
                        black_box(codec.roundtrip(black_box(m), &mut compressed, &mut plain))
                    })
                });
            }
        }
        group.finish();
    }
}

/// One candidate in the summary: a backend with settings.
struct Entry {
    name: String,
    codec: Box<dyn Codec>,
    times: Vec<Duration>,
    bytes_in: usize,
    bytes_out: usize,
}

/// Messages per timed pass: the set repeated up to about 1 MiB.
fn pass_len(messages: &[Vec<u8>]) -> usize {
    let total: usize = messages.iter().map(Vec::len).sum();
    let mean = total / messages.len();
    (1 << 20) / mean.max(1)
}

const ROUNDS: usize = 7;

/// The in-run comparison: for each setting and message set, the backends alternate (A B C, A B
/// C, ...) for [`ROUNDS`] rounds of one pass each, after one untimed pass.
fn summary(sets: &[(&str, Vec<Vec<u8>>)]) {
    let mut settings: Vec<Settings> = GROUPS.iter().map(|(_, s)| *s).collect();
    settings.push(Settings {
        level: 1,
        context_takeover: false,
        ..Settings::DEFAULT
    });
    println!(
        "\npermessage-deflate summary: compress + decompress per message, backends alternating"
    );
    println!(
        "(out/in = compressed bytes / original bytes; time ratio = median time / zlib-rs's; \
         {ROUNDS} rounds of ~1 MiB each)"
    );
    for s in settings {
        println!("\n{}", s.label());
        println!(
            "{:<11} {:<20} {:>7} {:>10} {:>9}",
            "set", "backend", "out/in", "time/msg", "/zlib-rs"
        );
        for (set, messages) in sets {
            let mut entries: Vec<Entry> = Backend::all()
                .into_iter()
                .map(|b| {
                    (
                        b.name().to_string(),
                        b.codec(s).expect("window 15, memLevel 8"),
                    )
                })
                .collect::<Vec<_>>()
                .into_iter()
                .chain(
                    // zlib-rs with the small-memory settings of the memory comparison.
                    Backend::ZlibRs
                        .codec(Settings {
                            window_bits: 12,
                            mem_level: 5,
                            ..s
                        })
                        .ok()
                        .map(|c| ("zlib-rs w12 m5".to_string(), c)),
                )
                .map(|(name, codec)| Entry {
                    name,
                    codec,
                    times: Vec::new(),
                    bytes_in: 0,
                    bytes_out: 0,
                })
                .collect();
            let n = pass_len(messages);
            let (mut compressed, mut plain) = (Output::default(), Output::default());
            for round in 0..=ROUNDS {
                for e in &mut entries {
                    let (mut bytes_in, mut bytes_out) = (0, 0);
                    let start = Instant::now();
                    for m in messages.iter().cycle().take(n) {
                        bytes_out += e.codec.roundtrip(m, &mut compressed, &mut plain);
                        bytes_in += m.len();
                    }
                    let elapsed = start.elapsed();
                    if round > 0 {
                        e.times.push(elapsed);
                        e.bytes_in = bytes_in;
                        e.bytes_out = bytes_out;
                    }
                }
            }
            let median = |e: &mut Entry| {
                e.times.sort();
                e.times[e.times.len() / 2].as_secs_f64()
            };
            let medians: Vec<f64> = entries.iter_mut().map(median).collect();
            for (e, t) in entries.iter().zip(&medians) {
                println!(
                    "{:<11} {:<20} {:>7.3} {:>8.2}µs {:>8.2}x",
                    set,
                    e.name,
                    e.bytes_out as f64 / e.bytes_in as f64,
                    t / n as f64 * 1e6,
                    t / medians[0],
                );
            }
        }
    }
    println!();
}

/// Every backend reproduces every message (also what `cargo test --all-targets` runs).
fn check(sets: &[(&str, Vec<Vec<u8>>)], per_set: usize) {
    let (mut compressed, mut plain) = (Output::default(), Output::default());
    for (_, settings) in GROUPS {
        for backend in Backend::all() {
            let mut codec = backend.codec(settings).expect("window 15, memLevel 8");
            for (_, messages) in sets {
                for m in messages.iter().take(per_set) {
                    codec.roundtrip(m, &mut compressed, &mut plain);
                    assert_eq!(plain.as_slice(), &m[..], "{}", backend.name());
                }
            }
        }
    }
}

fn main() {
    let sets = corpus();
    let benchmarking = std::env::args().any(|a| a == "--bench");
    check(&sets, if benchmarking { usize::MAX } else { 50 });
    let mut c = Criterion::default().configure_from_args();
    criterion_groups(&mut c, &sets);
    if benchmarking {
        summary(&sets);
    }
    c.final_summary();
}
