//! What a rollup cell holds: counters and distributions, each named here once. A conversation
//! contributes [`Contribution`]s; a cell is the sum of the contributions that fall in it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::sketch::{Sketch, milli};

/// Things counted. The discriminant is the position in a stored cell: append, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Counter {
    NewConversations = 0,
    Resolutions = 1,
    Reopened = 2,
    CustomerMessages = 3,
    AgentMessages = 4,
    AiMessages = 5,
    Handled = 6,
    ResolvedConversations = 7,
    SurveysSent = 8,
    Csat1 = 9,
    Csat2 = 10,
    Csat3 = 11,
    Csat4 = 12,
    Csat5 = 13,
    SlaWarnings = 14,
    SlaBreaches = 15,
    SlaMet = 16,
    AiConversations = 17,
    AiResolvedWithoutPerson = 18,
    Handoffs = 19,
    HandoffLowConfidence = 20,
    HandoffCustomerAsked = 21,
    HandoffComplexIssue = 22,
    HandoffTakenOver = 23,
    HandoffOther = 24,
    /// AI messages with a confidence in [0, 0.1); the next nine follow by tenths.
    AiConfidence0 = 25,
    AiConfidence1 = 26,
    AiConfidence2 = 27,
    AiConfidence3 = 28,
    AiConfidence4 = 29,
    AiConfidence5 = 30,
    AiConfidence6 = 31,
    AiConfidence7 = 32,
    AiConfidence8 = 33,
    AiConfidence9 = 34,
    AiWithoutConfidence = 35,
}

impl Counter {
    pub const COUNT: usize = 36;

    pub const ALL: [Counter; Counter::COUNT] = {
        use Counter::*;
        [
            NewConversations,
            Resolutions,
            Reopened,
            CustomerMessages,
            AgentMessages,
            AiMessages,
            Handled,
            ResolvedConversations,
            SurveysSent,
            Csat1,
            Csat2,
            Csat3,
            Csat4,
            Csat5,
            SlaWarnings,
            SlaBreaches,
            SlaMet,
            AiConversations,
            AiResolvedWithoutPerson,
            Handoffs,
            HandoffLowConfidence,
            HandoffCustomerAsked,
            HandoffComplexIssue,
            HandoffTakenOver,
            HandoffOther,
            AiConfidence0,
            AiConfidence1,
            AiConfidence2,
            AiConfidence3,
            AiConfidence4,
            AiConfidence5,
            AiConfidence6,
            AiConfidence7,
            AiConfidence8,
            AiConfidence9,
            AiWithoutConfidence,
        ]
    };

    pub fn index(self) -> usize {
        self as usize
    }

    /// The CSAT counter of a score from 1 to 5.
    pub fn csat(score: u8) -> Option<Counter> {
        [Counter::Csat1, Counter::Csat2, Counter::Csat3, Counter::Csat4, Counter::Csat5]
            .get(usize::from(score).checked_sub(1)?)
            .copied()
    }

    /// The confidence bin of an AI message: tenths, 1.0 in the last.
    pub fn ai_confidence(confidence: Option<f32>) -> Counter {
        let Some(c) = confidence.filter(|c| c.is_finite()) else { return Counter::AiWithoutConfidence };
        let tenth = ((c.clamp(0.0, 1.0) * 10.0).floor() as usize).min(9);
        Counter::ALL[Counter::AiConfidence0.index() + tenth]
    }
}

/// Samples whose distribution is kept. Discriminants are positions: append, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Measure {
    /// Seconds.
    FirstResponse = 0,
    /// Seconds.
    NextResponse = 1,
    /// Seconds.
    Resolution = 2,
    /// Seconds.
    ActiveTime = 3,
    /// Messages.
    MessagesPerResolution = 4,
}

