//! Support for `tests/e2e_attacks.rs`: a raw HTTP client that can send anything, the data
#![allow(dead_code)]
//! plane under attack (process, log, RSS, metrics), and the corpus of malformed requests.

pub mod corpus;
pub mod dataplane;
pub mod http;
