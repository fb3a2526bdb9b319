//! The tokens of an expression, with their byte offsets for error messages.

/// A lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Name(String),
    Val(String),
    Num(String),
    Punct(&'static str),
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The tokens of `text`, or the byte range of the first character that starts none.
pub(super) fn lex(text: &str) -> Result<Vec<Token>, (usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if c == b'#' || c == b':' {
            i += 1;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            if i == start + 1 {
                return Err((start, i));
            }
            let s = text[start..i].to_owned();
            if c == b'#' {
                Tok::Name(s)
            } else {
                Tok::Val(s)
            }
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            Tok::Num(text[start..i].to_owned())
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            Tok::Ident(text[start..i].to_owned())
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            let p = match two {
                "<>" => "<>",
                "<=" => "<=",
                ">=" => ">=",
                _ => "",
            };
            if !p.is_empty() {
                i += 2;
                Tok::Punct(p)
            } else {
                let p = match c {
                    b'(' => "(",
                    b')' => ")",
                    b',' => ",",
                    b'.' => ".",
                    b'[' => "[",
                    b']' => "]",
                    b'=' => "=",
                    b'<' => "<",
                    b'>' => ">",
                    b'+' => "+",
                    b'-' => "-",
                    _ => {
                        let len = text[i..].chars().next().map_or(1, char::len_utf8);
                        return Err((i, i + len));
                    }
                };
                i += 1;
                Tok::Punct(p)
            }
        };
        out.push(Token { tok, start, end: i });
    }
    Ok(out)
}
