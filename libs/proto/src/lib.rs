//! The inbox's protobuf contract: generated types and gRPC stubs, one module per area and
//! version, mirroring `proto/inbox/<area>/v1`.

#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used, missing_docs)]

/// Serialized `FileDescriptorSet` of every inbox proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/inbox_descriptor.bin"));

pub mod common {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.common.v1.rs"));
    }
}
pub mod ingest {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.ingest.v1.rs"));
    }
}
pub mod conversation {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.conversation.v1.rs"));
    }
}
pub mod routing {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.routing.v1.rs"));
    }
}
pub mod events {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.events.v1.rs"));
    }
}
pub mod search {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.search.v1.rs"));
    }
}
pub mod notification {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.notification.v1.rs"));
    }
}
pub mod metrics {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/inbox.metrics.v1.rs"));
    }
}

mod time;
pub use time::{timestamp_from, timestamp_to_utc};
