//! The engine against the virtual printer over real ptys: every fault on its own, then a mixed
//! run. In each, the printer must execute exactly the file's G-code lines, in order.

mod common;

use std::time::Duration;

use common::{assert_executed_exactly, gcode_file, Rig};
use printfarm_serial::engine::UnknownErrors;
use printfarm_serial::sim::{Fault, FaultPlan, Flavour, SimConfig};
use printfarm_serial::supervisor::{PrintPhase, PrinterEvent, PrinterEventKind, PrinterState};

const LINES: usize = 400;
const PRINT_TIMEOUT: Duration = Duration::from_secs(30);

fn marlin() -> SimConfig {
    SimConfig::default()
}

fn with_fault_at(mut sim: SimConfig, line: u64, fault: Fault) -> SimConfig {
    sim.faults = FaultPlan {
        at_line: vec![(line, fault)],
        ..FaultPlan::default()
    };
    sim
}

/// Prints a file with one fault injected mid-file and checks the printer's log.
async fn survives(sim: SimConfig) -> Rig {
    let rig = Rig::start(sim, |_| {}).await;
    let file = gcode_file(rig.dir.path(), "part.gcode", LINES);
    let executed = rig.print(&file, PRINT_TIMEOUT).await;
    assert_executed_exactly(&executed, &file);
    rig
}

#[tokio::test]
async fn clean_print_with_send_ahead() {
    let rig = survives(marlin()).await;
    assert_eq!(rig.sim.stats().rx_overflows, 0);
    assert!(
        rig.sim.stats().max_slots_used > 1,
        "send-ahead keeps several lines in flight"
    );
}

#[tokio::test]
async fn clean_print_ping_pong() {
    let rig = survives(SimConfig {
        advanced_ok: false,
        ..marlin()
    })
    .await;
    assert_eq!(
        rig.sim.stats().max_slots_used,
        1,
        "without ADVANCED_OK only one line is in flight"
    );
}

#[tokio::test]
async fn resend_request() {
    survives(with_fault_at(marlin(), 50, Fault::ResendRequest)).await;
}

#[tokio::test]
async fn checksum_mismatch() {
    survives(with_fault_at(marlin(), 50, Fault::ChecksumMismatch)).await;
}

#[tokio::test]
async fn missing_line_number() {
    survives(with_fault_at(marlin(), 50, Fault::MissingLineNumber)).await;
}

#[tokio::test]
async fn resend_without_ok() {
    survives(with_fault_at(marlin(), 50, Fault::ResendWithoutOk)).await;
}

#[tokio::test]
async fn resend_without_ok_ping_pong() {
    let sim = SimConfig {
        advanced_ok: false,
        ok_after_resend: false,
        ..marlin()
    };
    survives(with_fault_at(sim, 50, Fault::ResendRequest)).await;
}

#[tokio::test]
async fn resend_with_ok_ping_pong() {
    let sim = SimConfig {
        advanced_ok: false,
        ..marlin()
    };
    survives(with_fault_at(sim, 50, Fault::ChecksumMismatch)).await;
}

#[tokio::test]
async fn dropped_ok() {
    survives(with_fault_at(marlin(), 50, Fault::DropOk)).await;
}

#[tokio::test]
async fn dropped_ok_ping_pong() {
    survives(with_fault_at(
        SimConfig {
            advanced_ok: false,
            ..marlin()
        },
        50,
        Fault::DropOk,
    ))
    .await;
}

#[tokio::test]
async fn duplicated_ok() {
    survives(with_fault_at(marlin(), 50, Fault::DuplicateOk)).await;
}

#[tokio::test]
async fn duplicated_ok_ping_pong() {
    survives(with_fault_at(
        SimConfig {
            advanced_ok: false,
            ..marlin()
        },
        50,
        Fault::DuplicateOk,
    ))
    .await;
}

#[tokio::test]
async fn silent_drop_like_reprapfirmware() {
    let sim = SimConfig {
        flavour: Flavour::RepRapFirmware,
        advanced_ok: false,
        ..marlin()
    };
    survives(with_fault_at(sim, 50, Fault::SilentDrop)).await;
}

#[tokio::test]
async fn corrupted_byte() {
    survives(with_fault_at(marlin(), 50, Fault::CorruptByte)).await;
}

#[tokio::test]
async fn wait_keepalive() {
    survives(with_fault_at(marlin(), 50, Fault::Wait)).await;
}

#[tokio::test]
async fn busy_does_not_time_out() {
    // 5 s of `busy: processing` every 2 s, with an ack timeout of 2.5 s: only the keep-alives
    // keep the engine from asking again.
    let sim = with_fault_at(marlin(), 50, Fault::Busy(Duration::from_secs(5)));
    let rig = Rig::start(sim, |engine| {
        engine.ack_timeout = Duration::from_millis(2500)
    })
    .await;
    let file = gcode_file(rig.dir.path(), "part.gcode", LINES);
    let executed = rig.print(&file, PRINT_TIMEOUT).await;
    assert_executed_exactly(&executed, &file);
    assert_eq!(
        rig.sim.stats().errors_sent,
        0,
        "the engine re-sent a line while the firmware was busy"
    );
}

