//! Words around a number that say whether it is a code: keywords in many
//! languages, and what makes a number something else (money, an order, a
//! unit, a year).

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// Words that name a verification code, in lower case. Latin and Cyrillic
/// words must stand as words; the others match anywhere.
const WORDS: &[&str] = &[
    // English
    "code",
    "codes",
    "otp",
    "pin",
    "passcode",
    "password",
    "one-time",
    "verification",
    "verify",
    "security code",
    "auth",
    "2fa",
    "token",
    "key",
    // Spanish, Portuguese, Italian, French, German, Dutch, Polish, Romanian...
    "código",
    "codigo",
    "clave",
    "contraseña",
    "senha",
    "codice",
    "chiave",
    "mot de passe",
    "bestätigungscode",
    "sicherheitscode",
    "verifizierungscode",
    "zugangscode",
    "kennwort",
    "freischaltcode",
    "aktivierungscode",
    "anmeldecode",
    "einmalcode",
    "tan",
    "mobiletan",
    "smstan",
    "mtan",
    "pushtan",
    "kod",
    "kodu",
    "kodunuz",
    "kodun",
    "şifre",
    "şifreniz",
    "doğrulama",
    "cod",
    "codul",
    "kód",
    "koden",
    "koodi",
    "verificatiecode",
    "κωδικός",
    "kode",
    "otp-nya",
    // Russian, Ukrainian
    "код",
    "кода",
    "кодом",
    "пароль",
    "коду",
    // Vietnamese
    "mã",
    "ma xac nhan",
    "mã xác nhận",
    "mã otp",
    "ma xac thuc",
    "mã xác thực",
];

const ANYWHERE: &[&str] = &[
    // Arabic, Persian, Hebrew
    "رمز",
    "كود",
    "الرمز",
    "الكود",
    "كلمة المرور",
    "کد",
    "קוד",
    // Hindi, Bengali, Thai
    "कोड",
    "ओटीपी",
    "ओ.टी.पी",
    "কোড",
    "รหัส",
    // Chinese, Japanese, Korean
    "验证码",
    "驗證碼",
    "校验码",
    "动态码",
    "确认码",
    "校驗碼",
    "代码",
    "認証コード",
    "確認コード",
    "認証番号",
    "確認番号",
    "暗証番号",
    "ワンタイムパスワード",
    "パスワード",
    "コード",
    "인증번호",
    "인증 번호",
    "인증코드",
    "확인번호",
    "코드",
    "승인번호",
];

static KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    // ASCII word boundaries, which the fast engines support, on the sides
    // of a word that are ASCII letters; other scripts need none.
    let bounded = |w: &&str| {
        let edge = |c: Option<char>| {
            if c.is_some_and(|c| c.is_ascii_alphanumeric()) {
                r"(?-u:\b)"
            } else {
                ""
            }
        };
        format!(
            "{}{}{}",
            edge(w.chars().next()),
            regex::escape(w),
            edge(w.chars().last())
        )
    };
    let words: Vec<String> = WORDS.iter().map(bounded).collect();
    let anywhere: Vec<String> = ANYWHERE.iter().map(|w| regex::escape(w)).collect();
    let pattern = format!("(?i){}|{}", words.join("|"), anywhere.join("|"));
    Regex::new(&pattern).expect("keyword pattern")
});

/// Byte spans of every keyword in `text`.
pub fn find(text: &str) -> Vec<(usize, usize)> {
    KEYWORD
        .find_iter(text)
        .map(|m| (m.start(), m.end()))
        .collect()
}

const CURRENCY_SIGNS: &[&str] = &[
    "$", "€", "£", "¥", "₹", "₽", "₺", "₩", "₫", "₦", "₱", "฿", "₴", "₸", "₪", "元", "円", "원",
];

