//! Streaming throughput of the G-code engine against the virtual printer over real ptys.
//!
//! Run with `cargo bench -p printfarm-serial --bench serial_throughput`. Prints, in one run:
//! - lines/s against an instant printer, ping-pong and send-ahead, and the engine's CPU seconds
//!   per 100 000 lines (the engine runs on this thread, the simulator on its own);
//! - lines/s against a printer paced at 115200 and 250000 baud with 1 ms USB latency, next to
//!   the wire limit computed from the bytes actually sent;
//! - a farm of printers at 250000 baud with real-time moves, each fed a dense print's pace
//!   (250 moves/s), each one's rate against that demand;
//! - the same farm streaming as fast as it can, total lines/s and per printer against one alone;
//!
//! with the whole process's CPU time, user and system, for the farm parts (engines and simulated
//! printers both run in this process).
//!
//! `BENCH_LINES` sets the lines of each instant run (default 40 000), `BENCH_RUNS` how many runs
//! (5), `BENCH_PRINTERS` the size of the farm (200); `BENCH_ONLY=instant|paced|dense|farm` runs
//! one part only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use printfarm_serial::engine::EngineConfig;
use printfarm_serial::sim::{SimConfig, VirtualPrinter};
use printfarm_serial::supervisor::{
    PrintPhase, Printer, PrinterEvent, PrinterEventKind, PrinterSettings, PrinterState,
};
use tokio::sync::broadcast;

/// USB full-speed latency the paced runs add to every reply.
const LATENCY: Duration = Duration::from_millis(1);

struct Run {
    lines: u64,
    seconds: f64,
    bytes_sent: u64,
    engine_cpu: f64,
    /// The part of `engine_cpu` spent in the kernel.
    engine_system: f64,
}

impl Run {
    fn lines_per_sec(&self) -> f64 {
        self.lines as f64 / self.seconds
    }
    fn bytes_per_line(&self) -> f64 {
        self.bytes_sent as f64 / self.lines as f64
    }
}

fn main() {
    let instant_lines: usize = env("BENCH_LINES", 40_000);
    let instant_runs: usize = env("BENCH_RUNS", 5).max(1);
    let farm_size: usize = env("BENCH_PRINTERS", 200);
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Every file is written (and synced) before anything is measured.
    let big = gcode(dir.path(), "instant.gcode", instant_lines);
    let paced = gcode(dir.path(), "paced.gcode", 3_000);
    let dense = dense_gcode(dir.path(), "dense.gcode", 2_500);

    println!("printfarm serial engine benchmark (virtual printer on real ptys)");
    if runs("terminal") {
        println!();
        terminal_cost();
    }
    if runs("instant") {
        println!();
        instant(&runtime, dir.path(), &big, instant_runs);
    }

    let mut single_250k = None;
    if runs("paced") {
        println!();
        single_250k = Some(paced_runs(&runtime, dir.path(), &paced));
    }

    if runs("dense") {
        println!();
        let farm = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let estimate = printfarm_gcode::analyse_path(&dense)
            .expect("analysis")
            .estimated_print_secs
            .expect("an estimate");
        let demand = 2_500.0 / estimate;
        let alone = farm
            .block_on(farm_run(dir.path(), &dense, 1, dense_sim))
            .first()
            .copied()
            .unwrap_or(0.0);
        println!(
            "1 printer at a dense print's pace: {alone:.0} lines/s ({:.1} % of its demand, {demand:.0} moves/s)",
            100.0 * alone / demand
        );
        let cpu = ProcessCpu::now();
        let started = Instant::now();
        let rates = farm.block_on(farm_run(dir.path(), &dense, farm_size, dense_sim));
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu.since();
        let slowest = rates.iter().cloned().fold(f64::INFINITY, f64::min);
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        let keeping = rates.iter().filter(|r| **r >= 0.97 * demand).count();
        println!(
            "{farm_size} printers at a dense print's pace ({demand:.0} moves/s each, {:.0} lines/s in all): slowest {slowest:.0} lines/s ({:.1} % of its demand), mean {mean:.0}; {keeping} of {farm_size} within 3 % of the demand (target: all)",
            demand * farm_size as f64,
            100.0 * slowest / demand,
        );
        println!("  CPU over {wall:.1} s: {cpu}");
    }

    if runs("farm") {
        println!();
        // The farm's reference: one printer alone, measured now if the paced runs did not.
        let alone = single_250k.unwrap_or_else(|| {
            let sim = paced_sim(250_000, true);
            runtime
                .block_on(print_once(dir.path(), &paced, sim, "alone"))
                .lines_per_sec()
        });
        let farm = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cpu = ProcessCpu::now();
        let started = Instant::now();
        let per_printer = farm.block_on(farm_run(dir.path(), &paced, farm_size, full_speed_sim));
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu.since();
        let slowest = per_printer.iter().cloned().fold(f64::INFINITY, f64::min);
        let mean = per_printer.iter().sum::<f64>() / per_printer.len() as f64;
        println!(
            "{farm_size} printers at 250000 baud at full speed: {:.0} lines/s in all; per printer mean {mean:.0} lines/s ({:.1} % of one alone, {alone:.0}), slowest {slowest:.0} ({:.1} %)",
            mean * farm_size as f64,
            100.0 * mean / alone,
            100.0 * slowest / alone
        );
        println!("  CPU over {wall:.1} s: {cpu}");
    }
}

