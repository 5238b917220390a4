//! The connection state machine: bytes in, events out; messages in, bytes out; time in, deadlines out.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::deflate::{Deflate, Deflater, Inflater};
use crate::error::{ProtocolError, SendError};
use crate::frame::{encode_frame, FrameHeader, FrameRules, OpCode, MAX_CONTROL_PAYLOAD};
use crate::limits::Limits;
use crate::mask;
use crate::message::{Assembler, Chunk, Message, MessageKind, ReceiveMode};
use crate::output::Output;
use crate::prepared::PreparedMessage;
use crate::{Role, Rsv};
use std::num::NonZeroUsize;

/// Settings of a [`Connection`].
///
/// Built from [`Config::default`] with the setters below; new settings arrive as new setters
/// with defaults that keep today's behaviour, so code written against this type keeps compiling.
///
/// | setting | default |
/// | --- | --- |
/// | [`limits`](Self::limits) | [`Limits::default`]: 64 MiB frames and messages |
/// | [`receive_mode`](Self::receive_mode) | whole messages |
/// | [`max_send_frame_size`](Self::max_send_frame_size) | `None`: a message is one frame |
/// | [`close_timeout`](Self::close_timeout) | 5 s |
/// | [`allowed_rsv`](Self::allowed_rsv) | [`Rsv::NONE`] |
/// | [`copy_payload_max`](Self::copy_payload_max) | 0: every payload shared |
/// | [`deflate`](Self::deflate) | `None`: messages are not compressed |
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use ws_proto::{Config, ReceiveMode};
///
/// let config = Config::default()
///     .receive_mode(ReceiveMode::Streaming)
///     .max_send_frame_size(NonZeroUsize::new(16 * 1024))
///     .close_timeout(Duration::from_secs(2));
/// assert_eq!(config.close_timeout, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Bounds on what the peer may send.
    pub limits: Limits,
    /// Whole messages or streamed chunks.
    pub receive_mode: ReceiveMode,
    /// Outgoing messages longer than this are split into frames of at most this many payload
    /// bytes; `None` sends each message as one frame.
    pub max_send_frame_size: Option<NonZeroUsize>,
    /// How long to wait for the peer's Close frame after sending ours.
    pub close_timeout: Duration,
    /// RSV bits that a negotiated extension has claimed; a frame with any other RSV bit set
    /// fails the connection with 1002.
    pub allowed_rsv: Rsv,
    /// Whole-message payloads up to this many bytes are copied out of the receive buffer instead
    /// of shared with it. Sharing costs no copy, but pins the buffer until the application drops
    /// the message, so a transport must allocate a new one for its next read; copying small
    /// payloads keeps the buffer reusable.
    pub copy_payload_max: usize,
    /// permessage-deflate, as the opening handshake negotiated it: messages are then compressed
    /// (from [`Deflate::threshold`](crate::deflate::Deflate::threshold) bytes up) and RSV1 is
    /// claimed for it. `None`: no compression.
    pub deflate: Option<Deflate>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            receive_mode: ReceiveMode::Messages,
            max_send_frame_size: None,
            close_timeout: Duration::from_secs(5),
            allowed_rsv: Rsv::NONE,
            copy_payload_max: 0,
            deflate: None,
        }
    }
}

impl Config {
    /// Sets the bounds on what the peer may send.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets whether messages arrive whole or as streamed chunks.
    #[must_use]
    pub fn receive_mode(mut self, mode: ReceiveMode) -> Self {
        self.receive_mode = mode;
        self
    }

    /// Sets the largest payload of an outgoing frame (`None`: each message is one frame).
    #[must_use]
    pub fn max_send_frame_size(mut self, size: Option<NonZeroUsize>) -> Self {
        self.max_send_frame_size = size;
        self
    }

    /// Sets how long to wait for the peer's Close frame after sending ours.
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets the RSV bits a negotiated extension claims.
    #[must_use]
    pub fn allowed_rsv(mut self, bits: Rsv) -> Self {
        self.allowed_rsv = bits;
        self
    }

    /// Sets the size up to which whole-message payloads are copied out of the receive buffer.
    #[must_use]
    pub fn copy_payload_max(mut self, bytes: usize) -> Self {
        self.copy_payload_max = bytes;
        self
    }

    /// Sets permessage-deflate as negotiated (`None`: no compression).
    #[must_use]
    pub fn deflate(mut self, deflate: Option<Deflate>) -> Self {
        self.deflate = deflate;
        self
    }
}

/// Where a connection is in its life.
///
/// ```text
///             close()                   peer's Close, close timeout,
///   Open ──────────────> LocalClosing ─────────────────────────────────┐
///    │                                   violation, transport end       │
///    │ peer's Close                                                     v
///    ├─────────────> RemoteClosing ─── finish_closing() or close() ──> Closed
///    │                                                                  ^
///    │ violation                                                        │
///    └─────────────> Failing ───────── finish_closing() ────────────────┘
/// ```
///
/// Heartbeat timeouts and the end of the transport lead from `Open` straight to `Closed`; the end
/// of the transport also ends `RemoteClosing` and `Failing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close frame and wait for the peer's, until the close timeout; incoming messages
    /// are still delivered.
    LocalClosing,
    /// The peer's Close frame arrived and [`Event::Closed`] reported it. Nothing more can be sent
    /// but the answer: [`Connection::finish_closing`] queues it (echoing the peer's code), or
    /// [`Connection::close`] with a code of your own. Call it once the application has handled
    /// the events before the closure, so that its answers to them go out first.
    RemoteClosing,
    /// The peer violated the protocol and [`Event::Error`] reported it. Nothing more can be sent;
    /// [`Connection::finish_closing`] queues the Close frame with the violation's code and reports
    /// [`Event::Closed`] (1006).
    Failing,
    /// The connection is over: [`Connection::close_status`] says how. Flush
    /// [`Connection::output`], then close the transport (a server first; a client may wait
    /// briefly for the server to do it).
    Closed,
}

