//! A fixed-bin histogram of health-check latencies, kept per roll-up (a
//! part's minute, hour or day), from which the console reads p50 and p95.
//!
//! **Bins** (milliseconds, a check's latency truncated to whole ms): one
//! bin per value below 8 ms (`0`, `1`, …, `7`), then four equal bins per
//! power of two from 8 ms: `[8, 10)`, `[10, 12)`, `[12, 14)`, `[14, 16)`,
//! `[16, 20)`, … `[458 752, 524 288)`; a latency of 524 288 ms or more
//! (beyond any check timeout) counts in the last bin. 72 bins in all; a
//! bin is stored only once a check falls in it.
//!
//! **Percentiles** are nearest-rank (p95 of 100 checks is the 95th
//! smallest), estimated by spreading a bin's checks evenly over its values.
//! **Error bound:** the estimate lies in the same bin as the true value,
//! and a bin's largest value is less than 1.25 × its smallest, so the
//! estimate is exact below 8 ms and otherwise off by less than 25% of the
//! true value (less than 12.5% of it on average over a bin; in practice
//! much less, as checks spread over neighbouring bins).

/// Values below this many ms have a bin each.
const EXACT: u64 = 8;
/// Bins per power of two from [`EXACT`].
const PER_OCTAVE: u64 = 4;
/// Powers of two covered after the exact bins: `[8, 2^19)` ms.
const OCTAVES: u64 = 16;
/// Number of bins.
pub const BINS: usize = (EXACT + PER_OCTAVE * OCTAVES) as usize;

/// The bin of a latency of `ms` milliseconds.
pub fn bin_of(ms: u64) -> usize {
    if ms < EXACT {
        return ms as usize;
    }
    // 8 = 2^3: octave 0 starts at 8 ms.
    let octave = u64::from(63 - ms.leading_zeros()) - 3;
    if octave >= OCTAVES {
        return BINS - 1;
    }
    let width = (EXACT << octave) / PER_OCTAVE;
    let sub = (ms - (EXACT << octave)) / width;
    (EXACT + octave * PER_OCTAVE + sub) as usize
}

/// The values of bin `bin`: `[lo, hi)` in ms.
pub fn bin_bounds(bin: usize) -> (u64, u64) {
    let b = bin.min(BINS - 1) as u64;
    if b < EXACT {
        return (b, b + 1);
    }
    let (octave, sub) = ((b - EXACT) / PER_OCTAVE, (b - EXACT) % PER_OCTAVE);
    let width = (EXACT << octave) / PER_OCTAVE;
    let lo = (EXACT << octave) + sub * width;
    (lo, lo + width)
}

/// Checks counted per latency bin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; BINS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram { counts: [0; BINS] }
    }
}

impl LatencyHistogram {
    /// Counts one check of `ms` milliseconds.
    pub fn record(&mut self, ms: u64) {
        self.counts[bin_of(ms)] += 1;
    }

    /// Adds `count` checks to bin `bin` (as a store reads them back); a bin
    /// out of range is ignored.
    pub fn add(&mut self, bin: usize, count: u64) {
        if let Some(c) = self.counts.get_mut(bin) {
            *c = c.saturating_add(count);
        }
    }