/// The instant printer, ping-pong and send-ahead, `count` runs each on a fresh virtual printer,
/// each next to the pty floor measured just before it. On a shared virtual machine about one run
/// in five is much slower (down to half the usual rate) while the next is not, and the pty floor
/// swings as much, so the median is the figure and the range is shown.
/// What the terminal ring adds per line: every line written and read is recorded (a lock, a
/// copy, the time), on the engine's path.
fn terminal_cost() {
    use printfarm_serial::terminal::{Direction, Terminal};
    let terminal = Terminal::default();
    let lines: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("N{i} G1 X{}.5 Y10 E{i}.2 F1200*{}", i % 200, i % 97).into_bytes())
        .collect();
    let rounds = 1000;
    let started = Instant::now();
    for _ in 0..rounds {
        for line in &lines {
            terminal.record(Direction::Sent, line);
            terminal.record(Direction::Received, b"ok");
        }
    }
    let per_line = started.elapsed().as_nanos() as f64 / (rounds * lines.len()) as f64;
    println!(
        "terminal ring: {per_line:.0} ns per line and its ok (both recorded), {:.2} % of a line at 26 900 lines/s",
        100.0 * per_line / (1e9 / 26_900.0)
    );
}

fn instant(runtime: &tokio::runtime::Runtime, dir: &Path, file: &Path, count: usize) {
    for (label, advanced_ok) in [("ping-pong", false), ("send-ahead", true)] {
        let mut rates = Vec::new();
        let mut cpu = Vec::new();
        let mut floors = Vec::new();
        let mut ratios = Vec::new();
        for i in 1..=count {
            let floor = pty_floor(20_000);
            let sim = SimConfig {
                advanced_ok,
                ..SimConfig::default()
            };
            let run = runtime.block_on(print_once(dir, file, sim, label));
            let engine_cpu = run.engine_cpu / run.lines as f64 * 100_000.0;
            println!(
                "instant printer, {label:<10} run {i}: {:>8.0} lines/s = {:>5.1} % of the pty floor just before ({floor:>6.0} lines/s)   engine CPU {engine_cpu:.3} s per 100 000 lines ({:.0} % system)   ({} lines, {:.1} bytes/line)",
                run.lines_per_sec(),
                100.0 * run.lines_per_sec() / floor,
                100.0 * run.engine_system / run.engine_cpu,
                run.lines,
                run.bytes_per_line(),
            );
            ratios.push(run.lines_per_sec() / floor);
            rates.push(run.lines_per_sec());
            cpu.push(engine_cpu);
            floors.push(floor);
        }
        if !advanced_ok {
            // The same exchange with the simulator replaced by the floor's own responder: how
            // much of the gap to the floor is the engine's, how much the simulator's.
            let mut echo_ratios = Vec::new();
            let mut echo_cpu = Vec::new();
            let mut echo_system = Vec::new();
            for _ in 0..count {
                let floor = pty_floor(20_000);
                let run = runtime.block_on(echo_print(dir, file));
                echo_ratios.push(run.lines_per_sec() / floor);
                echo_cpu.push(run.engine_cpu / run.lines as f64 * 100_000.0);
                echo_system.push(run.engine_system / run.engine_cpu);
            }
            println!(
                "instant printer, ping-pong against a bare `ok` responder instead of the simulator: median {:.1} % of the pty floor, range {:.1}–{:.1} %; engine CPU median {:.3} s per 100 000 lines ({:.0} % system)",
                100.0 * median(&mut echo_ratios),
                100.0 * echo_ratios[0],
                100.0 * echo_ratios[echo_ratios.len() - 1],
                median(&mut echo_cpu),
                100.0 * median(&mut echo_system),
            );
        }
        // Sorts `rates`: the range below is its first and last.
        let rate = median(&mut rates);
        let target = if advanced_ok { "" } else { " (target >= 90 %)" };
        println!(
            "instant printer, {label:<10}: median {:>8.0} lines/s, range {:.0}–{:.0}; median {:.1} % of the pty floor{target}, range {:.1}–{:.1} %; engine CPU median {:.3} s per 100 000 lines; pty floor median {:.0} lines/s",
            rate,
            rates[0],
            rates[rates.len() - 1],
            100.0 * median(&mut ratios),
            100.0 * ratios[0],
            100.0 * ratios[ratios.len() - 1],
            median(&mut cpu),
            median(&mut floors),
        );
    }
}

