//! The command lines of the `shop-service` and `shop-projection` binaries,
//! when they are not on Lambda.

use std::net::SocketAddr;

/// What `shop-service --help` prints, and what a bad argument is shown with.
pub const USAGE: &str = "\
usage: shop-service [--listen ADDR] [--dynamodb]

Serves the shopping API over HTTP on ADDR (default 127.0.0.1:3000; port 0
picks a free one). On AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it takes no
arguments and serves API Gateway's events instead.

  --listen ADDR   the address to listen on, as IP:PORT
  --dynamodb      store events in DynamoDB, in the table named by ES_TABLE
                  (default es-shop), created if missing, through the usual
                  AWS configuration (AWS_ENDPOINT_URL_DYNAMODB for DynamoDB
                  Local); without it, events are kept in memory
  -h, --help      this text

The view routes (GET /products/{id}/stock, GET /carts/{id}/view) read the
shop's views: with --dynamodb from the view table ES_VIEW_TABLE (default
ES_TABLE with -views appended, created if missing), which shop-projection
keeps; in memory, from views the service keeps from its own events.

RUST_LOG sets the log level (default info); logs are JSON lines on stdout.";

/// The table `--dynamodb` uses when `ES_TABLE` is not set.
pub const DEFAULT_TABLE: &str = "es-shop";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve on a socket.
    Serve(Options),
    /// Print the usage and exit.
    Help,
}

/// How to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// DynamoDB rather than memory.
    pub dynamodb: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            dynamodb: false,
        }
    }
}

/// Parses the arguments after the program name. The error says what was
/// wrong, to print above [`USAGE`].
pub fn parse<I, A>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = A>,
    A: Into<String>,
{
    let mut options = Options::default();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--dynamodb" if inline.is_none() => options.dynamodb = true,
            "--listen" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or("--listen needs an address, such as 127.0.0.1:3000")?;
                options.listen = value.parse().map_err(|_| {
                    format!("--listen: {value:?} is not an IP:PORT address, such as 127.0.0.1:3000")
                })?;
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Command::Serve(options))
}

/// The table `--dynamodb` uses: `ES_TABLE`, or [`DEFAULT_TABLE`].
pub fn table() -> String {
    std::env::var("ES_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_TABLE.to_owned())
}

/// The view table `--dynamodb` uses, in both binaries: `ES_VIEW_TABLE`, or
/// the events table's name with `-views` appended. One rule for both, so
/// that locally the API reads the table the projection writes.
pub fn view_table() -> String {
    std::env::var(crate::projection::VIEW_TABLE_VAR)
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{}-views", table()))
}

/// What `shop-projection --help` prints, and what a bad or missing argument
/// is shown with.
pub const PROJECTION_USAGE: &str = "\
usage: shop-projection --dynamodb [--catch-up | --rebuild]

Keeps the shop's views (stock per product, cart per cart) from the events
table's DynamoDB Stream. On AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it takes
no arguments and handles the stream batches of its event source mapping,
writing to the view table ES_VIEW_TABLE.

Locally it reads the stream itself, as Lambda would, with es's stream
runner, until Ctrl-C:

  --dynamodb      follow the stream of the events table ES_TABLE (default
                  es-shop) into the view table ES_VIEW_TABLE (default
                  ES_TABLE with -views appended), both created if missing,
                  through the usual AWS configuration
                  (AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local); the
                  runner's per-shard checkpoints go in the view table too
  --catch-up      project what the stream holds now, then exit
  --rebuild       project the whole history of the events table (every
                  product and cart, not only the stream's last 24 hours)
                  into the view table, then exit: for a new or changed view.
                  It shows its progress (a live line on a terminal), and an
                  interrupted rebuild started again resumes where it stopped
  -h, --help      this text

Run `shop-service --dynamodb` beside it, with the same ES_TABLE, and its
GET /products/{id}/stock and GET /carts/{id}/view show the views as this
process updates them. RUST_LOG sets the log level (default info); logs are
JSON lines on stdout, one per event applied.";

/// A parsed `shop-projection` command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionCommand {
    /// Follow the stream: until Ctrl-C, or only until caught up.
    Follow {
        /// Stop once everything on the stream now is projected.
        catch_up: bool,
    },
    /// Project the whole history, then exit.
    Rebuild,
    /// Print the usage and exit.
    Help,
}

/// Parses `shop-projection`'s arguments after the program name. The error
/// says what was wrong, to print above [`PROJECTION_USAGE`].
pub fn parse_projection<I, A>(args: I) -> Result<ProjectionCommand, String>
where
    I: IntoIterator<Item = A>,
    A: Into<String>,
{
    let (mut dynamodb, mut catch_up, mut rebuild) = (false, false, false);
    for arg in args.into_iter().map(Into::into) {
        match arg.as_str() {
            "-h" | "--help" => return Ok(ProjectionCommand::Help),
            "--dynamodb" => dynamodb = true,
            "--catch-up" => catch_up = true,
            "--rebuild" => rebuild = true,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if !dynamodb {
        // There is no stream in memory: the in-memory service keeps its
        // views itself. Say so rather than start and do nothing.
        return Err(
            "locally, shop-projection needs --dynamodb: it follows a DynamoDB \
                    table's stream (the in-memory shop-service keeps its views itself)"
                .to_owned(),
        );
    }
    match (catch_up, rebuild) {
        (true, true) => Err("--catch-up and --rebuild are two ways to run: give one".to_owned()),
        (false, true) => Ok(ProjectionCommand::Rebuild),
        (catch_up, false) => Ok(ProjectionCommand::Follow { catch_up }),
    }
}
