//! The command line of the `shop-service` binary, when it is not on Lambda.

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