/// Sorts `values` and returns their median.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn paced_sim(baud: u32, advanced_ok: bool) -> SimConfig {
    SimConfig {
        advanced_ok,
        baud,
        latency: LATENCY,
        ..SimConfig::default()
    }
}

/// The paced runs at 115200 and 250000 baud; returns the send-ahead rate at 250000 baud.
fn paced_runs(runtime: &tokio::runtime::Runtime, dir: &Path, file: &Path) -> f64 {
    let mut single_250k = 0.0;
    for baud in [115_200u32, 250_000] {
        let bytes_per_sec = baud as f64 / 10.0;
        for (label, advanced_ok) in [("ping-pong", false), ("send-ahead", true)] {
            let run = runtime.block_on(print_once(dir, file, paced_sim(baud, advanced_ok), label));
            let wire_limit = bytes_per_sec / run.bytes_per_line();
            let line = format!(
                "{baud:>6} baud, 1 ms latency, {label:<10}: {:>6.0} lines/s   wire limit {:>5.0} lines/s ({:.1} bytes/line)",
                run.lines_per_sec(),
                wire_limit,
                run.bytes_per_line()
            );
            if advanced_ok {
                println!(
                    "{line}   {:.1} % of the wire limit (target >= 95 %)",
                    100.0 * run.lines_per_sec() / wire_limit
                );
                if baud == 250_000 {
                    single_250k = run.lines_per_sec();
                }
            } else {
                // One line out, `ok\n` back, plus the latency: nothing can do better one at a time.
                let round_trip = run.bytes_per_line() / bytes_per_sec
                    + 3.0 / bytes_per_sec
                    + LATENCY.as_secs_f64();
                let ideal = 1.0 / round_trip;
                println!("{line}   {:.1} % of 1/(tx + ok + latency) = {ideal:.0} lines/s (target within 10 %)", 100.0 * run.lines_per_sec() / ideal);
            }
        }
    }
    single_250k
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A dense print's moves: 0.36 mm extrusions along a straight line at 100 mm/s (the planner
/// keeps them at cruise speed, 3.6 ms each), turning round every 90 mm at 3000 mm/s²: about
/// 250 moves/s in all.
fn dense_gcode(dir: &Path, name: &str, lines: usize) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    writeln!(file, "G90\nM83\nM204 S3000\nG1 X50 Y50 F6000").expect("write");
    for i in 0..lines {
        let step = i % 500;
        let x = if step < 250 {
            50.36 + step as f64 * 0.36
        } else {
            140.0 - (step - 250) as f64 * 0.36 - 0.36
        };
        writeln!(file, "G1 X{x:.2} E0.0133").expect("write");
    }
    file.into_inner().expect("flush").sync_all().expect("sync");
    path
}

/// A file of `lines` typical extrusion moves (about 25 bytes of G-code each).
fn gcode(dir: &Path, name: &str, lines: usize) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    for i in 0..lines {
        let x = 50.0 + (i % 400) as f64 * 0.25;
        let y = 60.0 + (i % 313) as f64 * 0.25;
        writeln!(
            file,
            "G1 X{x:.2} Y{y:.2} E{:.4}",
            (i % 1000) as f64 * 0.0321
        )
        .expect("write");
    }
    // On disk before any measurement: writeback of a fresh file would run during it.
    file.into_inner().expect("flush").sync_all().expect("sync");
    path
}

