use std::process::ExitCode;

use clap::{Parser, Subcommand};
use plans_api::{Application, Config, app, graphql, telemetry};

/// GraphQL API for ISP internet plans, with a cache-aside plan cache.
#[derive(Parser)]
#[command(name = "plans-api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the GraphQL schema (SDL); `schema.graphql` holds the same text.
    PrintSchema,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            print!("{}", graphql::sdl());
            ExitCode::SUCCESS
        }
        Command::Serve => serve(cli.config).await,
    }
}

async fn serve(config: Config) -> ExitCode {
    telemetry::init(&config.log_filter);
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until_stopped(app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