impl Measure {
    pub const COUNT: usize = 5;
    pub const ALL: [Measure; Measure::COUNT] = [
        Measure::FirstResponse,
        Measure::NextResponse,
        Measure::Resolution,
        Measure::ActiveTime,
        Measure::MessagesPerResolution,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A counter to add to, or a sample to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Count(Counter),
    /// The sample in thousandths of its unit (exact, comparable).
    Sample(Measure, i64),
}

impl Metric {
    pub fn sample(measure: Measure, value: f64) -> Metric {
        Metric::Sample(measure, milli(value))
    }
}

/// One thing a conversation contributes to the rollups: when (the bucket), what, and to
/// which agent and team besides the tenant and the conversation's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Contribution {
    pub at: DateTime<Utc>,
    pub metric: Metric,
    pub agent: Option<Uuid>,
    pub team: Option<Uuid>,
}

/// The figures of one cell (or of several merged): every counter and every distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    counters: Vec<i64>,
    sketches: Vec<Sketch>,
}

impl Figures {
    pub fn from_parts(counters: Vec<i64>, sketches: Vec<Sketch>) -> Self {
        Self { counters, sketches }
    }

    pub fn counters(&self) -> &[i64] {
        &self.counters
    }

    pub fn sketches(&self) -> &[Sketch] {
        &self.sketches
    }

    pub fn count(&self, counter: Counter) -> i64 {
        self.counters.get(counter.index()).copied().unwrap_or(0)
    }

    pub fn sketch(&self, measure: Measure) -> Sketch {
        self.sketches.get(measure.index()).cloned().unwrap_or_default()
    }

    fn counter_mut(&mut self, counter: Counter) -> &mut i64 {
        if self.counters.len() <= counter.index() {
            self.counters.resize(Counter::COUNT, 0);
        }
        &mut self.counters[counter.index()]
    }

    fn sketch_mut(&mut self, measure: Measure) -> &mut Sketch {
        if self.sketches.len() <= measure.index() {
            self.sketches.resize(Measure::COUNT, Sketch::default());
        }
        &mut self.sketches[measure.index()]
    }

    /// Adds a metric `times` times (negative to take it back).
    pub fn apply(&mut self, metric: Metric, times: i64) {
        match metric {
            Metric::Count(counter) => *self.counter_mut(counter) += times,
            Metric::Sample(measure, value_milli) => self.sketch_mut(measure).add(value_milli as f64 / 1000.0, times),
        }
    }

    /// Adds every figure of `other` `sign` times.
    pub fn merge(&mut self, other: &Figures, sign: i64) {
        for (i, c) in other.counters.iter().enumerate() {
            if *c != 0 {
                *self.counter_mut(Counter::ALL[i]) += c * sign;
            }
        }
        for (i, s) in other.sketches.iter().enumerate() {
            if !s.is_empty() {
                self.sketch_mut(Measure::ALL[i]).merge(s, sign);
            }
        }
    }

    /// No figure at all (a cell that may be deleted).
    pub fn is_empty(&self) -> bool {
        self.counters.iter().all(|c| *c == 0) && self.sketches.iter().all(Sketch::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_in_position_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.index(), i, "{c:?}");
        }
        for (i, m) in Measure::ALL.iter().enumerate() {
            assert_eq!(m.index(), i, "{m:?}");
        }
    }

    #[test]
    fn confidences_fall_in_tenths_and_one_is_in_the_last() {
        assert_eq!(Counter::ai_confidence(Some(0.0)), Counter::AiConfidence0);
        assert_eq!(Counter::ai_confidence(Some(0.42)), Counter::AiConfidence4);
        assert_eq!(Counter::ai_confidence(Some(0.99)), Counter::AiConfidence9);
        assert_eq!(Counter::ai_confidence(Some(1.0)), Counter::AiConfidence9);
        assert_eq!(Counter::ai_confidence(None), Counter::AiWithoutConfidence);
        assert_eq!(Counter::csat(0), None);
        assert_eq!(Counter::csat(5), Some(Counter::Csat5));
        assert_eq!(Counter::csat(6), None);
    }

    #[test]
    fn figures_applied_and_taken_back_are_empty_again() {
        let mut f = Figures::default();
        f.apply(Metric::Count(Counter::Resolutions), 1);
        f.apply(Metric::sample(Measure::Resolution, 120.0), 1);
        assert_eq!(f.count(Counter::Resolutions), 1);
        assert_eq!(f.sketch(Measure::Resolution).count, 1);
        let copy = f.clone();
        f.merge(&copy, -1);
        assert!(f.is_empty());
    }
}
