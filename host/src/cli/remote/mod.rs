//! Farm operations against a running server, through its host API: `printfarm printers`,
//! `printfarm upload FILE [--print-on PRINTER] [--copies N]`, `printfarm jobs`,
//! `printfarm bed-cleared PRINTER`.
//!
//! This module is an edge of the program: it prints results on stdout (tables, or the server's
//! JSON with `--json`) and upload progress on stderr. Every failure is an [`anyhow::Error`] that
//! says what went wrong and what to do about it; `main` prints it and exits with status 1.

//!
//! - `client`: the host API over HTTP, and errors that say what to do.
//! - `upload`: streaming a file with a progress bar, then queueing it.
//! - `table`: the human-readable tables.

mod client;
mod table;
mod upload;

use client::{emit, parse, pretty_json, Api};
use table::{jobs_table, printers_table, JobRow, PrinterRow};
use upload::upload;
pub use upload::UploadRequest;

/// How to reach the server.
#[derive(clap::Args, Debug, Clone)]
pub struct RemoteArgs {
    /// The server's base URL (`http://` is assumed when no scheme is given).
    #[arg(
        long,
        env = "PRINTFARM_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// An API key (see `printfarm user add`).
    #[arg(long, env = "PRINTFARM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print JSON (the host API's answer) instead of a table, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// The remote commands.
// The flattened fields take their help from their own types.
#[allow(missing_docs)]
#[derive(clap::Subcommand, Debug)]
pub enum RemoteCommand {
    /// List the printers with their state.
    Printers {
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Upload a G-code file to the library, optionally queueing it.
    Upload {
        #[command(flatten)]
        request: UploadRequest,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// List the queued jobs and their tasks.
    Jobs {
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Confirm a printer's bed is clear, so it takes the next queued task.
    BedCleared {
        /// The printer id.
        printer: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

/// Prints a list resource of the host API: its JSON with `--json`, else a table of its rows.
async fn list<Row: serde::de::DeserializeOwned>(
    remote: &RemoteArgs,
    route: &str,
    what: &str,
    table: fn(&[Row]) -> String,
) -> anyhow::Result<()> {
    let api = Api::new(remote)?;
    let body = api.get(&format!("listing {what}"), &[route]).await?;
    if remote.json {
        emit(&pretty_json(&body))
    } else {
        let rows: Vec<Row> = parse(&body, what)?;
        emit(&table(&rows))
    }
}

/// Runs a remote command.
pub async fn run(command: RemoteCommand) -> anyhow::Result<()> {
    match command {
        RemoteCommand::Printers { remote } => {
            list::<PrinterRow>(&remote, "printers", "the printer list", printers_table).await
        }
        RemoteCommand::Jobs { remote } => {
            list::<JobRow>(&remote, "jobs", "the job list", jobs_table).await
        }
        RemoteCommand::BedCleared { printer, remote } => {
            let api = Api::new(&remote)?;
            let what = format!("marking the bed of `{printer}` clear");
            let url = api.url(&["printers", &printer, "bed-cleared"]);
            api.send(&what, &url, api.http.post(url.clone()), &[])
                .await?;
            if remote.json {
                Ok(())
            } else {
                emit(&format!("bed of {printer} marked clear"))
            }
        }
        RemoteCommand::Upload { request, remote } => upload(&remote, request).await,
    }
}
