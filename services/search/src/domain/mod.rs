//! Pure rules of search: the query language, phone numbers, text analysis, dates, the plan a
//! query becomes, highlighting and frequent questions. No index, no I/O.

pub mod conversation;
pub mod dates;
pub mod highlight;
pub mod phone;
pub mod plan;
pub mod query;
pub mod questions;
pub mod text;
