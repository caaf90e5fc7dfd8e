//! Inputs shared by the benches (not a bench target itself: Cargo only discovers
//! `benches/*.rs` and `benches/*/main.rs`).

pub mod bodies;
