//! TLS with rustls: client and server configuration from PEM files, and precise errors.
