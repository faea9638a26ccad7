//! Throughput and memory of `printfarm_gcode::analyse` on a large synthetic file.
//!
//! `cargo bench -p printfarm-gcode --bench analysis` writes a PrusaSlicer-like file of about
//! 100 MB (`BENCH_MB` changes the size) to a temporary directory, analyses it, then does the same
//! with a copy without comments so the kinematic model and move counting supply every figure.
//! It prints size, time, MB/s and peak-RSS growth, and exits non-zero when a result is wrong or
//! the analysis is slower than the 3 s per 100 MB the server relies on.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use printfarm_gcode::{analyse_path, Analysis, EstimateSource};

/// Slowest acceptable rate: 100 MB in 3 s.
const MIN_MB_PER_SEC: f64 = 100.0 / 3.0;
/// The slicer estimate written into the footer: 1d 2h 3m 4s.
const FOOTER_SECS: f64 = 93_784.0;

/// What the generator wrote, for checking the analysis against.
#[derive(Debug, Default)]
struct Expected {
    bytes: u64,
    lines: u64,
    /// Net extrusion in units of 10⁻⁵ mm, summed exactly.
    e_units: i64,
    layers: u32,
    /// Extruding-move bounds in thousandths of a mm: min x, min y, max x, max y.
    bounds: [i64; 4],
    max_z_units: i64,
    thumbnail: Vec<u8>,
}

/// Writes G-code lines while counting what the analysis should find.
struct Generator<W: Write> {
    out: W,
    with_comments: bool,
    expected: Expected,
    /// Current position in thousandths of a mm.
    x: i64,
    y: i64,
    z: i64,
    line: String,
}

impl<W: Write> Generator<W> {
    fn new(out: W, with_comments: bool) -> Self {
        Generator {
            out,
            with_comments,
            expected: Expected {
                bounds: [i64::MAX, i64::MAX, i64::MIN, i64::MIN],
                ..Expected::default()
            },
            x: 0,
            y: 0,
            z: 0,
            line: String::with_capacity(128),
        }
    }

    fn raw(&mut self, text: &str) -> io::Result<()> {
        self.expected.bytes += text.len() as u64;
        self.out.write_all(text.as_bytes())
    }

    fn comment(&mut self, text: &str) -> io::Result<()> {
        if self.with_comments {
            self.raw(text)?;
            self.raw("\n")?;
        }
        Ok(())
    }

    fn command(&mut self, text: &str) -> io::Result<()> {
        self.expected.lines += 1;
        self.raw(text)?;
        self.raw("\n")
    }

    /// `G1 X Y [E] [F]` with coordinates in thousandths and E in 10⁻⁵ mm.
    fn xy(&mut self, x: i64, y: i64, e_units: i64, feed: Option<u32>) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        write!(line, "G1 X{} Y{}", fixed(x, 3), fixed(y, 3)).unwrap();
        if e_units != 0 {
            write!(line, " E{}", fixed(e_units, 5)).unwrap();
        }
        if let Some(f) = feed {
            write!(line, " F{f}").unwrap();
        }
        if e_units > 0 {
            self.include(self.x, self.y);
            self.include(x, y);
            self.expected.max_z_units = self.expected.max_z_units.max(self.z);
        }
        self.expected.e_units += e_units;
        self.x = x;
        self.y = y;
        let result = self.command(&line);
        self.line = line;
        result
    }

    fn include(&mut self, x: i64, y: i64) {
        let b = &mut self.expected.bounds;
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }

    fn retract(&mut self, e_units: i64) -> io::Result<()> {
        self.expected.e_units += e_units;
        self.command(&format!("G1 E{} F2100", fixed(e_units, 5)))
    }
}

