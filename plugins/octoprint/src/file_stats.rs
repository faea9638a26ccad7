//! What OctoPrint keeps about each file beside the file itself: who uploaded it (and the
//! `userdata` the upload carried), and per printer how its prints ended (`prints`) and how long
//! the successful ones took (`statistics`). Clients show these in their file lists.
//!
//! Uploads through this surface record their uploader; prints are counted from the farm's
//! print events, whoever started them (the queue, the dashboard or this surface), as OctoPrint
//! counts every print of its printer.

use std::collections::BTreeMap;

use printfarm_sdk::events::{Event, PrintPhase};
use printfarm_sdk::kv;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors::host;

/// The kv key of every file's upload metadata (the library is shared by all printers).
const META_KEY: &str = "file-meta";

/// Who uploaded a file through this surface, with what `userdata`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Upload {
    /// The uploading user.
    pub user: String,
    /// The upload's `userdata` field, parsed as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userdata: Option<Value>,
}

/// How the prints of one file on one printer ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Prints {
    success: u32,
    failure: u32,
    /// When the last print ended (Unix seconds), whether it succeeded and how long it took.
    last: Option<(f64, bool, f64)>,
    /// Total seconds of the successful prints, for the average.
    success_secs: f64,
}

/// One request's view of the metadata: loaded once, read for every entry of a listing.
#[derive(Default)]
pub struct FileStats {
    uploads: BTreeMap<String, Upload>,
    prints: BTreeMap<String, Prints>,
    /// The printer profile the print times are filed under (`statistics` is by profile).
    profile: String,
}

fn prints_key(printer: &str) -> String {
    format!("file-prints/{printer}")
}

impl FileStats {
    /// The uploads and the prints of `printer`, whose profile is `profile`. A read that fails
    /// leaves them out rather than failing a listing.
    pub fn load(printer: &str, profile: &str) -> FileStats {
        FileStats {
            profile: profile.to_string(),
            uploads: kv::get_json(META_KEY).ok().flatten().unwrap_or_default(),
            prints: kv::get_json(&prints_key(printer))
                .ok()
                .flatten()
                .unwrap_or_default(),
        }
    }

    /// Adds OctoPrint's `user`, `userdata`, `prints` and `statistics` to a file's entry.
    pub fn annotate(&self, path: &str, entry: &mut Value) {
        let profile = self.profile.as_str();
        let upload = self.uploads.get(path);
        entry["user"] = json!(upload.map(|u| u.user.clone()));
        if let Some(userdata) = upload.and_then(|u| u.userdata.clone()) {
            entry["userdata"] = userdata;
        }
        let Some(p) = self.prints.get(path) else {
            return;
        };
        let mut prints = json!({"success": p.success, "failure": p.failure});
        let (mut average, mut last) = (json!({}), json!({}));
        if let Some((date, success, secs)) = p.last {
            prints["last"] = json!({"date": date, "success": success});
            if success {
                prints["last"]["printTime"] = json!(secs);
                last[profile] = json!(secs);
            }
        }
        if p.success > 0 {
            average[profile] = json!(p.success_secs / f64::from(p.success));
        }
        entry["prints"] = prints;
        entry["statistics"] = json!({"averagePrintTime": average, "lastPrintTime": last});
    }
}

/// Records who uploaded `path` (replacing an earlier upload's record).
pub fn record_upload(path: &str, upload: Upload) -> Result<(), printfarm_sdk::Error> {
    let mut uploads: BTreeMap<String, Upload> =
        kv::get_json(META_KEY).map_err(host)?.unwrap_or_default();
    uploads.insert(path.to_string(), upload);
    kv::set_json(META_KEY, &uploads).map_err(host)
}

/// Counts a print's end; other events change nothing.
pub fn on_event(event: &Event) {
    let Event::Print(print) = event else {
        return;
    };
    let success = match print.phase {
        PrintPhase::Done => true,
        PrintPhase::Failed | PrintPhase::Cancelled => false,
        _ => return,
    };
    let key = prints_key(&print.printer);
    let mut all: BTreeMap<String, Prints> = kv::get_json(&key).ok().flatten().unwrap_or_default();
    let entry = all.entry(print.file.clone()).or_default();
    if success {
        entry.success += 1;
        entry.success_secs += print.elapsed_secs;
    } else {
        entry.failure += 1;
    }
    entry.last = Some((crate::clock::now_secs(), success, print.elapsed_secs));
    if let Err(e) = kv::set_json(&key, &all) {
        printfarm_sdk::log::warn(&format!("cannot record a print of {}: {e}", print.file));
    }
}
