//! The pass over raw text: GraphQL's lexical grammar, just enough to count tokens and the
//! nesting of brackets outside strings and comments.
//!
//! It must never see less structure than the parser does, or the parser could recurse past
//! the bound: so a string ends where the parser's would (or earlier, at a line break, where a
//! string is invalid anyway), and an unterminated block string is refused outright rather than
//! guessed at. It works on bytes: in UTF-8 no byte of a multi-byte character is ASCII.

use async_graphql::Pos;

use super::{DocumentLimits, Limit, Rejection};

/// Checks `text` against the token and recursion limits in one pass, before it is parsed.
pub fn scan(text: &str, limits: &DocumentLimits) -> Result<(), Rejection> {
    let bytes = text.as_bytes();
    let (mut at, mut tokens, mut depth) = (0, 0usize, 0usize);
    while at < bytes.len() {
        let start = at;
        at = match bytes[at] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                at += 1;
                continue;
            }
            b'#' => {
                at = line_end(bytes, at);
                continue;
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => match block_string_end(bytes, at + 3) {
                Some(end) => end,
                None => return Err(Rejection::Syntax("unterminated block string", position(text, start))),
            },
            b'"' => string_end(bytes, at + 1),
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limits.max_recursion {
                    let what = "the document nests selections, lists or objects too deeply";
                    let pos = Some(position(text, start));
                    return Err(Rejection::too_large(Limit::Recursion, limits.max_recursion, what, pos));
                }
                at + 1
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                at + 1
            }
            b'.' if bytes[at..].starts_with(b"...") => at + 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => skip(bytes, at, |b| b == b'_' || b.is_ascii_alphanumeric()),
            b'-' | b'0'..=b'9' => skip(bytes, at + 1, |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')),
            // A byte-order mark is ignored like white space (U+FEFF is EF BB BF).
            0xEF if bytes[at..].starts_with(&[0xEF, 0xBB, 0xBF]) => {
                at += 3;
                continue;
            }
            // Other punctuators are one byte; anything else is one invalid character, which
            // the parser will reject.
            byte => at + utf8_len(byte),
        };
        tokens += 1;
        if tokens > limits.max_tokens {
            let what = "the document has too many tokens";
            return Err(Rejection::too_large(Limit::Tokens, limits.max_tokens, what, Some(position(text, start))));
        }
    }
    Ok(())
}

fn skip(bytes: &[u8], mut at: usize, keep: impl Fn(u8) -> bool) -> usize {
    while at < bytes.len() && keep(bytes[at]) {
        at += 1;
    }
    at
}

fn line_end(bytes: &[u8], at: usize) -> usize {
    skip(bytes, at, |b| b != b'\n' && b != b'\r')
}

