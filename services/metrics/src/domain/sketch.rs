//! A DDSketch (Masson, Rim, Lee: "DDSketch: a fast and fully-mergeable quantile sketch with
//! relative-error guarantees", VLDB 2019): samples are counted in logarithmic bins, so every
//! quantile it answers is within 1 % of a true sample value, whatever the distribution.
//!
//! Bins hold signed counts, so sketches add *and subtract* exactly: a conversation whose
//! timeline changed takes back what it contributed and adds what it contributes now, and the
//! rollup stays what a recount from scratch would give.

/// Relative accuracy of every quantile.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Samples below this (a thousandth of the unit) count as zero.
pub const MIN_VALUE: f64 = 0.001;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// The bin of a positive value at or above [`MIN_VALUE`].
fn bin_of(value: f64) -> i32 {
    (value.ln() / gamma().ln()).ceil() as i32
}

/// The value a bin stands for: within [`RELATIVE_ACCURACY`] of every value counted in it.
fn value_of(bin: i32) -> f64 {
    let g = gamma();
    2.0 * g.powi(bin) / (g + 1.0)
}

/// A mergeable quantile sketch with an exact count and sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    /// Samples counted.
    pub count: i64,
    /// Sum of the samples in thousandths of the unit (exact under adding and taking back).
    pub sum_milli: i64,
    /// Samples below [`MIN_VALUE`].
    pub zero: i64,
    /// Bin of `bins[0]`.
    pub offset: i32,
    /// Counts of consecutive bins from `offset`; no zero at either end.
    pub bins: Vec<i64>,
}

impl Sketch {
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.zero == 0 && self.bins.is_empty() && self.sum_milli == 0
    }

    /// Counts `value` `times` times (a negative `times` takes samples back).
    pub fn add(&mut self, value: f64, times: i64) {
        let value = if value.is_finite() { value.max(0.0) } else { 0.0 };
        self.count += times;
        self.sum_milli += milli(value) * times;
        if value < MIN_VALUE {
            self.zero += times;
            return;
        }
        self.add_to_bin(bin_of(value), times);
        self.trim();
    }

    fn add_to_bin(&mut self, bin: i32, times: i64) {
        if self.bins.is_empty() {
            self.offset = bin;
            self.bins.push(times);
            return;
        }
        if bin < self.offset {
            let grow = (self.offset - bin) as usize;
            self.bins.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = bin;
        }
        let index = (bin - self.offset) as usize;
        if index >= self.bins.len() {
            self.bins.resize(index + 1, 0);
        }
        self.bins[index] += times;
    }

    fn trim(&mut self) {
        while self.bins.last() == Some(&0) {
            self.bins.pop();
        }
        let leading = self.bins.iter().take_while(|c| **c == 0).count();
        if leading > 0 {
            self.bins.drain(..leading);
            self.offset += leading as i32;
        }
        if self.bins.is_empty() {
            self.offset = 0;
        }
    }

    /// Adds every sample of `other` `sign` times (1 merges, -1 takes them back).
    pub fn merge(&mut self, other: &Sketch, sign: i64) {
        self.count += other.count * sign;
        self.sum_milli += other.sum_milli * sign;
        self.zero += other.zero * sign;
        for (i, c) in other.bins.iter().enumerate() {
            if *c != 0 {
                self.add_to_bin(other.offset + i as i32, c * sign);
            }
        }
        self.trim();
    }

    pub fn mean(&self) -> f64 {
        if self.count <= 0 { 0.0 } else { self.sum_milli as f64 / 1000.0 / self.count as f64 }
    }

    /// The `q` quantile (0..=1): the lower of the two middle samples for an even count, as
    /// PostgreSQL's `percentile_disc` answers. 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count <= 0 {
            return 0.0;
        }
        let rank = (q.clamp(0.0, 1.0) * self.count as f64).ceil().max(1.0) as i64;
        let mut seen = self.zero;
        if seen >= rank {
            return 0.0;
        }
        for (i, c) in self.bins.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value_of(self.offset + i as i32);
            }
        }
        self.max()
    }

    /// The largest sample, within the sketch's accuracy.
    pub fn max(&self) -> f64 {
        if self.bins.is_empty() { 0.0 } else { value_of(self.offset + self.bins.len() as i32 - 1) }
    }
}

/// `value` in thousandths, rounded.
pub fn milli(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(estimate: f64, truth: f64) -> bool {
        (estimate - truth).abs() <= truth * RELATIVE_ACCURACY + 1e-9
    }

    #[test]
    fn quantiles_are_within_one_percent_of_the_true_sample() {
        let mut sketch = Sketch::default();
        // 1 s .. 10 000 s, spread over four decades.
        let samples: Vec<f64> = (1..=10_000).map(|i| (i as f64).powf(1.0) * 1.0).collect();
        for s in &samples {
            sketch.add(*s, 1);
        }
        for q in [0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
            let rank = ((q * samples.len() as f64).ceil() as usize).max(1);
            let truth = samples[rank - 1];
            assert!(close(sketch.quantile(q), truth), "q{q}: {} vs {truth}", sketch.quantile(q));
        }
        assert_eq!(sketch.count, 10_000);
        assert!((sketch.mean() - 5000.5).abs() < 1e-9);
        assert!(close(sketch.max(), 10_000.0));
    }

    #[test]
    fn taking_samples_back_leaves_exactly_the_sketch_of_the_rest() {
        let mut all = Sketch::default();
        let mut rest = Sketch::default();
        for v in [0.0, 0.5, 3.0, 60.0, 3600.0, 86_400.0] {
            all.add(v, 1);
        }
        for v in [0.5, 60.0] {
            rest.add(v, 1);
        }
        for v in [0.0, 3.0, 3600.0, 86_400.0] {
            all.add(v, -1);
        }
        assert_eq!(all, rest);
        let mut merged = rest.clone();
        merged.merge(&rest, 1);
        merged.merge(&rest, -1);
        assert_eq!(merged, rest);
        merged.merge(&rest, -1);
        assert!(merged.is_empty(), "{merged:?}");
    }

    #[test]
    fn zero_and_tiny_samples_count_as_zero_and_an_empty_sketch_answers_zero() {
        let mut sketch = Sketch::default();
        assert_eq!(sketch.quantile(0.5), 0.0);
        sketch.add(0.0, 2);
        sketch.add(0.0004, 1);
        sketch.add(10.0, 1);
        assert_eq!(sketch.quantile(0.5), 0.0);
        assert!(close(sketch.quantile(1.0), 10.0));
        assert_eq!(sketch.zero, 3);
    }

    #[test]
    fn merging_equals_counting_everything_in_one_sketch() {
        let (mut a, mut b, mut both) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..500 {
            let v = 1.5f64.powi(i % 40);
            if i % 3 == 0 {
                a.add(v, 1)
            } else {
                b.add(v, 1)
            }
            both.add(v, 1);
        }
        a.merge(&b, 1);
        assert_eq!(a, both);
    }
}
