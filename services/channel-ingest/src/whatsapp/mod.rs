//! Meta WhatsApp Cloud API: webhook signatures, payload shapes, normalisation, the Graph API
//! client and outbound request bodies.

pub mod graph;
pub mod normalise;
pub mod outbound;
pub mod payload;
pub mod signature;
