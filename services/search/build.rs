//! Generates the `inbox.search.v1` protobuf code. `libs/proto` compiles every proto but exposes
//! only the areas it names; until it names `search`, this crate generates its own module, with
//! the types it imports taken from `inbox_proto`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from("../../proto");
    let search = proto_root.join("inbox/search/v1/search.proto");
    println!("cargo:rerun-if-changed={}", search.display());
    // The imports are generated too (prost needs their descriptors), but only the search
    // module is included: its references to them point into `inbox_proto`.
    let fds = protox::compile([&search], [&proto_root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .extern_path(".inbox.common.v1", "::inbox_proto::common::v1")
        .extern_path(".inbox.conversation.v1", "::inbox_proto::conversation::v1")
        .compile_fds(fds)?;
    Ok(())
}
