//! HTTP CONNECT proxies: configuration, the environment, exclusion lists and the tunnel.
