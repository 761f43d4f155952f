//! Meta WhatsApp Cloud API: webhook signatures, payload shapes, normalisation.

pub mod normalise;
pub mod payload;
pub mod signature;
