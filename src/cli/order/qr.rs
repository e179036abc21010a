//! A NATIVE order's code_url as a QR code: drawn on a terminal, and as a PNG image.

use std::path::Path;

use crate::cli::failure::{Failure, exit};
use crate::cli::settings::Context;
use crate::output::Format;

/// A NATIVE order's code_url as a QR code: drawn on a terminal, and written as a PNG with
/// --qr-png.
pub(super) fn show(
    context: &Context,
    png: Option<&Path>,
    code_url: Option<&str>,
) -> Result<u8, Failure> {
    let printer = &context.printer;
    let Some(code_url) = code_url else {
        if png.is_some() {
            printer.warn("--qr-png: only NATIVE orders have a code_url to draw; no image written");
        }
        return Ok(exit::OK);
    };
    if printer.format(Format::Json) == Format::Table {
        printer.data(&qr_text(code_url)?)?;
    }
    if let Some(path) = png {
        write_qr_png(path, code_url)?;
        if !crate::fsutil::is_stdout(path) {
            printer.status(&format!("wrote the QR code to {}", path.display()));
        }
    }
    Ok(exit::OK)
}

fn qr_code(code_url: &str) -> Result<qrcode::QrCode, Failure> {
    qrcode::QrCode::new(code_url.as_bytes())
        .map_err(|e| Failure::usage(format!("code_url cannot be drawn as a QR code: {e}")))
}

/// The QR code in half-height blocks, dark on light, with its quiet zone.
fn qr_text(code_url: &str) -> Result<String, Failure> {
    use qrcode::render::unicode::Dense1x2;
    let code = qr_code(code_url)?;
    let mut text = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build();
    text.push('\n');
    Ok(text)
}

/// The QR code as a greyscale PNG, 8 pixels a module, with a 4-module quiet zone.
fn write_qr_png(path: &Path, code_url: &str) -> Result<(), Failure> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = qr_code(code_url)?;
    let modules = code.width();
    let side = (modules + 2 * QUIET) * SCALE;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (
                (index % modules + QUIET) * SCALE,
                (index / modules + QUIET) * SCALE,
            );
            for row in y..y + SCALE {
                pixels[row * side + x..row * side + x + SCALE].fill(0);
            }
        }
    }
    let side = u32::try_from(side).expect("a QR code is a few hundred pixels");
    crate::fsutil::write_atomic(path, |out| {
        let mut encoder = png::Encoder::new(out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()
    })
    .map_err(|e| match e {
        crate::fsutil::WriteError::File(e) => Failure::from(e),
        crate::fsutil::WriteError::Inner(e) => {
            Failure::usage(format!("{}: cannot write the PNG: {e}", path.display()))
        }
    })
}
