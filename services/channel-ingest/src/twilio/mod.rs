//! Twilio Programmable Voice: callback signatures, the voice configuration of a number, the
//! TwiML we answer with, and callbacks normalised into call items.

pub mod callback;
pub mod rest;
pub mod signature;
pub mod twiml;
pub mod voice_config;
