//! What every peer server of the echo and broadcast benchmarks does before its library takes
//! over: take the address to listen on, start a single-threaded tokio runtime, bind, and say
//! where it listens.

use std::future::Future;
use std::io;

use tokio::net::TcpListener;

/// The address a server listens on without an argument.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9001";

/// Runs a benchmark server: binds the address given as the first command-line argument
/// ([`DEFAULT_ADDR`] without one) on a single-threaded tokio runtime (one thread for every
/// server in the benchmark, so they are compared on equal terms), prints
/// `listening on ADDR`, and runs `accept_loop` with the listener until it fails.
///
/// # Errors
///
/// When the runtime cannot start, the address cannot be bound, or `accept_loop` fails.
pub fn run<F, Fut>(accept_loop: F) -> io::Result<()>
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        accept_loop(listener).await
    })
}
