//! Getting word out: live frames to agents' sockets, browser push, signed webhooks.

pub mod http;
pub mod live;
pub mod push;
pub mod webhooks;
pub mod webpush;
