//! Heap memory per connection of each permessage-deflate backend: 1,000 compressor +
//! decompressor pairs, counted by a global allocator, first as created ("idle") and then after
//! each has compressed and decompressed one message ("active"). Then the same for 1,000
//! server-role ws-proto connections in each permessage-deflate mode, each receiving one
//! compressed message and answering it: what a connection costs on top of an uncompressed one.
//!
//! ```sh
//! cargo run --release -p ws-benches --example deflate_memory --features c-zlib
//! ```
//!
//! Every backend allocates through Rust's global allocator here (zlib-rs by default, C zlib
//! because flate2 hands it Rust's allocator, miniz_oxide through `Box`), so the counts are
//! complete. The figures include the pair's own struct, boxed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use ws_benches::deflate::{small_messages, Backend, Codec, Output, Settings};
use ws_proto::deflate::{Deflate, DeflateConfig, DeflateParams};
use ws_proto::{Config, Connection, Event, Role};

/// Forwards to the system allocator and counts live bytes, their peak and allocations.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s contract;
// the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller guarantees `layout` has a non-zero size, as `System.alloc` requires.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator with `layout`, and every
        // pointer this allocator hands out came from `System.alloc` with the same layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONNECTIONS: usize = 1_000;

/// Bytes and allocations per connection at one point.
struct Usage {
    bytes: usize,
    allocations: usize,
}

fn usage_since(base_bytes: usize, base_allocations: usize) -> Usage {
    Usage {
        bytes: (LIVE.load(Relaxed) - base_bytes) / CONNECTIONS,
        allocations: (ALLOCATIONS.load(Relaxed) - base_allocations) / CONNECTIONS,
    }
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn measure(backend: Backend, settings: Settings, message: &[u8]) -> Result<String, String> {
    let (mut compressed, mut plain) = (Output::default(), Output::default());
    // Grow the shared output buffers before counting.
    backend
        .codec(settings)?
        .roundtrip(message, &mut compressed, &mut plain);
    let mut codecs: Vec<Box<dyn Codec>> = Vec::with_capacity(CONNECTIONS);

    let (base_bytes, base_allocations) = (LIVE.load(Relaxed), ALLOCATIONS.load(Relaxed));
    PEAK.store(base_bytes, Relaxed);
    for _ in 0..CONNECTIONS {
        codecs.push(backend.codec(settings)?);
    }
    let idle = usage_since(base_bytes, base_allocations);
    for codec in &mut codecs {
        codec.roundtrip(message, &mut compressed, &mut plain);
        assert_eq!(plain.as_slice(), message);
    }
    let active = usage_since(base_bytes, base_allocations);
    let peak = (PEAK.load(Relaxed) - base_bytes) / CONNECTIONS;
    codecs.clear();
    let leaked = LIVE.load(Relaxed) - base_bytes;
    assert_eq!(
        leaked,
        0,
        "{} kept {leaked} bytes after drop",
        backend.name()
    );
    Ok(format!(
        "{:>10} ({:>2} allocs) {:>10} ({:>2} allocs) {:>10}",
        kib(idle.bytes),
        idle.allocations,
        kib(active.bytes),
        active.allocations,
        kib(peak),
    ))
}

/// Heap per connection of 1,000 server-role connections with `deflate`: created, then after
/// one compressed message from the client and one compressed answer.
fn measure_connections(deflate: Option<Deflate>, message: &[u8]) -> String {
    let config = Config::default().deflate(deflate);
    // The client side is created and warmed outside the count.
    let mut clients: Vec<Connection> = (0..CONNECTIONS)
        .map(|_| Connection::new(Role::Client, config.clone()))
        .collect();
    let (base_bytes, base_allocations) = (LIVE.load(Relaxed), ALLOCATIONS.load(Relaxed));
    let mut servers: Vec<Connection> = (0..CONNECTIONS)
        .map(|_| Connection::new(Role::Server, config.clone()))
        .collect();
    let idle = usage_since(base_bytes, base_allocations);
    let mut wires = Vec::with_capacity(CONNECTIONS);
    for client in &mut clients {
        client.send_binary(message).expect("open");
        wires.push(client.take_output());
    }
    let (mid_bytes, mid_allocations) = (LIVE.load(Relaxed), ALLOCATIONS.load(Relaxed));
    for (server, wire) in servers.iter_mut().zip(&wires) {
        server.receive_data(wire);
        match server.next_event() {
            Some(Event::Message(m)) => assert_eq!(m.as_bytes(), message),
            other => panic!("{other:?}"),
        }
        server.send_binary(message).expect("open");
        let _ = server.take_output();
    }
    let active = Usage {
        bytes: idle.bytes + (LIVE.load(Relaxed) - mid_bytes) / CONNECTIONS,
        allocations: idle.allocations + (ALLOCATIONS.load(Relaxed) - mid_allocations) / CONNECTIONS,
    };
    drop(wires);
    drop(servers);
    drop(clients);
    format!(
        "{:>10} ({:>2} allocs) {:>10} ({:>2} allocs)",
        kib(idle.bytes),
        idle.allocations,
        kib(active.bytes),
        active.allocations,
    )
}

fn connections(message: &[u8]) {
    println!(
        "\nws-proto server connections (zlib-rs), {CONNECTIONS} connections, one {}-byte \
         message each way",
        message.len()
    );
    println!(
        "{:<44} {:>21} {:>21}",
        "mode", "idle (created)", "after one message"
    );
    let local = DeflateConfig::default();
    let takeover = DeflateParams::default();
    let modes: [(&str, Option<DeflateParams>); 5] = [
        ("no permessage-deflate", None),
        ("context takeover, window 15", Some(takeover)),
        (
            "server_no_context_takeover",
            Some(DeflateParams {
                server_no_context_takeover: true,
                ..takeover
            }),
        ),
        (
            "no context takeover either way",
            Some(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..takeover
            }),
        ),
        (
            "context takeover, windows 12",
            Some(DeflateParams {
                server_max_window_bits: 12,
                client_max_window_bits: 12,
                ..takeover
            }),
        ),
    ];
    for (name, params) in modes {
        let deflate = params.map(|p| Deflate::new(p, &local));
        println!("{name:<44} {}", measure_connections(deflate, message));
    }
}

