//! The search index on local disk.

use std::path::Path;

/// Creates the index directory and proves it writable, so a bad volume stops the service at
/// start rather than at its first commit.
pub async fn prepare_index_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let probe = dir.join(".write-probe");
    tokio::fs::write(&probe, b"").await?;
    tokio::fs::remove_file(&probe).await
}