/// `value / 10^decimals` written the way slicers do (`-.8`, `12.5`, `100`).
fn fixed(value: i64, decimals: u32) -> String {
    let scale = 10i64.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let (int, frac) = (value.abs() / scale, value.abs() % scale);
    let mut s = if frac == 0 {
        format!("{sign}{int}")
    } else {
        let digits = format!("{frac:0width$}", width = decimals as usize);
        let digits = digits.trim_end_matches('0');
        if int == 0 {
            format!("{sign}.{digits}")
        } else {
            format!("{sign}{int}.{digits}")
        }
    };
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// Extrusion for a move of `len_units` thousandths: 0.45 × 0.2 mm lines from 1.75 mm filament.
fn e_for(len_units: f64) -> i64 {
    (len_units / 1000.0 * 0.0374 * 1e5).round() as i64
}

fn thumbnail_bytes(len: usize) -> Vec<u8> {
    let mut data = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let mut state: u32 = 12345;
    data.extend((0..len).map(|_| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (state >> 24) as u8
    }));
    data
}

/// Writes a file of about `target` bytes, streaming: nothing but the current line is held.
fn write_file(path: &Path, target: u64, with_comments: bool) -> io::Result<Expected> {
    let mut g = Generator::new(
        BufWriter::with_capacity(1 << 20, File::create(path)?),
        with_comments,
    );
    g.comment("; generated by PrusaSlicer 2.7.1+linux-x64-GTK3 on 2024-05-01 at 10:00:00 UTC")?;
    g.comment(";")?;
    let thumb = thumbnail_bytes(12_000);
    if with_comments {
        let encoded = STANDARD.encode(&thumb);
        g.comment(&format!("; thumbnail begin 220x124 {}", encoded.len()))?;
        for chunk in encoded.as_bytes().chunks(78) {
            g.comment(&format!("; {}", std::str::from_utf8(chunk).unwrap()))?;
        }
        g.comment("; thumbnail end")?;
        g.expected.thumbnail = thumb;
    }
    g.comment("; external perimeters extrusion width = 0.45mm")?;
    for line in [
        "M73 P0 R1563",
        "M201 X1000 Y1000 Z200 E5000",
        "M203 X200 Y200 Z12 E120",
        "M204 P1250 R1250 T1250",
        "M205 X8.00 Y8.00 Z0.40 E1.50",
        "G90",
        "M83",
        "M104 S215",
        "M140 S60",
        "M190 S60",
        "M109 S215",
        "G28 W",
        "G92 E0",
    ] {
        g.command(line)?;
    }
    let footer_reserve = 2_000;
    let (cx, cy) = (100_000i64, 100_000i64);
    let mut layer = 0u32;
    while g.expected.bytes + footer_reserve < target {
        layer += 1;
        g.z = 200 * i64::from(layer);
        g.comment(";LAYER_CHANGE")?;
        g.comment(&format!(";Z:{}", fixed(g.z, 3)))?;
        g.comment(";HEIGHT:0.2")?;
        g.retract(-80_000)?;
        g.command(&format!("G1 Z{} F720", fixed(g.z, 3)))?;
        // A circle of 0.7 mm segments: the planner's corner and curve handling.
        let radius = 40_000.0;
        g.xy(cx + radius as i64, cy, 0, Some(10_800))?;
        g.retract(80_000)?;
        g.comment(";TYPE:External perimeter")?;
        g.comment(";WIDTH:0.45")?;
        g.command("G1 F1800")?;
        let segments = 360;
        for i in 1..=segments {
            let angle = std::f64::consts::TAU * f64::from(i) / f64::from(segments);
            let x = cx + (radius * angle.cos()).round() as i64;
            let y = cy + (radius * angle.sin()).round() as i64;
            let len = (((x - g.x).pow(2) + (y - g.y).pow(2)) as f64).sqrt();
            g.xy(x, y, e_for(len), None)?;
        }
        // Zig-zag infill inside the circle, rotated every layer by swapping axes.
        g.comment(";TYPE:Solid infill")?;
        g.comment(";WIDTH:0.45")?;
        g.retract(-80_000)?;
        let half = 27_000i64;
        let (start_x, start_y) = (cx - half, cy - half);
        let even = layer.is_multiple_of(2);
        let travel = if even {
            (start_x, start_y)
        } else {
            (start_y, start_x)
        };
        g.xy(travel.0, travel.1, 0, Some(10_800))?;
        g.retract(80_000)?;
        g.command("G1 F3000")?;
        let mut along = start_y;
        let mut left = true;
        while along <= cy + half {
            let (a, b) = if left {
                (cx + half, along)
            } else {
                (cx - half, along)
            };
            let (x, y) = if even { (a, b) } else { (b, a) };
            let len = (((x - g.x).pow(2) + (y - g.y).pow(2)) as f64).sqrt();
            g.xy(x, y, e_for(len), None)?;
            along += 450;
            let (x, y) = if even { (x, along) } else { (along, y) };
            if along <= cy + half {
                g.xy(x, y, e_for(450.0), None)?;
            }
            left = !left;
        }
    }
    g.expected.layers = layer;
    g.retract(-80_000)?;
    g.command(&format!("G1 Z{} F720", fixed(g.z + 10_000, 3)))?;
    g.xy(0, 200_000, 0, Some(3_200))?;
    g.command("M104 S0")?;
    g.command("M84")?;
    let filament = g.expected.e_units as f64 / 1e5;
    g.comment(&format!("; filament used [mm] = {filament:.2}"))?;
    g.comment("; filament used [g] = 1234.56")?;
    g.comment(&format!("; total layers count = {layer}"))?;
    g.comment("; estimated printing time (normal mode) = 1d 2h 3m 4s")?;
    g.comment("; estimated first layer printing time (normal mode) = 1m 4s")?;
    g.out.flush()?;
    Ok(g.expected)
}

