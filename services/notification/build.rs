//! `sqlx::migrate!` embeds ./migrations at compile time; a new or edited migration must rebuild.
//!
//! The service's own API (`proto/inbox/notification/v1`) is generated here, its imports mapped
//! onto `inbox_proto`'s types, because `inbox-proto` does not export a `notification` module
//! yet. Once it does, this goes and `crate::proto` re-exports `inbox_proto::notification::v1`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=migrations");
    let proto_root = PathBuf::from("../../proto");
    let file = proto_root.join("inbox/notification/v1/notification.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let fds = protox::compile([&file], [&proto_root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .extern_path(".inbox.common.v1", "::inbox_proto::common::v1")
        .extern_path(".inbox.conversation.v1", "::inbox_proto::conversation::v1")
        .compile_fds(fds)?;
    Ok(())
}
