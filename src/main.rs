//! The `plans-api` binary: the CLI only (`serve`, `print-schema`, `seed-demo`, `token`); everything
//! else is the library's.

use std::process::ExitCode;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use plans_api::app::SeedOutcome;
use plans_api::auth::{Role, mint_hs256};
use plans_api::{Application, Config, app, graphql, telemetry};

/// jemalloc rather than glibc's malloc: the hit path allocates and frees a few dozen small
/// blocks per request on two worker threads, and idle subscriptions hold many small blocks for
/// long; measured side by side in loadbench (the book, docs/src/hit-path.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `plans-api token --ttl` when not given: one hour.
const TOKEN_TTL_SECONDS: u64 = 3_600;

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
    /// Load a deterministic demo data set into DATABASE_URL (migrating it first): for each
    /// operator 1..=USERS, PLANS_PER_USER plans (6 in 10 hotspot, 3 PPPoE, 1 static; prices vary
    /// by operator). Runs only on an empty plans table, so re-running does not duplicate the
    /// data; --force adds the set to existing plans anyway.
    SeedDemo {
        /// Number of operators (user ids 1..=USERS).
        #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        users: u32,
        /// Plans per operator.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        plans_per_user: u32,
        /// Add the plans even if the table already has some.
        #[arg(long)]
        force: bool,
    },
    /// Print an HS256 JWT signed with JWT_SECRET (with JWT_ISSUER and JWT_AUDIENCE when set), for
    /// development, scripts and GraphiQL (`Authorization: Bearer <token>`).
    Token {
        /// The operator (user id) the token signs in as; required unless --role admin.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        operator: Option<i32>,
        /// The role claim.
        #[arg(long, value_enum, default_value_t = TokenRole::Operator)]
        role: TokenRole,
        /// Seconds until the token expires.
        #[arg(long, default_value_t = TOKEN_TTL_SECONDS, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
        ttl: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenRole {
    Operator,
    Admin,
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
        Command::SeedDemo {
            users,
            plans_per_user,
            force,
        } => seed_demo(&cli.config, users, plans_per_user, force).await,
        Command::Token {
            operator,
            role,
            ttl,
        } => token(&cli.config, operator, role, ttl),
    }
}

fn token(config: &Config, operator: Option<i32>, role: TokenRole, ttl: u64) -> ExitCode {
    let role = match role {
        TokenRole::Operator => Role::Operator,
        TokenRole::Admin => Role::Admin,
    };
    let Some(settings) = app::jwt_settings(config) else {
        eprintln!("plans-api token: JWT_SECRET is not set: the token is signed with it");
        return ExitCode::FAILURE;
    };
    match mint_hs256(&settings, role, operator, Duration::from_secs(ttl)) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("plans-api token: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn seed_demo(config: &Config, users: u32, plans_per_user: u32, force: bool) -> ExitCode {
    let _telemetry = telemetry::init(&config.telemetry.log_filter, None);
    match app::seed_demo(config, users, plans_per_user, force).await {
        Ok(SeedOutcome::Seeded(plans)) => {
            tracing::info!(plans, "seeded the demo data set");
            ExitCode::SUCCESS
        }
        Ok(SeedOutcome::AlreadySeeded(plans)) => {
            tracing::info!(
                plans,
                "the plans table is not empty; nothing seeded (use --force to add anyway)"
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "seed-demo failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    let telemetry = telemetry::init(
        &config.telemetry.log_filter,
        app::trace_settings(&config).as_ref(),
    );
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            telemetry.shutdown();
            return ExitCode::FAILURE;
        }
    };
    let served = application.run_until_stopped(app::shutdown_signal()).await;
    // The spans of the last requests are still in the batch: send them before exiting.
    tokio::task::block_in_place(|| telemetry.shutdown());
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
