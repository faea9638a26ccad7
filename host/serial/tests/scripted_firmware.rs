//! The engine against firmware written here reply by reply, for sequences the simulator's
//! fault plan cannot aim at: a lost `ok` in the middle of a resend on a firmware that drops
//! repeats silently (Marlin 2.1), and RepRapFirmware's answers to the engine's own questions
//! lost or late. Each test prints a file and checks every line ran exactly once, in order.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::scripted::ScriptedPort;
use common::{assert_executed_exactly, engine_config, init_tracing, without_housekeeping};
use printfarm_serial::protocol::line::parse_numbered;
use printfarm_serial::supervisor::{
    PrintPhase, Printer, PrinterSettings, PrinterState, PrinterStatus,
};
use tokio::sync::broadcast;

const TEMPERATURES: &str = "T:21.0 /0.0 B:20.5 /0.0 @:0 B@:0";

/// What happens to one reception of one command, besides the firmware's normal rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Normal,
    /// Executed, but its `ok` is lost on the way.
    LoseOk,
    /// Lost on the way (RepRapFirmware drops a corrupted line without a word).
    Lost,
    /// Executed, its `ok` comes this much later.
    LateOk(Duration),
    /// Arrives corrupted: refused with a checksum error, and the number in the resend
    /// request that follows is garbled into this one.
    GarbledResend(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Marlin 2.1: checks line numbers; a line out of order gets an error, a resend request
    /// and an `ok`; a repeat of the last line or the one before is dropped without a word.
    Marlin,
    /// RepRapFirmware 3: no line-number checks, every line taken in the order it comes.
    RepRap,
}

/// A scripted firmware on its own thread: `fates` names what befalls the n-th reception of a
/// command (by its text, first reception 1); everything else is normal.
struct Firmware {
    kind: Kind,
    port: ScriptedPort,
    fates: HashMap<(String, u32), Fate>,
    received: HashMap<String, u32>,
    expected: u64,
    executed: Arc<Mutex<Vec<String>>>,
    /// Replies held back, with when they go: a late `ok` holds back every reply after it
    /// (firmware answers in order).
    late: Vec<(Instant, String)>,
}

impl Firmware {
    fn run(mut self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let due: Vec<String> = self
                .late
                .iter()
                .filter(|(at, _)| *at <= now)
                .map(|(_, text)| text.clone())
                .collect();
            self.late.retain(|(at, _)| *at > now);
            for text in due {
                self.port.say(&text);
            }

            if let Some(line) = self.port.next_line(Duration::from_millis(5)) {
                self.receive(&line);
            }
        }
    }

    fn receive(&mut self, line: &str) {
        let (number, command) = match parse_numbered(line) {
            Ok((number, command)) => (Some(number), command.to_string()),
            Err(_) => (None, line.to_string()),
        };
        let count = self.received.entry(command.clone()).or_insert(0);
        *count += 1;
        let fate = self
            .fates
            .get(&(command.clone(), *count))
            .copied()
            .unwrap_or(Fate::Normal);
        if fate == Fate::Lost {
            return;
        }
        if let Fate::GarbledResend(garbled) = fate {
            let last = self.expected - 1;
            self.reply(&format!("Error:checksum mismatch, Last Line: {last}"));
            self.reply(&format!("Resend: {garbled}"));
            self.reply("ok");
            return;
        }
        if command.starts_with("M110") {
            self.expected = number.unwrap_or(0) + 1;
            self.reply("ok");
            return;
        }
        if let (Kind::Marlin, Some(number)) = (self.kind, number) {
            if number != self.expected {
                if number < self.expected && self.expected - number <= 2 {
                    return;
                }
                let last = self.expected - 1;
                self.reply(&format!(
                    "Error:Line Number is not Last Line Number+1, Last Line: {last}"
                ));
                self.reply(&format!("Resend: {}", self.expected));
                self.reply("ok");
                return;
            }
            self.expected += 1;
        }
        self.executed.lock().unwrap().push(command.clone());
        let ok = match command.split_whitespace().next() {
            Some("M105") => format!("ok {TEMPERATURES}"),
            Some("M115") => {
                let name = match self.kind {
                    Kind::Marlin => "Marlin 2.1.2.4 (Github)",
                    Kind::RepRap => "RepRapFirmware for Duet 3 MB6HC",
                };
                self.reply(&format!(
                    "FIRMWARE_NAME:{name} PROTOCOL_VERSION:1.0 MACHINE_TYPE:Test"
                ));
                "ok".to_string()
            }
            _ => "ok".to_string(),
        };
        match fate {
            Fate::LoseOk => {}
            Fate::LateOk(delay) => self.late.push((Instant::now() + delay, ok)),
            Fate::Normal | Fate::Lost | Fate::GarbledResend(_) => self.reply(&ok),
        }
    }

    /// Says `text` now, or after the replies held back.
    fn reply(&mut self, text: &str) {
        match self.late.last() {
            // A few milliseconds apart, as lines come over a serial link: the host reads
            // them one by one and acts in between.
            Some(&(at, _)) => self
                .late
                .push((at + Duration::from_millis(3), text.to_string())),
            None => self.port.say(text),
        }
    }
}

