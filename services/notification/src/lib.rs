pub mod config;
pub mod delivery;
pub mod domain;
pub mod proto;
pub mod store;
pub use config::Settings;
