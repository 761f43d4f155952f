//! The gRPC API: translation between protobuf and the store, nothing more.

mod export;
mod filters;
mod grpc;
mod templates;

pub use export::ExportsApi;
pub use grpc::ConversationsApi;
pub use templates::TemplatesApi;
