//! Making text that came from elsewhere (plugins, the configuration file, the chat) safe to
//! print to a terminal or a log: [`escape`] control characters and [`shorten`] long lines.
//!
//! Every human-readable output of the kit ([`report`](super::report), the operator answers,
//! reload reports) goes through [`escape`], so that no plugin, configuration key or chat line
//! can start a line of its own (a forged `* dice: enabled -> failed`), move the cursor, clear
//! the screen or reverse the text direction. `list --json` needs none of this: JSON escapes
//! control characters itself.
//!
//! ```
//! use plugin_manager::host_kit::text::escape;
//!
//! assert_eq!(escape("boom\n* dice: enabled -> failed"), "boom\\n* dice: enabled -> failed");
//! assert_eq!(escape("x\r\u{1b}[K"), "x\\r\\u{1b}[K");
//! assert_eq!(escape("caf\u{e9} \u{1F3B2}"), "caf\u{e9} \u{1F3B2}"); // printable text is kept
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many characters of an echoed line [`shorten`] keeps by default.
pub const MAX_ECHO_CHARS: usize = 200;

/// Whether `c` must not be printed as is: C0 and C1 control characters, DEL, and the Unicode
/// bidirectional controls (embeddings, overrides, isolates and the marks that reorder text).
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character of [`needs_escape`] written as a Rust escape: `\n`, `\r`,
/// `\t`, and `\u{..}` for the others. Everything else, including non-ASCII letters, is kept.
///
/// ```
/// use plugin_manager::host_kit::text::escape;
///
/// assert_eq!(escape("a\tb\u{202E}c\u{85}"), "a\\tb\\u{202e}c\\u{85}");
/// assert!(matches!(escape("plain"), std::borrow::Cow::Borrowed("plain")));
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    // Most text is printable ASCII, told byte by byte; only other text is decoded.
    let printable_ascii = text.bytes().all(|b| matches!(b, 0x20..=0x7e));
    if printable_ascii || !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `line` cut to its first `max_chars` characters followed by `… (N bytes)`, N being the
/// length of the whole line, when it is longer; otherwise `line` itself.
///
/// ```
/// use plugin_manager::host_kit::text::shorten;
///
/// assert_eq!(shorten("abcdef", 3), "abc… (6 bytes)");
/// assert_eq!(shorten("abc", 3), "abc");
/// ```
pub fn shorten(line: &str, max_chars: usize) -> Cow<'_, str> {
    // No more bytes than that, no more characters: nothing to count.
    if line.len() <= max_chars {
        return Cow::Borrowed(line);
    }
    match line.char_indices().nth(max_chars) {
        Some((cut, _)) => Cow::Owned(format!("{}… ({} bytes)", &line[..cut], line.len())),
        None => Cow::Borrowed(line),
    }
}

/// What a host shows of one line that came from outside: [`escape`]d, then [`shorten`]ed to
/// [`MAX_ECHO_CHARS`]; `line` itself when neither changes it (most lines), so showing it
/// copies nothing.
///
/// ```
/// use plugin_manager::host_kit::text::echo;
///
/// assert_eq!(echo("!roll x\r\u{1b}[K"), "!roll x\\r\\u{1b}[K");
/// assert!(echo(&"9".repeat(1_000_000)).ends_with("… (1000000 bytes)"));
/// assert!(matches!(echo("plain"), std::borrow::Cow::Borrowed("plain")));
/// ```
pub fn echo(line: &str) -> Cow<'_, str> {
    match escape(line) {
        Cow::Borrowed(line) => shorten(line, MAX_ECHO_CHARS),
        Cow::Owned(escaped) => match shorten(&escaped, MAX_ECHO_CHARS) {
            Cow::Borrowed(_) => Cow::Owned(escaped),
            Cow::Owned(shortened) => Cow::Owned(shortened),
        },
    }
}

/// A text of several lines as a host shows it: the first line as is, each further line
/// indented by two spaces (`"  continuation"`), every line [`echo`]ed — so the line breaks
/// that are there stay line breaks, but no line can look like something else, and none is
/// longer than [`MAX_ECHO_CHARS`] (plus the indentation and the length note).
///
/// ```
/// use plugin_manager::host_kit::text::indented;
///
/// assert_eq!(indented("[help] commands:\n!roll\r\u{1b}[2J"), "[help] commands:\n  !roll\\r\\u{1b}[2J");
/// ```
pub fn indented(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\n  ");
        }
        out.push_str(&echo(line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character below U+3000 (all of ASCII, C1, the bidirectional controls) alone,
    /// after printable ASCII and after a non-ASCII letter: kept exactly when
    /// [`needs_escape`] says so, whichever way `escape` looked at the text.
    #[test]
    fn escape_keeps_exactly_what_needs_no_escape() {
        for c in (0..0x3000).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("ab {c}"), format!("\u{e9}{c}")] {
                let kept = matches!(escape(&text), Cow::Borrowed(_));
                assert_eq!(kept, !needs_escape(c), "{:?}", text);
                if !kept {
                    assert!(!escape(&text).chars().any(needs_escape), "{:?}", text);
                }
            }
        }
    }

    #[test]
    fn shorten_counts_characters_not_bytes() {
        assert!(matches!(shorten("abc", 3), Cow::Borrowed("abc")));
        assert_eq!(shorten("abcd", 3), "abc… (4 bytes)");
        // Three characters in six bytes: longer in bytes than the limit, not in characters.
        assert!(matches!(shorten("\u{e9}\u{e9}\u{e9}", 3), Cow::Borrowed(_)));
        assert_eq!(
            shorten("\u{e9}\u{e9}\u{e9}\u{e9}", 3),
            "\u{e9}\u{e9}\u{e9}… (8 bytes)"
        );
    }

    #[test]
    fn indented_lines_are_echoed() {
        let long = "x".repeat(MAX_ECHO_CHARS + 1);
        let text = format!("first\n\u{1b}[2J\n{long}");
        let expected = format!("first\n  {}\n  {}", echo("\u{1b}[2J"), echo(&long));
        assert_eq!(indented(&text), expected);
    }
}
