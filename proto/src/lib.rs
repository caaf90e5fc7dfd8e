//! Generated gRPC types and services for the Sluice config protocol
//! (`proto/sluice/config/v1/config.proto`).
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::all)]

/// `sluice.config.v1`: snapshots down, ACK/NACK, health and usage up.
pub mod config {
    /// Version 1 of the protocol.
    pub mod v1 {
        tonic::include_proto!("sluice.config.v1");
    }
}

pub use config::v1::*;
