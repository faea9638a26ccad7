//! The frame the host draws for a virtual printer's camera: the print's thumbnail in the middle,
//! a progress bar at the bottom, and a strip along the top in the colour of the printer's state.
//! A plain background where there is no thumbnail (no print, or a file without one).

use printfarm_serial::supervisor::PrinterState;

use super::thumbnail::Image;

/// Frame width in pixels: VGA, what small webcams and the Obico app's previews use.
pub const WIDTH: usize = 640;
/// Frame height in pixels.
pub const HEIGHT: usize = 480;
/// Space around the picture and the bar.
const MARGIN: usize = 16;
/// Height of the state strip along the top.
const STRIP: usize = 6;
/// Height of the progress bar.
const BAR: usize = 20;
/// The area the thumbnail is scaled to fit (width, height): between the strip and the bar.
pub const PICTURE: (usize, usize) = (WIDTH - 2 * MARGIN, HEIGHT - STRIP - BAR - 3 * MARGIN);
/// JPEG quality: flat colours and a small picture compress well at 80 without visible loss.
const QUALITY: u8 = 80;

const BACKGROUND: [u8; 3] = [32, 36, 40];
const TRACK: [u8; 3] = [58, 63, 68];

/// The printer's state as the frame colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Offline or connecting: grey.
    Away,
    /// Connected and idle: blue.
    Idle,
    /// Printing: green.
    Printing,
    /// Pausing or paused: amber.
    Paused,
    /// Cancelling or in error: red.
    Stopping,
}

impl State {
    /// How a printer state is coloured.
    pub fn of(state: PrinterState) -> State {
        match state {
            PrinterState::Offline | PrinterState::Connecting => State::Away,
            PrinterState::Operational => State::Idle,
            PrinterState::Printing => State::Printing,
            PrinterState::Pausing | PrinterState::Paused => State::Paused,
            PrinterState::Cancelling | PrinterState::Error => State::Stopping,
        }
    }

    fn colour(self) -> [u8; 3] {
        match self {
            State::Away => [107, 114, 128],
            State::Idle => [59, 130, 246],
            State::Printing => [34, 197, 94],
            State::Paused => [245, 158, 11],
            State::Stopping => [239, 68, 68],
        }
    }
}

/// What a frame shows; two frames with equal keys are the same picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameKey {
    /// The blob whose thumbnail is shown, if one is.
    picture: Option<String>,
    state: State,
    /// The bar's filled width in pixels, if there is a print.
    filled: Option<usize>,
}

impl FrameKey {
    /// The key of a frame showing `picture`'s thumbnail, `state`, and a print `fraction` done.
    pub fn new(picture: Option<String>, state: State, fraction: Option<f64>) -> FrameKey {
        FrameKey {
            picture,
            state,
            filled: fraction.map(filled),
        }
    }
}

/// Pixels of the bar filled at `fraction` done.
fn filled(fraction: f64) -> usize {
    ((WIDTH - 2 * MARGIN) as f64 * fraction.clamp(0.0, 1.0)).round() as usize
}

/// Draws a frame and encodes it as a JPEG.
pub fn draw(
    picture: Option<&Image>,
    state: State,
    fraction: Option<f64>,
) -> Result<Vec<u8>, jpeg_encoder::EncodingError> {
    let mut rgb = Canvas::new();
    rgb.fill(0, 0, WIDTH, STRIP, state.colour());
    if let Some(image) = picture {
        let x = MARGIN + (PICTURE.0.saturating_sub(image.width)) / 2;
        let y = STRIP + MARGIN + (PICTURE.1.saturating_sub(image.height)) / 2;
        rgb.blend(image, x, y);
    }
    let bar_y = HEIGHT - MARGIN - BAR;
    rgb.fill(MARGIN, bar_y, WIDTH - 2 * MARGIN, BAR, TRACK);
    if let Some(fraction) = fraction {
        rgb.fill(MARGIN, bar_y, filled(fraction), BAR, state.colour());
    }
    let mut jpeg = Vec::with_capacity(32 << 10);
    jpeg_encoder::Encoder::new(&mut jpeg, QUALITY).encode(
        &rgb.0,
        WIDTH as u16,
        HEIGHT as u16,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(jpeg)
}

/// An RGB frame of [`WIDTH`] × [`HEIGHT`].
struct Canvas(Vec<u8>);

impl Canvas {
    fn new() -> Canvas {
        Canvas(BACKGROUND.repeat(WIDTH * HEIGHT))
    }

    /// Fills a rectangle, clipped to the frame.
    fn fill(&mut self, x: usize, y: usize, width: usize, height: usize, colour: [u8; 3]) {
        for row in y..(y + height).min(HEIGHT) {
            for column in x..(x + width).min(WIDTH) {
                let at = (row * WIDTH + column) * 3;
                self.0[at..at + 3].copy_from_slice(&colour);
            }
        }
    }

    /// Draws `image` with its top-left corner at (`x`, `y`) over what is there, by its alpha.
    fn blend(&mut self, image: &Image, x: usize, y: usize) {
        for row in 0..image.height.min(HEIGHT.saturating_sub(y)) {
            for column in 0..image.width.min(WIDTH.saturating_sub(x)) {
                let from = (row * image.width + column) * 4;
                let to = ((y + row) * WIDTH + x + column) * 3;
                let alpha = u32::from(image.rgba[from + 3]);
                for c in 0..3 {
                    let over = u32::from(image.rgba[from + c]);
                    let under = u32::from(self.0[to + c]);
                    self.0[to + c] = ((over * alpha + under * (255 - alpha) + 127) / 255) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_a_jpeg_of_the_frame_size() {
        let jpeg = draw(None, State::Idle, None).unwrap();
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        // The SOF0 header holds height and width after its marker, length and precision.
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let size = |at: usize| usize::from(u16::from_be_bytes([jpeg[at], jpeg[at + 1]]));
        assert_eq!((size(sof + 7), size(sof + 5)), (WIDTH, HEIGHT));
    }

    #[test]
    fn the_bar_follows_the_progress_and_the_key_only_what_is_seen() {
        assert_eq!(filled(0.0), 0);
        assert_eq!(filled(0.5), (WIDTH - 2 * MARGIN) / 2);
        assert_eq!(filled(2.0), WIDTH - 2 * MARGIN);
        let key = |fraction| FrameKey::new(None, State::Printing, Some(fraction));
        assert_eq!(
            key(0.5),
            key(0.5001),
            "less than a pixel draws the same frame"
        );
        assert_ne!(key(0.5), key(0.6));
        assert_ne!(
            key(0.5),
            FrameKey::new(None, State::Paused, Some(0.5)),
            "the colour changes with the state"
        );
    }

    #[test]
    fn a_thumbnail_is_drawn_over_the_background_by_its_alpha() {
        let mut canvas = Canvas::new();
        let image = Image {
            width: 2,
            height: 1,
            rgba: vec![255, 0, 0, 255, 255, 0, 0, 0],
        };
        canvas.blend(&image, 10, 10);
        let at = |x: usize| &canvas.0[(10 * WIDTH + x) * 3..(10 * WIDTH + x) * 3 + 3];
        assert_eq!(at(10), &[255, 0, 0]);
        assert_eq!(
            at(11),
            &BACKGROUND,
            "a transparent pixel leaves the background"
        );
    }
}
