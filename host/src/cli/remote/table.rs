//! The tables `printfarm printers` and `printfarm jobs` print.

use std::fmt::Write as _;

use serde::Deserialize;

/// A printer from `GET /printers`, as far as the table needs it. Fields are defaulted so an
/// older or newer server still gets a table.
#[derive(Deserialize)]
pub(super) struct PrinterRow {
    pub(super) id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    temperatures: Vec<TemperatureRow>,
    #[serde(default)]
    progress: Option<ProgressRow>,
    #[serde(default)]
    held: bool,
    #[serde(default)]
    bed_clear: bool,
    #[serde(default)]
    self_clearing: bool,
}

#[derive(Deserialize)]
pub(super) struct TemperatureRow {
    sensor: String,
    actual: f64,
    #[serde(default)]
    target: Option<f64>,
}

#[derive(Deserialize)]
pub(super) struct ProgressRow {
    #[serde(default)]
    file_size: u64,
    #[serde(default)]
    acked_offset: u64,
}

/// A job from `GET /jobs`, as far as the table needs it.
#[derive(Deserialize)]
pub(super) struct JobRow {
    id: i64,
    file: String,
    copies: u32,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    tasks: Vec<TaskRow>,
}

#[derive(Deserialize)]
pub(super) struct TaskRow {
    state: String,
    #[serde(default)]
    printer: Option<String>,
    #[serde(default)]
    needs_decision: bool,
}

pub(super) fn printers_table(printers: &[PrinterRow]) -> String {
    if printers.is_empty() {
        return "no printers configured on the server".to_string();
    }
    let rows = printers
        .iter()
        .map(|p| {
            let temps = p
                .temperatures
                .iter()
                .map(|t| match t.target {
                    Some(target) => format!("{} {:.0}/{:.0}", t.sensor, t.actual, target),
                    None => format!("{} {:.0}", t.sensor, t.actual),
                })
                .collect::<Vec<_>>()
                .join(" ");
            let progress = match &p.progress {
                // Rounded down: 100% only when every byte is acknowledged.
                Some(pr) if pr.file_size > 0 => {
                    format!(
                        "{}%",
                        pr.acked_offset.min(pr.file_size) * 100 / pr.file_size
                    )
                }
                _ => "-".to_string(),
            };
            let mut bed = if p.bed_clear { "clear" } else { "not clear" }.to_string();
            if p.self_clearing {
                bed.push_str(" (auto)");
            }
            let mut note = Vec::new();
            if p.held {
                note.push("held until an operator decides about an interrupted print".to_string());
            }
            if let Some(reason) = &p.state_reason {
                note.push(reason.clone());
            }
            vec![
                p.id.clone(),
                p.name.clone(),
                p.state.clone(),
                bed,
                or_dash(temps),
                progress,
                note.join("; "),
            ]
        })
        .collect();
    table(
        &["ID", "NAME", "STATE", "BED", "TEMPS", "PROGRESS", "NOTE"],
        rows,
    )
}

pub(super) fn jobs_table(jobs: &[JobRow]) -> String {
    if jobs.is_empty() {
        return "no queued jobs".to_string();
    }
    let rows = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.file.clone(),
                j.copies.to_string(),
                j.priority.to_string(),
                or_dash(task_summary(&j.tasks)),
            ]
        })
        .collect();
    table(&["JOB", "FILE", "COPIES", "PRIORITY", "TASKS"], rows)
}

/// `2 done, 1 printing on p1, 2 queued`: counts by state in the order a job moves through
/// them, with the printers of running and interrupted copies.
pub(super) fn task_summary(tasks: &[TaskRow]) -> String {
    const ORDER: [&str; 6] = [
        "done",
        "printing",
        "interrupted",
        "queued",
        "failed",
        "cancelled",
    ];
    let mut states: Vec<&str> = ORDER.to_vec();
    for t in tasks {
        if !states.contains(&t.state.as_str()) {
            states.push(&t.state);
        }
    }
    let mut parts = Vec::new();
    for state in states {
        let of_state: Vec<&TaskRow> = tasks.iter().filter(|t| t.state == state).collect();
        if of_state.is_empty() {
            continue;
        }
        let mut part = format!("{} {state}", of_state.len());
        if matches!(state, "printing" | "interrupted") {
            let mut printers: Vec<&str> = of_state
                .iter()
                .filter_map(|t| t.printer.as_deref())
                .collect();
            printers.dedup();
            if !printers.is_empty() {
                let _ = write!(part, " on {}", printers.join(", "));
            }
        }
        if of_state.iter().any(|t| t.needs_decision) {
            part.push_str(" (needs a decision: retry or dismiss)");
        }
        parts.push(part);
    }
    parts.join(", ")
}

pub(super) fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s
    }
}

/// Aligned columns separated by two spaces; the last column is not padded, and trailing empty
/// cells leave no trailing spaces.
pub(super) fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - width(cell)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_summary_counts_states_and_names_printers() {
        let task = |state: &str, printer: Option<&str>| TaskRow {
            state: state.into(),
            printer: printer.map(Into::into),
            needs_decision: false,
        };
        let tasks = [
            task("queued", None),
            task("done", Some("p2")),
            task("printing", Some("p1")),
            task("done", Some("p1")),
            task("queued", None),
        ];
        assert_eq!(task_summary(&tasks), "2 done, 1 printing on p1, 2 queued");
        assert_eq!(task_summary(&[]), "");
    }

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let t = table(
            &["ID", "NAME", "NOTE"],
            vec![
                vec!["v1".into(), "Virtual one".into(), String::new()],
                vec!["usb-long".into(), "u".into(), "offline".into()],
            ],
        );
        assert_eq!(
            t,
            "ID        NAME         NOTE\nv1        Virtual one\nusb-long  u            offline"
        );
    }

    #[test]
    fn printer_rows_show_temperatures_and_progress() {
        let list: Vec<PrinterRow> = serde_json::from_str(
            r#"[{"id":"v1","name":"V","state":"printing","state_reason":null,
                 "temperatures":[{"sensor":"tool0","actual":209.6,"target":210.0},
                                 {"sensor":"bed","actual":60.0,"target":null}],
                 "progress":{"file":"x","file_size":1000,"acked_offset":999},
                 "held":false,"bed_clear":false,"self_clearing":false,"tags":[]}]"#,
        )
        .unwrap();
        let t = printers_table(&list);
        let row = t.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "v1  V     printing  not clear  tool0 210/210 bed 60  99%"
        );
    }
}
