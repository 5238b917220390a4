//! The connection state machine: bytes in, events out; messages in, bytes out; time in, deadlines out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::error::{ProtocolError, SendError};
use crate::frame::{encode_frame, Decoded, FrameDecoder, OpCode, MAX_CONTROL_PAYLOAD};
use crate::limits::Limits;
use crate::mask;
use crate::message::{Assembled, Assembler, Chunk, Message, MessageKind, ReceiveMode};
use crate::Role;

/// Settings of a [`Connection`].
///
/// ```
/// use std::time::Duration;
/// use ws_proto::{Config, ReceiveMode};
/// let config = Config {
///     receive_mode: ReceiveMode::Streaming,
///     max_send_frame_size: 16 * 1024,
///     close_timeout: Duration::from_secs(2),
///     ..Config::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Bounds on what the peer may send.
    pub limits: Limits,
    /// Whole messages or streamed chunks.
    pub receive_mode: ReceiveMode,
    /// Outgoing messages longer than this are split into frames of at most this many payload bytes.
    /// Default: `usize::MAX` (never split).
    pub max_send_frame_size: usize,
    /// How long to wait for the peer's Close frame after sending ours. Default 5 s.
    pub close_timeout: Duration,
    /// RSV bits that a negotiated extension has claimed (see [`crate::frame::RSV1`]). Default none.
    pub allowed_rsv: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            receive_mode: ReceiveMode::Messages,
            max_send_frame_size: usize::MAX,
            close_timeout: Duration::from_secs(5),
            allowed_rsv: 0,
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close frame and wait for the peer's; incoming messages are still delivered.
    Closing,
    /// The closing handshake finished, failed or timed out. Flush [`Connection::output`], then close
    /// the transport (a server first; a client may wait briefly for the server to do it).
    Closed,
}

/// How a connection ended, as RFC 6455 §7.1.5–7.1.6 define it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatus {
    /// The code of the first Close frame received; 1005 if it carried none; 1006 if the connection
    /// ended without one (protocol error, heartbeat or close timeout).
    pub code: CloseCode,
    /// The reason from that Close frame, or what went wrong for 1006.
    pub reason: String,
    /// `true` if both Close frames were exchanged.
    pub clean: bool,
    /// `true` if we sent the first Close frame (or failed the connection).
    pub locally_initiated: bool,
}

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message ([`ReceiveMode::Messages`]).
    Message(Message),
    /// A piece of a message ([`ReceiveMode::Streaming`]).
    Chunk(Chunk),
    /// The peer pinged; the pong was queued already.
    Ping(Vec<u8>),
    /// A pong arrived (an answer to our ping, or an unsolicited heartbeat).
    Pong(Vec<u8>),
    /// The connection is closed; this is always the last event.
    Closed(CloseStatus),
}

/// A WebSocket connection after the opening handshake, without I/O.
///
/// Feed received bytes to [`receive_data`](Connection::receive_data) and take [`Event`]s from
/// [`next_event`](Connection::next_event); queue messages with the `send_*` methods and write what
/// [`output`](Connection::output) holds; arm a timer for [`poll_timeout`](Connection::poll_timeout) and
/// call [`handle_timeout`](Connection::handle_timeout) when it fires.
///
/// ```
/// use ws_proto::{Connection, Config, Event, Message, Role};
///
/// let mut client = Connection::new(Role::Client, Config::default());
/// let mut server = Connection::new(Role::Server, Config::default());
///
/// client.send_text("hello").unwrap();
/// server.receive_data(&client.take_output()).unwrap();
/// assert_eq!(server.next_event(), Some(Event::Message(Message::Text("hello".into()))));
///
/// // Pings are answered without the application's help.
/// server.ping(b"are you there?").unwrap();
/// client.receive_data(&server.take_output()).unwrap();
/// assert_eq!(client.next_event(), Some(Event::Ping(b"are you there?".to_vec())));
/// server.receive_data(&client.take_output()).unwrap();
/// assert_eq!(server.next_event(), Some(Event::Pong(b"are you there?".to_vec())));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    decoder: FrameDecoder,
    assembler: Assembler,
    /// The control frame being received (they are never fragmented, so at most one).
    control: Option<OpCode>,
    control_buf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    events: VecDeque<Event>,
    /// The kind of the fragmented message being sent, between its first and last frame.
    sending: Option<MessageKind>,
    close_sent: bool,
    heartbeat: Option<Heartbeat>,
    close_deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    interval: Duration,
    pong_timeout: Option<Duration>,
    next_ping: Instant,
    pong_deadline: Option<Instant>,
    pings_sent: u64,
}