#[tokio::test]
async fn long_running_commands_and_slow_heating_do_not_time_out() {
    let sim = SimConfig {
        speed: 1.0,
        faults: FaultPlan {
            at_line: vec![],
            ..FaultPlan::default()
        },
        ..marlin()
    };
    let rig = Rig::start(sim, |engine| {
        engine.ack_timeout = Duration::from_millis(1000)
    })
    .await;
    rig.sim.inject(Fault::SlowHeat);
    let path = rig.dir.path().join("heat.gcode");
    std::fs::write(&path, "M109 S210\nG4 S3\nM190 S60\nG1 X1\n").unwrap();
    let executed = rig.print(&path, PRINT_TIMEOUT).await;
    assert_executed_exactly(&executed, &path);
    assert_eq!(
        rig.sim.stats().errors_sent,
        0,
        "the engine re-sent a line during a long command"
    );
}

#[tokio::test]
async fn ok_before_output_like_repetier() {
    let sim = SimConfig {
        flavour: Flavour::Repetier,
        advanced_ok: false,
        ok_before_output: true,
        ..marlin()
    };
    let rig = survives(with_fault_at(sim, 50, Fault::ChecksumMismatch)).await;
    // M155 autoreport every 2 s: wait for one report.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rig.printer.status().temperatures.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no temperatures parsed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rig.printer.status().firmware.as_deref(),
        Some("Repetier_1.0.4"),
        "M115 read after its ok"
    );
}

#[tokio::test]
async fn klipper_replies() {
    let sim = SimConfig {
        flavour: Flavour::Klipper,
        advanced_ok: false,
        autoreport_temp: false,
        ..marlin()
    };
    let rig = survives(sim).await;
    assert_eq!(rig.printer.status().firmware.as_deref(), Some("Klipper"));
}

#[tokio::test]
async fn mixed_random_faults_over_20000_lines() {
    let sim = SimConfig {
        faults: FaultPlan {
            random_rate: 0.01,
            seed: 2026,
            at_line: vec![],
        },
        ..marlin()
    };
    let rig = Rig::start(sim, |_| {}).await;
    let file = gcode_file(rig.dir.path(), "big.gcode", 20_000);
    let executed = rig.print(&file, Duration::from_secs(240)).await;
    assert_executed_exactly(&executed, &file);
    let (_, progress) = rig.printer.status().last_print.unwrap();
    assert!(
        progress.resends > 20,
        "1 % faults over 20 000 lines cause resends: {progress:?}"
    );
    assert_eq!(
        rig.sim.stats().rx_overflows,
        0,
        "the window never overran the RX buffer"
    );
}

#[tokio::test]
async fn mixed_random_faults_ping_pong() {
    let sim = SimConfig {
        advanced_ok: false,
        faults: FaultPlan {
            random_rate: 0.01,
            seed: 7,
            at_line: vec![],
        },
        ..marlin()
    };
    let rig = Rig::start(sim, |_| {}).await;
    let file = gcode_file(rig.dir.path(), "mixed.gcode", 5_000);
    let executed = rig.print(&file, Duration::from_secs(120)).await;
    assert_executed_exactly(&executed, &file);
}

#[tokio::test]
async fn resend_loop_fails_the_print() {
    // Line 50 arrives corrupted every time: the engine gives up after 10 requests for it.
    let sim = SimConfig {
        faults: FaultPlan {
            at_line: vec![(50, Fault::ChecksumMismatch); 12],
            ..FaultPlan::default()
        },
        ..marlin()
    };
    let rig = Rig::start(sim, |_| {}).await;
    let progress = rig
        .print_until_failed(&gcode_file(rig.dir.path(), "part.gcode", LINES))
        .await;
    assert!(
        progress.last_acked_line > 0 && progress.last_acked_line < 60,
        "{progress:?}"
    );
    let status = rig.wait_state(PrinterState::Error, PRINT_TIMEOUT).await;
    let reason = status.reason.unwrap();
    assert!(reason.contains("line 50 10 times in a row"), "{reason}");
}

/// An `Error:` of no known kind at line 40 of a print.
fn unknown_error_at_line_40() -> SimConfig {
    with_fault_at(
        marlin(),
        40,
        Fault::Say("Error:Heater switched off for a reason nobody knows".into()),
    )
}

