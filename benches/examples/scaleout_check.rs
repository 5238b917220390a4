//! The scale-out end-to-end check that `cargo xtask scaleout` runs: N clients connect through a
//! load balancer (nginx) to several `ws serve --mode broadcast --broker redis://...` instances,
//! all in one topic, and check that what a few publishers send reaches every client exactly
//! once and in order per publisher: in a steady state, across a restart of Redis, and after one
//! instance is killed and its clients reconnect.
//!
//! ```text
//! scaleout_check URL [--clients N] [--instances K] [--publishers P] [--messages M] [--interval-ms MS]
//! ```
//!
//! Defaults: 1,000 clients, 3 instances, 3 publishers, 100 messages per publisher and round,
//! one round every 10 ms. Every message is the text `PUBLISHER SEQ`; each publisher numbers its
//! messages from 1 across the whole run, and every client records, per publisher, the numbers
//! it receives in arrival order.
//!
//! The clients connect one after another, so nginx's round-robin (one worker) puts client i on
//! instance i mod K; publishers are clients 0..P, one per instance. The check does not learn
//! which instance a client is on (nginx cannot add a header to an upgraded connection); phase 3
//! confirms the round-robin instead: the clients that lose their connection when one instance
//! dies must be exactly those with one value of i mod K.
//!
//! - ready: publishers send a probe every 100 ms until every client has heard each publisher
//!   (each instance has subscribed to the topic on Redis); bounded.
//! - phase 1: M messages per publisher; every client must receive every one exactly once, in
//!   order.
//! - phase 2: publishers keep sending while the controller restarts Redis. Messages published
//!   while Redis is down or before the instances have subscribed again are lost (delivery is at
//!   most once): for each client and publisher, the first message received that was sent after
//!   the restart ends the gap, and every later one must arrive exactly once, in order; no
//!   duplicate and nothing out of order anywhere. The loss in the gap is reported per client
//!   (min / median / max), not judged.
//! - phase 3: the controller kills one instance; its clients see the connection drop and
//!   reconnect through nginx (bounded retries with backoff). Once every client is connected
//!   and has heard every publisher again, a new round of M messages per publisher must reach
//!   every client exactly once, in order. The reconnect times are reported.
//!
//! The controller (the xtask) is driven over stdin/stdout: the check prints `control: WHAT`
//! (`restart-redis`, `kill-instance`) and waits (30 s at most) for the line `done WHAT` on its
//! stdin. Progress goes to stderr; the summary to stdout as lines starting `summary: `. Every
//! wait is bounded and the whole run too (170 s); the exit status is non-zero on any failure.

#![deny(unsafe_code)]

use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use ws_benches::load::{self, Error};
use ws_net::client::{connect, ClientConfig};
use ws_net::proxy::ProxyConfig;
use ws_net::{CloseCode, Connection, Incoming, Message};

const USAGE: &str = "\
usage: scaleout_check URL [--clients N] [--instances K] [--publishers P] [--messages M] [--interval-ms MS]";

/// The whole run, whatever happens.
const RUN_BOUND: Duration = Duration::from_secs(170);
/// Connecting every client.
const CONNECT_BOUND: Duration = Duration::from_secs(60);
/// Until every client has heard every publisher (the instances have subscribed).
const READY_BOUND: Duration = Duration::from_secs(20);
/// Until every client has received a round's last messages.
const DELIVERY_BOUND: Duration = Duration::from_secs(30);
/// The controller's answer.
const CONTROL_BOUND: Duration = Duration::from_secs(30);
/// After Redis is back, until every client hears every publisher again.
const RESUBSCRIBE_BOUND: Duration = Duration::from_secs(30);
/// After an instance is killed, until every client is connected again.
const RECONNECT_BOUND: Duration = Duration::from_secs(30);
/// How long no new connection may drop before the reconnection counts as over.
const SETTLE: Duration = Duration::from_secs(1);
/// Probes while waiting for subscriptions.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// How often the waits look at the clients.
const POLL: Duration = Duration::from_millis(20);
/// Publishing goes on for this long before Redis is restarted.
const BEFORE_RESTART: Duration = Duration::from_millis(500);
/// Reconnection attempts of a dropped client, and the waits between them (doubling).
const RECONNECT_ATTEMPTS: u32 = 12;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// The closing handshakes at the end of the run.
const CLOSE_BOUND: Duration = Duration::from_secs(5);
/// Connect and handshake timeouts of one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Options {
    url: String,
    clients: usize,
    instances: usize,
    publishers: usize,
    messages: u32,
    interval: Duration,
}

