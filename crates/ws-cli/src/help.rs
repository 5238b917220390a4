//! The help texts: `ws --help`, `ws help serve`, `ws help connect`.

pub const HELP: &str = "\
ws: a WebSocket server and client on the command line.

USAGE:
    ws [-v]... [--threads N] <COMMAND> [OPTIONS]

COMMANDS:
    serve      Run a WebSocket server: echo, broadcast, or talk to clients from stdin
    connect    Connect to a WebSocket server and exchange messages through stdin/stdout
    help       Print this help, or a command's help: `ws help connect`

OPTIONS:
    -v, --verbose    Say more on stderr: -v adds the documented error codes and the
                     libraries' info events, -vv debug, -vvv trace; RUST_LOG, when set,
                     replaces the levels (e.g. RUST_LOG=ws_net=trace,warn)
        --threads N  Worker threads of the async runtime; 1 runs everything on the current
                     thread [default: the number of CPUs]
    -h, --help       Print help
    -V, --version    Print the version

Try: `ws serve` in one shell, `ws connect ws://127.0.0.1:9001/` in another.
";

pub const SERVE_HELP: &str = "\
Run a WebSocket server. Prints the URL it listens on, then one line per connect, close and
refused client (and per message with --print).

USAGE:
    ws serve [OPTIONS]

OPTIONS:
    -l, --listen ADDR          Address to listen on: IP:PORT ([::1]:PORT for IPv6), or a PORT
                               alone for loopback (127.0.0.1:PORT); port 0 picks a free one
                               [default: 127.0.0.1:9001]
    -m, --mode MODE            echo: send every message back to its sender;
                               broadcast: send every message to every client connected to the
                               same path (ws://HOST/room/x and /room/y are two rooms, / one
                               more), the sender included;
                               chat: print what clients send (as --print) and send each line
                               typed on stdin to every client [default: echo]
    -p, --print                Print every message received: `message ADDR TEXT`, binary as
                               `<binary N bytes: HEX...>`; control characters shown escaped
        --cert PEM             Serve wss:// with this certificate chain (needs --key)
        --key PEM              The private key of --cert
        --protocol P           Subprotocol to select when a client offers it
        --max-clients N        Most distinct client IP addresses at once [default: 256]
        --max-per-client N     Most connections from one IP address [default: 256]
                               (the library's defaults are 10 and 10; a shell tool is often
                               hit by many connections from 127.0.0.1)
        --ping-interval S      Ping every client every S seconds and drop those that do not
                               answer within S seconds [default: 0, off]
        --max-message-size BYTES
                               Largest message received, and sent back
                               [default: 67108864 (64 MiB) received, 5242864 sent]
        --deflate              Accept permessage-deflate compression from clients that offer it
                               (about 300 KiB per compressing connection) [default: off]
        --broker URL           With --mode broadcast: share the rooms with every ws serve that
                               uses this Redis (redis://HOST:PORT, redis://:PASSWORD@HOST:PORT),
                               so a message reaches the clients of its path on all of them.
                               While Redis is unreachable, messages reach this server's clients
                               only; it reconnects by itself [default: none]
        --threads N            Worker threads of the async runtime; 1 runs everything on the
                               current thread [default: the number of CPUs]
    -h, --help                 Print help

A client turned away (over a limit, not a WebSocket request, a failed TLS handshake) is shown
as `refused ADDR: WHY`. Ctrl-C (or SIGTERM) stops the server: every client gets a Close frame
with 1001. A message larger than the send limit (5,242,864 bytes unless --max-message-size says
more) is received but not sent back: its sender is closed with 1009.

Two instances sharing their rooms (e.g. behind a load balancer):
    ws serve -m broadcast -l 9001 --broker redis://127.0.0.1:6379
    ws serve -m broadcast -l 9002 --broker redis://127.0.0.1:6379
";

pub const CONNECT_HELP: &str = "\
Connect to a WebSocket server. Every line of stdin is sent as a text message and every message
received is printed to stdout, one per line (binary as its bytes with --binary, else as a
`<binary N bytes: HEX...>` line). At the end of stdin (or on Ctrl-C) the connection is closed
normally; the close code and reason are printed to stderr.

In a terminal, received messages are marked `< `, the lines you type `> `, and a line
starting with / is a command:
    /ping [TEXT]               Send a ping (with TEXT as its data); prints the round trip
    /close [CODE [REASON]]     Close with CODE (default: --close-code) and REASON, and exit
    /quit                      Close as at the end of input, and exit
    /help                      List the commands
    //TEXT                     Send the line /TEXT
Ctrl-D ends the input (even after a partially typed line, which is sent first).

USAGE:
    ws connect [OPTIONS] URL

ARGS:
    URL                        ws://HOST[:PORT][/PATH] or wss://...

OPTIONS:
    -H, --header 'NAME: VALUE' Add a request header (repeatable)
        --origin ORIGIN        Send this Origin header (e.g. https://example.com)
        --auth USER:PASS       HTTP Basic authentication (an Authorization header)
        --protocol P           Offer this subprotocol (or a comma-separated list)
        --ca PEM               Trust only this CA certificate (file or directory) for wss://;
                               a self-signed server certificate works as its own CA
        --cert PEM             Client certificate chain (needs --key)
        --key PEM              The private key of --cert
        --key-password X       Password of an encrypted --key
    -k, --insecure             Accept any server certificate (anyone on the path can
                               impersonate the server)
        --proxy P              An HTTP proxy URL (http://[user:pass@]host:port), `system`
                               (http_proxy/https_proxy/no_proxy) or `none` [default: system]
    -n, --no-close             Keep the connection when stdin ends: print messages until the
                               server closes it or Ctrl-C (to listen to a feed)
    -1                         Exit after the first message received (same as --count 1)
        --count N              Exit after N messages received: close normally and exit 0
        --close-code CODE      Close code sent when ws closes: 1000-1003, 1007-1014 or
                               3000-4999 [default: 1000]
        --close-reason TEXT    Close reason sent with it, at most 123 bytes [default: none]
        --reconnect            When the connection fails or the server closes it, connect again
                               after 1 s, doubling up to 30 s (back to 1 s once connected)
        --ping-interval S      Ping the server every S seconds, 0 = off [default: 30]
        --pong-timeout S       Give up on the server S seconds after an unanswered ping
                               [default: 30]
        --show-ping            Also send a ping of ws's own every --ping-interval seconds (1 s
                               when not given) and print each round-trip time to stderr
        --tls-min V            Lowest TLS version: 1.2 or 1.3 [default: 1.2]
        --max-message-size BYTES
                               Largest message received and sent
                               [default: 67108864 (64 MiB) received, 5242864 sent]
    -b, --binary               Send stdin as binary messages (one per read, at most 1 MiB) and
                               write received binary messages to stdout as raw bytes
        --deflate              Offer permessage-deflate compression [default: off]
        --threads N            Worker threads of the async runtime; 1 runs everything on the
                               current thread [default: the number of CPUs]
    -h, --help                 Print help

EXIT STATUS:
    0  --count was reached; or ws closed the connection (end of input, Ctrl-C, /close) and the
       server answered with the same code, 1000 or 1001; or the server closed it with 1000 (normal)
       or 1001 (going away)
    1  the connection failed, or closed with another code; stderr says why
    2  the command line is wrong
";
