//! The supervisor over real ptys: USB unplug and replug, fatal errors, emergency stop,
//! firmware resets and hangs, host actions, pause/resume/cancel, commands during a print.

mod common;

use std::time::Duration;

use common::{gcode_file, Rig};
use printfarm_serial::sim::{Fault, FaultPlan, SimConfig, VirtualPrinter};
use printfarm_serial::supervisor::{PrintPhase, Printer, PrinterSettings, PrinterState};
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(15);

fn fault_at(line: u64, fault: Fault) -> SimConfig {
    SimConfig {
        faults: FaultPlan {
            at_line: vec![(line, fault)],
            ..FaultPlan::default()
        },
        ..SimConfig::default()
    }
}

/// A printer slow enough (real-time moves) that a test can act mid-print.
fn slow() -> SimConfig {
    SimConfig {
        speed: 1.0,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn unplug_mid_print_records_the_last_acked_line_and_replug_reconnects() {
    let rig = Rig::start(fault_at(300, Fault::Unplug), |_| {}).await;
    let file = gcode_file(rig.dir.path(), "part.gcode", 1000);
    let progress = rig.print_until_failed(&file).await;
    let status = rig.wait_state(PrinterState::Error, WAIT).await;
    let reason = status.reason.unwrap();
    assert!(reason.contains("device gone"), "{reason}");
    assert!(
        reason.contains(&format!("line {}", progress.last_acked_line)),
        "{reason}"
    );
    // What was acknowledged was executed: the record is never ahead of the printer.
    let executed = rig.executed();
    assert!(progress.last_acked_line > 0);
    assert!(
        progress.lines_acked as usize <= executed.len(),
        "{progress:?} vs {} executed",
        executed.len()
    );
    let source = std::fs::read(&file).unwrap();
    let acked_text = String::from_utf8_lossy(&source[..progress.acked_offset as usize]);
    let acked_lines = printfarm_serial::engine::gcode_lines(&write_tmp(&rig, &acked_text)).unwrap();
    assert_eq!(&executed[..acked_lines.len()], acked_lines.as_slice());

    rig.sim.replug().unwrap();
    rig.wait_state(PrinterState::Operational, WAIT).await;
}

fn write_tmp(rig: &Rig, text: &str) -> std::path::PathBuf {
    let path = rig.dir.path().join("acked.gcode");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_printer_that_is_not_there_yet_connects_when_it_appears() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyACM-later");
    let (sender, _events) = broadcast::channel(1024);
    let printer = Printer::spawn(
        PrinterSettings {
            id: "late".into(),
            engine: common::engine_config(&link),
            auto_connect: true,
        },
        sender,
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let status = printer.status();
    assert_eq!(status.state, PrinterState::Offline);
    assert!(status.reason.unwrap().contains("not present"));
    let _sim = VirtualPrinter::start(&link, SimConfig::default()).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while printer.status().state != PrinterState::Operational {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            printer.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn fatal_error_turns_heaters_off_and_fails_the_job_with_the_firmware_message() {
    let rig = Rig::start(
        fault_at(
            120,
            Fault::Fatal("Thermal Runaway, system stopped! Heater_ID: 0".into()),
        ),
        |_| {},
    )
    .await;
    rig.print_until_failed(&gcode_file(rig.dir.path(), "part.gcode", 1000))
        .await;
    let status = rig.wait_state(PrinterState::Error, WAIT).await;
    assert!(
        status
            .reason
            .as_deref()
            .unwrap()
            .contains("Thermal Runaway"),
        "{status:?}"
    );
    let received = rig.sim.received();
    let fatal_at = received.iter().position(|l| l.contains("G1")).unwrap();
    assert!(
        received[fatal_at..].iter().any(|l| l.ends_with("M104 S0")),
        "heaters off sent"
    );
    assert!(
        received[fatal_at..].iter().any(|l| l.ends_with("M140 S0")),
        "bed off sent"
    );
    // No automatic reconnect after a fatal error: an operator looks first.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rig.printer.status().state, PrinterState::Error);
}

#[tokio::test]
async fn emergency_stop_reaches_the_printer_ahead_of_queued_lines() {
    let rig = Rig::start(slow(), |_| {}).await;
    let file = gcode_file(rig.dir.path(), "part.gcode", 2000);
    rig.printer.start_print(file).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Queue more behind the print's lines, then stop.
    rig.printer
        .send(vec!["G1 X5 F100".into(); 3])
        .await
        .unwrap();
    rig.printer.emergency_stop().await.unwrap();
    let (phase, progress) = rig.wait_print_end(WAIT).await;
    assert_eq!(phase, PrintPhase::Failed);
    let status = rig.wait_state(PrinterState::Error, WAIT).await;
    assert!(status.reason.unwrap().contains("emergency stop"));
    let executed = rig.sim.executed();
    let stop = executed
        .iter()
        .position(|l| l == "M112")
        .expect("M112 executed");
    let executed_before = common::without_housekeeping(executed[..stop].to_vec()).len();
    assert!(
        (executed_before as u64) < progress.lines_sent,
        "M112 overtook lines already sent ({} sent, {executed_before} executed first)",
        progress.lines_sent
    );
    assert!(
        !executed[stop..].iter().any(|l| l == "G1 X5 F100"),
        "queued commands never ran"
    );
}

#[tokio::test]
async fn firmware_reset_mid_print_fails_the_print_and_reconnects() {
    let rig = Rig::start(fault_at(200, Fault::Reset), |_| {}).await;
    rig.print_until_failed(&gcode_file(rig.dir.path(), "part.gcode", 1000))
        .await;
    rig.wait_state(PrinterState::Operational, WAIT).await;
}

#[tokio::test]
async fn a_hung_firmware_is_declared_gone_after_its_timeouts() {
    let rig = Rig::start(fault_at(100, Fault::Hang), |engine| {
        engine.ack_timeout = Duration::from_millis(200);
        engine.max_timeouts = 3;
    })
    .await;
    let started = std::time::Instant::now();
    let progress = rig
        .print_until_failed(&gcode_file(rig.dir.path(), "part.gcode", 1000))
        .await;
    let took = started.elapsed();
    // Up to the last line the firmware acknowledged before it hung (at line 100 of the
    // stream, which starts with three lines of its own), and no later one.
    assert!((90..=97).contains(&progress.lines_acked), "{progress:?}");
    assert!(progress.last_acked_line > 0, "{progress:?}");
    let status = rig.wait_state(PrinterState::Error, WAIT).await;
    let reason = status.reason.unwrap();
    assert!(reason.contains("stopped answering"), "{reason}");
    // Within the documented time: questions after 50, 100 ms, then at the full 200 ms until 3
    // have gone unanswered and the next silence ends it (0.95 s), plus the print's start.
    assert!(
        took < Duration::from_millis(1_800),
        "gave up after {took:?}"
    );
}

#[tokio::test]
async fn firmware_actions_pause_resume_and_cancel() {
    let rig = Rig::start(slow(), |_| {}).await;
    let file = gcode_file(rig.dir.path(), "part.gcode", 3000);
    rig.printer.start_print(file).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    rig.sim.inject(Fault::Action("pause".into()));
    rig.wait_state(PrinterState::Paused, WAIT).await;
    rig.sim.inject(Fault::Action("resume".into()));
    rig.wait_state(PrinterState::Printing, WAIT).await;
    rig.sim.inject(Fault::Action("cancel".into()));
    let (phase, _) = rig.wait_print_end(WAIT).await;
    assert_eq!(phase, PrintPhase::Cancelled);
}

#[tokio::test]
async fn pause_resume_cancel_with_scripts_and_commands_during_a_print() {
    let rig = Rig::start(slow(), |engine| {
        engine.pause_script = vec!["G91".into(), "G1 Z5 ; lift".into(), "G90".into()];
        engine.cancel_script = vec!["G28 X".into()];
    })
    .await;
    let file = gcode_file(rig.dir.path(), "part.gcode", 3000);
    rig.printer.start_print(file).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.printer.set_temperature("tool0", 205.0).await.unwrap();
    rig.printer.pause().await.unwrap();
    rig.wait_state(PrinterState::Paused, WAIT).await;
    // The pause script runs once the buffered lines are done; then nothing more is fed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let executed = rig.sim.executed();
    assert!(
        executed.iter().any(|l| l == "M104 T0 S205"),
        "command sent during the print"
    );
    assert!(
        executed.ends_with(&["G91".into(), "G1 Z5".into(), "G90".into()]),
        "pause script ran last: {:?}",
        &executed[executed.len() - 4..]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rig.sim.executed_count(),
        executed.len(),
        "nothing is fed while paused"
    );
    rig.printer.resume().await.unwrap();
    rig.wait_state(PrinterState::Printing, WAIT).await;
    rig.printer.cancel().await.unwrap();
    let (phase, progress) = rig.wait_print_end(WAIT).await;
    assert_eq!(phase, PrintPhase::Cancelled);
    assert!(progress.last_acked_line > 0);
    rig.wait_state(PrinterState::Operational, WAIT).await;
    // The moves left in the planner end, then homing takes its time (10 s, as the analysis
    // counts it), then the heaters go off.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let executed = rig.sim.executed();
        let tail: Vec<&str> = executed
            .iter()
            .rev()
            .take(3)
            .rev()
            .map(String::as_str)
            .collect();
        if tail == ["G28 X", "M104 S0", "M140 S0"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cancel script, then heaters off: {tail:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn disconnect_is_refused_while_printing_and_works_when_idle() {
    let rig = Rig::start(slow(), |_| {}).await;
    let file = gcode_file(rig.dir.path(), "part.gcode", 2000);
    rig.printer.start_print(file).await.unwrap();
    assert!(rig.printer.disconnect().await.is_err());
    rig.printer.cancel().await.unwrap();
    rig.wait_state(PrinterState::Operational, WAIT).await;
    rig.printer.disconnect().await.unwrap();
    rig.wait_state(PrinterState::Offline, WAIT).await;
    assert!(rig
        .printer
        .start_print(rig.dir.path().join("part.gcode"))
        .await
        .is_err());
    rig.printer.connect().await.unwrap();
    rig.wait_state(PrinterState::Operational, WAIT).await;
}
