//! The text as the scanner reads it: every script's digits and full-width
//! forms in ASCII, URLs and e-mail addresses blanked, and the hash of an
//! Android SMS Retriever message dropped.

use std::sync::LazyLock;

use regex::Regex;

/// The first character of each run of ten decimal digits that is not ASCII.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
];

fn ascii_form(c: char) -> char {
    let code = c as u32;
    if c.is_ascii() {
        return c;
    }
    for &zero in DIGIT_ZEROS {
        if (zero..zero + 10).contains(&code) {
            return char::from(b'0' + (code - zero) as u8);
        }
    }
    // Full-width ASCII (！ to ～), e.g. the colon of "验证码："; but not
    // the full-width comma and full stop, which end a clause, never join
    // the digits of a number ("539120，5分钟").
    if (0xFF01..=0xFF5E).contains(&code) && c != '，' && c != '．' {
        return char::from_u32(code - 0xFEE0).unwrap_or(c);
    }
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{00A0}' | '\u{2007}' | '\u{202F}' | '\u{3000}' => ' ',
        _ => c,
    }
}

static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:https?://|www\.)\S+|(?-u:\b)[a-z0-9.-]+\.(?:com|net|org|me|io|ru|app|co|ly|gl|link|to|ai)(?-u:\b)(?:/\S*)?|[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]+",
    )
    .expect("link pattern")
});

static RETRIEVER_HASH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s[A-Za-z0-9+/]{11}\s*$").expect("hash pattern"));

pub fn normalize(body: &str) -> String {
    let mut text: String = body.chars().map(ascii_form).collect();
    if text.trim_start().starts_with("<#>")
        && let Some(hash) = RETRIEVER_HASH.find(&text)
    {
        text.truncate(hash.start());
    }
    LINK.replace_all(&text, " ").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_digits_and_full_width_forms() {
        assert_eq!(normalize("٤٥٦ ۷۸۹ ४२ ０１：x"), "456 789 42 01:x");
    }

    #[test]
    fn links_and_hashes_are_dropped() {
        assert_eq!(
            normalize("code 1234 https://t.me/login/1234").trim(),
            "code 1234"
        );
        assert_eq!(
            normalize("<#> code 1234\nFA+9qCX9VSu").trim(),
            "<#> code 1234"
        );
        // Not a Retriever message: the last word stays.
        assert!(normalize("code 1234 ABCDEFGHIJK").contains("ABCDEFGHIJK"));
    }
}