#[tokio::test]
async fn unknown_error_disconnects_by_default() {
    let rig = Rig::start(unknown_error_at_line_40(), |_| {}).await;
    let progress = rig
        .print_until_failed(&gcode_file(rig.dir.path(), "part.gcode", LINES))
        .await;
    assert!(progress.last_acked_line < 60, "{progress:?}");
    let status = rig.wait_state(PrinterState::Error, PRINT_TIMEOUT).await;
    let reason = status.reason.unwrap();
    assert!(
        reason.contains("Heater switched off for a reason nobody knows"),
        "{reason}"
    );
}

#[tokio::test]
async fn unknown_error_can_cancel_the_print_and_stay_connected() {
    let mut rig = Rig::start(unknown_error_at_line_40(), |engine| {
        engine.unknown_errors = UnknownErrors::Cancel;
    })
    .await;
    let file = gcode_file(rig.dir.path(), "part.gcode", LINES);
    rig.printer.start_print(file.clone()).await.unwrap();
    let (phase, progress) = rig.wait_print_end(PRINT_TIMEOUT).await;
    assert_eq!(phase, PrintPhase::Failed, "{progress:?}");
    assert!(progress.last_acked_line < 60, "{progress:?}");
    rig.wait_state(PrinterState::Operational, PRINT_TIMEOUT)
        .await;
    let reason = loop {
        match rig.events.try_recv() {
            Ok(PrinterEvent {
                kind:
                    PrinterEventKind::Print {
                        phase: PrintPhase::Failed,
                        reason,
                        ..
                    },
                ..
            }) => break reason.unwrap_or_default(),
            Ok(_) => {}
            Err(error) => panic!("no failed print among the events: {error}"),
        }
    };
    assert!(
        reason.contains("Heater switched off for a reason nobody knows"),
        "{reason}"
    );
    // The heaters went off after the cancel script: the printer is still driven.
    let deadline = std::time::Instant::now() + PRINT_TIMEOUT;
    while !rig.sim.executed().iter().any(|line| line == "M140 S0") {
        assert!(
            std::time::Instant::now() < deadline,
            "heaters never switched off"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn unknown_error_can_be_ignored() {
    let rig = Rig::start(unknown_error_at_line_40(), |engine| {
        engine.unknown_errors = UnknownErrors::Ignore;
    })
    .await;
    let file = gcode_file(rig.dir.path(), "part.gcode", LINES);
    let executed = rig.print(&file, PRINT_TIMEOUT).await;
    assert_executed_exactly(&executed, &file);
}

/// ADVANCED_OK says how many commands fit, not how many bytes: with an RX buffer half Marlin's
/// usual 128 bytes (OctoPrint's simulator's default), the lines sent ahead must still go into
/// free command slots rather than pile up in the buffer and overrun it.
#[tokio::test]
async fn advanced_ok_with_a_64_byte_rx_buffer() {
    let sim = SimConfig {
        rx_buffer: 64,
        ..marlin()
    };
    let rig = Rig::start(sim, |_| {}).await;
    let file = gcode_file(rig.dir.path(), "part.gcode", 2_000);
    let executed = rig.print(&file, PRINT_TIMEOUT).await;
    assert_executed_exactly(&executed, &file);
    let stats = rig.sim.stats();
    assert!(
        stats.rx_overflows == 0,
        "the engine overran the buffer: {stats:?}"
    );
}

/// Marlin answers `M105` with `ok T:…`, without the `N… P… B…` of ADVANCED_OK even when every
/// other `ok` has them (M105 prints its own `ok`). A printer polled for temperatures (no
/// autoreport) and idle has its poll as the last line in flight: that `ok` must acknowledge
/// it, or the link is declared silent and dropped.
#[tokio::test]
async fn advanced_ok_polled_temperatures_while_idle() {
    let sim = SimConfig {
        autoreport_temp: false,
        ..marlin()
    };
    let mut rig = Rig::start(sim, |engine| {
        engine.temperature_interval = Duration::from_millis(100);
        engine.max_timeouts = 2;
    })
    .await;
    while rig.events.try_recv().is_ok() {}
    // ack_timeout is 300 ms and 2 timeouts end the session: 3 s idle is far past that.
    let mut samples = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), rig.events.recv()).await {
            Ok(Ok(PrinterEvent {
                kind:
                    PrinterEventKind::State {
                        current, reason, ..
                    },
                ..
            })) => panic!("the printer went {current:?} while idle: {reason:?}"),
            Ok(Ok(PrinterEvent {
                kind: PrinterEventKind::Temperatures(_),
                ..
            })) => samples += 1,
            _ => {}
        }
    }
    assert!(
        samples >= 10,
        "only {samples} temperature polls answered in 3 s"
    );
    let file = gcode_file(rig.dir.path(), "part.gcode", LINES);
    let executed = rig.print(&file, PRINT_TIMEOUT).await;
    assert_executed_exactly(&executed, &file);
}