/// A `Vm…:` figure from /proc/self/status, in KiB.
fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Starts a new peak-RSS measurement: resets VmHWM to the current RSS where the kernel allows
/// it (Linux ≥ 4.0), so the next VmHWM is the peak of what runs in between, not of the whole
/// process so far. Returns the RSS the peak is measured from.
fn start_peak() -> Option<u64> {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_kib("VmHWM:")
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn growth(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    Some(after?.saturating_sub(before?))
}

fn hms(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}h {:02}m {:02}s", s / 3600, s / 60 % 60, s % 60)
}

/// Checks the analysis against what was written; returns the discrepancies.
fn check(a: &Analysis, e: &Expected, with_comments: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            errors.push(what);
        }
    };
    expect(
        a.bytes == e.bytes,
        format!("bytes {} != {}", a.bytes, e.bytes),
    );
    expect(
        a.lines == e.lines,
        format!("lines {} != {}", a.lines, e.lines),
    );
    expect(
        a.layers == Some(e.layers),
        format!("layers {:?} != {}", a.layers, e.layers),
    );
    let filament = e.e_units as f64 / 1e5;
    let got = a.filament_mm.first().copied().unwrap_or(f64::NAN);
    let tolerance = if with_comments {
        0.006
    } else {
        1e-6 * filament.max(1.0)
    };
    expect(
        a.filament_mm.len() == 1 && (got - filament).abs() <= tolerance,
        format!("filament {:?} != {filament}", a.filament_mm),
    );
    match a.bounds {
        Some(b) => {
            let want = [
                e.bounds[0] as f64 / 1000.0,
                e.bounds[1] as f64 / 1000.0,
                e.bounds[2] as f64 / 1000.0,
                e.bounds[3] as f64 / 1000.0,
            ];
            let got = [b.min_x, b.min_y, b.max_x, b.max_y];
            let near = got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9);
            expect(near, format!("bounds {got:?} != {want:?}"));
            let max_z = e.max_z_units as f64 / 1000.0;
            expect(
                (b.min_z - 0.2).abs() < 1e-9 && (b.max_z - max_z).abs() < 1e-9,
                format!("z bounds {}..{} != 0.2..{max_z}", b.min_z, b.max_z),
            );
        }
        None => expect(false, "no bounds".into()),
    }
    let model = a.model_print_secs.unwrap_or(0.0);
    expect(
        model > 0.0 && model.is_finite(),
        format!("model time {model}"),
    );
    if with_comments {
        expect(
            a.slicer.as_deref() == Some("PrusaSlicer 2.7.1+linux-x64-GTK3"),
            format!("slicer {:?}", a.slicer),
        );
        expect(
            a.estimated_print_secs == Some(FOOTER_SECS)
                && a.estimate_source == EstimateSource::Slicer,
            format!(
                "estimate {:?} {:?}",
                a.estimated_print_secs, a.estimate_source
            ),
        );
        expect(
            a.thumbnails.len() == 1 && a.thumbnails[0].data == e.thumbnail,
            format!("{} thumbnails, or the data differs", a.thumbnails.len()),
        );
    } else {
        expect(
            a.slicer.is_none()
                && a.estimate_source == EstimateSource::Model
                && a.estimated_print_secs == a.model_print_secs
                && a.thumbnails.is_empty(),
            "comment-less file reported slicer figures".into(),
        );
    }
    errors
}

