//! A drawn screen as an SVG image: each cell's text in its colours, in a
//! monospace font, for the README (`--screenshot`).

use std::fmt::Write;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

const CELL_WIDTH: f64 = 8.4;
const CELL_HEIGHT: f64 = 18.0;
const BACKGROUND: &str = "#1e1e1e";
const FOREGROUND: &str = "#d4d4d4";

fn hex(color: Color, default: &'static str) -> String {
    match color {
        Color::Reset => default.into(),
        Color::Black => "#000000".into(),
        Color::Red => "#cd3131".into(),
        Color::Green => "#0dbc79".into(),
        Color::Yellow => "#e5e510".into(),
        Color::Blue => "#2472c8".into(),
        Color::Magenta => "#bc3fbc".into(),
        Color::Cyan => "#11a8cd".into(),
        Color::Gray => "#bbbbbb".into(),
        Color::DarkGray => "#808080".into(),
        Color::LightRed => "#f14c4c".into(),
        Color::LightGreen => "#23d18b".into(),
        Color::LightYellow => "#f5f543".into(),
        Color::LightBlue => "#3b8eea".into(),
        Color::LightMagenta => "#d670d6".into(),
        Color::LightCyan => "#29b8db".into(),
        Color::White => "#ffffff".into(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(_) => default.into(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The whole buffer: a background rectangle per run of cells with a
/// background of their own, and a text element per word, stretched to
/// exactly its cells so that the columns line up whatever the font.
pub fn render(buffer: &Buffer) -> String {
    let area = buffer.area;
    let (width, height) = (
        area.width as f64 * CELL_WIDTH,
        area.height as f64 * CELL_HEIGHT,
    );
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"{BACKGROUND}\"/>\n\
         <g font-family=\"ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace\" \
         font-size=\"14\">\n"
    );
    for y in 0..area.height {
        let mut x = 0;
        while x < area.width {
            let first = &buffer[(x, y)];
            let (fg, bg, modifier) = (first.fg, first.bg, first.modifier);
            let start = x;
            while x < area.width && {
                let cell = &buffer[(x, y)];
                (cell.fg, cell.bg, cell.modifier) == (fg, bg, modifier)
            } {
                x += 1;
            }
            let (mut fg, mut bg) = (hex(fg, FOREGROUND), hex(bg, BACKGROUND));
            if modifier.contains(Modifier::REVERSED) {
                std::mem::swap(&mut fg, &mut bg);
            }
            let top = y as f64 * CELL_HEIGHT;
            if bg != BACKGROUND {
                let _ = writeln!(
                    svg,
                    "<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{CELL_HEIGHT}\" \
                     fill=\"{bg}\"/>",
                    start as f64 * CELL_WIDTH,
                    (x - start) as f64 * CELL_WIDTH
                );
            }
            let weight = if modifier.contains(Modifier::BOLD) {
                " font-weight=\"bold\""
            } else {
                ""
            };
            // One text per word, at its own column: renderers differ in
            // how they keep blanks.
            let mut column = start;
            while column < x {
                if buffer[(column, y)].symbol() == " " {
                    column += 1;
                    continue;
                }
                let word_start = column;
                let mut word = String::new();
                while column < x && buffer[(column, y)].symbol() != " " {
                    word.push_str(buffer[(column, y)].symbol());
                    column += 1;
                }
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{fg}\"{weight} textLength=\"{:.1}\" \
                     lengthAdjust=\"spacingAndGlyphs\">{}</text>",
                    word_start as f64 * CELL_WIDTH,
                    top + CELL_HEIGHT * 0.75,
                    (column - word_start) as f64 * CELL_WIDTH,
                    escape(&word)
                );
            }
        }
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn each_word_is_one_text_at_its_column() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 10, 2));
        buffer.set_string(0, 0, "a<b", Style::new().fg(Color::Cyan));
        buffer.set_string(5, 1, "ok", Style::new().add_modifier(Modifier::BOLD));
        let svg = render(&buffer);
        assert!(svg.contains(
            "<text x=\"0.0\" y=\"13.5\" fill=\"#11a8cd\" textLength=\"25.2\" \
             lengthAdjust=\"spacingAndGlyphs\">a&lt;b</text>"
        ));
        assert!(svg.contains(
            "<text x=\"42.0\" y=\"31.5\" fill=\"#d4d4d4\" font-weight=\"bold\" \
             textLength=\"16.8\" lengthAdjust=\"spacingAndGlyphs\">ok</text>"
        ));
        assert_eq!(svg.matches("<text").count(), 2, "{svg}");
    }
}
