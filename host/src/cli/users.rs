//! `printfarm user add`: creates a user directly in a data directory's database (the server may
//! be running: SQLite in WAL mode takes the second writer).

use std::io::Read;
use std::path::Path;

use anyhow::Context as _;
use printfarm_core::identity::{Identities, Role};

use crate::storage::Storage;

/// Where the password comes from.
pub enum PasswordSource {
    /// No password: the user works with API keys only.
    None,
    /// Given on the command line.
    Given(String),
    /// Read from standard input (first line).
    Stdin,
}

/// Creates a user and returns its API key (printed once by the caller, on a line of its own).
pub async fn add(
    data_dir: &Path,
    name: &str,
    role: Role,
    password: PasswordSource,
) -> anyhow::Result<String> {
    let password = match password {
        PasswordSource::None => None,
        PasswordSource::Given(p) => Some(p),
        PasswordSource::Stdin => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the password from standard input")?;
            let line = text.lines().next().unwrap_or_default().to_string();
            anyhow::ensure!(
                !line.is_empty(),
                "--password-stdin: standard input held no password"
            );
            Some(line)
        }
    };
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let storage = Storage::open_sqlite(&data_dir.join("printfarm.db")).await?;
    let (_, key) = Identities::new(storage)
        .add_user(name, role, password.as_deref())
        .await?;
    Ok(key)
}
