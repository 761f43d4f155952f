inbox_service::use_mimalloc!();

#[tokio::main]
async fn main() -> std::process::ExitCode {
    inbox_service::service_main::<inbox_channel_ingest::Settings, _, _, _>(inbox_channel_ingest::run).await
}
