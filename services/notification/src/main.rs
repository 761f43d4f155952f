inbox_service::use_mimalloc!();

#[tokio::main]
async fn main() -> std::process::ExitCode {
    inbox_service::service_main::<inbox_notification::Settings, _, _, _>(inbox_notification::run).await
}