/// What the connection is doing about its end, with what that needs: the one place that says it.
#[derive(Debug)]
enum Phase {
    Open,
    /// Our Close frame is queued; the peer's is due by `deadline`.
    LocalClosing {
        deadline: Instant,
    },
    /// The peer's Close frame was reported; `answer` is the payload of ours.
    RemoteClosing {
        answer: Vec<u8>,
        status: CloseStatus,
    },
    /// A violation was reported; the Close frame for it is not queued yet.
    Failing {
        error: ProtocolError,
    },
    Closed {
        status: CloseStatus,
    },
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Phase::Open => State::Open,
            Phase::LocalClosing { .. } => State::LocalClosing,
            Phase::RemoteClosing { .. } => State::RemoteClosing,
            Phase::Failing { .. } => State::Failing,
            Phase::Closed { .. } => State::Closed,
        }
    }

    /// Whether frames from the peer are still expected.
    fn receives(&self) -> bool {
        matches!(self, Phase::Open | Phase::LocalClosing { .. })
    }
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
    Ping(Bytes),
    /// A pong arrived (an answer to our ping, or an unsolicited heartbeat).
    Pong(Bytes),
    /// The peer violated the protocol and the connection failed; [`Event::Closed`] follows.
    Error(ProtocolError),
    /// The connection is closed; this is always the last event.
    Closed(CloseStatus),
}

/// A WebSocket connection after the opening handshake, without I/O.
///
/// Feed received bytes to [`receive_data`](Connection::receive_data) and take [`Event`]s from
/// [`next_event`](Connection::next_event); queue messages with the `send_*` methods and write what
/// [`output`](Connection::output) holds; arm a timer for [`poll_timeout`](Connection::poll_timeout) and
/// call [`handle_timeout`](Connection::handle_timeout) when it fires. When the peer closes or
/// violates the protocol ([`State::RemoteClosing`], [`State::Failing`]), call
/// [`finish_closing`](Connection::finish_closing) once the events before have been handled; once
/// [`State::Closed`], write the last output and close the transport.
///
/// ```
/// use ws_proto::{Connection, Config, Event, Message, Role};
///
/// let mut client = Connection::new(Role::Client, Config::default());
/// let mut server = Connection::new(Role::Server, Config::default());
///
/// client.send_text("hello").unwrap();
/// server.receive_data(&client.take_output());
/// assert_eq!(server.next_event(), Some(Event::Message(Message::Text("hello".into()))));
///
/// // Pings are answered without the application's help.
/// server.ping(b"are you there?").unwrap();
/// client.receive_data(&server.take_output());
/// assert_eq!(client.next_event(), Some(Event::Ping("are you there?".into())));
/// server.receive_data(&client.take_output());
/// assert_eq!(server.next_event(), Some(Event::Pong("are you there?".into())));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    rules: FrameRules,
    /// Received bytes not yet turned into events. Payloads are unmasked here, in place, and handed
    /// out as slices of this buffer.
    input: BytesMut,
    /// The frame whose header has been parsed but whose payload has not fully been handed on.
    frame: Option<InFrame>,
    /// A violation found while receiving, reported when decoding reaches it.
    deferred_error: Option<ProtocolError>,
    assembler: Assembler,
    out: Output,
    events: VecDeque<Event>,
    /// The kind of the fragmented message being sent, between its first and last frame.
    sending: Option<MessageKind>,
    heartbeat: Option<Heartbeat>,
    /// Why the transport ended, once it has: reported after the bytes received before it.
    transport_end: Option<String>,
    /// Output bytes written so far: positions in the output stream, for `unsent_pongs`.
    written: u64,
    /// Where each pong that is not written yet ends, in the output stream.
    unsent_pongs: VecDeque<u64>,
    /// The answer to the latest ping, held while [`MAX_UNSENT_PONGS`] pongs wait unwritten: a
    /// peer that pings and never reads gets a few pongs, not one per ping (RFC 6455 §5.5.3
    /// allows answering only the most recent). Only ever set while `out` is not empty.
    pong_due: Option<Vec<u8>>,
    /// permessage-deflate's compressor and inflater, when it was negotiated.
    deflater: Option<Deflater>,
    inflater: Option<Inflater>,
    /// The inflated payload of the compressed message being received (whole-message mode).
    inflated: Vec<u8>,
}

/// How many pongs may wait unwritten before only the latest ping is answered: a burst of pings
/// from a peer that reads gets every answer, a flood from one that does not cannot grow the
/// output by more than this many pongs.
const MAX_UNSENT_PONGS: usize = 16;

/// Progress through the payload of the frame being received.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes not yet handed on (they are at the front of `input`).
    remaining: usize,
    /// How many of those are already unmasked (and, for text, validated).
    unmasked: usize,
    /// Payload bytes handed on already (streaming mode), for the masking key's phase.
    offset: usize,
}

impl InFrame {
    /// The next `bytes` of the payload are unmasked: record them, and for a data frame show them
    /// to the assembler (which validates text as it arrives).
    fn arrived(&mut self, bytes: &[u8], assembler: &mut Assembler) -> Result<(), ProtocolError> {
        let whole = self.offset == 0 && self.unmasked == 0 && bytes.len() == self.remaining;
        self.unmasked += bytes.len();
        if self.header.opcode.is_control() {
            return Ok(());
        }
        assembler.arrived(bytes, whole)
    }
}

/// Where decoding a compressed message's frame left off.
enum Decoded {
    /// An event to hand out.
    Event(Event),
    /// The frame needs more bytes.
    NeedInput,
    /// The frame was taken whole and produced no event yet: decode the next one.
    Continue,
}

#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    interval: Duration,
    pong_timeout: Option<Duration>,
    next_ping: Instant,
    pong_deadline: Option<Instant>,
    pings_sent: u64,
}

/// Payloads at least this large that the caller holds as `Bytes` are queued without a copy
/// (server role: no masking); smaller ones are copied, so that small frames coalesce.
const SHARED_PAYLOAD_MIN: usize = 16 * 1024;

