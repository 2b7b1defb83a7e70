//! The harness of this test binary (`harness = false`, libtest-mimic): every test is a trial
//! named `<module>::<backend>::<name>` (or `<module>::<name>` for one that needs no database), run
//! on a multi-thread runtime of its own. Whether the PostgreSQL trials can run is decided at run
//! time: without `TEST_DATABASE_URL` they are reported as *ignored* (and a note says how to run
//! them), unless `CI=true`, where they run and fail.

use std::future::Future;

use libtest_mimic::{Arguments, Failed, Trial};

use super::{Backend, postgres_url};

/// Declares a module's tests and generates `pub fn trials() -> Vec<Trial>` for them:
///
/// * `backend_tests!(a, b)`: `async fn a(backend: Backend)`, run once on each backend;
/// * `backend_tests!(sqlite_only: a; postgres_only: b; plain: c)`: `async fn a()` on SQLite,
///   `async fn b()` on PostgreSQL, and `fn c()`, a synchronous test that needs no database.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $crate::backend_tests!(both: $($name),+);
    };
    ($($kind:ident : $($name:ident),+ $(,)?);+ $(;)?) => {
        /// This module's trials.
        pub fn trials() -> Vec<libtest_mimic::Trial> {
            let module = $crate::helpers::harness::module_name(module_path!());
            let mut trials = Vec::new();
            $($(
                trials.extend($crate::backend_tests!(@trials $kind, module, $name));
            )+)+
            trials
        }
    };
    (@trials both, $module:ident, $name:ident) => {
        [
            $crate::helpers::Backend::Sqlite,
            $crate::helpers::Backend::Postgres,
        ]
        .map(|backend| $crate::helpers::harness::trial($module, backend, stringify!($name), $name))
    };
    (@trials sqlite_only, $module:ident, $name:ident) => {
        $crate::backend_tests!(@only Sqlite, $module, $name)
    };
    (@trials postgres_only, $module:ident, $name:ident) => {
        $crate::backend_tests!(@only Postgres, $module, $name)
    };
    (@only $backend:ident, $module:ident, $name:ident) => {
        [$crate::helpers::harness::trial(
            $module,
            $crate::helpers::Backend::$backend,
            stringify!($name),
            |_| $name(),
        )]
    };
    (@trials plain, $module:ident, $name:ident) => {
        [$crate::helpers::harness::plain_trial($module, stringify!($name), $name)]
    };
}

/// `api::cache` → `cache`: trial names start at the test module.
pub fn module_name(module_path: &'static str) -> &'static str {
    module_path
        .split_once("::")
        .map_or(module_path, |(_, module)| module)
}

/// What to do with the PostgreSQL trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Postgres {
    /// `TEST_DATABASE_URL` is set.
    Run,
    /// Not set, outside CI: reported as ignored.
    Skip,
    /// Not set, and `CI=true`: they run, and fail.
    Fail,
}

fn postgres() -> Postgres {
    if postgres_url().is_some() {
        Postgres::Run
    } else if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        Postgres::Fail
    } else {
        Postgres::Skip
    }
}

/// A trial that runs `test(backend)` on a multi-thread runtime of its own (4 workers, as the
/// server has at least), named `<module>::<backend>::<name>`. A panic fails it (libtest-mimic
/// catches it and reports its message).
pub fn trial<F, Fut>(module: &str, backend: Backend, name: &str, test: F) -> Trial
where
    F: FnOnce(Backend) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let label = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let skipped = backend == Backend::Postgres && postgres() == Postgres::Skip;
    Trial::test(format!("{module}::{label}::{name}"), move || {
        if backend == Backend::Postgres && postgres_url().is_none() {
            // CI=true, or run on purpose with --ignored / --include-ignored.
            return Err(Failed::from(format!(
                "TEST_DATABASE_URL is not set, so this PostgreSQL test cannot run. {HOW_TO_RUN}"
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .map_err(|err| format!("tokio runtime: {err}"))?;
        runtime.block_on(test(backend));
        Ok(())
    })
    .with_ignored_flag(skipped)
}

/// A synchronous trial that needs no database, named `<module>::<name>`.
pub fn plain_trial(module: &str, name: &str, test: fn()) -> Trial {
    Trial::test(format!("{module}::{name}"), move || {
        test();
        Ok(())
    })
}

const HOW_TO_RUN: &str = "To run the PostgreSQL tests, set TEST_DATABASE_URL to a database \
     they may create schemas in, e.g. \
     TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --test api";

/// Runs the trials as `cargo test` asked (filters, `--list`, `--ignored`, `--include-ignored`,
/// `--test-threads`, ...) and exits with the outcome.
pub fn run(mut trials: Vec<Trial>) -> ! {
    trials.sort_by(|a, b| a.name().cmp(b.name()));
    let args = Arguments::from_args();
    let skipped = trials
        .iter()
        .filter(|trial| trial.name().contains("::postgres::"))
        .filter(|trial| !args.is_filtered_out(trial) && args.is_ignored(trial))
        .count();
    let conclusion = libtest_mimic::run(&args, trials);
    if skipped > 0 && !args.list {
        println!(
            "note: {skipped} PostgreSQL tests were skipped (shown as ignored): TEST_DATABASE_URL \
             is not set. {HOW_TO_RUN}\n"
        );
    }
    conclusion.exit()
}
