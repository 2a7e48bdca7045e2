//! Verification codes out of SMS bodies: a pure library, no I/O.
//!
//! [`extract`] returns the code a user would type, a confidence, and the
//! brand when the sender or the message tells it. It reads digits of any
//! script, codes split by a dash or a space, prefixed codes (`G-123456`),
//! alphanumeric codes beside a keyword, and Android SMS Retriever messages;
//! and it refuses phone numbers, amounts, dates, times, order and tracking
//! numbers, URLs and years.
//!
//! How: the text is normalised (native digits and full-width forms to
//! ASCII, URLs and e-mail addresses blanked, the Retriever hash dropped),
//! cut into tokens, and every token that could be a code is scored by its
//! shape and its neighbourhood: a keyword such as "code", "código", "код",
//! "验证码" or "인증번호" near it weighs most; currency, dates, phone
//! numbers and words such as "order" or "balance" weigh against it. The best
//! candidate above a threshold wins.

pub mod brands;
mod keywords;
mod normalize;

use std::sync::LazyLock;

use regex::Regex;

use crate::brands::{BRANDS, Brand};

/// What [`extract`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    /// The code as a user would type it: ASCII digits (and letters), split
    /// codes joined, a letter prefix kept (`G-123456`).
    pub code: Option<String>,
    /// How sure the extraction is, from 0 (no code) to 1.
    pub confidence: f32,
    /// The brand the message is from, when the sender or a marker tells.
    pub brand: Option<Brand>,
}

/// Extracts the verification code of an SMS `body` sent by `sender`.
pub fn extract(body: &str, sender: Option<&str>) -> Extraction {
    let text = normalize::normalize(body);
    let tokens = tokenize(&text);
    let keyword_spans = keywords::find(&text);
    let phones = phone_spans(&text);
    let mut best: Option<(i32, String)> = None;
    for candidate in candidates(&text, &tokens) {
        let score = score(&text, &tokens, &candidate, &keyword_spans, &phones);
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, candidate.code));
        }
    }
    let brand = brand(body, sender);
    match best {
        Some((score, code)) if score >= THRESHOLD => Extraction {
            code: Some(code),
            confidence: confidence(score),
            brand,
        },
        _ => Extraction {
            code: None,
            confidence: 0.0,
            brand,
        },
    }
}

/// The lowest score a candidate needs to be the code.
const THRESHOLD: i32 = 20;

fn confidence(score: i32) -> f32 {
    match score {
        s if s >= 80 => 0.97,
        s if s >= 60 => 0.9,
        s if s >= 40 => 0.75,
        _ => 0.5,
    }
}

/// A maximal run of ASCII letters and digits, by byte offsets.
#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
    digits: usize,
    letters: usize,
}