fn main() -> ExitCode {
    let (options, runtime) = match load::start("scaleout_check", USAGE, parse_args) {
        Ok(started) => started,
        Err(code) => return code,
    };
    let outcome = runtime.block_on(async {
        match tokio::time::timeout(RUN_BOUND, run(options)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("the run took longer than {RUN_BOUND:?}").into()),
        }
    });
    // Client tasks may still be reconnecting; do not wait for them.
    runtime.shutdown_background();
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            println!("summary: FAILED: {e}");
            eprintln!("scaleout_check: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: Vec<String>) -> Result<Options, Error> {
    let mut it = args.into_iter();
    let url = it.next().ok_or("missing URL")?;
    if !url.starts_with("ws://") {
        return Err(format!("URL must be ws://..., got {url:?}").into());
    }
    let mut options = Options {
        url,
        clients: 1000,
        instances: 3,
        publishers: 3,
        messages: 100,
        interval: Duration::from_millis(10),
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u64 = value
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} expects a positive integer, got {value:?}"))?;
        match flag.as_str() {
            "--clients" => options.clients = usize::try_from(number)?,
            "--instances" => options.instances = usize::try_from(number)?,
            "--publishers" => options.publishers = usize::try_from(number)?,
            "--messages" => options.messages = u32::try_from(number)?,
            "--interval-ms" => options.interval = Duration::from_millis(number),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if options.publishers > options.clients {
        return Err("--publishers cannot exceed --clients".into());
    }
    Ok(options)
}

/// What one client saw, shared between its task and the checks.
#[derive(Debug, Default)]
struct ClientState {
    /// Per publisher, the sequence numbers received, in arrival order.
    received: Vec<Vec<u32>>,
    /// Per publisher, the highest sequence number received.
    highest: Vec<u32>,
    /// Messages that are not `PUBLISHER SEQ` of a known publisher.
    malformed: u64,
    /// Whether the client has a connection now.
    connected: bool,
    /// Connections lost.
    drops: u32,
    /// When the last connection was lost.
    lost_at: Option<Instant>,
    /// Why the last connection ended.
    last_loss: Option<String>,
    /// How long each reconnection took, from the loss to the end of the new handshake.
    reconnects: Vec<Duration>,
    /// When the last reconnection ended.
    back_at: Option<Instant>,
    /// Why the client stopped trying to reconnect.
    gave_up: Option<String>,
}

type Shared = Arc<Mutex<ClientState>>;

/// The state even if a client task panicked while holding it (the counts stay meaningful).
fn lock(state: &Mutex<ClientState>) -> MutexGuard<'_, ClientState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct Client {
    state: Shared,
    /// Texts for the client to send (publishers only use it).
    commands: mpsc::UnboundedSender<String>,
    /// The client's task, which closes the connection once `commands` is dropped.
    task: tokio::task::JoinHandle<()>,
}

/// `PUBLISHER SEQ` of a publisher below `publishers`.
fn parse_message(text: &str, publishers: usize) -> Option<(usize, u32)> {
    let (publisher, seq) = text.split_once(' ')?;
    let publisher: usize = publisher.parse().ok()?;
    let seq: u32 = seq.parse().ok()?;
    (publisher < publishers).then_some((publisher, seq))
}

