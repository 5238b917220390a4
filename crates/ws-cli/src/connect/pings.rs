//! The pings `ws connect` sent (`/ping`, `--show-ping`), to time their pongs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most pings waiting for their pong; older ones are forgotten (a server that never
/// answers cannot grow the list).
const PENDING_PINGS: usize = 64;
/// Pings we sent and when, to time their pongs.
#[derive(Debug, Default)]
pub(super) struct Pings {
    pending: VecDeque<(Vec<u8>, Instant)>,
}

impl Pings {
    pub(super) fn sent(&mut self, data: Vec<u8>) {
        if self.pending.len() == PENDING_PINGS {
            self.pending.pop_front();
        }
        self.pending.push_back((data, Instant::now()));
    }

    /// The round trip of the oldest ping with this data, if it was ours.
    pub(super) fn answered(&mut self, data: &[u8]) -> Option<Duration> {
        let at = self.pending.iter().position(|(sent, _)| sent == data)?;
        let (_, sent) = self.pending.remove(at)?;
        Some(sent.elapsed())
    }
}
