//! Percentiles over recorded samples (nearest rank, microseconds).

use serde::Serialize;

/// Summary of a set of durations in microseconds.
#[derive(Serialize, Default, Clone, Debug)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Percentiles and extremes, µs.
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub min_us: u64,
    pub mean_us: u64,
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises `samples` (sorted in place).
pub fn summarize(samples: &mut [u64]) -> Summary {
    samples.sort_unstable();
    if samples.is_empty() {
        return Summary::default();
    }
    Summary {
        n: samples.len(),
        p50_us: percentile(samples, 50.0),
        p90_us: percentile(samples, 90.0),
        p99_us: percentile(samples, 99.0),
        max_us: *samples.last().unwrap_or(&0),
        min_us: samples[0],
        mean_us: samples.iter().sum::<u64>() / samples.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = summarize(&mut v);
        assert_eq!(
            (s.p50_us, s.p90_us, s.p99_us, s.max_us, s.min_us),
            (50, 90, 99, 100, 1)
        );
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(summarize(&mut []).n, 0);
    }
}
