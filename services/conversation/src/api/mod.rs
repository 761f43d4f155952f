//! The gRPC API: translation between protobuf and the store, nothing more.

mod filters;
mod grpc;

pub use grpc::ConversationsApi;
