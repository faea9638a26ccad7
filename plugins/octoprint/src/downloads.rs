//! OctoPrint's other downloads: its log files, timelapse recordings and system-info bundle.
//! The farm keeps its logs on its host and records no timelapses, so there is nothing to
//! download; the answers keep OctoPrint's permissions and its 400 for a folder without a file.

use printfarm_sdk::{Error, Request, Response};

use crate::auth::{self, Access};

/// What OctoPrint answers for a download folder asked without a file name.
const FOLDER: &str = "Bad Request";

/// `GET /downloads/logs`: admins only; a folder, so 400.
pub fn logs(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Err(Error::bad_request(FOLDER))
}

/// `GET /downloads/logs/{name}`: admins only; the farm's logs are on its host.
pub fn log_file(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Err(Error::not_found(
        "No such log here: the farm keeps its logs on its host (journal or log directory)",
    ))
}

/// `GET /downloads/timelapses`: readers; a folder, so 400.
pub fn timelapses(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    Err(Error::bad_request(FOLDER))
}

/// `GET /downloads/systeminfo.zip`: admins only; the farm has no such bundle.
pub fn system_info(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Admin)?;
    Err(Error::not_found(
        "No system-info bundle here: see the farm host's own diagnostics",
    ))
}