/// The end of a `"` string whose content starts at `at`: after its closing quote, or at the
/// line break or end of text where an unterminated one stops.
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        match bytes[at] {
            b'"' => return at + 1,
            b'\n' | b'\r' => return at,
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The end of a `"""` block string whose content starts at `at`; `\"""` does not close it.
fn block_string_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    while at < bytes.len() {
        if bytes[at..].starts_with(b"\\\"\"\"") {
            at += 4;
        } else if bytes[at..].starts_with(b"\"\"\"") {
            return Some(at + 3);
        } else {
            at += 1;
        }
    }
    None
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// The line and column (both from 1, columns in characters) of byte `offset`, as the parser
/// reports them; only computed for an error.
fn position(text: &str, offset: usize) -> Pos {
    let before = &text[..offset];
    let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
    Pos { line, column: 1 + before[line_start..].chars().count() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(max_tokens: usize, max_recursion: usize) -> DocumentLimits {
        DocumentLimits { max_tokens, max_recursion, ..DocumentLimits::default() }
    }

    fn exceeded(text: &str, max_tokens: usize, max_recursion: usize) -> Option<Limit> {
        match scan(text, &limits(max_tokens, max_recursion)) {
            Ok(()) => None,
            Err(Rejection::TooLarge { exceeded, .. }) => Some(exceeded),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tokens_are_counted_as_the_spec_defines_them() {
        // query Q ( $ a : Int = 1 ) { f ( x : "s" , y : """b""" ) ... F @ d }  → 25 tokens;
        // commas, white space, comments and the byte-order mark are not tokens.
        let text = "\u{feff}query Q($a: Int = 1) { f(x: \"s\", y: \"\"\"b\"\"\") # { [ (\n ...F @d }";
        assert_eq!(exceeded(text, 25, 10), None);
        assert_eq!(exceeded(text, 24, 10), Some(Limit::Tokens));
    }

    #[test]
    fn nesting_counts_selections_lists_objects_and_arguments_together() {
        let text = "{ a(x: [{y: [1]}]) { b } }"; // { ( [ { [ → 5 deep
        assert_eq!(exceeded(text, 100, 5), None);
        assert_eq!(exceeded(text, 100, 4), Some(Limit::Recursion));
    }

    #[test]
    fn brackets_in_strings_and_comments_are_not_structure() {
        let text = "{ a(x: \"[[[[\\\"[[[\", y: \"\"\"[[[[ \\\"\"\" [[[[\"\"\") # [[[[[[\n }";
        assert_eq!(exceeded(text, 100, 2), None);
    }

    #[test]
    fn a_string_broken_by_a_line_ends_there_so_what_follows_still_counts() {
        assert_eq!(exceeded("{ a(x: \"unterminated\n [[[[[[ ) }", 100, 4), Some(Limit::Recursion));
    }

    #[test]
    fn an_unterminated_block_string_is_refused_rather_than_guessed_at() {
        let rejection = scan("{ a(x: \"\"\" [[[[ ) }", &limits(100, 100)).unwrap_err();
        assert_eq!(rejection, Rejection::Syntax("unterminated block string", Pos { line: 1, column: 8 }));
    }

    #[test]
    fn errors_point_at_the_token_that_went_over() {
        let rejection = scan("{\n  a { b { c } }\n}", &limits(100, 2)).unwrap_err();
        assert_eq!(rejection.pos(), Some(Pos { line: 2, column: 9 }));
    }

    /// Pieces of text that are structure (brackets), hide structure (strings, comments, block
    /// strings with escapes) or neither; fixed pieces keep 50,000 cases to a few seconds.
    const PARTS: [&str; 20] = [
        "{",
        "[",
        "(",
        "}",
        "]",
        ")",
        "\"\"",
        "\"[{(\"",
        "\"a } ] )\"",
        "# { [ (\n",
        "#\n",
        "\"\"\"{[(\"\"\"",
        "\"\"\" \\\"\"\" [ \"\"\"",
        "\"\"\"\"\"\"",
        "a",
        "_b1",
        "-1.5e3",
        "...",
        "$v",
        ",",
    ];

    proptest! {
        /// Against a naive model: the nesting the scan sees is never less than the nesting of
        /// brackets in the text once strings and comments are cut out, however the text is
        /// made up.
        #[test]
        fn fuzz_the_scan_never_undercounts_nesting(parts in proptest::collection::vec(
            proptest::sample::select(PARTS.to_vec()), 0..200,
        )) {
            let text = parts.join(" ");
            let mut depth = 0usize;
            let mut deepest = 0usize;
            for part in &parts {
                if part.starts_with(['"', '#']) { continue; }
                for c in part.chars() {
                    match c {
                        '{' | '[' | '(' => { depth += 1; deepest = deepest.max(depth); }
                        '}' | ']' | ')' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            if deepest > 0 {
                prop_assert_eq!(exceeded(&text, usize::MAX, deepest - 1), Some(Limit::Recursion));
            }
            prop_assert_eq!(exceeded(&text, usize::MAX, deepest), None);
        }
    }
}