/// Output buffers larger than this are released once written, so idle connections stay small.
const RETAINED_OUTPUT_CAPACITY: usize = 64 * 1024;

impl Connection {
    /// A connection in the [`State::Open`] state, as it is right after the opening handshake.
    pub fn new(role: Role, config: Config) -> Self {
        let mut decoder = FrameDecoder::new(role, config.limits.max_frame_size);
        decoder.set_allowed_rsv(config.allowed_rsv);
        Connection {
            role,
            assembler: Assembler::new(config.limits, config.receive_mode),
            config,
            state: State::Open,
            decoder,
            control: None,
            control_buf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            events: VecDeque::new(),
            sending: None,
            close_sent: false,
            heartbeat: None,
            close_deadline: None,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the receive limits (they apply from the next frame on).
    pub fn set_limits(&mut self, limits: Limits) {
        self.config.limits = limits;
        self.decoder.set_max_frame_size(limits.max_frame_size);
        self.assembler.set_limits(limits);
    }

    // ----- receiving -------------------------------------------------------------------------

    /// Processes bytes received from the peer; the resulting events wait in [`next_event`].
    ///
    /// On a protocol violation the connection fails: the Close frame with the matching code is
    /// queued in the output, the state becomes [`State::Closed`], a final [`Event::Closed`] with
    /// code 1006 is queued, and the violation is returned. Events decoded before it stay queued, so
    /// no earlier message is lost. Bytes that arrive after the connection closed are ignored.
    ///
    /// [`next_event`]: Connection::next_event
    pub fn receive_data(&mut self, mut data: &[u8]) -> Result<(), ProtocolError> {
        while self.state != State::Closed {
            let (item, used) = match self.decoder.decode(data) {
                Ok(decoded) => decoded,
                Err(e) => return Err(self.fail(e)),
            };
            data = &data[used..];
            let result = match item {
                None => return Ok(()),
                Some(Decoded::FrameStart(header)) => {
                    if header.opcode.is_control() {
                        self.control = Some(header.opcode);
                        self.control_buf.clear();
                        Ok(())
                    } else {
                        self.control = None;
                        self.assembler.frame_start(&header)
                    }
                }
                Some(Decoded::Payload(piece)) => {
                    if self.control.is_some() {
                        piece.unmask_into(&mut self.control_buf);
                        Ok(())
                    } else {
                        self.assembler
                            .payload(&piece)
                            .map(|done| self.deliver(done))
                    }
                }
                Some(Decoded::FrameEnd) => match self.control.take() {
                    Some(opcode) => self.control_frame(opcode),
                    None => self.assembler.frame_end().map(|done| self.deliver(done)),
                },
            };
            if let Err(e) = result {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    fn deliver(&mut self, assembled: Option<Assembled>) {
        match assembled {
            Some(Assembled::Message(message)) => self.events.push_back(Event::Message(message)),
            Some(Assembled::Chunk(chunk)) => self.events.push_back(Event::Chunk(chunk)),
            None => {}
        }
    }

    fn control_frame(&mut self, opcode: OpCode) -> Result<(), ProtocolError> {
        let payload = std::mem::take(&mut self.control_buf);
        match opcode {
            OpCode::Ping => {
                if !self.close_sent {
                    self.write_frame(true, OpCode::Pong, &payload);
                }
                self.events.push_back(Event::Ping(payload));
            }
            OpCode::Pong => {
                if let Some(hb) = &mut self.heartbeat {
                    hb.pong_deadline = None;
                }
                self.events.push_back(Event::Pong(payload));
            }
            OpCode::Close => {
                let frame = CloseFrame::parse(&payload)?;
                let locally_initiated = self.close_sent;
                if !self.close_sent {
                    // Echo the peer's code (RFC 6455 §5.5.1); an empty Close is answered with an empty one.
                    let mut echo = Vec::with_capacity(2);
                    if let Some(frame) = &frame {
                        echo.extend_from_slice(&frame.code.as_u16().to_be_bytes());
                    }
                    self.write_frame(true, OpCode::Close, &echo);
                    self.close_sent = true;
                }
                let (code, reason) = match frame {
                    Some(frame) => (frame.code, frame.reason),
                    None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
                };
                self.finish(CloseStatus {
                    code,
                    reason,
                    clean: true,
                    locally_initiated,
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Fails the connection (RFC 6455 §7.1.7).
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        if !self.close_sent {
            let mut payload = Vec::with_capacity(MAX_CONTROL_PAYLOAD);
            CloseFrame::new(error.close_code(), short_reason(&error.to_string()))
                .encode(&mut payload);
            self.write_frame(true, OpCode::Close, &payload);
            self.close_sent = true;
        }
        self.finish(CloseStatus {
            code: CloseCode::ABNORMAL,
            reason: error.to_string(),
            clean: false,
            locally_initiated: true,
        });
        error
    }

    fn finish(&mut self, status: CloseStatus) {
        self.state = State::Closed;
        self.assembler.clear();
        self.heartbeat = None;
        self.close_deadline = None;
        self.events.push_back(Event::Closed(status));
    }

    /// The next event, oldest first.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The number of events waiting.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    // ----- sending ---------------------------------------------------------------------------

    fn ensure_open(&self) -> Result<(), SendError> {
        if self.close_sent || self.state != State::Open {
            return Err(SendError::Closed);
        }
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_bytes(MessageKind::Text, text.as_bytes())
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_bytes(MessageKind::Binary, data)
    }

    /// Queues a message.
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        self.send_bytes(message.kind(), message.as_bytes())
    }

    /// Queues one message of `kind`, split into frames of at most `Config::max_send_frame_size`.
    fn send_bytes(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        self.ensure_open()?;
        if self.sending.is_some() {
            return Err(SendError::FragmentationMismatch);
        }
        let frame_size = self.config.max_send_frame_size.max(1);
        if data.len() <= frame_size {
            self.write_frame(true, kind.opcode(), data);
            return Ok(());
        }
        let mut pieces = data.chunks(frame_size).peekable();
        let mut opcode = kind.opcode();
        while let Some(piece) = pieces.next() {
            self.write_frame(pieces.peek().is_none(), opcode, piece);
            opcode = OpCode::Continuation;
        }
        Ok(())
    }

    /// Queues one frame of a message sent in pieces: the first call starts a message of `kind`, the
    /// following ones continue it, and the one with `fin` set ends it. Text pieces must each be
    /// valid UTF-8 on their own (`&str`) only if the caller wants that; the peer validates the
    /// whole message.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        self.ensure_open()?;
        let opcode = match self.sending {
            None => kind.opcode(),
            Some(current) if current == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::FragmentationMismatch),
        };
        self.write_frame(fin, opcode, data);
        self.sending = if fin { None } else { Some(kind) };
        Ok(())
    }

    /// Queues a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (payload at most 125 bytes), e.g. as a one-way heartbeat.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.ensure_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.write_frame(true, opcode, payload);
        Ok(())
    }

    /// Starts the closing handshake: queues a Close frame with `code` and `reason`, after which no
    /// more messages may be sent. The peer's Close frame ends it ([`Event::Closed`]); if none comes
    /// within `Config::close_timeout` of `now`, [`handle_timeout`](Connection::handle_timeout) ends it
    /// with 1006. Codes that may not be sent (1005, 1006, 1015, ...) and reasons over 123 bytes are
    /// refused.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        self.ensure_open()?;
        if !code.is_sendable() {
            return Err(SendError::UnsendableCloseCode(code));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        let mut payload = Vec::with_capacity(2 + reason.len());
        CloseFrame::new(code, reason).encode(&mut payload);
        self.write_frame(true, OpCode::Close, &payload);
        self.close_sent = true;
        self.state = State::Closing;
        self.close_deadline = Some(now + self.config.close_timeout);
        if let Some(hb) = &mut self.heartbeat {
            // No more pings; an outstanding pong deadline still detects a dead peer.
            hb.next_ping = hb.pong_deadline.unwrap_or(now + self.config.close_timeout);
        }
        Ok(())
    }

    fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        let key = match self.role {
            Role::Client => Some(mask::random_key()),
            Role::Server => None,
        };
        encode_frame(&mut self.out, fin, opcode, key, payload);
    }

    // ----- output ----------------------------------------------------------------------------

    /// Bytes waiting to be written to the peer.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Marks the first `n` bytes of [`output`](Connection::output) as written.
    pub fn consume_output(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            self.out_pos = 0;
            if self.out.capacity() > RETAINED_OUTPUT_CAPACITY {
                self.out = Vec::new();
            } else {
                self.out.clear();
            }
        }
    }

    /// Takes all waiting output at once.
    pub fn take_output(&mut self) -> Vec<u8> {
        if self.out_pos > 0 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        std::mem::take(&mut self.out)
    }

    /// The number of bytes waiting to be written (for backpressure).
    pub fn output_len(&self) -> usize {
        self.out.len() - self.out_pos
    }

    // ----- timers ----------------------------------------------------------------------------

    /// Starts (or, with `interval` zero, stops) the heartbeat: a ping every `interval` from `now`,
    /// and, if `pong_timeout` is non-zero, failure of the connection when no pong arrives within
    /// `pong_timeout` of a ping.
    pub fn set_heartbeat(&mut self, interval: Duration, pong_timeout: Duration, now: Instant) {
        self.heartbeat = (!interval.is_zero() && self.state == State::Open).then(|| Heartbeat {
            interval,
            pong_timeout: (!pong_timeout.is_zero()).then_some(pong_timeout),
            next_ping: now + interval,
            pong_deadline: None,
            pings_sent: 0,
        });
    }

    /// The next instant at which [`handle_timeout`](Connection::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let heartbeat = self.heartbeat.map(|hb| match hb.pong_deadline {
            Some(deadline) => deadline.min(hb.next_ping),
            None => hb.next_ping,
        });
        match (heartbeat, self.close_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances the timers to `now`: sends due pings and ends the connection with 1006 when a
    /// pong or the peer's Close frame is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if let Some(deadline) = self.close_deadline {
            if now >= deadline {
                let timeout = self.config.close_timeout;
                return self.finish(CloseStatus {
                    code: CloseCode::ABNORMAL,
                    reason: format!("the peer did not answer our Close frame within {timeout:?}"),
                    clean: false,
                    locally_initiated: true,
                });
            }
        }
        let Some(mut hb) = self.heartbeat else { return };
        if let (Some(deadline), Some(timeout)) = (hb.pong_deadline, hb.pong_timeout) {
            if now >= deadline {
                return self.finish(CloseStatus {
                    code: CloseCode::ABNORMAL,
                    reason: format!(
                        "no pong received within {timeout:?} of a ping: the peer is unresponsive"
                    ),
                    clean: false,
                    locally_initiated: true,
                });
            }
        }
        if now >= hb.next_ping && !self.close_sent {
            hb.pings_sent += 1;
            self.write_frame(true, OpCode::Ping, &hb.pings_sent.to_be_bytes());
            hb.next_ping = now + hb.interval;
            if let (None, Some(timeout)) = (hb.pong_deadline, hb.pong_timeout) {
                hb.pong_deadline = Some(now + timeout);
            }
        } else if self.close_sent && now >= hb.next_ping {
            hb.next_ping = self.close_deadline.unwrap_or(now + hb.interval);
        }
        self.heartbeat = Some(hb);
    }
}

/// Cuts a reason to fit a Close frame, on a character boundary.
fn short_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
