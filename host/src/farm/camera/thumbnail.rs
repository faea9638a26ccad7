//! A slicer's thumbnail as a camera frame shows it: the library's analysis keeps the thumbnails
//! a file embeds (PNG, JPEG or QOI, as the slicer wrote them); the frame uses the largest PNG,
//! decoded and scaled once per file.

use printfarm_core::library::ThumbnailInfo;

/// Most pixels a thumbnail may have to be decoded. Slicers write 300×300 or 400×300; a
/// thumbnail of more is not a preview, and decoding it would cost what a hostile file wants.
pub const MAX_PIXELS: u64 = 2048 * 2048;

/// An RGBA image, 8 bits per channel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

/// A thumbnail scaled to fit the frame's picture area.
pub type Scaled = Image;

/// The index of the thumbnail to show: the largest PNG. Other formats are not decoded (every
/// slicer that writes JPEG or QOI thumbnails writes PNG ones too, or may be told to).
pub fn best(thumbnails: &[ThumbnailInfo]) -> Option<u32> {
    thumbnails
        .iter()
        .filter(|t| t.format == "png")
        .filter(|t| u64::from(t.width) * u64::from(t.height) <= MAX_PIXELS)
        .max_by_key(|t| u64::from(t.width) * u64::from(t.height))
        .map(|t| t.index)
}

/// Decodes a PNG into RGBA (palette, grey and 16-bit images included).
pub fn decode_png(data: &[u8]) -> Result<Image, String> {
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(data),
        png::Limits {
            bytes: (MAX_PIXELS * 8) as usize,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let (width, height) = reader.info().size();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(format!(
            "{width}×{height} pixels is too large for a thumbnail"
        ));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| format!("{width}×{height} pixels is too large for a thumbnail"))?;
    let mut buffer = vec![0; size];
    let frame = reader
        .next_frame(&mut buffer)
        .map_err(|e| format!("a broken PNG: {e}"))?;
    let pixels = &buffer[..frame.buffer_size()];
    let (width, height) = (frame.width as usize, frame.height as usize);
    let rgba: Vec<u8> = match frame.color_type {
        png::ColorType::Rgba => pixels.to_vec(),
        png::ColorType::Rgb => pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::GrayscaleAlpha => pixels
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Grayscale => pixels.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => return Err("a palette PNG the decoder did not expand".into()),
    };
    if rgba.len() != width * height * 4 {
        return Err(format!(
            "a PNG of {width}×{height} pixels with {} bytes",
            rgba.len()
        ));
    }
    Ok(Image {
        width,
        height,
        rgba,
    })
}

impl Image {
    /// The image scaled (bilinear) to the largest size that fits `width` × `height` with its
    /// aspect ratio, up or down.
    pub fn scaled_to_fit(&self, width: usize, height: usize) -> Image {
        if self.width == 0 || self.height == 0 {
            return self.clone();
        }
        let scale = (width as f64 / self.width as f64).min(height as f64 / self.height as f64);
        let w = ((self.width as f64 * scale).round() as usize).clamp(1, width);
        let h = ((self.height as f64 * scale).round() as usize).clamp(1, height);
        let mut rgba = Vec::with_capacity(w * h * 4);
        // Pixel centres of the target mapped to the source.
        let sx = self.width as f64 / w as f64;
        let sy = self.height as f64 / h as f64;
        for y in 0..h {
            let fy = ((y as f64 + 0.5) * sy - 0.5).clamp(0.0, (self.height - 1) as f64);
            let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
            let y1 = (y0 + 1).min(self.height - 1);
            for x in 0..w {
                let fx = ((x as f64 + 0.5) * sx - 0.5).clamp(0.0, (self.width - 1) as f64);
                let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
                let x1 = (x0 + 1).min(self.width - 1);
                for c in 0..4 {
                    let at =
                        |x: usize, y: usize| f64::from(self.rgba[(y * self.width + x) * 4 + c]);
                    let top = at(x0, y0) * (1.0 - tx) + at(x1, y0) * tx;
                    let bottom = at(x0, y1) * (1.0 - tx) + at(x1, y1) * tx;
                    rgba.push((top * (1.0 - ty) + bottom * ty).round() as u8);
                }
            }
        }
        Image {
            width: w,
            height: h,
            rgba,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `width` × `height` pixels of `color_type`, every pixel `pixel`.
    pub(crate) fn png(
        width: u32,
        height: u32,
        color_type: png::ColorType,
        pixel: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color_type);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let data: Vec<u8> = (0..width * height).flat_map(|_| pixel.to_vec()).collect();
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn pngs_of_every_colour_type_decode_to_rgba() {
        let rgb = decode_png(&png(3, 2, png::ColorType::Rgb, &[10, 20, 30])).unwrap();
        assert_eq!((rgb.width, rgb.height), (3, 2));
        assert_eq!(&rgb.rgba[..4], &[10, 20, 30, 255]);
        let grey = decode_png(&png(2, 2, png::ColorType::GrayscaleAlpha, &[7, 128])).unwrap();
        assert_eq!(&grey.rgba[..4], &[7, 7, 7, 128]);
        assert!(decode_png(b"\x89PNG\r\n\x1a\nnot really").is_err());
    }

    #[test]
    fn scaling_keeps_the_aspect_ratio_within_the_box() {
        let image = decode_png(&png(300, 150, png::ColorType::Rgba, &[1, 2, 3, 4])).unwrap();
        let scaled = image.scaled_to_fit(400, 400);
        assert_eq!((scaled.width, scaled.height), (400, 200));
        assert_eq!(&scaled.rgba[..4], &[1, 2, 3, 4], "a flat image stays flat");
        let scaled = image.scaled_to_fit(100, 100);
        assert_eq!((scaled.width, scaled.height), (100, 50));
    }

    #[test]
    fn the_largest_png_is_shown() {
        let t = |index, width, height, format: &str| ThumbnailInfo {
            index,
            width,
            height,
            format: format.into(),
        };
        assert_eq!(
            best(&[
                t(0, 16, 16, "png"),
                t(1, 300, 300, "png"),
                t(2, 600, 600, "jpg"),
            ]),
            Some(1)
        );
        assert_eq!(best(&[t(0, 300, 300, "qoi")]), None);
    }
}