impl Token {
    fn len(&self) -> usize {
        self.end - self.start
    }
    fn is_numeric(&self) -> bool {
        self.letters == 0
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut current: Option<Token> = None;
    for (i, c) in text.char_indices() {
        if c.is_ascii_alphanumeric() {
            let t = current.get_or_insert(Token {
                start: i,
                end: i,
                digits: 0,
                letters: 0,
            });
            t.end = i + 1;
            if c.is_ascii_digit() {
                t.digits += 1;
            } else {
                t.letters += 1;
            }
        } else if let Some(t) = current.take() {
            tokens.push(t);
        }
    }
    tokens.extend(current);
    tokens
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// 4 to 8 digits.
    Digits,
    /// Two or three digit groups split by a dash or a space.
    Split,
    /// Upper-case letters, a dash, digits: `G-123456`.
    Prefixed,
    /// Letters and digits mixed.
    Alphanumeric,
}

#[derive(Debug, Clone)]
struct Candidate {
    code: String,
    shape: Shape,
    /// Byte span in the normalised text.
    start: usize,
    end: usize,
}

fn candidates(text: &str, tokens: &[Token]) -> Vec<Candidate> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let next = tokens.get(i + 1).copied();
        let gap = |a: &Token, b: &Token| &text[a.end..b.start];
        // G-123456, FB-12345: the prefix is part of what users type.
        if t.digits == 0
            && (1..=3).contains(&t.len())
            && text[t.start..t.end].bytes().all(|b| b.is_ascii_uppercase())
            && let Some(n) = next
            && gap(&t, &n) == "-"
            && n.is_numeric()
            && (4..=8).contains(&n.len())
        {
            out.push(Candidate {
                code: text[t.start..n.end].to_owned(),
                shape: Shape::Prefixed,
                start: t.start,
                end: n.end,
            });
        }
        if t.is_numeric() {
            // 123-456, 123 456, 12 34 56, 1234-5678
            let mut group = vec![t];
            let mut j = i + 1;
            while let Some(n) = tokens.get(j) {
                let last = group[group.len() - 1];
                let g = gap(&last, n);
                if n.is_numeric() && (g == "-" || g == " ") && (3..=4).contains(&n.len()) {
                    group.push(*n);
                    j += 1;
                } else {
                    break;
                }
            }
            let total: usize = group.iter().map(|g| g.len()).sum();
            let even = group.iter().all(|g| g.len() == group[0].len())
                || (group.len() == 2 && group[0].len().abs_diff(group[1].len()) <= 1);
            if (2..=3).contains(&group.len())
                && group.iter().all(|g| (3..=4).contains(&g.len()))
                && (6..=8).contains(&total)
                && even
            {
                let last = group[group.len() - 1];
                out.push(Candidate {
                    code: group
                        .iter()
                        .map(|g| &text[g.start..g.end])
                        .collect::<String>(),
                    shape: Shape::Split,
                    start: t.start,
                    end: last.end,
                });
            }
            if (4..=8).contains(&t.len()) {
                out.push(Candidate {
                    code: text[t.start..t.end].to_owned(),
                    shape: Shape::Digits,
                    start: t.start,
                    end: t.end,
                });
            }
        } else if t.digits > 0 && t.letters > 0 && (4..=10).contains(&t.len()) {
            let code = &text[t.start..t.end];
            // Upper-case codes (K7PX2Q), or mixed case without a run of
            // lower case letters that reads like a word.
            let lower_run = code
                .as_bytes()
                .windows(3)
                .any(|w| w.iter().all(u8::is_ascii_lowercase));
            if !lower_run {
                out.push(Candidate {
                    code: code.to_owned(),
                    shape: Shape::Alphanumeric,
                    start: t.start,
                    end: t.end,
                });
            }
        }
        i += 1;
    }
    // A code never touches '+' (phone), '*' (card tail), '#' or '@'.
    out.retain(|c| {
        let before = text[..c.start].chars().next_back();
        !matches!(before, Some('+' | '*' | '@' | '/' | '\\' | '_'))
            && !matches!(bytes.get(c.end), Some(b'@' | b'_' | b'/'))
    });
    out
}

/// Numbers joined by separators into something longer: a phone number, an
/// amount, a date, a time, an IP address.
fn in_number_expression(text: &str, start: usize, end: usize) -> bool {
    let joins = |c: char| matches!(c, '.' | ',' | ':' | '/' | '-' | '(' | ')');
    let mut before = text[..start].chars().rev();
    let mut after = text[end..].chars();
    let joined = |first: Option<char>, second: Option<char>| {
        first.is_some_and(joins) && second.is_some_and(|c| c.is_ascii_digit())
    };
    joined(before.next(), before.next()) || joined(after.next(), after.next())
}

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{1,5}\)?){2,}").expect("phone pattern")
});

/// Spans shaped like phone numbers: runs of digit groups with at least 9
/// digits, or any run after a '+'.
fn phone_spans(text: &str) -> Vec<(usize, usize)> {
    PHONE
        .find_iter(text)
        .filter(|m| {
            let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            digits >= 9 || m.as_str().starts_with('+')
        })
        .map(|m| (m.start(), m.end()))
        .collect()
}

/// Whether the span lies inside a longer phone-shaped span.
fn in_phone_number(phones: &[(usize, usize)], start: usize, end: usize) -> bool {
    phones
        .iter()
        .any(|&(s, e)| s <= start && end <= e && e - s > end - start)
}