/// Prints a file of `lines` moves through a supervised printer on a scripted `kind` firmware
/// with these `fates` and checks that every move ran exactly once, in order.
async fn prints_exactly(kind: Kind, lines: usize, fates: &[(&str, u32, Fate)]) {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let port = ScriptedPort::open(dir.path(), "ttyScripted");
    let mut engine = engine_config(&port.link);
    // One poll at connect, then none in the way of the scripted sequence.
    engine.temperature_interval = Duration::from_secs(60);
    engine.max_timeouts = 3;
    let executed = Arc::new(Mutex::new(Vec::new()));
    let firmware = Firmware {
        kind,
        port,
        fates: fates
            .iter()
            .map(|(command, nth, fate)| ((command.to_string(), *nth), *fate))
            .collect(),
        received: HashMap::new(),
        expected: 0,
        executed: executed.clone(),
        late: Vec::new(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::spawn({
        let stop = stop.clone();
        move || firmware.run(stop)
    });
    let (sender, _events) = broadcast::channel(4096);
    let printer = Printer::spawn(
        PrinterSettings {
            id: "scripted".into(),
            engine,
            auto_connect: true,
        },
        sender,
    );
    wait_for(&printer, "operational", |status| {
        status.state == PrinterState::Operational
    })
    .await;
    let file = dir.path().join("part.gcode");
    let text: String = (1..=lines).map(|i| format!("G1 X{i}\n")).collect();
    std::fs::write(&file, text).unwrap();
    printer.start_print(file.clone()).await.unwrap();
    let status = wait_for(&printer, "done printing", |status| {
        !status.state.is_printing() && status.last_print.is_some()
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    let (phase, progress) = status.last_print.unwrap();
    assert_eq!(phase, PrintPhase::Done, "{progress:?}");
    let executed = without_housekeeping(executed.lock().unwrap().clone());
    assert_executed_exactly(&executed, &file);
}

async fn wait_for(
    printer: &Printer,
    what: &str,
    done: impl Fn(&PrinterStatus) -> bool,
) -> PrinterStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = printer.status();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "not {what} in 20 s: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The firmware acknowledges `G1 X5` without keeping it (an `ok` the line never earned), so
/// it asks for it again when `G1 X6` comes; the `ok` of the resent `G1 X5` is then lost. A
/// host that sends `G1 X5` once more gets no answer at all (Marlin 2.1 drops a repeat of its
/// last line): asking with a numbered `M105` makes the firmware name the line it wants.
#[tokio::test]
async fn lost_ok_in_the_middle_of_a_resend_on_marlin() {
    prints_exactly(
        Kind::Marlin,
        20,
        &[("G1 X5", 1, Fate::Lost), ("G1 X5", 2, Fate::LoseOk)],
    )
    .await;
}

/// A plain lost `ok` on Marlin: the numbered `M105` after the silence is taken, and its
/// `ok T:` acknowledges the line whose `ok` was lost.
#[tokio::test]
async fn lost_ok_on_marlin() {
    prints_exactly(Kind::Marlin, 20, &[("G1 X5", 1, Fate::LoseOk)]).await;
}

/// RepRapFirmware drops a corrupted line silently: the engine's bare `M105` after the silence
/// is answered, and the line still unacknowledged then is sent again.
#[tokio::test]
async fn dropped_line_on_reprapfirmware() {
    prints_exactly(Kind::RepRap, 20, &[("G1 X5", 1, Fate::Lost)]).await;
}

/// A slow `ok` on RepRapFirmware makes the engine ask, and the question itself is lost: the
/// `ok` then arrives and nothing is left in flight, but the engine must not wait forever for
/// the answer to a question that never arrived.
#[tokio::test]
async fn lost_question_on_reprapfirmware() {
    prints_exactly(
        Kind::RepRap,
        20,
        &[
            ("G1 X5", 1, Fate::LateOk(Duration::from_millis(100))),
            ("M105", 2, Fate::Lost),
        ],
    )
    .await;
}

/// An `ok` so slow that the engine asks several times: each question gets its answer, and
/// only the first may say anything about the lines in flight; the others must not count as
/// acknowledgements of the lines that follow (the last line would be sent twice).
#[tokio::test]
async fn several_questions_answered_on_reprapfirmware() {
    prints_exactly(
        Kind::RepRap,
        20,
        &[("G1 X5", 1, Fate::LateOk(Duration::from_millis(600)))],
    )
    .await;
}

/// A resend request for a line never sent (its number garbled on the way) is no reason to
/// stop a print: the engine ignores it, and the question after the silence that follows
/// makes the firmware name the line again.
#[tokio::test]
async fn garbled_resend_request_on_marlin() {
    prints_exactly(Kind::Marlin, 20, &[("G1 X5", 1, Fate::GarbledResend(95))]).await;
}
