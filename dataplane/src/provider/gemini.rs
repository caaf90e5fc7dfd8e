//! Gemini generateContent: the model and the streaming method are chosen by the URL
//! (`alt=sse` for streams); requests, answers and errors go through the hub.

/// Path (naming the model and the streaming method) under the API root.
pub(super) fn path(model: &str, stream: bool) -> String {
    sluice_translate::gemini::path(model, stream)
}
