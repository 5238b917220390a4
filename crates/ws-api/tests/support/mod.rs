//! Time bounds shared by the facade tests: a hang fails the test instead of stalling CI.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

pub const BOUND: Duration = Duration::from_secs(10);

pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// Waits (bounded) until `condition` holds; events arrive on other tasks.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}