impl Connection {
    /// A connection in the [`State::Open`] state, as it is right after the opening handshake.
    pub fn new(role: Role, config: Config) -> Self {
        // permessage-deflate marks compressed messages with RSV1.
        let deflate_rsv = match config.deflate {
            Some(_) => Rsv::RSV1,
            None => Rsv::NONE,
        };
        let rules = FrameRules {
            role,
            allowed_rsv: config.allowed_rsv | deflate_rsv,
            max_frame_size: config.limits.max_frame_size,
        };
        let deflater = config.deflate.as_ref().map(|d| Deflater::new(d, role));
        let inflater = config.deflate.as_ref().map(|d| Inflater::new(d, role));
        let mut assembler = Assembler::new(config.limits, config.receive_mode);
        assembler.set_deflate(config.deflate.is_some());
        Connection {
            role,
            assembler,
            config,
            phase: Phase::Open,
            rules,
            input: BytesMut::new(),
            frame: None,
            deferred_error: None,
            out: Output::default(),
            events: VecDeque::new(),
            sending: None,
            heartbeat: None,
            transport_end: None,
            written: 0,
            unsent_pongs: VecDeque::new(),
            pong_due: None,
            deflater,
            inflater,
            inflated: Vec::new(),
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// How the connection ended, once it is [`State::Closed`].
    pub fn close_status(&self) -> Option<&CloseStatus> {
        match &self.phase {
            Phase::Closed { status } => Some(status),
            _ => None,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the receive limits (they apply from the next frame on).
    pub fn set_limits(&mut self, limits: Limits) {
        self.config.limits = limits;
        self.rules.max_frame_size = limits.max_frame_size;
        self.assembler.set_limits(limits);
    }

    // ----- receiving -------------------------------------------------------------------------

    /// Appends bytes received from the peer. They are parsed lazily, by
    /// [`next_event`](Connection::next_event), so a caller that stops taking events stops the
    /// work (and can stop reading: [`pending_input`](Connection::pending_input) says how much
    /// is waiting). Bytes that arrive after the connection closed are dropped.
    pub fn receive_data(&mut self, mut data: &[u8]) {
        if !self.phase.receives() || self.deferred_error.is_some() {
            return;
        }
        // While every buffered byte belongs to the frame at the front, that frame is decoded as its
        // bytes arrive: its payload is copied and unmasked in one pass instead of two.
        while !data.is_empty() && self.input.len() == self.frame.map_or(0, |f| f.unmasked) {
            let Some(frame) = &mut self.frame else {
                match begin_frame(&self.rules, &mut self.assembler, data) {
                    Ok(Some((frame, header_len))) => {
                        self.frame = Some(frame);
                        data = &data[header_len..];
                        continue;
                    }
                    Ok(None) => break,
                    Err(error) => return self.deferred_error = Some(error),
                }
            };
            let Some(key) = frame.header.mask else { break };
            let n = data.len().min(frame.remaining - frame.unmasked);
            if n == 0 {
                break;
            }
            let start = self.input.len();
            mask::extend_masked_bytes(
                &mut self.input,
                &data[..n],
                key,
                frame.offset + frame.unmasked,
            );
            data = &data[n..];
            if let Err(error) = frame.arrived(&self.input[start..], &mut self.assembler) {
                return self.deferred_error = Some(error);
            }
        }
        self.input.extend_from_slice(data);
    }

    /// The receive buffer, for transports that read straight into it (e.g. tokio's `read_buf`),
    /// saving the copy that [`receive_data`](Connection::receive_data) makes. Append only; what is
    /// appended after the connection closed is dropped.
    pub fn input_buffer(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Received bytes not yet turned into events.
    pub fn pending_input(&self) -> usize {
        self.input.len()
    }

    /// How many more bytes the frame being received needs before it is complete: 0 when no frame
    /// is in progress (or its header has not been decoded yet). Lets a transport size its next
    /// read to the data that is known to be coming.
    ///
    /// ```
    /// use ws_proto::{Config, Connection, Role};
    ///
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// conn.receive_data(&[0x82, 126, 0x01, 0x00, 0xaa]); // a 256-byte binary frame, 1 byte in
    /// assert_eq!(conn.next_event(), None);
    /// assert_eq!(conn.frame_bytes_missing(), 255);
    /// ```
    pub fn frame_bytes_missing(&self) -> usize {
        self.frame
            .map_or(0, |f| f.remaining.saturating_sub(self.input.len()))
    }

    /// Whether decoding needs more bytes before it can go on: the frame being received is
    /// incomplete, or not even its header is buffered. `false` while complete frames wait to be
    /// decoded, so a transport that bounds what it buffers can tell a frame that must be
    /// completed from data that can wait.
    ///
    /// ```
    /// use ws_proto::{Config, Connection, Role};
    ///
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// assert!(conn.needs_input());
    /// conn.receive_data(&[0x82]); // half a header
    /// assert!(conn.needs_input());
    /// conn.receive_data(&[0x01, 0xaa]); // a whole one-byte frame, not decoded yet
    /// assert!(!conn.needs_input());
    /// ```
    pub fn needs_input(&self) -> bool {
        match self.frame {
            Some(frame) => frame.remaining > self.input.len(),
            None => matches!(self.rules.parse_header(&self.input), Ok(None)),
        }
    }

    /// The next event, decoding received bytes as needed; `None` when more bytes are needed.
    ///
    /// When the peer violates the protocol, the event is [`Event::Error`] and the connection is
    /// [`State::Failing`] (or, if our Close frame is out already, [`Event::Closed`] with 1006
    /// follows at once); when its Close frame arrives, the event is [`Event::Closed`] and the
    /// connection is [`State::RemoteClosing`]. Either way every message decoded before is
    /// delivered first, and our Close frame waits for [`finish_closing`](Self::finish_closing),
    /// so the application can still answer those messages (an echo server echoes them before the
    /// Close frame goes out) and nothing the peer sent correctly is lost.
    #[must_use = "an event not handled is lost"]
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if !self.phase.receives() {
                // Whatever arrives after the end is dropped, however it was appended.
                self.input.clear();
                return None;
            }
            match self.decode_next() {
                Ok(Some(event)) => return Some(event),
                Ok(None) => match self.transport_end.take() {
                    // Everything received has been decoded and the peer is gone.
                    Some(reason) => self.end(reason, false),
                    None => return None,
                },
                Err(error) => {
                    if matches!(self.phase, Phase::LocalClosing { .. }) {
                        // Our Close frame is out already: no second one, the connection ends.
                        self.end(error.to_string(), true);
                    } else {
                        self.stop_receiving();
                        self.phase = Phase::Failing {
                            error: error.clone(),
                        };
                    }
                    return Some(Event::Error(error));
                }
            }
        }
    }

    /// Ends [`State::RemoteClosing`] or [`State::Failing`]: queues the Close frame that is due
    /// (the answer echoing the peer's code, or the one naming the violation) and enters
    /// [`State::Closed`]. After a violation, [`Event::Closed`] (1006) follows. Does nothing in
    /// other states. Call it once the application has handled the events before the ending.
    ///
    /// ```
    /// use ws_proto::{Config, Connection, Event, Role, State};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.receive_data(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]); // the client closes with 1000
    /// assert!(matches!(server.next_event(), Some(Event::Closed(_))));
    /// assert_eq!(server.state(), State::RemoteClosing);
    /// server.finish_closing();
    /// assert_eq!(server.state(), State::Closed);
    /// assert_eq!(server.take_output(), [0x88, 0x02, 0x03, 0xe8]);
    /// ```
    pub fn finish_closing(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Open) {
            Phase::RemoteClosing { answer, status } => {
                self.write_frame(true, OpCode::Close, &answer);
                self.shut_down(status);
            }
            Phase::Failing { error } => {
                let mut payload = Vec::with_capacity(MAX_CONTROL_PAYLOAD);
                CloseFrame::new(error.close_code(), short_reason(&error.to_string()))
                    .encode(&mut payload);
                self.write_frame(true, OpCode::Close, &payload);
                self.end(error.to_string(), true);
            }
            other => self.phase = other,
        }
    }

    /// Tells the connection that its transport ended (the peer closed the TCP connection, or it
    /// broke) with `reason` saying how. The events of the bytes received before are still
    /// delivered; then, unless the closing handshake had finished, [`Event::Closed`] with 1006
    /// (abnormal closure) and `reason`.
    ///
    /// ```
    /// use ws_proto::{CloseCode, Config, Connection, Event, Role};
    ///
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// conn.transport_closed("connection reset by peer");
    /// match conn.next_event() {
    ///     Some(Event::Closed(status)) => {
    ///         assert_eq!(status.code, CloseCode::ABNORMAL);
    ///         assert_eq!(status.reason, "connection reset by peer");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    ///
    /// In [`State::RemoteClosing`] the connection becomes [`State::Closed`] at once (the closure
    /// was reported already; the answer can no longer go out); in [`State::Failing`] it becomes
    /// closed with [`Event::Closed`] (1006).
    pub fn transport_closed(&mut self, reason: impl Into<String>) {
        match std::mem::replace(&mut self.phase, Phase::Open) {
            Phase::RemoteClosing { status, .. } => self.shut_down(status),
            // Nobody is there to read the Close frame the violation called for.
            Phase::Failing { error } => self.end(error.to_string(), true),
            other => {
                self.phase = other;
                if self.phase.receives() && self.transport_end.is_none() {
                    self.transport_end = Some(reason.into());
                }
            }
        }
    }

    fn decode_next(&mut self) -> Result<Option<Event>, ProtocolError> {
        loop {
            if let Some(error) = self.deferred_error.take() {
                return Err(error);
            }
            let mut frame = match self.frame.take() {
                Some(frame) => frame,
                None => match begin_frame(&self.rules, &mut self.assembler, &self.input)? {
                    Some((frame, header_len)) => {
                        self.input.advance(header_len);
                        frame
                    }
                    None => return Ok(None),
                },
            };

            // Unmask (and for text, validate) what arrived since last time, in place.
            let arrived = self.input.len().min(frame.remaining);
            if arrived > frame.unmasked {
                let fresh = &mut self.input[frame.unmasked..arrived];
                if let Some(key) = frame.header.mask {
                    mask::apply_mask(fresh, key, frame.offset + frame.unmasked);
                }
                frame.arrived(fresh, &mut self.assembler)?;
            }
            let done = frame.unmasked == frame.remaining;

            if frame.header.opcode.is_control() {
                if !done {
                    self.frame = Some(frame);
                    return Ok(None);
                }
                let payload = take_payload(
                    &mut self.input,
                    frame.remaining,
                    self.config.copy_payload_max,
                );
                return self.control_frame(frame.header.opcode, payload).map(Some);
            }
            if self.assembler.is_compressed() {
                match self.decode_compressed(frame, done)? {
                    Decoded::Event(event) => return Ok(Some(event)),
                    Decoded::NeedInput => return Ok(None),
                    Decoded::Continue => continue,
                }
            }
            match self.config.receive_mode {
                ReceiveMode::Messages => {
                    if !done {
                        self.frame = Some(frame);
                        return Ok(None);
                    }
                    let message = if self.assembler.completes_whole_message() {
                        let payload = take_payload(
                            &mut self.input,
                            frame.remaining,
                            self.config.copy_payload_max,
                        );
                        self.assembler.whole_message(payload)?
                    } else {
                        let message = self
                            .assembler
                            .frame_complete(&self.input[..frame.remaining])?;
                        self.input.advance(frame.remaining);
                        message
                    };
                    if let Some(message) = message {
                        return Ok(Some(Event::Message(message)));
                    }
                }
                ReceiveMode::Streaming => {
                    if frame.unmasked == 0 && !done {
                        self.frame = Some(frame);
                        return Ok(None);
                    }
                    let data = take_arrived(&mut self.input, &mut self.frame, frame, done);
                    if let Some(chunk) = self.assembler.chunk(data, done)? {
                        return Ok(Some(Event::Chunk(chunk)));
                    }
                    if !done {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Goes on with a data frame of a compressed message: its payload is inflated once the frame
    /// is complete (whole messages) or as it arrives (streaming), counting the inflated bytes
    /// against the message limit as they come out.
    fn decode_compressed(&mut self, frame: InFrame, done: bool) -> Result<Decoded, ProtocolError> {
        let limit = self.config.limits.max_message_size;
        let Some(inflater) = self.inflater.as_mut() else {
            // The rules let RSV1 through only with permessage-deflate negotiated.
            return Err(ProtocolError::ReservedBits(Rsv::RSV1));
        };
        match self.config.receive_mode {
            ReceiveMode::Messages => {
                if !done {
                    self.frame = Some(frame);
                    return Ok(Decoded::NeedInput);
                }
                let last = self.assembler.is_final_frame();
                let so_far = self.inflated.len();
                inflater.inflate(
                    &self.input[..frame.remaining],
                    last,
                    &mut self.inflated,
                    so_far as u64,
                    limit,
                )?;
                self.input.advance(frame.remaining);
                self.assembler.inflated(&self.inflated[so_far..])?;
                if !last {
                    return Ok(Decoded::Continue);
                }
                let payload = Bytes::from(std::mem::take(&mut self.inflated));
                let message = self.assembler.whole_message(payload)?;
                Ok(message.map_or(Decoded::Continue, |m| Decoded::Event(Event::Message(m))))
            }
            ReceiveMode::Streaming => {
                if frame.unmasked == 0 && !done {
                    self.frame = Some(frame);
                    return Ok(Decoded::NeedInput);
                }
                let data = take_arrived(&mut self.input, &mut self.frame, frame, done);
                let last = done && self.assembler.is_final_frame();
                let mut out = Vec::new();
                let so_far = self.assembler.inflated_len();
                inflater.inflate(&data, last, &mut out, so_far, limit)?;
                self.assembler.inflated(&out)?;
                if let Some(chunk) = self
                    .assembler
                    .chunk(BytesMut::from(Bytes::from(out)), done)?
                {
                    return Ok(Decoded::Event(Event::Chunk(chunk)));
                }
                Ok(if done {
                    Decoded::Continue
                } else {
                    Decoded::NeedInput
                })
            }
        }
    }

    fn control_frame(&mut self, opcode: OpCode, payload: Bytes) -> Result<Event, ProtocolError> {
        Ok(match opcode {
            OpCode::Ping => {
                if matches!(self.phase, Phase::Open) {
                    self.answer_ping(&payload);
                }
                Event::Ping(payload)
            }
            OpCode::Pong => {
                if let Some(hb) = &mut self.heartbeat {
                    hb.pong_deadline = None;
                }
                Event::Pong(payload)
            }
            _ => {
                let frame = CloseFrame::parse(&payload)?;
                let (code, reason) = match &frame {
                    Some(frame) => (frame.code, frame.reason.clone()),
                    None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
                };
                let locally_initiated = !matches!(self.phase, Phase::Open);
                let status = CloseStatus {
                    code,
                    reason,
                    clean: true,
                    locally_initiated,
                };
                self.stop_receiving();
                if locally_initiated {
                    self.shut_down(status.clone());
                } else {
                    // Echo the peer's code (RFC 6455 §5.5.1); an empty Close is answered with an
                    // empty one. The answer waits for `finish_closing`, so that the application
                    // can still answer the messages it got before this frame.
                    let answer =
                        frame.map_or_else(Vec::new, |f| f.code.as_u16().to_be_bytes().to_vec());
                    self.phase = Phase::RemoteClosing {
                        answer,
                        status: status.clone(),
                    };
                }
                Event::Closed(status)
            }
        })
    }

    /// Queues the pong for a ping, or holds it while enough pongs wait unwritten (replacing the
    /// answer to any earlier ping that is still held).
    fn answer_ping(&mut self, payload: &[u8]) {
        if self.unsent_pongs.len() < MAX_UNSENT_PONGS {
            self.write_pong(payload);
        } else {
            self.pong_due = Some(payload.to_vec());
        }
    }

    fn write_pong(&mut self, payload: &[u8]) {
        self.write_frame(true, OpCode::Pong, payload);
        let end = self.written + self.out.len() as u64;
        self.unsent_pongs.push_back(end);
    }

    /// Moves a held pong into the output, ahead of what is queued next, if fewer than
    /// [`MAX_UNSENT_PONGS`] wait unwritten.
    fn release_pong(&mut self) {
        if self.unsent_pongs.len() >= MAX_UNSENT_PONGS {
            return;
        }
        if let Some(payload) = self.pong_due.take() {
            self.write_pong(&payload);
        }
    }

    /// `n` more output bytes were written: forget the pongs they completed, and queue the held
    /// one if there is room for it now.
    fn output_written(&mut self, n: usize) {
        self.written += n as u64;
        while self
            .unsent_pongs
            .front()
            .is_some_and(|&end| end <= self.written)
        {
            self.unsent_pongs.pop_front();
        }
        self.release_pong();
    }

    /// Releases what receiving held, and the heartbeat: nothing more will be decoded.
    fn stop_receiving(&mut self) {
        self.assembler.clear();
        self.input = BytesMut::new();
        self.inflated = Vec::new();
        self.inflater = None;
        self.frame = None;
        self.deferred_error = None;
        self.transport_end = None;
        self.heartbeat = None;
    }

    /// Enters [`State::Closed`] with `status`.
    fn shut_down(&mut self, status: CloseStatus) {
        self.stop_receiving();
        self.pong_due = None;
        self.phase = Phase::Closed { status };
    }

    // ----- sending ---------------------------------------------------------------------------

    fn ensure_open(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Open => Ok(()),
            Phase::RemoteClosing { .. } => Err(SendError::PeerClosed),
            Phase::Failing { .. } => Err(SendError::Failed),
            Phase::LocalClosing { .. } | Phase::Closed { .. } => Err(SendError::Closed),
        }
    }

    /// Queues a text message.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once our Close frame is queued, [`SendError::PeerClosed`] after the
    /// peer's, [`SendError::Failed`] after a violation, and [`SendError::FragmentationMismatch`]
    /// while a fragmented message is unfinished.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_bytes(MessageKind::Text, text.as_bytes())
    }

    /// Queues a binary message.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once our Close frame is queued, [`SendError::PeerClosed`] after the
    /// peer's, [`SendError::Failed`] after a violation, and [`SendError::FragmentationMismatch`]
    /// while a fragmented message is unfinished.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_bytes(MessageKind::Binary, data)
    }

    /// Queues a message. A server sending a large message (16 KiB or more) queues its payload
    /// as it is, shared with `message`, instead of copying it.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once our Close frame is queued, [`SendError::PeerClosed`] after the
    /// peer's, [`SendError::Failed`] after a violation, and [`SendError::FragmentationMismatch`]
    /// while a fragmented message is unfinished.
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        if self.compresses(message.len()) {
            return self.send_bytes(message.kind(), message.as_bytes());
        }
        if self.role == Role::Server && message.len() >= SHARED_PAYLOAD_MIN {
            return self.send_shared(message.kind(), message.clone().into_bytes());
        }
        self.send_bytes(message.kind(), message.as_bytes())
    }

    /// Queues a message encoded once for many connections: a server queues the prepared
    /// frame's shared bytes as they are. Where this connection would write other bytes (a
    /// client masks its frames, permessage-deflate compresses the message, a
    /// [`Config::max_send_frame_size`] below the payload's size splits it), the payload is
    /// encoded here, as [`send`](Self::send) would.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), SendError> {
        if self.role == Role::Client
            || self.compresses(prepared.len())
            || prepared.len() > self.frame_size_limit()
        {
            return self.send_bytes(prepared.kind(), prepared.payload());
        }
        self.ensure_whole_message_allowed()?;
        // A held pong goes before anything queued after the ping it answers, room permitting.
        self.release_pong();
        self.out.push_shared(prepared.frame().clone());
        Ok(())
    }

    /// A whole message may be queued now: the connection is open and no fragmented message is
    /// half sent.
    fn ensure_whole_message_allowed(&self) -> Result<(), SendError> {
        self.ensure_open()?;
        if self.sending.is_some() {
            return Err(SendError::FragmentationMismatch);
        }
        Ok(())
    }

    /// Like `send_bytes`, for an unmasked payload queued without a copy.
    fn send_shared(&mut self, kind: MessageKind, data: Bytes) -> Result<(), SendError> {
        self.ensure_whole_message_allowed()?;
        // A held pong goes before anything queued after the ping it answers, room permitting.
        self.release_pong();
        let frame_size = self.frame_size_limit();
        let mut opcode = kind.opcode();
        let mut start = 0usize;
        loop {
            let end = data.len().min(start.saturating_add(frame_size));
            let fin = end == data.len();
            let header = FrameHeader::new(fin, opcode, None, (end - start) as u64);
            self.out.append(|out| header.encode(out));
            self.out.push_shared(data.slice(start..end));
            if fin {
                return Ok(());
            }
            start = end;
            opcode = OpCode::Continuation;
        }
    }

    /// The most payload bytes one outgoing frame carries.
    fn frame_size_limit(&self) -> usize {
        self.config
            .max_send_frame_size
            .map_or(usize::MAX, NonZeroUsize::get)
    }

    /// Queues one message of `kind`, split into frames of at most `Config::max_send_frame_size`.
    fn send_bytes(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        self.ensure_whole_message_allowed()?;
        if let Some(deflater) = self.deflater.as_mut().filter(|d| d.compresses(data.len())) {
            let compressed = deflater.compress(data, true);
            self.write_message(kind, &compressed, Rsv::RSV1);
        } else {
            self.write_message(kind, data, Rsv::NONE);
        }
        Ok(())
    }

    /// Whether a message of `len` bytes goes out compressed.
    fn compresses(&self, len: usize) -> bool {
        self.deflater.as_ref().is_some_and(|d| d.compresses(len))
    }

    /// Queues a message's frames, each of at most `Config::max_send_frame_size`, the first with
    /// `rsv`.
    fn write_message(&mut self, kind: MessageKind, payload: &[u8], rsv: Rsv) {
        let frame_size = self.frame_size_limit();
        if payload.len() <= frame_size {
            self.write_frame_with(true, kind.opcode(), rsv, payload);
            return;
        }
        let mut pieces = payload.chunks(frame_size).peekable();
        let (mut opcode, mut rsv) = (kind.opcode(), rsv);
        while let Some(piece) = pieces.next() {
            self.write_frame_with(pieces.peek().is_none(), opcode, rsv, piece);
            (opcode, rsv) = (OpCode::Continuation, Rsv::NONE);
        }
    }

    /// Queues one frame of a message sent in pieces: the first call starts a message of `kind`, the
    /// following ones continue it, and the one with `fin` set ends it. Text pieces must each be
    /// valid UTF-8 on their own (`&str`) only if the caller wants that; the peer validates the
    /// whole message.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send); [`SendError::FragmentationMismatch`] also when `kind` differs
    /// from the message in progress.
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
        match self.deflater.as_mut().filter(|d| d.compresses_pieces()) {
            Some(deflater) => {
                let compressed = deflater.compress(data, fin);
                let rsv = match opcode {
                    OpCode::Continuation => Rsv::NONE,
                    _ => Rsv::RSV1,
                };
                self.write_frame_with(fin, opcode, rsv, &compressed);
            }
            None => self.write_frame(fin, opcode, data),
        }
        self.sending = if fin { None } else { Some(kind) };
        Ok(())
    }

    /// Queues a ping (payload at most 125 bytes).
    ///
    /// # Errors
    ///
    /// [`SendError::ControlPayloadTooLong`] over 125 bytes; otherwise as for [`send`](Self::send).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (payload at most 125 bytes), e.g. as a one-way heartbeat.
    ///
    /// # Errors
    ///
    /// [`SendError::ControlPayloadTooLong`] over 125 bytes; otherwise as for [`send`](Self::send).
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
    ///
    /// In [`State::RemoteClosing`] this is the answer to the peer's Close frame, with this code
    /// instead of the peer's, and the connection is closed at once.
    ///
    /// # Errors
    ///
    /// [`SendError::UnsendableCloseCode`] for a code that may not be sent,
    /// [`SendError::ReasonTooLong`] over 123 bytes, [`SendError::Closed`] once our Close frame is
    /// queued or the connection is closed, [`SendError::Failed`] after a violation.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        match self.ensure_open() {
            Ok(()) | Err(SendError::PeerClosed) => {}
            Err(other) => return Err(other),
        }
        if !code.is_sendable() {
            return Err(SendError::UnsendableCloseCode(code));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ReasonTooLong(reason.len()));
        }
        let mut payload = Vec::with_capacity(2 + reason.len());
        CloseFrame::new(code, reason).encode(&mut payload);
        if let Phase::RemoteClosing { answer, .. } = &mut self.phase {
            // The peer already closed: this becomes the answer to its Close frame.
            *answer = payload;
            self.finish_closing();
            return Ok(());
        }
        self.write_frame(true, OpCode::Close, &payload);
        self.phase = Phase::LocalClosing {
            deadline: now + self.config.close_timeout,
        };
        Ok(())
    }

    fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        self.write_frame_with(fin, opcode, Rsv::NONE, payload);
    }

    /// [`write_frame`](Self::write_frame) with RSV bits set (RSV1 on a compressed message's first
    /// frame).
    fn write_frame_with(&mut self, fin: bool, opcode: OpCode, rsv: Rsv, payload: &[u8]) {
        if opcode != OpCode::Pong {
            // A held pong goes before anything queued after the ping it answers, room
            // permitting; none goes after our Close frame.
            self.release_pong();
            if opcode == OpCode::Close {
                self.pong_due = None;
            }
        }
        let key = match self.role {
            Role::Client => Some(mask::random_key()),
            Role::Server => None,
        };
        self.out.append(|out| {
            let start = out.len();
            encode_frame(out, fin, opcode, key, payload);
            out[start] |= rsv.bits() << 4;
        });
    }

    // ----- output ----------------------------------------------------------------------------

    /// The first contiguous run of bytes waiting to be written to the peer (all of them unless a
    /// large payload was queued without copying; see [`output_vectored`](Self::output_vectored)).
    pub fn output(&self) -> &[u8] {
        self.out.front()
    }

    /// Fills `dst` with every run of waiting bytes, in order, for a vectored write (e.g.
    /// `write_vectored`); returns how many slices were filled. Then call
    /// [`consume_output`](Self::consume_output) with the number of bytes written.
    pub fn output_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.out.slices(dst)
    }

    /// Marks the first `n` bytes of the waiting output as written.
    pub fn consume_output(&mut self, n: usize) {
        let n = n.min(self.out.len());
        self.out.consume(n);
        self.output_written(n);
    }

    /// Takes all waiting output at once.
    #[must_use = "the bytes taken must be written to the peer"]
    pub fn take_output(&mut self) -> Vec<u8> {
        // Everything queued is taken, so every unwritten pong is written: the held one goes too.
        self.unsent_pongs.clear();
        self.release_pong();
        let output = self.out.take();
        self.output_written(output.len());
        output
    }

    /// Bytes allocated in buffers kept for reuse that hold nothing now: what
    /// [`release_spare_buffers`](Self::release_spare_buffers) would free, at least.
    pub fn spare_capacity(&self) -> usize {
        self.out.spare_capacity()
            + if self.inflated.is_empty() {
                self.inflated.capacity()
            } else {
                0
            }
            + self.assembler.spare_capacity()
    }

    /// Frees the buffers kept for reuse that hold nothing now: the written-out output buffer,
    /// the queue of decoded events, the assembly buffers of fragmented and compressed messages.
    /// For a transport to call once the connection has been quiet for a while, so that an idle
    /// connection holds no more than a new one; the next message allocates them again.
    pub fn release_spare_buffers(&mut self) {
        self.out.release_spare();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        if self.unsent_pongs.is_empty() {
            self.unsent_pongs = VecDeque::new();
        }
        if self.inflated.is_empty() {
            self.inflated = Vec::new();
        }
        self.assembler.release_spare_buffers();
    }

    /// The number of bytes waiting to be written (for backpressure).
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    // ----- timers ----------------------------------------------------------------------------

    /// Starts the heartbeat, or with `interval` `None` stops it: a ping every `interval` from
    /// `now`, and, with a `pong_timeout`, failure of the connection (1006) when no pong arrives
    /// within `pong_timeout` of a ping. Zero durations count as `None`: a ping cannot be due
    /// all the time, and no pong arrives in no time.
    pub fn set_heartbeat(
        &mut self,
        interval: Option<Duration>,
        pong_timeout: Option<Duration>,
        now: Instant,
    ) {
        let open = matches!(self.phase, Phase::Open);
        let interval = interval.filter(|i| !i.is_zero());
        self.heartbeat = interval.filter(|_| open).map(|interval| Heartbeat {
            interval,
            pong_timeout: pong_timeout.filter(|t| !t.is_zero()),
            next_ping: now + interval,
            pong_deadline: None,
            pings_sent: 0,
        });
    }

    /// The next instant at which [`handle_timeout`](Connection::handle_timeout) has work to do.
    #[must_use = "the transport must call handle_timeout at this instant"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Pings stop once our Close frame is out; an outstanding pong deadline still counts.
        let next_ping = self
            .heartbeat
            .filter(|_| matches!(self.phase, Phase::Open))
            .map(|hb| hb.next_ping);
        let pong_deadline = self.heartbeat.and_then(|hb| hb.pong_deadline);
        let close_deadline = match self.phase {
            Phase::LocalClosing { deadline } => Some(deadline),
            _ => None,
        };
        [next_ping, pong_deadline, close_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances the timers to `now`: sends due pings and ends the connection with 1006 when a
    /// pong or the peer's Close frame is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.phase.receives() {
            return;
        }
        if let Phase::LocalClosing { deadline } = self.phase {
            if now >= deadline {
                let timeout = self.config.close_timeout;
                return self.end(
                    format!("the peer did not answer our Close frame within {timeout:?}"),
                    true,
                );
            }
        }
        let Some(mut hb) = self.heartbeat else { return };
        if let (Some(deadline), Some(timeout)) = (hb.pong_deadline, hb.pong_timeout) {
            if now >= deadline {
                return self.end(
                    format!(
                        "no pong received within {timeout:?} of a ping: the peer is unresponsive"
                    ),
                    true,
                );
            }
        }
        if now >= hb.next_ping && matches!(self.phase, Phase::Open) {
            hb.pings_sent += 1;
            self.write_frame(true, OpCode::Ping, &hb.pings_sent.to_be_bytes());
            hb.next_ping = now + hb.interval;
            if let (None, Some(timeout)) = (hb.pong_deadline, hb.pong_timeout) {
                hb.pong_deadline = Some(now + timeout);
            }
        }
        self.heartbeat = Some(hb);
    }
}

