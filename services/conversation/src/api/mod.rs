//! The gRPC API: translation between protobuf and the store, nothing more.

mod customers;
mod error;
mod export;
mod filters;
mod grpc;
mod request;
mod scope;
mod templates;

pub use customers::CustomersApi;
pub use export::{ExportsApi, MAX_EXPORTS_AT_ONCE};
pub use grpc::ConversationsApi;
pub use templates::TemplatesApi;
