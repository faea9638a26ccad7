//! The engine against each firmware dialect the virtual printer imitates (Marlin 2.1, Prusa
//! MK3, Prusa Buddy, Repetier, RepRapFirmware, Smoothieware, Klipper, as their public sources
//! behave): a 20 000-line file with 1 % of the link's faults mixed in (resend requests,
//! checksum errors, corrupted bytes, lost and doubled `ok`s, busy spells, `wait`s, each in the
//! dialect's own words) must be executed exactly, every line once and in order.

mod common;

use std::time::Duration;

use common::{assert_executed_exactly, gcode_file, Rig};
use printfarm_serial::engine::EngineConfig;
use printfarm_serial::sim::{FaultPlan, Flavour, SimConfig};

const LINES: usize = 20_000;
const TIMEOUT: Duration = Duration::from_secs(180);

/// `PRINTFARM_DIALECT_SEED` shifts every test's seed, to soak the engine with other fault
/// sequences (`for s in $(seq 1 20); do PRINTFARM_DIALECT_SEED=$s cargo test …; done`).
fn dialect(flavour: Flavour, seed: u64) -> SimConfig {
    let shift: u64 = std::env::var("PRINTFARM_DIALECT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    SimConfig {
        flavour,
        faults: FaultPlan {
            random_rate: 0.01,
            seed: seed.wrapping_add(shift.wrapping_mul(1_000)),
            at_line: vec![],
        },
        ..SimConfig::default()
    }
}

async fn prints_exactly(sim: SimConfig, tune: impl FnOnce(&mut EngineConfig)) {
    let rig = Rig::start(sim, tune).await;
    let file = gcode_file(rig.dir.path(), "dialect.gcode", LINES);
    let executed = rig.print(&file, TIMEOUT).await;
    assert_executed_exactly(&executed, &file);
}

#[tokio::test]
async fn marlin_2_1_advanced_ok() {
    prints_exactly(dialect(Flavour::Marlin, 1), |_| {}).await;
}

/// Marlin without ADVANCED_OK and without an `ok` after `Resend:` (2.0.x builds): ping-pong.
#[tokio::test]
async fn marlin_without_advanced_ok_nor_ok_after_resend() {
    let sim = SimConfig {
        advanced_ok: false,
        ok_after_resend: false,
        ..dialect(Flavour::Marlin, 2)
    };
    prints_exactly(sim, |_| {}).await;
}

#[tokio::test]
async fn prusa_mk3() {
    prints_exactly(dialect(Flavour::Prusa, 3), |_| {}).await;
}

/// The MK3 with its buffers stated in the config, so the engine sends ahead to a firmware
/// that does not drain its input on an error.
#[tokio::test]
async fn prusa_mk3_send_ahead() {
    prints_exactly(dialect(Flavour::Prusa, 4), |engine| {
        engine.rx_buffer = Some(128);
        engine.command_buffer = Some(4);
    })
    .await;
}

#[tokio::test]
async fn prusa_buddy() {
    prints_exactly(dialect(Flavour::PrusaBuddy, 5), |_| {}).await;
}

#[tokio::test]
async fn repetier() {
    prints_exactly(dialect(Flavour::Repetier, 6), |_| {}).await;
}

#[tokio::test]
async fn reprapfirmware() {
    prints_exactly(dialect(Flavour::RepRapFirmware, 7), |_| {}).await;
}

#[tokio::test]
async fn smoothieware() {
    prints_exactly(dialect(Flavour::Smoothieware, 8), |_| {}).await;
}

#[tokio::test]
async fn klipper() {
    prints_exactly(dialect(Flavour::Klipper, 9), |_| {}).await;
}
