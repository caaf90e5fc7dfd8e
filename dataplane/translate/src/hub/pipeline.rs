//! The two halves of every translation and the pipeline joining them: a provider's
//! [`Decoder`] turns the upstream's bytes into hub [`Event`]s, a client protocol's
//! [`Encoder`] turns the events into the client's bytes. N decoders and M encoders make
//! every N × M pair; no pair has code of its own.

use bytes::{Bytes, BytesMut};

use super::event::Event;
use crate::{StreamTranslator, UpstreamError, Usage};

/// Receives the events a [`Decoder`] produces.
pub trait Sink {
    /// One event, borrowed from the decoder's input or scratch space for the call only.
    fn event(&mut self, ev: Event<'_>);
}

/// Decodes one upstream answer (streamed: SSE or a JSON array; or one whole body) of one
/// provider protocol into hub events.
///
/// Memory is bounded per answer whatever its length: an event is parsed from at most one
/// SSE frame (capped) and only per-block state is kept between frames.
pub trait Decoder: Send {
    /// Feeds bytes exactly as received (any boundary). `Err` when the upstream signals an
    /// error (an error event or object) or the bytes are not its protocol; after an `Err`
    /// the decoder is not fed again.
    fn feed(&mut self, chunk: &[u8], sink: &mut dyn Sink) -> Result<(), UpstreamError>;

    /// The upstream body ended. `Err` when it ended without its protocol's proper end
    /// (a cut stream, a truncated body), so the client never sees a silent clean end.
    fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), UpstreamError>;
}

/// Encodes hub events as one client protocol's answer (streamed or whole).
pub trait Encoder: Send {
    /// One event; streamed encoders append the client's bytes to `out` at once, whole
    /// encoders keep what they need until [`Encoder::finish`].
    fn event(&mut self, ev: Event<'_>, out: &mut BytesMut);

    /// The answer is complete: streamed encoders write the stream's end (`[DONE]`,
    /// `message_stop`, `response.completed`, …), whole encoders write the body.
    fn finish(&mut self, out: &mut BytesMut);

    /// The upstream failed after the stream started: write the protocol's in-stream error
    /// event (never a silent clean end).
    fn error(&mut self, err: &UpstreamError, out: &mut BytesMut);
}

/// Forwards events to an encoder, keeping the running usage.
struct Forward<'a> {
    encoder: &'a mut dyn Encoder,
    out: &'a mut BytesMut,
    usage: &'a mut Option<Usage>,
}

impl Sink for Forward<'_> {
    fn event(&mut self, ev: Event<'_>) {
        if let Event::Usage(u) = ev {
            *self.usage = Some(u);
        }
        self.encoder.event(ev, self.out);
    }
}

/// Keeps only the usage (and whether the answer stopped) of the events it sees.
struct Watch<'a> {
    usage: &'a mut Option<Usage>,
    stopped: &'a mut bool,
}

impl Sink for Watch<'_> {
    fn event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Usage(u) => *self.usage = Some(u),
            Event::Stop { .. } => *self.stopped = true,
            _ => {}
        }
    }
}

/// An upstream answer of one protocol translated into a client's protocol: a decoder and
/// an encoder joined by the hub events.
pub struct Translator {
    decoder: Box<dyn Decoder>,
    encoder: Box<dyn Encoder>,
    usage: Option<Usage>,
    failed: Option<UpstreamError>,
}

impl Translator {
    /// Joins a decoder and an encoder.
    pub fn new(decoder: Box<dyn Decoder>, encoder: Box<dyn Encoder>) -> Self {
        Self {
            decoder,
            encoder,
            usage: None,
            failed: None,
        }
    }

    /// Translates a whole (non-streamed) answer body; the translator must have been made
    /// for a whole answer.
    pub fn whole(mut self, body: &[u8]) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
        let mut out = BytesMut::new();
        self.feed_slice(body, &mut out)?;
        StreamTranslator::finish(&mut self, &mut out)?;
        Ok((out.to_vec(), self.usage))
    }

    /// Writes the client protocol's in-stream error event for `err`.
    pub fn write_error(&mut self, err: &UpstreamError, out: &mut BytesMut) {
        self.encoder.error(err, out);
    }

    fn feed_slice(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut sink = Forward {
            encoder: self.encoder.as_mut(),
            out,
            usage: &mut self.usage,
        };
        let result = self.decoder.feed(chunk, &mut sink);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }
}

impl StreamTranslator for Translator {
    fn feed(&mut self, chunk: Bytes, out: &mut BytesMut) -> Result<(), UpstreamError> {
        self.feed_slice(&chunk, out)
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut sink = Forward {
            encoder: self.encoder.as_mut(),
            out,
            usage: &mut self.usage,
        };
        if let Err(e) = self.decoder.finish(&mut sink) {
            self.failed = Some(e.clone());
            return Err(e);
        }
        self.encoder.finish(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// Watches an answer that passes to the client untouched (same protocol both sides): the
/// protocol's decoder reads it for usage and for a proper end; nothing is written.
pub struct Observer {
    decoder: Box<dyn Decoder>,
    usage: Option<Usage>,
    stopped: bool,
    failed: Option<UpstreamError>,
}

impl Observer {
    /// Watches with `decoder`.
    pub fn new(decoder: Box<dyn Decoder>) -> Self {
        Self {
            decoder,
            usage: None,
            stopped: false,
            failed: None,
        }
    }

    /// Reads one chunk. `Err` when the upstream signalled an error in-stream (its bytes
    /// are already in the client's protocol) or sent bytes that are not its protocol.
    pub fn observe(&mut self, chunk: &[u8]) -> Result<(), UpstreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut sink = Watch {
            usage: &mut self.usage,
            stopped: &mut self.stopped,
        };
        let result = self.decoder.feed(chunk, &mut sink);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// The answer ended. `Err` when it ended without its protocol's proper end.
    pub fn finish(&mut self) -> Result<(), UpstreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut sink = Watch {
            usage: &mut self.usage,
            stopped: &mut self.stopped,
        };
        let result = self.decoder.finish(&mut sink);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
