//! `chat.completion.chunk` and `usage` writers shared by the translators.

use bytes::BytesMut;

use crate::json_out;
use crate::Usage;

/// Delta key for answer text.
pub(crate) const CONTENT: &[u8] = b"\"content\":";
/// Delta key for reasoning/thinking text.
pub(crate) const REASONING: &[u8] = b"\"reasoning_content\":";

/// Writes `chat.completion.chunk` events for one stream; the constant head of every chunk
/// (`id`, `object`, `created`, `model`) is rendered once so each chunk costs only copies.
#[derive(Debug, Default)]
pub(crate) struct ChunkWriter {
    head: Vec<u8>,
    /// `head` plus the opening of choice 0's delta, the common case, in one copy.
    head0: Vec<u8>,
}

impl ChunkWriter {
    /// Render the constant chunk head.
    pub(crate) fn new(id: &[u8], created: u64, model: &str) -> Self {
        let mut head = Vec::with_capacity(96 + id.len() + model.len());
        head.extend_from_slice(b"data: {\"id\":");
        json_out::string(&mut head, id);
        head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        json_out::uint(&mut head, created);
        head.extend_from_slice(b",\"model\":");
        json_out::string(&mut head, model.as_bytes());
        head.extend_from_slice(b",\"choices\":[");
        let mut head0 = head.clone();
        head0.extend_from_slice(b"{\"index\":0,\"delta\":{");
        Self { head, head0 }
    }

    /// Start a choice: everything up to and including `"delta":{`.
    pub(crate) fn begin(&self, out: &mut BytesMut, choice: u32) {
        if choice == 0 {
            out.extend_from_slice(&self.head0);
            return;
        }
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"{\"index\":");
        json_out::uint(out, u64::from(choice));
        out.extend_from_slice(b",\"delta\":{");
    }

    /// Close the delta and the chunk, with an optional finish reason.
    pub(crate) fn end(out: &mut BytesMut, finish_reason: Option<&str>) {
        match finish_reason {
            Some(reason) => {
                out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(b"\"}]}\n\n");
            }
            None => out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"),
        }
    }

    /// A chunk whose delta carries only the assistant role (the first chunk of a choice).
    pub(crate) fn role(&self, out: &mut BytesMut, choice: u32) {
        self.begin(out, choice);
        out.extend_from_slice(b"\"role\":\"assistant\",\"content\":\"\"");
        Self::end(out, None);
    }

    /// A chunk with a delta field (`key` is the quoted key and colon, e.g. [`CONTENT`])
    /// set to a raw JSON string literal (already escaped).
    pub(crate) fn raw_text(&self, out: &mut BytesMut, choice: u32, key: &[u8], raw: &[u8]) {
        self.begin(out, choice);
        out.extend_from_slice(key);
        out.extend_from_slice(raw);
        Self::end(out, None);
    }

    /// The opening `delta.tool_calls` entry: id, type, name and empty arguments.
    pub(crate) fn tool_start(
        &self,
        out: &mut BytesMut,
        choice: u32,
        index: u32,
        id: &mut dyn FnMut(&mut BytesMut),
        name: &[u8],
    ) {
        self.begin(out, choice);
        out.extend_from_slice(b"\"tool_calls\":[{\"index\":");
        json_out::uint(out, u64::from(index));
        out.extend_from_slice(b",\"id\":\"");
        id(out);
        out.extend_from_slice(b"\",\"type\":\"function\",\"function\":{\"name\":");
        json_out::string(out, name);
        out.extend_from_slice(b",\"arguments\":\"\"}}]");
        Self::end(out, None);
    }

    /// An argument fragment given as a raw JSON string literal (already escaped).
    pub(crate) fn tool_args_raw(&self, out: &mut BytesMut, choice: u32, index: u32, raw: &[u8]) {
        self.tool_args_begin(out, choice, index);
        out.extend_from_slice(raw);
        Self::tool_args_end(out);
    }

    /// An argument fragment given as JSON text to be embedded as a string.
    pub(crate) fn tool_args_json(&self, out: &mut BytesMut, choice: u32, index: u32, json: &[u8]) {
        self.tool_args_begin(out, choice, index);
        json_out::string(out, json);
        Self::tool_args_end(out);
    }

    pub(crate) fn tool_args_begin(&self, out: &mut BytesMut, choice: u32, index: u32) {
        self.begin(out, choice);
        out.extend_from_slice(b"\"tool_calls\":[{\"index\":");
        json_out::uint(out, u64::from(index));
        out.extend_from_slice(b",\"function\":{\"arguments\":");
    }

    pub(crate) fn tool_args_end(out: &mut BytesMut) {
        out.extend_from_slice(b"}}]");
        Self::end(out, None);
    }

    /// A chunk with an empty delta and a finish reason.
    pub(crate) fn finish(&self, out: &mut BytesMut, choice: u32, reason: &str) {
        self.begin(out, choice);
        Self::end(out, Some(reason));
    }

    /// The usage-only chunk OpenAI sends last when `stream_options.include_usage` is set.
    pub(crate) fn usage(&self, out: &mut BytesMut, usage: &Usage) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"],\"usage\":");
        write_usage(out, usage);
        out.extend_from_slice(b"}\n\n");
    }

    /// The terminating `data: [DONE]` event.
    pub(crate) fn done(out: &mut BytesMut) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

/// Write an OpenAI `usage` object.
pub(crate) fn write_usage<B: bytes::BufMut>(out: &mut B, u: &Usage) {
    out.put_slice(b"{\"prompt_tokens\":");
    json_out::uint(out, u.prompt_tokens);
    out.put_slice(b",\"completion_tokens\":");
    json_out::uint(out, u.completion_tokens);
    out.put_slice(b",\"total_tokens\":");
    json_out::uint(out, u.total_tokens);
    out.put_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
    json_out::uint(out, u.cached_tokens);
    out.put_slice(b"},\"completion_tokens_details\":{\"reasoning_tokens\":");
    json_out::uint(out, u.reasoning_tokens);
    out.put_slice(b"}}");
}