fn record(state: &Mutex<ClientState>, text: &str) {
    let mut state = lock(state);
    match parse_message(text, state.received.len()) {
        Some((publisher, seq)) => {
            state.received[publisher].push(seq);
            state.highest[publisher] = state.highest[publisher].max(seq);
        }
        None => state.malformed += 1,
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::default()
        .proxy(ProxyConfig::None)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .handshake_timeout(ATTEMPT_TIMEOUT)
}

async fn open(url: &str, config: &ClientConfig) -> Result<Connection, String> {
    match connect(url, config).await {
        Ok((connection, _response)) => Ok(connection),
        Err(e) => Err(e.to_string()),
    }
}

/// Reconnects with bounded attempts and a doubling wait between them.
async fn reconnect(url: &str, config: &ClientConfig) -> Result<Connection, String> {
    let mut wait = BACKOFF_MIN;
    let mut last = String::new();
    for _ in 0..RECONNECT_ATTEMPTS {
        match open(url, config).await {
            Ok(connection) => return Ok(connection),
            Err(e) => last = e,
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(BACKOFF_MAX);
    }
    Err(format!(
        "gave up after {RECONNECT_ATTEMPTS} attempts, the last: {last}"
    ))
}

/// One client: records what it receives, sends what it is told, reconnects when its connection
/// is lost. Ends when the run drops its command channel or reconnecting fails.
async fn run_client(
    url: Arc<str>,
    config: Arc<ClientConfig>,
    state: Shared,
    mut commands: mpsc::UnboundedReceiver<String>,
    mut connection: Connection,
) {
    loop {
        let Some(why) = serve(connection, &state, &mut commands).await else {
            return;
        };
        let lost_at = Instant::now();
        {
            let mut state = lock(&state);
            state.connected = false;
            state.drops += 1;
            state.lost_at = Some(lost_at);
            state.last_loss = Some(why);
        }
        match reconnect(&url, &config).await {
            Ok(new) => {
                let mut state = lock(&state);
                state.connected = true;
                state.reconnects.push(lost_at.elapsed());
                state.back_at = Some(Instant::now());
                connection = new;
            }
            Err(e) => {
                lock(&state).gave_up = Some(e);
                return;
            }
        }
    }
}

/// Serves one connection until it is lost (returns why) or the run is over (`None`).
async fn serve(
    connection: Connection,
    state: &Mutex<ClientState>,
    commands: &mut mpsc::UnboundedReceiver<String>,
) -> Option<String> {
    let (sender, mut receiver) = connection.split();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(text) => {
                    if let Err(e) = sender.send_text(&text).await {
                        return Some(format!("send failed: {e}"));
                    }
                }
                None => {
                    close(&sender, &mut receiver).await;
                    return None;
                }
            },
            incoming = receiver.recv() => match incoming {
                Some(Incoming::Message(Message::Text(text))) => record(state, text.as_str()),
                Some(Incoming::Message(Message::Binary(_))) => lock(state).malformed += 1,
                // Pongs are sent in the background; chunks come only in streaming mode.
                Some(Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Chunk(_)) => {}
                Some(Incoming::Error(e)) => return Some(format!("error: {e}")),
                Some(Incoming::Closed(status)) => return Some(format!("closed: {status:?}")),
                None => return Some("the connection ended".to_owned()),
            },
        }
    }
}

/// Closes with 1000 and waits (boundedly) for the server's answer, so that the servers see
/// clean closes at the end of the run.
async fn close(sender: &ws_net::Sender, receiver: &mut ws_net::Receiver) {
    if sender.close(CloseCode::NORMAL, "check done").await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_BOUND, async {
        while let Some(incoming) = receiver.recv().await {
            if matches!(incoming, Incoming::Closed(_) | Incoming::Error(_)) {
                break;
            }
        }
    })
    .await;
}

/// The publishing clients and the next sequence number of each.
#[derive(Debug)]
struct Publishers {
    senders: Vec<mpsc::UnboundedSender<String>>,
    next: Vec<u32>,
}

impl Publishers {
    /// Each publisher sends its next message.
    fn round(&mut self) {
        for (publisher, (sender, next)) in self.senders.iter().zip(&mut self.next).enumerate() {
            // A closed channel means the client gave up; the checks report it.
            let _ = sender.send(format!("{publisher} {next}"));
            *next += 1;
        }
    }