fn engine(port: &Path, baud: u32) -> EngineConfig {
    let mut config = EngineConfig::new(port, baud);
    config.boot_wait = Duration::from_millis(200);
    config
}

struct Connected {
    simulator: VirtualPrinter,
    printer: Printer,
    events: broadcast::Receiver<PrinterEvent>,
}

async fn connected(dir: &Path, name: &str, sim: SimConfig) -> Connected {
    let link = dir.join(name);
    let baud = if sim.baud == 0 { 250_000 } else { sim.baud };
    let simulator = VirtualPrinter::start(&link, sim).expect("virtual printer");
    let (sender, events) = broadcast::channel(1024);
    let printer = Printer::spawn(
        PrinterSettings {
            id: name.into(),
            engine: engine(&link, baud),
            auto_connect: true,
        },
        sender,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while printer.status().state != PrinterState::Operational {
        assert!(
            Instant::now() < deadline,
            "{name} did not connect: {:?}",
            printer.status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Connected {
        simulator,
        printer,
        events,
    }
}

async fn print_once(dir: &Path, file: &Path, sim: SimConfig, label: &str) -> Run {
    let name = format!("bench-{label}-{}", sim.baud);
    let Connected {
        simulator,
        printer,
        mut events,
    } = connected(dir, &name, sim).await;
    let before_bytes = simulator.stats().bytes_received;
    let mut run = measured_print(&printer, &mut events, file).await;
    run.bytes_sent = simulator.stats().bytes_received - before_bytes;
    run
}

/// Prints `file` on a connected `printer` and measures the print: lines, seconds and this
/// thread's CPU (the engine's, on the bench's one-thread runtime); no bytes counted.
async fn measured_print(
    printer: &Printer,
    events: &mut broadcast::Receiver<PrinterEvent>,
    file: &Path,
) -> Run {
    let cpu_before = thread_cpu();
    let started = Instant::now();
    printer
        .start_print(file.to_path_buf())
        .await
        .expect("start");
    let lines = wait_done(events).await;
    let seconds = started.elapsed().as_secs_f64();
    let (engine_cpu, engine_system) = thread_cpu().since(&cpu_before);
    Run {
        lines,
        seconds,
        bytes_sent: 0,
        engine_cpu,
        engine_system,
    }
}

/// Prints `file` ping-pong to the floor's responder (one `ok` per line received, nothing
/// parsed) on a pty linked in `dir`.
async fn echo_print(dir: &Path, file: &Path) -> Run {
    use std::io::Read;
    let pty = raw_pty();
    let link = dir.join("bench-echo");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(nix::unistd::ttyname(&pty.slave).expect("ttyname"), &link)
        .expect("symlink");
    let mut master = std::fs::File::from(pty.master);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = master.read(&mut buffer) {
            let oks = buffer[..n].iter().filter(|&&b| b == b'\n').count();
            if n == 0 || master.write_all(&b"ok\n".repeat(oks)).is_err() {
                break;
            }
        }
    });
    let (sender, mut events) = broadcast::channel(1024);
    let mut config = engine(&link, 250_000);
    config.send_ahead = false;
    let printer = Printer::spawn(
        PrinterSettings {
            id: "echo".into(),
            engine: config,
            auto_connect: true,
        },
        sender,
    );
    while printer.status().state != PrinterState::Operational {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let run = measured_print(&printer, &mut events, file).await;
    drop(pty.slave);
    run
}

/// Waits for the print's end (an event, so that waiting costs no CPU) and returns its lines.
async fn wait_done(events: &mut broadcast::Receiver<PrinterEvent>) -> u64 {
    loop {
        match events.recv().await {
            Ok(PrinterEvent {
                kind:
                    PrinterEventKind::Print {
                        phase, progress, ..
                    },
                ..
            }) if phase != PrintPhase::Started => {
                assert_eq!(phase, PrintPhase::Done, "{progress:?}");
                return progress.lines_acked;
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("printer gone"),
        }
    }
}

/// A farm printer streaming as fast as its link allows: 250000 baud, 1 ms latency, moves
/// taking no time.
fn full_speed_sim() -> SimConfig {
    SimConfig {
        baud: 250_000,
        latency: LATENCY,
        ..SimConfig::default()
    }
}

/// A farm printer making its moves in real time.
fn dense_sim() -> SimConfig {
    SimConfig {
        speed: 1.0,
        ..full_speed_sim()
    }
}

/// `count` printers (connected all at once) print `file` together; returns each one's lines/s.
async fn farm_run(dir: &Path, file: &Path, count: usize, sim: fn() -> SimConfig) -> Vec<f64> {
    let mut connecting = tokio::task::JoinSet::new();
    for i in 0..count {
        let dir = dir.to_path_buf();
        connecting.spawn(async move { connected(&dir, &format!("farm-{i}"), sim()).await });
    }
    let mut printers = Vec::new();
    while let Some(printer) = connecting.join_next().await {
        printers.push(printer.expect("connect task"));
    }
    let mut tasks = Vec::new();
    for connected in &mut printers {
        let printer = connected.printer.clone();
        let mut events = connected.events.resubscribe();
        let file = file.to_path_buf();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            printer.start_print(file).await.expect("start");
            let lines = wait_done(&mut events).await;
            lines as f64 / started.elapsed().as_secs_f64()
        }));
    }
    let mut rates = Vec::new();
    for task in tasks {
        rates.push(task.await.expect("printer task"));
    }
    rates
}