fn score(
    text: &str,
    tokens: &[Token],
    c: &Candidate,
    keyword_spans: &[(usize, usize)],
    phones: &[(usize, usize)],
) -> i32 {
    let digits = c.code.bytes().filter(u8::is_ascii_digit).count();
    let mut score = match c.shape {
        Shape::Digits => match digits {
            6 => 30,
            4 | 5 => 24,
            _ => 20,
        },
        Shape::Split => 32,
        Shape::Prefixed => 40,
        Shape::Alphanumeric => -10,
    };
    if c.shape != Shape::Prefixed && in_number_expression(text, c.start, c.end) {
        return i32::MIN;
    }
    if c.shape != Shape::Prefixed && in_phone_number(phones, c.start, c.end) {
        return i32::MIN;
    }
    // Keywords: before the code counts most, after it a little less.
    let mut keyword = 0;
    let mut keyword_before: Option<usize> = None;
    for &(ks, ke) in keyword_spans {
        let distance = if ke <= c.start {
            let d = text[ke..c.start].chars().count();
            keyword_before = Some(keyword_before.map_or(d, |k| k.min(d)));
            d as i32
        } else if c.end <= ks {
            text[c.end..ks].chars().count() as i32 + 6
        } else {
            continue;
        };
        let weight = match distance {
            d if d <= 6 => 60,
            d if d <= 20 => 50,
            d if d <= 40 => 35,
            d if d <= 80 => 15,
            _ => 0,
        };
        keyword = keyword.max(weight);
    }
    score += keyword;
    // Without a keyword nearby, only a code's usual shape may stand alone.
    if keyword == 0 {
        score -= 12;
    }
    if c.shape == Shape::Alphanumeric && keyword < 50 {
        return i32::MIN;
    }
    let context = context_before(text, c.start, 24);
    let after = context_after(text, c.end, 16);
    if keywords::is_money(&context, &after) {
        return i32::MIN;
    }
    if keywords::negative(&context, keyword_before) {
        score -= 70;
    }
    if keywords::unit_after(&after) {
        score -= 60;
    }
    if c.shape == Shape::Digits && digits == 4 && keywords::is_year(&c.code) {
        score -= 25;
    }
    if text[..c.start].trim_end().ends_with('#') {
        score -= 50;
    }
    // Codes stand alone more often than inside a sentence of numbers.
    let numbers = tokens
        .iter()
        .filter(|t| t.is_numeric() && t.len() >= 4)
        .count();
    if numbers == 1 {
        score += 5;
    }
    score
}

