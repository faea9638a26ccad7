//! A printer's recent temperatures, stored by column so an hour of samples for hundreds of
//! printers stays small.
//!
//! A sample as the API returns it ([`TemperatureSample`]) holds a vector of named readings:
//! about 150 bytes on the heap for a tool and a bed. Kept that way, an hour at one sample every
//! 2 s costs some 60 MB for 200 printers. Here each sensor is a column of `f32` pairs beside one
//! column of times, about 20 bytes per sample, and samples are rebuilt when someone asks.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::supervisor::{SensorReading, TemperatureSample};

/// Samples kept per printer: one hour at the default 2 s report interval.
pub const TEMPERATURE_HISTORY: usize = 1800;

/// One sensor's readings, aligned with [`TemperatureHistory::times`]. A sample without this
/// sensor holds `NaN` as its actual value; a reading without a target holds `NaN` as target.
struct Column {
    sensor: Arc<str>,
    values: VecDeque<(f32, f32)>,
}

/// The last [`TEMPERATURE_HISTORY`] samples of one printer, oldest first.
pub struct TemperatureHistory {
    capacity: usize,
    times: VecDeque<u64>,
    columns: Vec<Column>,
}

impl Default for TemperatureHistory {
    fn default() -> Self {
        TemperatureHistory::with_capacity(TEMPERATURE_HISTORY)
    }
}

impl TemperatureHistory {
    /// A history keeping at most `capacity` samples (at least one).
    pub fn with_capacity(capacity: usize) -> TemperatureHistory {
        TemperatureHistory {
            capacity: capacity.max(1),
            times: VecDeque::new(),
            columns: Vec::new(),
        }
    }

    /// How many samples it holds.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, sample: &TemperatureSample) {
        if self.times.len() == self.capacity {
            self.times.pop_front();
            for column in &mut self.columns {
                column.values.pop_front();
            }
        }
        let held = self.times.len();
        self.times.push_back(sample.time_ms);
        for column in &mut self.columns {
            column.values.push_back((f32::NAN, f32::NAN));
        }
        for reading in &sample.readings {
            let index = match self
                .columns
                .iter()
                .position(|c| *c.sensor == *reading.sensor)
            {
                Some(index) => index,
                None => {
                    // A sensor seen for the first time: earlier samples did not have it.
                    let mut values = VecDeque::with_capacity(held + 1);
                    values.resize(held + 1, (f32::NAN, f32::NAN));
                    self.columns.push(Column {
                        sensor: reading.sensor.as_str().into(),
                        values,
                    });
                    self.columns.len() - 1
                }
            };
            if let Some(slot) = self.columns[index].values.back_mut() {
                *slot = (
                    reading.actual as f32,
                    reading.target.map_or(f32::NAN, |t| t as f32),
                );
            }
        }
    }

    /// The newest `limit` samples, oldest first.
    pub fn last(&self, limit: usize) -> Vec<TemperatureSample> {
        let skip = self.times.len().saturating_sub(limit);
        (skip..self.times.len())
            .map(|i| TemperatureSample {
                time_ms: self.times[i],
                readings: self
                    .columns
                    .iter()
                    .filter_map(|column| {
                        let (actual, target) = column.values[i];
                        (!actual.is_nan()).then(|| SensorReading {
                            sensor: column.sensor.to_string(),
                            actual: widen(actual),
                            target: (!target.is_nan()).then(|| widen(target)),
                        })
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Back to `f64` without the binary noise of the conversion (`23.3f32` is 23.299999…): firmware
/// reports temperatures to two decimals at most.
fn widen(value: f32) -> f64 {
    (value as f64 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(time_ms: u64, readings: &[(&str, f64, Option<f64>)]) -> TemperatureSample {
        TemperatureSample {
            time_ms,
            readings: readings
                .iter()
                .map(|(sensor, actual, target)| SensorReading {
                    sensor: sensor.to_string(),
                    actual: *actual,
                    target: *target,
                })
                .collect(),
        }
    }

    #[test]
    fn samples_come_back_as_they_went_in() {
        let mut history = TemperatureHistory::with_capacity(10);
        let a = sample(1, &[("tool0", 23.3, Some(0.0)), ("bed", 21.07, None)]);
        let b = sample(
            2,
            &[("tool0", 210.5, Some(210.0)), ("bed", 60.0, Some(60.0))],
        );
        history.push(&a);
        history.push(&b);
        assert_eq!(history.last(10), vec![a, b.clone()]);
        assert_eq!(history.last(1), vec![b]);
    }

    #[test]
    fn sensors_that_come_and_go_leave_gaps_not_zeros() {
        let mut history = TemperatureHistory::with_capacity(10);
        let a = sample(1, &[("tool0", 20.0, None)]);
        let b = sample(2, &[("tool0", 21.0, None), ("chamber", 30.0, None)]);
        let c = sample(3, &[("chamber", 31.0, Some(40.0))]);
        for s in [&a, &b, &c] {
            history.push(s);
        }
        assert_eq!(history.last(10), vec![a, b, c]);
    }

    #[test]
    fn the_oldest_sample_goes_when_full() {
        let mut history = TemperatureHistory::with_capacity(3);
        for t in 0..5 {
            history.push(&sample(t, &[("bed", t as f64, None)]));
        }
        let times: Vec<u64> = history.last(10).iter().map(|s| s.time_ms).collect();
        assert_eq!(times, vec![2, 3, 4]);
        assert_eq!(history.len(), 3);
        assert_eq!(history.last(10)[0].readings[0].actual, 2.0);
    }
}
