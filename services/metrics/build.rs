//! `sqlx::migrate!` embeds ./migrations at compile time: a new or edited migration must rebuild.
//! `inbox.metrics.v1` is generated here, against the types `inbox-proto` already generates
//! (`libs/proto` exposes no `metrics` module yet; its descriptor set, used for gRPC reflection,
//! includes this file all the same).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=migrations");
    // Relative, as in libs/proto: checkouts sharing a target directory must not read each other's.
    let proto_root = PathBuf::from("../../proto");
    let file = proto_root.join("inbox/metrics/v1/metrics.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let mut fds = protox::compile([&file], [&proto_root])?;
    // Only this package is generated here; the well-known types come from prost-types.
    fds.file.retain(|f| f.package() == "inbox.metrics.v1" || f.package() == "google.protobuf");
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;
    Ok(())
}