impl Connection {
    /// Ends the connection without a closing handshake (1006).
    fn end(&mut self, reason: String, locally_initiated: bool) {
        let status = CloseStatus {
            code: CloseCode::ABNORMAL,
            reason,
            clean: false,
            locally_initiated,
        };
        self.events.push_back(Event::Closed(status.clone()));
        self.shut_down(status);
    }
}

/// Takes the first `len` bytes of `input` as a payload: copied if at most `copy_max` bytes (see
/// [`Config::copy_payload_max`]), else split off and handed out in place.
fn take_payload(input: &mut BytesMut, len: usize, copy_max: usize) -> Bytes {
    if len <= copy_max {
        let payload = Bytes::copy_from_slice(&input[..len]);
        input.advance(len);
        payload
    } else {
        input.split_to(len).freeze()
    }
}

/// Parses and checks the header at the start of `bytes`: the frame rules (the same check as
/// [`crate::frame::FrameDecoder`]'s), and for data frames the continuation rules and message
/// limits. Returns the new frame and the header's length.
#[inline]
fn begin_frame(
    rules: &FrameRules,
    assembler: &mut Assembler,
    bytes: &[u8],
) -> Result<Option<(InFrame, usize)>, ProtocolError> {
    let Some((header, header_len)) = rules.parse_header(bytes)? else {
        return Ok(None);
    };
    if header.opcode.is_control() {
        // Control frames are never compressed (RFC 7692 §6.1).
        if assembler.deflate() && header.rsv.contains(Rsv::RSV1) {
            return Err(ProtocolError::ReservedBits(Rsv::RSV1));
        }
    } else {
        assembler.frame_start(&header)?;
    }
    let remaining =
        usize::try_from(header.payload_len).map_err(|_| ProtocolError::FrameTooLarge {
            size: header.payload_len,
            limit: usize::MAX as u64,
        })?;
    Ok(Some((
        InFrame {
            header,
            remaining,
            unmasked: 0,
            offset: 0,
        },
        header_len,
    )))
}