const CURRENCY_WORDS: &[&str] = &[
    "usd",
    "eur",
    "gbp",
    "rub",
    "руб",
    "руб.",
    "грн",
    "uah",
    "tl",
    "try",
    "inr",
    "rs",
    "rs.",
    "idr",
    "rp",
    "rp.",
    "vnd",
    "đ",
    "brl",
    "r$",
    "mxn",
    "ars",
    "cop",
    "clp",
    "pen",
    "aed",
    "sar",
    "egp",
    "ريال",
    "درهم",
    "جنيه",
    "kzt",
    "chf",
    "cny",
    "rmb",
    "jpy",
    "krw",
    "php",
    "thb",
    "myr",
    "rm",
    "ngn",
    "kes",
    "zar",
    "pln",
    "zł",
    "czk",
    "kč",
    "sek",
    "nok",
    "dkk",
    "kr",
    "huf",
    "ft",
    "ron",
    "lei",
    "रु",
    "रुपये",
    "₹.",
    "dong",
    "euro",
    "euros",
    "dollars",
    "dólares",
    "reais",
    "pesos",
    "lira",
    "рублей",
    "тенге",
    "сум",
    "yuan",
];

/// Whether the number is money: a currency sign or code right before or
/// after it, or a percentage. Both contexts are in lower case.
pub fn is_money(before: &str, after: &str) -> bool {
    let before = before.trim_end();
    let after = after.trim_start();
    let last_word = before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("");
    let first_word = after
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .next()
        .unwrap_or("");
    CURRENCY_SIGNS
        .iter()
        .any(|s| before.ends_with(s) || after.starts_with(s))
        || CURRENCY_WORDS.contains(&last_word)
        || CURRENCY_WORDS.contains(&first_word.trim_end_matches('.'))
        || after.starts_with('%')
}

/// Words that, right before a number, make it something other than a code.
const NEGATIVE: &[&str] = &[
    "order",
    "orden",
    "tracking",
    "track",
    "parcel",
    "package",
    "shipment",
    "invoice",
    "ref",
    "reference",
    "account",
    "acct",
    "a/c",
    "card",
    "ending",
    "ends in",
    "balance",
    "bal",
    "amount",
    "total",
    "booking",
    "reservation",
    "flight",
    "ticket",
    "room",
    "seat",
    "gate",
    "customer",
    "member",
    "no.",
    "nr.",
    "nº",
    "№",
    "pedido",
    "encomenda",
    "rastreio",
    "commande",
    "colis",
    "suivi",
    "bestellung",
    "sendung",
    "ordine",
    "spedizione",
    "заказ",
    "заказа",
    "посылка",
    "посылки",
    "трек",
    "счет",
    "счёт",
    "карта",
    "карты",
    "баланс",
    "sipariş",
    "siparişiniz",
    "kargo",
    "takip",
    "bakiye",
    "saldo",
    "solde",
    "kontostand",
    "طلب",
    "شحنة",
    "الطلب",
    "رصيد",
    "ऑर्डर",
    "शेष",
    "pesanan",
    "resi",
    "đơn hàng",
    "đơn",
    "订单",
    "快递",
    "运单",
    "余额",
    "注文",
    "残高",
    "주문",
    "송장",
    "잔액",
    "id",
    "ticket#",
    "case",
    "tel",
    "phone",
    "call",
    "hotline",
    "whatsapp:",
    "fax",
    "flight no",
    "train",
    "platform",
    "bus",
    "route",
    "apt",
    "suite",
    "zip",
    "postcode",
    "pincode",
    "model",
    "version",
    "v",
    "ver",
    "step",
    "page",
    "floor",
    "table",
    "vehicle",
    "plate",
    "license",
    "stop",
    "terminación",
    "terminada",
    "terminado",
    "final",
    "finale",
    "terminant",
    "endet",
    "ending",
    "endend",
    "eindigend",
    "placa",
    "placas",
    "plates",
    "номер",
    "номером",
    "номерной",
    "المنتهية",
    "المنتهي",
    "המסתיים",
    "پیگیری",
    "رهگیری",
    "尾号",
    "尾號",
    "末尾",
    "车牌",
    "車牌",
    "차량번호",
    "카드",
    "끝자리",
    "訂單",
    "番号",
    "kartu",
    "thẻ",
    "卡",
    "kart",
    "kartı",
    "kartınız",
    "carta",
    "cartão",
    "tarjeta",
    "carte",
    "karte",
    "karty",
    "картой",
    "картка",
    "بطاقة",
    "बैंक",
    "खाते",
    "rekening",
    "tài",
    "khoản",
];