    /// The sequence number each publisher sends next.
    fn next(&self) -> Vec<u32> {
        self.next.clone()
    }

    /// The last sequence number each publisher sent.
    fn last(&self) -> Vec<u32> {
        self.next.iter().map(|n| n - 1).collect()
    }

    /// Sends `rounds` rounds, one every `interval`.
    async fn rounds(&mut self, rounds: u32, interval: Duration) {
        let mut ticker = pacer(interval);
        for _ in 0..rounds {
            ticker.tick().await;
            self.round();
        }
    }

    /// Runs `work` while sending a round every `interval`.
    async fn during<T>(&mut self, interval: Duration, work: impl Future<Output = T>) -> T {
        let mut ticker = pacer(interval);
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = ticker.tick() => self.round(),
            }
        }
    }
}

/// A tick every `interval`; a late tick delays the next ones instead of bunching them up.
fn pacer(interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// Polls until `done` holds for every client (true) or `bound` passes (false).
async fn wait_until(
    clients: &[Client],
    bound: Duration,
    mut done: impl FnMut(&ClientState) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if clients.iter().all(|c| done(&lock(&c.state))) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Keeps the publishers probing until every client heard each of them (true) or
/// [`READY_BOUND`] passes (false); also returns how long that took.
async fn await_heard(publishers: &mut Publishers, clients: &[Client]) -> (bool, Duration) {
    let from = publishers.next();
    let started = Instant::now();
    let ready = publishers
        .during(
            PROBE_INTERVAL,
            wait_until(clients, READY_BOUND, |s| heard_since(s, &from)),
        )
        .await;
    (ready, started.elapsed())
}

/// After an instance was killed: waits until some clients lost their connection, every client
/// is connected again and no connection was lost for [`SETTLE`]. False when that takes longer
/// than [`RECONNECT_BOUND`] or a client gave up.
async fn await_reconnected(clients: &[Client]) -> bool {
    let deadline = Instant::now() + RECONNECT_BOUND;
    let mut last_change = Instant::now();
    let mut last_drops = 0;
    loop {
        let (mut drops, mut all_connected, mut gave_up) = (0, true, false);
        for client in clients {
            let state = lock(&client.state);
            drops += state.drops;
            all_connected &= state.connected;
            gave_up |= state.gave_up.is_some();
        }
        if drops != last_drops {
            last_drops = drops;
            last_change = Instant::now();
        }
        if gave_up || Instant::now() >= deadline {
            return false;
        }
        if drops > 0 && all_connected && last_change.elapsed() >= SETTLE {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Has the client received, from every publisher, a message numbered `from` or later?
fn heard_since(state: &ClientState, from: &[u32]) -> bool {
    state.highest.iter().zip(from).all(|(h, f)| h >= f)
}

/// What one client received of one publisher's messages `lo..=hi`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    /// Distinct messages received.
    delivered: u64,
    /// Messages from `must_from` on that never came.
    missing: u64,
    /// Messages before `must_from` that never came (the gap of an outage).
    lost: u64,
    /// Messages received more than once (each extra copy counts).
    duplicates: u64,
    /// Messages received after a later one of the same publisher.
    out_of_order: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.delivered += other.delivered;
        self.missing += other.missing;
        self.lost += other.lost;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
    }

    fn clean(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.out_of_order == 0
    }
}

/// Counts `received` (sequence numbers in arrival order) against `lo..=hi`, where everything
/// from `must_from` on must have arrived and earlier ones may be lost.
fn count(received: &[u32], lo: u32, must_from: u32, hi: u32) -> Counts {
    let mut counts = Counts::default();
    if hi < lo {
        return counts;
    }
    let mut seen = vec![false; (hi - lo) as usize + 1];
    let mut highest: Option<u32> = None;
    for &seq in received.iter().filter(|s| (lo..=hi).contains(*s)) {
        let slot = &mut seen[(seq - lo) as usize];
        if *slot {
            counts.duplicates += 1;
            continue;
        }
        *slot = true;
        counts.delivered += 1;
        if highest.is_some_and(|h| seq < h) {
            counts.out_of_order += 1;
        }
        highest = Some(highest.map_or(seq, |h| h.max(seq)));
    }
    for (seq, got) in (lo..=hi).zip(&seen) {
        match (*got, seq >= must_from) {
            (true, _) => {}
            (false, true) => counts.missing += 1,
            (false, false) => counts.lost += 1,
        }
    }
    counts
}

/// min / median / max of `values`, or `-` when there are none.
fn spread<T: Copy + Ord>(values: &mut [T], show: impl Fn(T) -> String) -> String {
    values.sort_unstable();
    match (values.first(), values.last()) {
        (Some(&min), Some(&max)) => format!(
            "min {} / median {} / max {}",
            show(min),
            show(values[values.len() / 2]),
            show(max)
        ),
        _ => "-".to_owned(),
    }
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn describe(counts: &Counts, expected: u64) -> String {
    format!(
        "{}/{expected} delivered, missing {}, duplicates {}, out of order {}",
        counts.delivered, counts.missing, counts.duplicates, counts.out_of_order
    )
}

/// Asks the controller to do `what`; returns how long it took.
async fn control(
    answers: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
) -> Result<Duration, Error> {
    let started = Instant::now();
    println!("control: {what}");
    match tokio::time::timeout(CONTROL_BOUND, answers.recv()).await {
        Ok(Some(line)) if line.trim() == format!("done {what}") => Ok(started.elapsed()),
        Ok(Some(line)) => Err(format!("asked for {what}, the controller answered {line:?}").into()),
        Ok(None) => Err(format!("asked for {what}, stdin ended without an answer").into()),
        Err(_) => Err(format!("asked for {what}, no answer within {CONTROL_BOUND:?}").into()),
    }
}

/// Lines of stdin, read on a thread of their own (a blocked read never holds up the exit).
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The sum of `counts` over every client for publishers' messages `from..=to`, strictly.
fn strict_round(clients: &[Client], from: &[u32], to: &[u32]) -> Counts {
    let mut total = Counts::default();
    for client in clients {
        let state = lock(&client.state);
        for (p, received) in state.received.iter().enumerate() {
            total.add(count(received, from[p], from[p], to[p]));
        }
    }
    total
}

fn expected(clients: usize, from: &[u32], to: &[u32]) -> u64 {
    let per_client: u64 = from
        .iter()
        .zip(to)
        .map(|(f, t)| u64::from(t.saturating_sub(*f)) + 1)
        .sum();
    per_client * clients as u64
}

/// Clients that lost a connection, gave up or received something malformed, for the phase
/// verdicts; `allowed_drops` is how many losses each client may have had so far.
fn trouble(clients: &[Client], allowed_drops: impl Fn(usize) -> u32) -> Vec<String> {
    let mut found = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let state = lock(&client.state);
        if state.drops > allowed_drops(i) {
            found.push(format!(
                "client {i} lost its connection ({})",
                state.last_loss.as_deref().unwrap_or("?")
            ));
        }
        if let Some(why) = &state.gave_up {
            found.push(format!("client {i} stopped reconnecting: {why}"));
        }
        if state.malformed > 0 {
            found.push(format!(
                "client {i} received {} malformed messages",
                state.malformed
            ));
        }
    }
    found
}

/// The verdict line of a phase; counts a failure in `failed`.
fn verdict(name: &str, ok: bool, detail: &str, problems: &[String], failed: &mut u32) {
    let result = if ok && problems.is_empty() {
        "ok"
    } else {
        *failed += 1;
        "FAILED"
    };
    println!("summary: {name}: {result}: {detail}");
    for problem in problems.iter().take(5) {
        println!("summary:     {problem}");
    }
    if problems.len() > 5 {
        println!("summary:     ... and {} more", problems.len() - 5);
    }
}

/// Runs every phase; returns the number of failed phases.
async fn run(o: Options) -> Result<u32, Error> {
    let url: Arc<str> = Arc::from(o.url.as_str());
    let config = Arc::new(client_config());
    let mut answers = stdin_lines();
    let mut failed = 0;

    println!(
        "summary: {} clients on {url} through {} instances; publishers: clients 0..{} (round-robin: \
         client i on instance i mod {}); {} messages per publisher and round, every {} ms",
        o.clients,
        o.instances,
        o.publishers,
        o.instances,
        o.messages,
        o.interval.as_millis()
    );

    // Setup: one client after another, so the round-robin order is the client order.
    let started = Instant::now();
    let mut clients = Vec::with_capacity(o.clients);
    for i in 0..o.clients {
        let left = CONNECT_BOUND.saturating_sub(started.elapsed());
        let connection = match tokio::time::timeout(left, open(&url, &config)).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(format!("client {i} could not connect: {e}").into()),
            Err(_) => {
                return Err(format!(
                    "{i} of {} clients connected in {CONNECT_BOUND:?}",
                    o.clients
                )
                .into())
            }
        };
        let state = Arc::new(Mutex::new(ClientState {
            received: vec![Vec::new(); o.publishers],
            highest: vec![0; o.publishers],
            connected: true,
            ..ClientState::default()
        }));
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_client(
            Arc::clone(&url),
            Arc::clone(&config),
            Arc::clone(&state),
            rx,
            connection,
        ));
        clients.push(Client {
            state,
            commands,
            task,
        });
    }
    let connected_in = started.elapsed();
    eprintln!(
        "scaleout_check: {} clients connected in {}",
        o.clients,
        secs(connected_in)
    );
    let mut publishers = Publishers {
        senders: clients[..o.publishers]
            .iter()
            .map(|c| c.commands.clone())
            .collect(),
        next: vec![1; o.publishers],
    };

    let (ready, ready_in) = await_heard(&mut publishers, &clients).await;
    if !ready {
        return Err(format!(
            "not every client heard every publisher within {READY_BOUND:?}: the instances do \
             not share messages (is --broker set, is Redis up?)"
        )
        .into());
    }
    println!(
        "summary: setup: {} clients connected in {} (one after another); every client heard \
         every publisher {} later",
        o.clients,
        secs(connected_in),
        secs(ready_in)
    );

    // Phase 1: the steady state.
    eprintln!("scaleout_check: phase 1");
    let from = publishers.next();
    publishers.rounds(o.messages, o.interval).await;
    let to = publishers.last();
    let started = Instant::now();
    wait_until(&clients, DELIVERY_BOUND, |s| heard_since(s, &to)).await;
    let delivered_in = started.elapsed();
    let total = strict_round(&clients, &from, &to);
    verdict(
        "phase 1 (steady state)",
        total.clean(),
        &format!(
            "{}; the last arrived {} after it was sent",
            describe(&total, expected(o.clients, &from, &to)),
            millis(delivered_in)
        ),
        &trouble(&clients, |_| 0),
        &mut failed,
    );

    // Phase 2: Redis restarted while publishing.
    eprintln!("scaleout_check: phase 2");
    let from = publishers.next();
    publishers
        .during(o.interval, tokio::time::sleep(BEFORE_RESTART))
        .await;
    let sent_before = publishers.next();
    let restart = publishers
        .during(o.interval, control(&mut answers, "restart-redis"))
        .await?;
    let restarted = publishers.next();
    let started = Instant::now();
    let resubscribed = publishers
        .during(
            o.interval,
            wait_until(&clients, RESUBSCRIBE_BOUND, |s| heard_since(s, &restarted)),
        )
        .await;
    let resubscribed_in = started.elapsed();
    let grace_end = publishers.next();
    publishers.rounds(o.messages, o.interval).await;
    let to = publishers.last();
    wait_until(&clients, DELIVERY_BOUND, |s| heard_since(s, &to)).await;
    let mut total = Counts::default();
    let mut lost_per_client = Vec::with_capacity(o.clients);
    for client in &clients {
        let state = lock(&client.state);
        let mut lost = 0;
        for (p, received) in state.received.iter().enumerate() {
            // The gap ends at the first message received that was sent after the restart.
            let gap_end = received
                .iter()
                .copied()
                .find(|s| *s >= restarted[p])
                .unwrap_or(restarted[p]);
            let counts = count(received, from[p], gap_end, to[p]);
            lost += counts.lost;
            total.add(counts);
        }
        lost_per_client.push(lost);
    }
    let during_outage: u64 = from
        .iter()
        .zip(&restarted)
        .map(|(f, r)| u64::from(r - f))
        .sum();
    let mut problems = trouble(&clients, |_| 0);
    if !resubscribed {
        problems.push(format!(
            "not every client heard every publisher within {RESUBSCRIBE_BOUND:?} of the restart"
        ));
    }
    verdict(
        "phase 2 (Redis restarted)",
        total.clean(),
        &format!(
            "{during_outage} messages (all publishers) sent from {} before the restart until Redis \
             was back ({} later); every client heard every publisher again {} after that; \
             lost in the gap per client: {}; {} of {} delivered (the gap included), after the \
             gap missing {}, duplicates {}, out of order {}",
            millis(BEFORE_RESTART),
            secs(restart),
            secs(resubscribed_in),
            spread(&mut lost_per_client, |n| n.to_string()),
            total.delivered,
            expected(o.clients, &from, &to),
            total.missing,
            total.duplicates,
            total.out_of_order,
        ),
        &problems,
        &mut failed,
    );
    eprintln!(
        "scaleout_check: phase 2 sent {:?} before the restart, {:?} after it, {:?} after the grace",
        sent_before, restarted, grace_end
    );

    // Phase 3: one instance killed; its clients reconnect through nginx.
    eprintln!("scaleout_check: phase 3");
    let kill_requested = Instant::now();
    let killed = control(&mut answers, "kill-instance").await?;
    let settled = await_reconnected(&clients).await;
    let dropped: Vec<usize> = clients
        .iter()
        .enumerate()
        .filter(|(_, c)| lock(&c.state).drops > 0)
        .map(|(i, _)| i)
        .collect();
    let mut reconnect_times: Vec<Duration> = dropped
        .iter()
        .filter_map(|&i| lock(&clients[i].state).reconnects.first().copied())
        .collect();
    let mut problems = Vec::new();
    if !settled {
        problems.push(format!(
            "the dropped clients were not all connected again within {RECONNECT_BOUND:?} (or one \
             gave up)"
        ));
    }
    // The round-robin order means the killed instance held the clients of one residue.
    let residue = dropped.first().map(|i| i % o.instances);
    let expected_dropped: Vec<usize> = match residue {
        Some(r) => (0..o.clients).filter(|i| i % o.instances == r).collect(),
        None => Vec::new(),
    };
    if dropped.is_empty() {
        problems.push("no client lost its connection when the instance was killed".to_owned());
    } else if dropped != expected_dropped {
        problems.push(format!(
            "{} clients dropped, not the {} clients i with i mod {} = {}: nginx did not place \
             the clients round-robin",
            dropped.len(),
            expected_dropped.len(),
            o.instances,
            residue.unwrap_or_default()
        ));
    }
    // When the last dropped client had its new connection, after the kill was asked for.
    let reconnected_in = dropped
        .iter()
        .filter_map(|&i| lock(&clients[i].state).back_at)
        .max()
        .map(|at| at.saturating_duration_since(kill_requested));
    // Without every client back there is nothing more to learn: report and stop.
    let (ready_in, round, round_clean) = if settled {
        let (ready, ready_in) = await_heard(&mut publishers, &clients).await;
        if !ready {
            problems.push(format!(
                "not every client heard every publisher within {READY_BOUND:?} after the \
                 reconnections"
            ));
        }
        let from = publishers.next();
        publishers.rounds(o.messages, o.interval).await;
        let to = publishers.last();
        wait_until(&clients, DELIVERY_BOUND, |s| heard_since(s, &to)).await;
        let total = strict_round(&clients, &from, &to);
        (
            secs(ready_in),
            describe(&total, expected(o.clients, &from, &to)),
            total.clean(),
        )
    } else {
        ("-".to_owned(), "no round sent".to_owned(), false)
    };
    let dropped_set: std::collections::HashSet<usize> = dropped.iter().copied().collect();
    problems.extend(trouble(&clients, |i| u32::from(dropped_set.contains(&i))));
    verdict(
        "phase 3 (one instance killed)",
        round_clean,
        &format!(
            "killed in {}; {} clients dropped (i mod {} = {}), reconnected after {} (the last \
             {} after the kill); every client heard every publisher {} later; then {}",
            millis(killed),
            dropped.len(),
            o.instances,
            residue.map_or("-".to_owned(), |r| r.to_string()),
            spread(&mut reconnect_times, millis),
            reconnected_in.map_or("-".to_owned(), secs),
            ready_in,
            round,
        ),
        &problems,
        &mut failed,
    );

    println!("summary: checks: {} passed, {failed} failed", 3 - failed);
    // Every client closes with 1000 once its command channel is gone.
    drop(publishers);
    let tasks: Vec<_> = clients.into_iter().map(|c| c.task).collect();
    let _ = tokio::time::timeout(CLOSE_BOUND * 2, async {
        for task in tasks {
            let _ = task.await;
        }
    })
    .await;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_exactly_once() {
        let c = count(&[1, 2, 3, 4], 1, 1, 4);
        assert_eq!(
            c,
            Counts {
                delivered: 4,
                ..Counts::default()
            }
        );
        assert!(c.clean());
        // Numbers outside the range are ignored.
        assert_eq!(count(&[0, 5, 6, 9], 5, 5, 6).delivered, 2);
    }

    #[test]
    fn missing_duplicates_out_of_order() {
        let c = count(&[1, 3, 2, 3, 5], 1, 1, 6);
        assert_eq!(c.delivered, 4);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.out_of_order, 1);
        assert_eq!(c.missing, 2);
        assert!(!c.clean());
    }

    #[test]
    fn losses_before_the_gap_end_are_allowed() {
        let c = count(&[1, 5, 6, 7], 1, 5, 7);
        assert_eq!(c.lost, 3);
        assert_eq!(c.missing, 0);
        assert!(c.clean());
        let c = count(&[1, 5, 7], 1, 5, 7);
        assert_eq!((c.lost, c.missing), (3, 1));
        assert!(!c.clean());
        assert_eq!(count(&[], 3, 3, 2), Counts::default());
    }

    #[test]
    fn messages() {
        assert_eq!(parse_message("2 17", 3), Some((2, 17)));
        assert_eq!(parse_message("3 17", 3), None);
        assert_eq!(parse_message("2", 3), None);
        assert_eq!(parse_message("x 1", 3), None);
        assert_eq!(parse_message("1 -1", 3), None);
    }

    #[test]
    fn spreads() {
        let mut values = [5u64, 1, 3];
        assert_eq!(
            spread(&mut values, |n| n.to_string()),
            "min 1 / median 3 / max 5"
        );
        assert_eq!(spread::<u64>(&mut [], |n| n.to_string()), "-");
    }

    #[test]
    fn options() {
        let o = parse_args(vec!["ws://127.0.0.1:1/room/scale".into()]).unwrap();
        assert_eq!(
            (o.clients, o.instances, o.publishers, o.messages),
            (1000, 3, 3, 100)
        );
        let o = parse_args(
            ["ws://h/", "--clients", "10", "--interval-ms", "5"]
                .map(String::from)
                .to_vec(),
        )
        .unwrap();
        assert_eq!((o.clients, o.interval), (10, Duration::from_millis(5)));
        assert!(parse_args(vec!["http://h/".into()]).is_err());
        assert!(parse_args(["ws://h/", "--clients", "0"].map(String::from).to_vec()).is_err());
        assert!(parse_args(
            ["ws://h/", "--publishers", "5", "--clients", "2"]
                .map(String::from)
                .to_vec()
        )
        .is_err());
    }
}
