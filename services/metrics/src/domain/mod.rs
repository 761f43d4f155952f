//! The metrics' definitions (docs/metrics.md) as pure functions: timelines, what they
//! contribute, where contributions land, sketches, CSAT ratings. No I/O.

pub mod buckets;
pub mod csat;
pub mod fact;
pub mod figures;
pub mod fold;
pub mod live;
pub mod sketch;
pub mod timeline;