fn run(dir: &Path, target: u64, with_comments: bool) -> io::Result<(Vec<String>, f64)> {
    let label = if with_comments {
        "PrusaSlicer-like, with comments"
    } else {
        "same moves, no comments (model path)"
    };
    let path = dir.join(if with_comments {
        "slicer.gcode"
    } else {
        "bare.gcode"
    });
    let before_write = start_peak();
    let expected = write_file(&path, target, with_comments)?;
    let after_write = status_kib("VmHWM:");
    let before = start_peak();
    let started = Instant::now();
    let analysis = analyse_path(&path)?;
    let secs = started.elapsed().as_secs_f64();
    let after = status_kib("VmHWM:");
    std::fs::remove_file(&path)?;

    let mb = expected.bytes as f64 / 1e6;
    println!("{label}:");
    println!(
        "  file      {mb:.1} MB, {} command lines, {} layers",
        analysis.lines, expected.layers
    );
    println!("  analysis  {secs:.3} s, {:.0} MB/s", mb / secs);
    println!(
        "  peak RSS  {} during analysis, {} above the RSS before it; writing added {}",
        mib(after),
        mib(growth(before, after)),
        mib(growth(before_write, after_write)),
    );
    println!(
        "  result    estimate {} ({:?}), model {}, filament {:.1} mm ({:?}), {} thumbnail(s)",
        analysis.estimated_print_secs.map_or("-".into(), hms),
        analysis.estimate_source,
        analysis.model_print_secs.map_or("-".into(), hms),
        analysis.filament_mm.first().copied().unwrap_or(0.0),
        analysis.filament_source,
        analysis.thumbnails.len(),
    );
    let mut errors = check(&analysis, &expected, with_comments);
    if mb / secs < MIN_MB_PER_SEC {
        errors.push(format!(
            "too slow: {:.0} MB/s, below the {MIN_MB_PER_SEC:.0} MB/s (100 MB in 3 s) required",
            mb / secs
        ));
    }
    Ok((errors, secs))
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let mb: u64 = match std::env::var("BENCH_MB") {
        Ok(v) => match v.parse() {
            Ok(mb) if mb > 0 => mb,
            _ => {
                eprintln!("BENCH_MB must be a positive number of megabytes, not {v:?}");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => 100,
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "printfarm-gcode analysis bench: {mb} MB files in {}",
        dir.path().display()
    );
    let mut failed = false;
    for with_comments in [true, false] {
        match run(dir.path(), mb * 1_000_000, with_comments) {
            Ok((errors, _)) => {
                for e in &errors {
                    eprintln!("  WRONG: {e}");
                }
                failed |= !errors.is_empty();
            }
            Err(e) => {
                eprintln!("  I/O error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        println!("ok");
        ExitCode::SUCCESS
    }
}
