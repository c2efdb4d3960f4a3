//! Reading chat lines: as bytes, bounded, decoded leniently.
//!
//! - A line is at most [`MAX_LINE`] bytes (without its `\n`). A longer one is not buffered:
//!   it is read in chunks and thrown away up to its newline, and the reader says how long it
//!   was ([`Line::TooLong`]).
//! - A line that is not valid UTF-8 is decoded with U+FFFD in place of each bad sequence;
//!   reading goes on.
//! - A final `\r` (a `\r\n` line end) is dropped; a `\r` anywhere else is part of the text.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest line the bot reads, in bytes: 64 KiB.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// One line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line within the limit, decoded.
    Text(String),
    /// A line over the limit, dropped; its length in bytes (without the `\n`).
    TooLong(usize),
}

/// Reads [`Line`]s from `reader`. [`LineReader::next`] is cancel-safe: what was read of a
/// line stays here until the line is complete.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    max: usize,
    line: Vec<u8>,
    /// Bytes of the current line so far, once it is known to be over the limit.
    dropped: Option<usize>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Lines of `reader`, at most `max` bytes each.
    pub(crate) fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            max,
            line: Vec::new(),
            dropped: None,
        }
    }

    /// The next line, or `None` at the end of the input. A last line without `\n` counts.
    pub(crate) async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            // Cancel-safe: `fill_buf` reads nothing if cancelled, and nothing below awaits.
            let chunk = self.reader.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(match self.dropped {
                    None if self.line.is_empty() => None,
                    _ => Some(self.finish()),
                });
            }
            let (part, end, used) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (&chunk[..at], true, at + 1),
                None => (chunk, false, chunk.len()),
            };
            match &mut self.dropped {
                Some(count) => *count += part.len(),
                None if self.line.len() + part.len() > self.max => {
                    self.dropped = Some(self.line.len() + part.len());
                    self.line = Vec::new();
                }
                None => self.line.extend_from_slice(part),
            }
            self.reader.consume(used);
            if end {
                return Ok(Some(self.finish()));
            }
        }
    }

    fn finish(&mut self) -> Line {
        if let Some(count) = self.dropped.take() {
            return Line::TooLong(count);
        }
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Line::Text(match String::from_utf8(line) {
            Ok(text) => text,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        // A small buffer, so that lines cross chunk boundaries.
        let reader = tokio::io::BufReader::with_capacity(4, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(line) = lines.next().await.unwrap() {
            out.push(line);
        }
        out
    }

    fn text(s: &str) -> Line {
        Line::Text(s.to_owned())
    }

    #[tokio::test]
    async fn bad_utf8_is_replaced_and_reading_goes_on() {
        assert_eq!(
            lines(b"ada: caf\xe9\nada: !roll 1d6\n", 100).await,
            [text("ada: caf\u{fffd}"), text("ada: !roll 1d6")]
        );
    }

    #[tokio::test]
    async fn long_lines_are_dropped_with_their_length() {
        let mut input = vec![b'x'; 25];
        input.extend_from_slice(b"\nshort\r\n0123456789\nlast");
        assert_eq!(
            lines(&input, 10).await,
            [
                Line::TooLong(25),
                text("short"),
                text("0123456789"),
                text("last")
            ]
        );
        assert_eq!(lines(b"01234567890", 10).await, [Line::TooLong(11)]);
    }

    #[tokio::test]
    async fn inner_carriage_returns_stay() {
        assert_eq!(lines(b"a\rb\n\n", 10).await, [text("a\rb"), text("")]);
    }
}
