inbox_service::use_mimalloc!();

#[tokio::main]
async fn main() -> std::process::ExitCode {
    inbox_service::service_main::<inbox_gateway::Settings, _, _, _>(inbox_gateway::run).await
}
