//! Anthropic usage (`message_start` plus cumulative `message_delta`s) in hub terms.

use super::wire::WireUsage;
use crate::Usage;

/// Running usage, merged from `message_start` and the cumulative `message_delta`s: a count
/// present in a later event replaces the earlier one.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct UsageAcc {
    input: u64,
    output: u64,
    cache_creation: u64,
    cache_read: u64,
}

impl UsageAcc {
    pub(super) fn merge(&mut self, u: &WireUsage) {
        if let Some(v) = u.input_tokens {
            self.input = v;
        }
        if let Some(v) = u.output_tokens {
            self.output = v;
        }
        if let Some(v) = u.cache_creation_input_tokens {
            self.cache_creation = v;
        }
        if let Some(v) = u.cache_read_input_tokens {
            self.cache_read = v;
        }
    }

    /// The running total, OpenAI-normalised: cache reads and writes are part of the prompt.
    pub(super) fn usage(&self) -> Usage {
        // Saturating: the counts come from the network.
        let prompt = self
            .input
            .saturating_add(self.cache_creation)
            .saturating_add(self.cache_read);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt.saturating_add(self.output),
            cached_tokens: self.cache_read,
            reasoning_tokens: 0,
            cache_write_tokens: self.cache_creation,
        }
    }
}