/// Whether a negative word is one of the two words right before the
/// number ("order 4821", "card ending 4417", "尾号4417"), closer to it than
/// `keyword_distance` characters (the nearest keyword before it, if any).
pub fn negative(before: &str, keyword_distance: Option<usize>) -> bool {
    let (exact, unspaced) = &*NEGATIVE_SETS;
    let words: Vec<(usize, &str)> = word_ends(before);
    words.iter().rev().take(2).any(|(distance, raw)| {
        let word =
            raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '.' && c != '#' && c != '№');
        let closer = |d: usize| keyword_distance.is_none_or(|k| d < k);
        if exact.contains(word) && closer(*distance) {
            return true;
        }
        // Unspaced scripts: the word may hold more than the negative;
        // measure from where the negative ends.
        !raw.is_ascii()
            && unspaced.iter().any(|n| {
                raw.rfind(n)
                    .is_some_and(|i| closer(distance + raw[i + n.len()..].chars().count()))
            })
    })
}

/// The negative words that stand as words, and those of unspaced scripts.
static NEGATIVE_SETS: LazyLock<(HashSet<&'static str>, Vec<&'static str>)> = LazyLock::new(|| {
    let (unspaced, exact): (Vec<&str>, Vec<&str>) =
        NEGATIVE.iter().partition(|n| n.chars().any(is_cjk));
    (exact.into_iter().collect(), unspaced)
});

/// Chinese, Japanese and Korean characters, which words do not separate.
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Each word of `text` with its distance in characters from the end.
fn word_ends(text: &str) -> Vec<(usize, &str)> {
    let total = text.chars().count();
    let mut out = Vec::new();
    let mut seen = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        seen += word.chars().count();
        let trimmed = word.trim();
        if !trimmed.is_empty() {
            out.push((total - seen, trimmed));
        }
    }
    out
}

const UNITS: &[&str] = &[
    "min",
    "mins",
    "minute",
    "minutes",
    "minutos",
    "minuti",
    "minuten",
    "minuty",
    "minut",
    "минут",
    "минуты",
    "мин",
    "хвилин",
    "dakika",
    "dk",
    "دقيقة",
    "دقائق",
    "मिनट",
    "menit",
    "phút",
    "分钟",
    "分",
    "분",
    "sec",
    "secs",
    "seconds",
    "segundos",
    "секунд",
    "hours",
    "hour",
    "horas",
    "часов",
    "saat",
    "h",
    "hrs",
    "km",
    "kg",
    "gb",
    "mb",
    "pts",
    "points",
    "puntos",
    "pontos",
    "баллов",
    "miles",
    "mi",
    "days",
    "días",
    "dias",
    "jours",
    "tage",
    "дней",
    "gün",
    "hari",
    "ngày",
    "天",
    "日",
    "일",
    "x",
    "ml",
    "l",
    "numaralı",
    "nolu",
    "sayılı",
    "号",
    "번",
    "шт",
    "pcs",
];

/// Whether a unit follows the number: a duration, a distance, points.
pub fn unit_after(after: &str) -> bool {
    let first = after
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '.' || c == ',' || c == ')')
        .next()
        .unwrap_or("");
    UNITS.contains(&first)
}

/// Whether four digits read as a year of this era.
pub fn is_year(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|y| (1950..=2039).contains(&y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_in_many_scripts() {
        for text in [
            "Your code",
            "código",
            "Ваш код",
            "验证码",
            "인증번호",
            "رمز",
            "कोड",
        ] {
            assert!(!find(text).is_empty(), "{text}");
        }
        assert!(find("barcode").is_empty());
    }

    #[test]
    fn money_and_units() {
        assert!(is_money("total $", ""));
        assert!(is_money("", " usd"));
        assert!(is_money("", "%"));
        assert!(!is_money("code", " is yours"));
        assert!(unit_after(" minutes"));
        assert!(negative("your order ", None));
        assert!(!negative("your account code ", Some(1)));
    }
}
