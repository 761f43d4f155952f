inbox_service::use_mimalloc!();

#[tokio::main]
async fn main() -> std::process::ExitCode {
    inbox_service::service_main::<inbox_conversation::Settings, _, _, _>(inbox_conversation::run).await
}
