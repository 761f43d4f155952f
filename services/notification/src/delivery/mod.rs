//! Getting word out: live frames to agents' sockets, browser push, signed webhooks.

pub mod http;
pub mod webpush;