fn main() {
    let message = small_messages(1, 5).remove(0);
    connections(&message);
    let small = Settings {
        window_bits: 12,
        mem_level: 5,
        ..Settings::DEFAULT
    };
    println!(
        "heap per connection (compressor + decompressor), {CONNECTIONS} connections, \
         one {}-byte message each",
        message.len()
    );
    println!(
        "{:<12} {:<8} {:>21} {:>21} {:>10}",
        "backend", "settings", "idle (created)", "active (1 message)", "peak"
    );
    for settings in [Settings::DEFAULT, small] {
        for backend in [Backend::ZlibRs, Backend::CZlib, Backend::MinizOxide] {
            let label = format!("w{} m{}", settings.window_bits, settings.mem_level);
            match measure(backend, settings, &message) {
                Ok(line) => println!("{:<12} {:<8} {line}", backend.name(), label),
                Err(why) => println!("{:<12} {:<8} not measured: {why}", backend.name(), label),
            }
        }
    }
    // flate2 fixes memLevel at 8, so C zlib's small-window figure uses memLevel 8.
    let c_small = Settings {
        mem_level: 8,
        ..small
    };
    match measure(Backend::CZlib, c_small, &message) {
        Ok(line) => println!("{:<12} {:<8} {line}", Backend::CZlib.name(), "w12 m8"),
        Err(why) => println!(
            "{:<12} {:<8} not measured: {why}",
            Backend::CZlib.name(),
            "w12 m8"
        ),
    }
}
