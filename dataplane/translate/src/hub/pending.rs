//! Placeholders for adapters not written yet (removed once every protocol has its own).

use bytes::BytesMut;

use super::request::{HubRequest, Ingress};
use super::{Decoder, Encoder, Event, Sink};
use crate::openai::RequestLimits;
use crate::{TranslateError, UpstreamError};

/// A decoder that refuses every answer.
pub(crate) struct PendingDecoder;

impl Decoder for PendingDecoder {
    fn feed(&mut self, _: &[u8], _: &mut dyn Sink) -> Result<(), UpstreamError> {
        Err(UpstreamError::new(501, "server_error", "not implemented"))
    }
    fn finish(&mut self, _: &mut dyn Sink) -> Result<(), UpstreamError> {
        Err(UpstreamError::new(501, "server_error", "not implemented"))
    }
}

/// An encoder that writes nothing.
pub(crate) struct PendingEncoder;

impl Encoder for PendingEncoder {
    fn event(&mut self, _: Event<'_>, _: &mut BytesMut) {}
    fn finish(&mut self, _: &mut BytesMut) {}
    fn error(&mut self, _: &UpstreamError, _: &mut BytesMut) {}
}

pub(crate) fn parse(_: &[u8], _: &RequestLimits) -> Result<Ingress, TranslateError> {
    Err(TranslateError::body("this surface is not implemented yet"))
}

pub(crate) fn build(_: &HubRequest, _: &str) -> Result<Vec<u8>, TranslateError> {
    Err(TranslateError::body(
        "this provider protocol is not implemented yet",
    ))
}