/// The kernel's own limit for ping-pong over a pty: a raw blocking line/`ok` exchange between
/// two threads, with no parsing, no async runtime and no simulated firmware.
fn pty_floor(lines: usize) -> f64 {
    use std::io::{Read, Write as _};
    let pty = raw_pty();
    let mut master = std::fs::File::from(pty.master);
    let mut slave = std::fs::File::from(pty.slave);
    let firmware = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = master.read(&mut buffer) {
            if n == 0 || master.write_all(b"ok\n").is_err() {
                break;
            }
        }
    });
    let line = b"N12345 G1 X123.45 Y67.89 E0.1234*99\n";
    let mut buffer = [0u8; 4096];
    let started = Instant::now();
    for _ in 0..lines {
        slave.write_all(line).expect("write");
        let _ = slave.read(&mut buffer).expect("read");
    }
    let rate = lines as f64 / started.elapsed().as_secs_f64();
    drop(slave);
    let _ = firmware.join();
    rate
}

/// A pty pair in raw mode.
fn raw_pty() -> nix::pty::OpenptyResult {
    use std::os::fd::AsFd;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut termios = nix::sys::termios::tcgetattr(pty.slave.as_fd()).expect("tcgetattr");
    nix::sys::termios::cfmakeraw(&mut termios);
    nix::sys::termios::tcsetattr(
        pty.slave.as_fd(),
        nix::sys::termios::SetArg::TCSANOW,
        &termios,
    )
    .expect("tcsetattr");
    pty
}

/// The whole process's CPU time, user and system, and the machine's stolen time (what the
/// hypervisor gave other guests), at one moment.
struct ProcessCpu {
    user: f64,
    system: f64,
    steal: f64,
}

impl ProcessCpu {
    fn now() -> ProcessCpu {
        let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
            .expect("getrusage");
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        ProcessCpu {
            user: secs(usage.user_time()),
            system: secs(usage.system_time()),
            steal: stolen_secs(),
        }
    }

    /// What was used since `self`, as text.
    fn since(&self) -> String {
        let now = ProcessCpu::now();
        let (user, system) = (now.user - self.user, now.system - self.system);
        format!(
            "user {user:.1} s, system {system:.1} s ({:.0} % system); the machine's CPUs had {:.1} s stolen by the hypervisor",
            100.0 * system / (user + system),
            now.steal - self.steal,
        )
    }
}

/// Seconds of CPU time stolen from this (virtual) machine, all CPUs together (`/proc/stat`'s
/// eighth `cpu` field, in clock ticks of 1/100 s); 0 where it cannot be read.
fn stolen_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .next()
        .and_then(|cpu| cpu.split_ascii_whitespace().nth(8))
        .and_then(|ticks| ticks.parse::<f64>().ok())
        .map_or(0.0, |ticks| ticks / 100.0)
}

/// CPU seconds this thread has used.
fn thread_cpu() -> ThreadCpu {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD)
        .expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    ThreadCpu {
        user: secs(usage.user_time()),
        system: secs(usage.system_time()),
    }
}

/// This thread's CPU time at one moment.
struct ThreadCpu {
    user: f64,
    system: f64,
}

impl ThreadCpu {
    /// CPU seconds since `before`, in all and in the kernel.
    fn since(&self, before: &ThreadCpu) -> (f64, f64) {
        let system = self.system - before.system;
        (self.user - before.user + system, system)
    }
}
