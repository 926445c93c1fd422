//! `shop-service`: the shopping API on AWS Lambda, or on a local socket.
//!
//! On Lambda (the runtime sets `AWS_LAMBDA_RUNTIME_API`) it serves API
//! Gateway HTTP API events through `lambda_http`, on DynamoDB, in the table
//! `ES_TABLE` that the deployment template creates. Elsewhere it parses its
//! command line (`shop-service --help`) and serves HTTP itself, on the same
//! router.

use std::process::ExitCode;

use shop_service::cli::{self, Command, Options};

fn main() -> ExitCode {
    shop_service::init_logging();
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // Lambda sends one request at a time to an instance: one thread is
        // all it can use, and it starts faster.
        return run(tokio::runtime::Builder::new_current_thread(), on_lambda());
    }
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("shop-service: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    run(tokio::runtime::Builder::new_multi_thread(), serve(options))
}

type Fallible = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn run(
    mut builder: tokio::runtime::Builder,
    main: impl std::future::Future<Output = Fallible>,
) -> ExitCode {
    let result = builder
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(main));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "shop-service failed");
            eprintln!("shop-service: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn on_lambda() -> Fallible {
    let table =
        std::env::var("ES_TABLE").map_err(|_| "ES_TABLE must name the events table on Lambda")?;
    // No `ensure_table` here: the template owns the table, and the
    // function's role may only read and write items.
    let store = es::dynamo::DynamoStore::from_env(table).await;
    lambda_http::run(shop_service::router(store)).await
}

async fn serve(options: Options) -> Fallible {
    let app = if options.dynamodb {
        let table = cli::table();
        let store = es::dynamo::DynamoStore::from_env(table.clone()).await;
        store
            .ensure_table()
            .await
            .map_err(|e| format!("DynamoDB table {table:?}: {e}"))?;
        tracing::info!(table = %table, "store: DynamoDB");
        shop_service::router(store)
    } else {
        tracing::info!("store: in memory");
        shop_service::router(es::MemoryStore::new())
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    // Also plainly on stderr, for people and for scripts that asked for port 0.
    eprintln!("shop-service: listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
