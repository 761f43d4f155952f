//! The gRPC API: translation between protobuf and the store, nothing more.

mod customers;
mod grpc;

pub use customers::CustomersApi;
pub use grpc::ConversationsApi;