    /// Adds every count of `other` (the histogram of a longer period).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// The checks counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bins holding checks, as `(bin, count)`.
    pub fn bins(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| (b, *c))
    }

    /// The `q`-quantile (`0.5` for p50, `0.95` for p95) in ms, within the
    /// error bound of the module; `None` without checks.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        let n = self.total();
        if n == 0 {
            return None;
        }
        // Nearest rank, 1-based.
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
        let mut below = 0;
        for (bin, count) in self.bins() {
            if below + count >= rank {
                let (lo, hi) = bin_bounds(bin);
                // The checks of a bin spread evenly over its values
                // `lo..=hi-1`: the r-th of c sits at the middle of its share.
                let r = (rank - below) as f64;
                let spread = (hi - 1 - lo) as f64 * (r - 0.5) / count as f64;
                return Some(lo + spread.round() as u64);
            }
            below += count;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The true nearest-rank quantile of sorted `values`.
    fn exact(values: &[u64], q: f64) -> u64 {
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    }

    fn histogram(values: &[u64]) -> LatencyHistogram {
        let mut h = LatencyHistogram::default();
        for v in values {
            h.record(*v);
        }
        h
    }

    #[test]
    fn bins_tile_the_values_without_gaps_and_stay_narrow() {
        assert_eq!(BINS, 72);
        let mut next = 0;
        for bin in 0..BINS {
            let (lo, hi) = bin_bounds(bin);
            assert_eq!(lo, next, "bin {bin} starts where the previous ended");
            assert!(hi > lo);
            if lo >= EXACT {
                assert!(hi * 4 <= lo * 5, "bin {bin} [{lo}, {hi}) under 1.25×");
            }
            assert_eq!(bin_of(lo), bin, "{lo}");
            assert_eq!(bin_of(hi - 1), bin, "{}", hi - 1);
            next = hi;
        }
        assert_eq!(next, 524_288);
        assert_eq!(bin_of(524_288), BINS - 1, "beyond the last bin: the last");
        assert_eq!(bin_of(u64::MAX), BINS - 1);
        assert_eq!(bin_bounds(8), (8, 10));
        assert_eq!(bin_bounds(12), (16, 20));
    }

    #[test]
    fn small_latencies_are_exact() {
        let h = histogram(&[1, 2, 2, 3, 3, 3, 7, 7, 7, 7]);
        assert_eq!(h.percentile(0.5), Some(3));
        assert_eq!(h.percentile(0.95), Some(7));
        assert_eq!(h.percentile(0.0), Some(1));
        assert_eq!(h.percentile(1.0), Some(7));
        assert_eq!(LatencyHistogram::default().percentile(0.5), None);
    }

    #[test]
    fn a_uniform_distribution_reads_close_to_its_quantiles() {
        // 1..=1000 ms once each: p50 is 500 ms, p95 950 ms.
        let values: Vec<u64> = (1..=1000).collect();
        let h = histogram(&values);
        assert_eq!(h.total(), 1000);
        let p50 = h.percentile(0.5).unwrap();
        let p95 = h.percentile(0.95).unwrap();
        assert!((495..=505).contains(&p50), "p50 {p50}");
        assert!((940..=965).contains(&p95), "p95 {p95}");
    }

    #[test]
    fn every_quantile_of_a_skewed_distribution_is_within_the_bound() {
        // A long-tailed, deterministic distribution: most checks near
        // 40 ms, a tail to seconds (x³ spreads them).
        let mut values: Vec<u64> = (0..5000u64)
            .map(|i| {
                let x = i as f64 / 5000.0;
                (30.0 + 3000.0 * x * x * x) as u64
            })
            .collect();
        values.sort_unstable();
        let h = histogram(&values);
        for q in [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999] {
            let (est, want) = (h.percentile(q).unwrap(), exact(&values, q));
            let err = (est as f64 - want as f64).abs() / want as f64;
            assert!(err < 0.25, "q {q}: {est} for {want} ({err:.3})");
            assert_eq!(
                bin_of(est),
                bin_of(want),
                "q {q}: the estimate stays in the true value's bin"
            );
        }
        // The p50 of this distribution sits in a busy bin: close.
        let (p50, want) = (h.percentile(0.5).unwrap(), exact(&values, 0.5));
        assert!(p50.abs_diff(want) <= 2, "p50 {p50} for {want}");
    }

    #[test]
    fn merged_histograms_count_both_periods() {
        let (a, b) = (histogram(&[10, 20, 30]), histogram(&[1000, 2000]));
        let mut all = a.clone();
        all.merge(&b);
        assert_eq!(all.total(), 5);
        assert_eq!(all.percentile(0.5), a.percentile(1.0));
        let mut read = LatencyHistogram::default();
        for (bin, count) in all.bins() {
            read.add(bin, count);
        }
        read.add(BINS, 5);
        assert_eq!(read, all, "bins read back make the same histogram");
    }
}