/// Streaming: hands on the payload bytes of `frame` unmasked so far (at the front of `input`),
/// and puts the frame back in `slot` for the rest unless it is `done`.
fn take_arrived(
    input: &mut BytesMut,
    slot: &mut Option<InFrame>,
    mut frame: InFrame,
    done: bool,
) -> BytesMut {
    let data = input.split_to(frame.unmasked);
    frame.remaining -= frame.unmasked;
    frame.offset += frame.unmasked;
    frame.unmasked = 0;
    if !done {
        *slot = Some(frame);
    }
    data
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Decoded, FrameDecoder};
    use proptest::prelude::*;

    /// The errors a header alone can cause: the ones [`FrameRules::parse_header`] reports.
    fn header_error(error: &ProtocolError) -> bool {
        matches!(
            error,
            ProtocolError::ReservedOpcode(_)
                | ProtocolError::ReservedBits(_)
                | ProtocolError::LengthOverflow
                | ProtocolError::ControlFrameTooLong(_)
                | ProtocolError::FragmentedControlFrame
                | ProtocolError::UnmaskedFrame
                | ProtocolError::MaskedFrame
                | ProtocolError::FrameTooLarge { .. }
        )
    }

    /// The decoder's verdict on the first header of `chunks` (fed one after the other): the
    /// header, `None` if it never completes, or the error.
    fn decoder_verdict(
        decoder: &mut FrameDecoder,
        chunks: &[&[u8]],
    ) -> Result<Option<FrameHeader>, ProtocolError> {
        for chunk in chunks {
            let mut input = *chunk;
            loop {
                match decoder.decode(input)? {
                    (Some(Decoded::Frame(header, _) | Decoded::FrameStart(header)), _) => {
                        return Ok(Some(header))
                    }
                    (Some(other), _) => unreachable!("{other:?} before any header"),
                    (None, used) if used == 0 || used == input.len() => break,
                    (None, used) => input = &input[used..],
                }
            }
        }
        Ok(None)
    }

    /// The connection's first event for `chunks`, taking events after every read as a transport
    /// does.
    fn connection_verdict(conn: &mut Connection, chunks: &[&[u8]]) -> Option<Event> {
        for chunk in chunks {
            conn.receive_data(chunk);
            if let Some(event) = conn.next_event() {
                return Some(event);
            }
        }
        None
    }

    /// Bytes that reach every header rule often: a first byte that is as often plausible (a
    /// defined opcode, few RSV bits) as random, and extreme length bytes as often as random ones.
    fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
        let plausible = (
            any::<bool>(),
            prop_oneof![3 => Just(0u8), 1 => 0u8..8],
            proptest::sample::select(vec![0x0u8, 0x1, 0x2, 0x8, 0x9, 0xA]),
        )
            .prop_map(|(fin, rsv, opcode)| u8::from(fin) << 7 | rsv << 4 | opcode);
        let first = prop_oneof![3 => plausible, 1 => any::<u8>()];
        let byte = prop_oneof![
            any::<u8>(),
            Just(0x00),
            Just(0x7E),
            Just(0x7F),
            Just(0x80),
            Just(0xFF)
        ];
        (first, proptest::collection::vec(byte, 0..24)).prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// `FrameDecoder` and `Connection` run the same header check: whatever the bytes and
        /// however they are split, a header one refuses the other refuses with the same error
        /// (so the same close code), and one accepts what the other accepts.
        #[test]
        fn decoder_and_connection_agree_on_headers(
            bytes in wire_bytes(),
            split in any::<proptest::sample::Index>(),
            server in any::<bool>(),
            streaming in any::<bool>(),
            allowed_rsv in 0u8..8,
            max_frame_size in prop_oneof![Just(0u64), Just(1), Just(125), Just(126), Just(65_535), Just(65_536), Just(u64::MAX), any::<u64>()],
        ) {
            let role = if server { Role::Server } else { Role::Client };
            let config = Config::default()
                .limits(Limits::UNLIMITED.max_frame_size(max_frame_size))
                .receive_mode(if streaming { ReceiveMode::Streaming } else { ReceiveMode::Messages })
                .allowed_rsv(Rsv::from_bits(allowed_rsv));
            let mut conn = Connection::new(role, config);
            let mut decoder = FrameDecoder::with_rules(conn.rules);
            // Only the first frame: what the connection says about a later one is not in question.
            let mut bytes = bytes;
            if let Ok(Some((header, len))) = FrameHeader::parse(&bytes) {
                let end = (len as u64).saturating_add(header.payload_len);
                bytes.truncate(usize::try_from(end).unwrap_or(usize::MAX));
            }
            let (first, second) = bytes.split_at(split.index(bytes.len() + 1));
            let chunks = [first, second];

            let event = connection_verdict(&mut conn, &chunks);
            match decoder_verdict(&mut decoder, &chunks) {
                Err(error) => {
                    // The same error, hence the same close code (1002 or 1009).
                    prop_assert_eq!(event, Some(Event::Error(error)));
                    prop_assert_eq!(conn.state(), State::Failing);
                }
                Ok(None) => {
                    prop_assert_eq!(event, None);
                    prop_assert!(conn.needs_input());
                }
                Ok(Some(header)) => match event {
                    Some(Event::Error(error)) => prop_assert!(
                        !header_error(&error),
                        "the decoder accepted {:?}, the connection refused it: {:?}", header, error
                    ),
                    Some(Event::Ping(_)) => prop_assert_eq!(header.opcode, OpCode::Ping),
                    Some(Event::Pong(_)) => prop_assert_eq!(header.opcode, OpCode::Pong),
                    Some(Event::Closed(_)) => prop_assert_eq!(header.opcode, OpCode::Close),
                    Some(Event::Message(_) | Event::Chunk(_)) => {
                        prop_assert!(!header.opcode.is_control())
                    }
                    None => {}
                },
            }
        }
    }
}