fn context_before(text: &str, start: usize, chars: usize) -> String {
    let head = &text[..start];
    let from = head
        .char_indices()
        .rev()
        .nth(chars.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    head[from..].to_lowercase()
}

fn context_after(text: &str, end: usize, chars: usize) -> String {
    text[end..]
        .chars()
        .take(chars)
        .collect::<String>()
        .to_lowercase()
}

/// The brand: from a marker in the message (`[Brand]`, `【Brand】`,
/// `<#> Brand:`, `Brand:` at the start), else the sender, else a brand
/// named in the message.
fn brand(body: &str, sender: Option<&str>) -> Option<Brand> {
    markers(body)
        .find_map(brand_named)
        .or_else(|| sender.and_then(brand_named))
        .or_else(|| brand_mentioned(body))
}

/// The names a message puts in markers: `Brand:` (after `<#>`) at its
/// start, then `[...]` and `【...】`.
fn markers(body: &str) -> impl Iterator<Item = &str> {
    let head = body.trim_start();
    let head = head.strip_prefix("<#>").unwrap_or(head).trim_start();
    let leading = head
        .split_once(':')
        .map(|(name, _)| name)
        .filter(|name| (1..=25).contains(&name.chars().count()) && !name.contains('\n'));
    let bracketed = |open: char, close: char| {
        body.split(open)
            .skip(1)
            .filter_map(move |rest| rest.split_once(close).map(|(name, _)| name))
            .filter(|name| (1..=30).contains(&name.chars().count()))
            .take(3)
    };
    leading
        .into_iter()
        .chain(bracketed('[', ']'))
        .chain(bracketed('【', '】'))
}

/// Every alias, lower case without spaces or dashes, and its brand.
static ALIASES: LazyLock<std::collections::HashMap<String, Brand>> = LazyLock::new(|| {
    let mut aliases = std::collections::HashMap::new();
    for brand in BRANDS {
        for alias in brand.aliases {
            aliases.entry(alias_key(alias)).or_insert(*brand);
        }
    }
    aliases
});

fn alias_key(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The brand whose alias is `name` (case, spaces and dashes ignored).
fn brand_named(name: &str) -> Option<Brand> {
    let key = alias_key(name);
    ALIASES.get(key.trim_end_matches(".com")).copied()
}

/// Every brand's display name (as a word, case kept, so "LINE" is not
/// "line") and non-Latin aliases, in one pattern, and who each is.
static MENTION: LazyLock<(Regex, std::collections::HashMap<&'static str, Brand>)> =
    LazyLock::new(|| {
        let mut names = std::collections::HashMap::new();
        let mut patterns = Vec::new();
        for brand in BRANDS {
            if brand.name.len() >= 2 {
                patterns.push(format!(r"(?-u:\b){}(?-u:\b)", regex::escape(brand.name)));
                names.entry(brand.name).or_insert(*brand);
            }
            for alias in brand.aliases.iter().filter(|a| !a.is_ascii()) {
                patterns.push(regex::escape(alias));
                names.entry(*alias).or_insert(*brand);
            }
        }
        let regex = Regex::new(&patterns.join("|")).expect("brand pattern");
        (regex, names)
    });

/// The first brand named in the text.
fn brand_mentioned(body: &str) -> Option<Brand> {
    let (regex, names) = &*MENTION;
    let found = regex.find(body)?;
    names.get(found.as_str()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<String> {
        extract(body, None).code
    }

    #[test]
    fn common_shapes() {
        assert_eq!(
            code("Your WhatsApp code: 123-456").as_deref(),
            Some("123456")
        );
        assert_eq!(
            code("G-482913 is your Google verification code.").as_deref(),
            Some("G-482913")
        );
        assert_eq!(code("Your code is 4821").as_deref(), Some("4821"));
        assert_eq!(code("Your code is K7PX2Q").as_deref(), Some("K7PX2Q"));
        assert_eq!(
            code("رمز التحقق الخاص بك هو ٤٨٢٩١٣").as_deref(),
            Some("482913")
        );
        assert_eq!(
            code("【微信】验证码：539120，5分钟内有效").as_deref(),
            Some("539120")
        );
    }

    #[test]
    fn retriever_hash_is_not_the_code() {
        let body = "<#> Your Instagram code is 639204\nFA+9qCX9VSu";
        let found = extract(body, None);
        assert_eq!(found.code.as_deref(), Some("639204"));
        assert_eq!(found.brand.map(|b| b.code), Some("ig"));
    }

    #[test]
    fn not_codes() {
        assert_eq!(code("Your order #88213094 has shipped"), None);
        assert_eq!(
            code("Payment of $1,250.00 received on 12/03/2026 at 14:35"),
            None
        );
        assert_eq!(code("Call +1 800 555 0199 for help"), None);
        assert_eq!(code("See https://example.com/v/99812 for details"), None);
        assert_eq!(code("Card ending 4417 was charged 25.00 EUR"), None);
    }

    #[test]
    fn brands_from_markers_and_senders() {
        assert_eq!(
            extract("[TikTok] 482913 is your code", None)
                .brand
                .map(|b| b.code),
            Some("lf")
        );
        assert_eq!(
            extract("code 4821", Some("Uber")).brand.map(|b| b.code),
            Some("ub")
        );
        assert_eq!(
            extract("Telegram code: 55123", None).brand.map(|b| b.code),
            Some("tg")
        );
    }
}

/// The corpus format of this crate's tests: one message per line, five
/// tab-separated fields (language, service, sender, expected code or `-`,
/// body with `\n` and `\t` escaped); `#` starts a comment line.
pub mod corpus {
    /// One message of the corpus.
    #[derive(Debug, Clone)]
    pub struct Sample {
        pub line: usize,
        pub language: String,
        pub service: String,
        pub sender: Option<String>,
        /// `None` for a message that carries no code.
        pub expected: Option<String>,
        pub body: String,
    }

    /// Parses a corpus; a malformed line is an error naming it.
    pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
        let mut samples = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [language, service, sender, expected, body] = fields[..] else {
                return Err(format!(
                    "line {}: {} fields, not 5",
                    index + 1,
                    fields.len()
                ));
            };
            samples.push(Sample {
                line: index + 1,
                language: language.to_owned(),
                service: service.to_owned(),
                sender: (!sender.is_empty()).then(|| sender.to_owned()),
                expected: (expected != "-").then(|| expected.to_owned()),
                body: body.replace("\\n", "\n").replace("\\t", "\t"),
            });
        }
        Ok(samples)
    }
}
