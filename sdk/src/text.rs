//! Showing text that came from a table: names, sort keys, comments, format ids and
//! context keys are written by whoever can write an item, so before any of them
//! reaches a terminal or a log line it goes through [`escape_untrusted`].

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` made safe to print: every character that could move the cursor, change
/// the terminal's state, reorder or hide text, or start a new line is replaced by
/// a `\u{…}` escape (`\n`, `\r` and `\t` by their short forms). That is every
/// control character (Cc), every format character (Cf: bidirectional overrides,
/// zero-width spaces and joiners, the byte-order mark), the line and paragraph
/// separators (Zl, Zp), spaces other than U+0020 and unassigned or private-use code
/// points. Printable text, combining marks after a base character included, is
/// returned unchanged and without a copy.
///
/// ```
/// use lockbox::escape_untrusted;
/// assert_eq!(escape_untrusted("prod/db"), "prod/db");
/// assert_eq!(escape_untrusted("a\x1b[2Kb\nc"), "a\\u{1b}[2Kb\\nc");
/// assert_eq!(escape_untrusted("evil\u{202e}txt"), "evil\\u{202e}txt");
/// ```
pub fn escape_untrusted(text: &str) -> Cow<'_, str> {
    // Printable ASCII, byte by byte (most text; a listing escapes every name,
    // version and comment of a table), before looking at characters.
    if text.bytes().all(|b| (b' '..=b'~').contains(&b)) || text.chars().all(|c| !needs_escape(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is unsafe to print as itself. The standard library's debug
/// escaping knows which characters are printable (it leaves out Cc, Cf, Cs, Co,
/// Cn, Zl, Zp and every Zs but U+0020); it also escapes quotes and backslashes,
/// which are harmless here, and a combining mark at the start of a string, which
/// is why `c` is checked after a base character.
fn needs_escape(c: char) -> bool {
    if c == ' ' || c.is_ascii_graphic() {
        return false;
    }
    if c.is_control() {
        return true;
    }
    let mut buf = [0u8; 8];
    buf[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    let pair = std::str::from_utf8(&buf[..len]).expect("a char after an ASCII letter");
    pair.escape_debug().nth(1) == Some('\\')
}

/// Whether `text` holds a character [`escape_untrusted`] would escape: a name or
/// a context key with one is refused on write, so lockbox never stores text that
/// reads differently from what it is.
pub fn has_unsafe_characters(text: &str) -> bool {
    text.chars().any(needs_escape)
}

/// Decodes `%XX` escapes (the result must be UTF-8). A `%` not followed by two
/// hex digits is an error: the decoder of the `percent-encoding` crate would
/// pass it through unchanged, and a reference that means something else than it
/// says is worse than one refused.
pub(crate) fn percent_decode(text: &str) -> Result<String, String> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('%') {
        if !bytes
            .get(i + 1..i + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        {
            return Err(
                "`%` starts an escape of two hex digits (write `%` itself as `%25`)".into(),
            );
        }
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| "the decoded escapes are not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_borrowed_unchanged() {
        for s in [
            "prod/db.password",
            "A_B-c",
            "héllo wörld ✓",
            "e\u{301}",
            "日本語",
            "quote ' \" \\",
        ] {
            assert!(matches!(escape_untrusted(s), Cow::Borrowed(_)), "{s:?}");
            assert!(!has_unsafe_characters(s), "{s:?}");
        }
    }

    #[test]
    fn controls_format_characters_and_separators_are_escaped() {
        let cases = [
            ("a\x1b[31mb", "a\\u{1b}[31mb"),
            ("line\nnext\r\tx", "line\\nnext\\r\\tx"),
            ("\u{7f}\u{85}", "\\u{7f}\\u{85}"),
            ("rtl\u{202e}gpj.exe", "rtl\\u{202e}gpj.exe"),
            ("zero\u{200b}width\u{200d}", "zero\\u{200b}width\\u{200d}"),
            ("sep\u{2028}para\u{2029}", "sep\\u{2028}para\\u{2029}"),
            ("bom\u{feff}", "bom\\u{feff}"),
            ("nbsp\u{a0}ideo\u{3000}", "nbsp\\u{a0}ideo\\u{3000}"),
            ("tag\u{e0041}", "tag\\u{e0041}"),
            ("private\u{e000}", "private\\u{e000}"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_untrusted(input), want, "{input:?}");
            assert!(has_unsafe_characters(input), "{input:?}");
        }
    }

    #[test]
    fn an_escape_written_as_text_stays_text() {
        // An attacker can store the six characters `\u{1b}`; they print as
        // themselves, which is harmless.
        assert_eq!(escape_untrusted("\\u{1b}"), "\\u{1b}");
    }
}
