//! numhub's built-in reference data: services, countries and operators a
//! fresh catalog starts with. Service codes, numeric country ids and operator
//! slugs follow the SMS-Activate protocol (its service list, `getCountries` and
//! `getOperators` data), so a compatible gateway can map them one to one.

/// A service a number can be bought for.
#[derive(Debug, Clone, Copy)]
pub struct SeedService {
    /// Short code as the SMS-Activate protocol uses it, e.g. "wa".
    pub code: &'static str,
    pub name: &'static str,
    /// The service's web domain, e.g. "whatsapp.com".
    pub domain: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct SeedCountry {
    /// ISO 3166-1 alpha-2, upper case, e.g. "US".
    pub code: &'static str,
    pub name: &'static str,
    /// The international dial prefix with its plus sign, e.g. "+1", "+44".
    pub dial_prefix: &'static str,
    /// The numeric country id of the SMS-Activate protocol, e.g. 187 for the USA.
    pub activate_id: i32,
}

#[derive(Debug, Clone, Copy)]
pub struct SeedOperator {
    /// ISO 3166-1 alpha-2 of the operator's country.
    pub country_code: &'static str,
    /// Lower-case slug as the SMS-Activate protocol names operators, e.g. "tmobile", "vodafone".
    pub code: &'static str,
    pub name: &'static str,
}

// Services customers buy numbers for, keyed by their protocol short code.
// Codes are not derived from the name: the protocol assigned them in order of
// arrival, so several look unrelated (e.g. "tn" is LinkedIn, "mb" is Yahoo).
pub const SERVICES: &[SeedService] = &[
    SeedService {
        code: "wa",
        name: "WhatsApp",
        domain: "whatsapp.com",
    },
    SeedService {
        code: "tg",
        name: "Telegram",
        domain: "telegram.org",
    },
    SeedService {
        code: "fb",
        name: "Facebook",
        domain: "facebook.com",
    },
    SeedService {
        code: "go",
        name: "Google, YouTube, Gmail",
        domain: "google.com",
    },
    SeedService {
        code: "tw",
        name: "X (Twitter)",
        domain: "x.com",
    },
    SeedService {
        code: "ig",
        name: "Instagram + Threads",
        domain: "instagram.com",
    },
    SeedService {
        code: "lf",
        name: "TikTok / Douyin",
        domain: "tiktok.com",
    },
    SeedService {
        code: "fu",
        name: "Snapchat",
        domain: "snapchat.com",
    },
    SeedService {
        code: "tn",
        name: "LinkedIn",
        domain: "linkedin.com",
    },
    SeedService {
        code: "bnl",
        name: "Reddit",
        domain: "reddit.com",
    },
    SeedService {
        code: "vk",
        name: "VK",
        domain: "vk.com",
    },
    SeedService {
        code: "ok",
        name: "Odnoklassniki",
        domain: "ok.ru",
    },
    SeedService {
        code: "kf",
        name: "Weibo",
        domain: "weibo.com",
    },
    SeedService {
        code: "vi",
        name: "Viber",
        domain: "viber.com",
    },
    SeedService {
        code: "wb",
        name: "WeChat",
        domain: "wechat.com",
    },
    SeedService {
        code: "me",
        name: "LINE",
        domain: "line.me",
    },
    SeedService {
        code: "kt",
        name: "KakaoTalk",
        domain: "kakao.com",
    },
    SeedService {
        code: "bw",
        name: "Signal",
        domain: "signal.org",
    },
    SeedService {
        code: "mj",
        name: "Zalo",
        domain: "zalo.me",
    },
    SeedService {
        code: "qq",
        name: "Tencent QQ",
        domain: "qq.com",
    },
    SeedService {
        code: "im",
        name: "imo",
        domain: "imo.im",
    },
    SeedService {
        code: "rc",
        name: "Skype",
        domain: "skype.com",
    },
    SeedService {
        code: "ds",
        name: "Discord",
        domain: "discord.com",
    },
    SeedService {
        code: "yl",
        name: "Yalla",
        domain: "yalla.live",
    },
    SeedService {
        code: "mm",
        name: "Microsoft",
        domain: "microsoft.com",
    },
    SeedService {
        code: "wx",
        name: "Apple",
        domain: "apple.com",
    },
    SeedService {
        code: "mb",
        name: "Yahoo",
        domain: "yahoo.com",
    },
    SeedService {
        code: "ya",
        name: "Yandex",
        domain: "yandex.com",
    },
    SeedService {
        code: "ma",
        name: "Mail.ru",
        domain: "mail.ru",
    },
    SeedService {
        code: "dp",
        name: "Proton Mail",
        domain: "proton.me",
    },
    SeedService {
        code: "nv",
        name: "Naver",
        domain: "naver.com",
    },
    SeedService {
        code: "li",
        name: "Baidu",
        domain: "baidu.com",
    },
    SeedService {
        code: "dr",
        name: "OpenAI",
        domain: "openai.com",
    },
    SeedService {
        code: "tl",
        name: "Truecaller",
        domain: "truecaller.com",
    },
    SeedService {
        code: "oi",
        name: "Tinder",
        domain: "tinder.com",
    },
    SeedService {
        code: "mo",
        name: "Bumble",
        domain: "bumble.com",
    },
    SeedService {
        code: "vz",
        name: "Hinge",
        domain: "hinge.co",
    },
    SeedService {
        code: "qv",
        name: "Badoo",
        domain: "badoo.com",
    },
    SeedService {
        code: "am",
        name: "Amazon",
        domain: "amazon.com",
    },
    SeedService {
        code: "dh",
        name: "eBay",
        domain: "ebay.com",
    },
    SeedService {
        code: "hw",
        name: "Alibaba / Alipay / 1688",
        domain: "alibaba.com",
    },
    SeedService {
        code: "hx",
        name: "AliExpress",
        domain: "aliexpress.com",
    },
    SeedService {
        code: "qd",
        name: "Taobao",
        domain: "taobao.com",
    },
    SeedService {
        code: "za",
        name: "JD.com",
        domain: "jd.com",
    },
    SeedService {
        code: "ep",
        name: "Temu",
        domain: "temu.com",
    },
    SeedService {
        code: "aez",
        name: "Shein",
        domain: "shein.com",
    },
    SeedService {
        code: "ka",
        name: "Shopee",
        domain: "shopee.com",
    },
    SeedService {
        code: "dl",
        name: "Lazada",
        domain: "lazada.com",
    },
    SeedService {
        code: "xd",
        name: "Tokopedia",
        domain: "tokopedia.com",
    },
    SeedService {
        code: "xt",
        name: "Flipkart",
        domain: "flipkart.com",
    },
    SeedService {
        code: "sn",
        name: "OLX",
        domain: "olx.com",
    },
    SeedService {
        code: "kc",
        name: "Vinted",
        domain: "vinted.com",
    },
    SeedService {
        code: "wc",
        name: "Craigslist",
        domain: "craigslist.org",
    },
    SeedService {
        code: "cn",
        name: "Fiverr",
        domain: "fiverr.com",
    },
    SeedService {
        code: "uk",
        name: "Airbnb",
        domain: "airbnb.com",
    },
    SeedService {
        code: "nf",
        name: "Netflix",
        domain: "netflix.com",
    },
    SeedService {
        code: "alj",
        name: "Spotify",
        domain: "spotify.com",
    },
    SeedService {
        code: "hb",
        name: "Twitch",
        domain: "twitch.tv",
    },
    SeedService {
        code: "mt",
        name: "Steam",
        domain: "steampowered.com",
    },
    SeedService {
        code: "bz",
        name: "Blizzard",
        domain: "blizzard.com",
    },
    SeedService {
        code: "aiw",
        name: "Roblox",
        domain: "roblox.com",
    },
    SeedService {
        code: "ts",
        name: "PayPal",
        domain: "paypal.com",
    },
    SeedService {
        code: "ij",
        name: "Revolut",
        domain: "revolut.com",
    },
    SeedService {
        code: "bo",
        name: "Wise",
        domain: "wise.com",
    },
    SeedService {
        code: "yy",
        name: "Venmo",
        domain: "venmo.com",
    },
    SeedService {
        code: "ge",
        name: "Paytm",
        domain: "paytm.com",
    },
    SeedService {
        code: "aon",
        name: "Binance",
        domain: "binance.com",
    },
    SeedService {
        code: "aor",
        name: "OKX",
        domain: "okx.com",
    },
    SeedService {
        code: "abn",
        name: "Bybit",
        domain: "bybit.com",
    },
    SeedService {
        code: "re",
        name: "Coinbase",
        domain: "coinbase.com",
    },
    SeedService {
        code: "ub",
        name: "Uber",
        domain: "uber.com",
    },
    SeedService {
        code: "tu",
        name: "Lyft",
        domain: "lyft.com",
    },
    SeedService {
        code: "tx",
        name: "Bolt",
        domain: "bolt.eu",
    },
    SeedService {
        code: "jg",
        name: "Grab",
        domain: "grab.com",
    },
    SeedService {
        code: "ni",
        name: "Gojek",
        domain: "gojek.com",
    },
    SeedService {
        code: "ls",
        name: "Careem",
        domain: "careem.com",
    },
    SeedService {
        code: "ac",
        name: "DoorDash",
        domain: "doordash.com",
    },
    SeedService {
        code: "zk",
        name: "Deliveroo",
        domain: "deliveroo.com",
    },
    SeedService {
        code: "rr",
        name: "Wolt",
        domain: "wolt.com",
    },
    SeedService {
        code: "jx",
        name: "Swiggy",
        domain: "swiggy.com",
    },
    // The protocol's catch-all for services it does not list; it has no domain.
    SeedService {
        code: "ot",
        name: "Any other",
        domain: "",
    },
];

// Countries numbers are sold in, with the protocol's numeric country id.
pub const COUNTRIES: &[SeedCountry] = &[
    // Europe
    SeedCountry {
        code: "RU",
        name: "Russia",
        dial_prefix: "+7",
        activate_id: 0,
    },
    SeedCountry {
        code: "UA",
        name: "Ukraine",
        dial_prefix: "+380",
        activate_id: 1,
    },
    SeedCountry {
        code: "PL",
        name: "Poland",
        dial_prefix: "+48",
        activate_id: 15,
    },
    // The protocol calls id 16 "England"; its numbers are UK (+44) numbers.
    SeedCountry {
        code: "GB",
        name: "United Kingdom",
        dial_prefix: "+44",
        activate_id: 16,
    },
    SeedCountry {
        code: "IE",
        name: "Ireland",
        dial_prefix: "+353",
        activate_id: 23,
    },
    SeedCountry {
        code: "RO",
        name: "Romania",
        dial_prefix: "+40",
        activate_id: 32,
    },
    SeedCountry {
        code: "EE",
        name: "Estonia",
        dial_prefix: "+372",
        activate_id: 34,
    },
    SeedCountry {
        code: "DE",
        name: "Germany",
        dial_prefix: "+49",
        activate_id: 43,
    },
    SeedCountry {
        code: "LT",
        name: "Lithuania",
        dial_prefix: "+370",
        activate_id: 44,
    },
    SeedCountry {
        code: "SE",
        name: "Sweden",
        dial_prefix: "+46",
        activate_id: 46,
    },
    SeedCountry {
        code: "NL",
        name: "Netherlands",
        dial_prefix: "+31",
        activate_id: 48,
    },
    SeedCountry {
        code: "LV",
        name: "Latvia",
        dial_prefix: "+371",
        activate_id: 49,
    },
    SeedCountry {
        code: "AT",
        name: "Austria",
        dial_prefix: "+43",
        activate_id: 50,
    },
    SeedCountry {
        code: "ES",
        name: "Spain",
        dial_prefix: "+34",
        activate_id: 56,
    },
    SeedCountry {
        code: "TR",
        name: "Turkey",
        dial_prefix: "+90",
        activate_id: 62,
    },
    SeedCountry {
        code: "CZ",
        name: "Czechia",
        dial_prefix: "+420",
        activate_id: 63,
    },
    SeedCountry {
        code: "FR",
        name: "France",
        dial_prefix: "+33",
        activate_id: 78,
    },
    SeedCountry {
        code: "BE",
        name: "Belgium",
        dial_prefix: "+32",
        activate_id: 82,
    },
    SeedCountry {
        code: "BG",
        name: "Bulgaria",
        dial_prefix: "+359",
        activate_id: 83,
    },
    SeedCountry {
        code: "HU",
        name: "Hungary",
        dial_prefix: "+36",
        activate_id: 84,
    },
    SeedCountry {
        code: "IT",
        name: "Italy",
        dial_prefix: "+39",
        activate_id: 86,
    },
    SeedCountry {
        code: "PT",
        name: "Portugal",
        dial_prefix: "+351",
        activate_id: 117,
    },
    SeedCountry {
        code: "GR",
        name: "Greece",
        dial_prefix: "+30",
        activate_id: 129,
    },
    SeedCountry {
        code: "FI",
        name: "Finland",
        dial_prefix: "+358",
        activate_id: 163,
    },
    SeedCountry {
        code: "DK",
        name: "Denmark",
        dial_prefix: "+45",
        activate_id: 172,
    },
    SeedCountry {
        code: "CH",
        name: "Switzerland",
        dial_prefix: "+41",
        activate_id: 173,
    },
    SeedCountry {
        code: "NO",
        name: "Norway",
        dial_prefix: "+47",
        activate_id: 174,
    },
    // Americas
    // The protocol also has id 12, "USA (virtual)"; real US numbers are 187.
    SeedCountry {
        code: "US",
        name: "United States",
        dial_prefix: "+1",
        activate_id: 187,
    },
    SeedCountry {
        code: "CA",
        name: "Canada",
        dial_prefix: "+1",
        activate_id: 36,
    },
    SeedCountry {
        code: "MX",
        name: "Mexico",
        dial_prefix: "+52",
        activate_id: 54,
    },
    SeedCountry {
        code: "BR",
        name: "Brazil",
        dial_prefix: "+55",
        activate_id: 73,
    },
    SeedCountry {
        code: "AR",
        name: "Argentina",
        dial_prefix: "+54",
        activate_id: 39,
    },
    SeedCountry {
        code: "CO",
        name: "Colombia",
        dial_prefix: "+57",
        activate_id: 33,
    },
    SeedCountry {
        code: "PE",
        name: "Peru",
        dial_prefix: "+51",
        activate_id: 65,
    },
    SeedCountry {
        code: "CL",
        name: "Chile",
        dial_prefix: "+56",
        activate_id: 151,
    },
    // Asia
    SeedCountry {
        code: "KZ",
        name: "Kazakhstan",
        dial_prefix: "+7",
        activate_id: 2,
    },
    SeedCountry {
        code: "CN",
        name: "China",
        dial_prefix: "+86",
        activate_id: 3,
    },
    SeedCountry {
        code: "PH",
        name: "Philippines",
        dial_prefix: "+63",
        activate_id: 4,
    },
    SeedCountry {
        code: "ID",
        name: "Indonesia",
        dial_prefix: "+62",
        activate_id: 6,
    },
    SeedCountry {
        code: "MY",
        name: "Malaysia",
        dial_prefix: "+60",
        activate_id: 7,
    },
    SeedCountry {
        code: "VN",
        name: "Vietnam",
        dial_prefix: "+84",
        activate_id: 10,
    },
    SeedCountry {
        code: "HK",
        name: "Hong Kong",
        dial_prefix: "+852",
        activate_id: 14,
    },
    SeedCountry {
        code: "IN",
        name: "India",
        dial_prefix: "+91",
        activate_id: 22,
    },
    SeedCountry {
        code: "UZ",
        name: "Uzbekistan",
        dial_prefix: "+998",
        activate_id: 40,
    },
    SeedCountry {
        code: "TH",
        name: "Thailand",
        dial_prefix: "+66",
        activate_id: 52,
    },
    SeedCountry {
        code: "TW",
        name: "Taiwan",
        dial_prefix: "+886",
        activate_id: 55,
    },
    SeedCountry {
        code: "BD",
        name: "Bangladesh",
        dial_prefix: "+880",
        activate_id: 60,
    },
    SeedCountry {
        code: "PK",
        name: "Pakistan",
        dial_prefix: "+92",
        activate_id: 66,
    },
    SeedCountry {
        code: "JP",
        name: "Japan",
        dial_prefix: "+81",
        activate_id: 182,
    },
    SeedCountry {
        code: "KR",
        name: "South Korea",
        dial_prefix: "+82",
        activate_id: 190,
    },
    SeedCountry {
        code: "SG",
        name: "Singapore",
        dial_prefix: "+65",
        activate_id: 196,
    },
    // Middle East
    SeedCountry {
        code: "IL",
        name: "Israel",
        dial_prefix: "+972",
        activate_id: 13,
    },
    SeedCountry {
        code: "SA",
        name: "Saudi Arabia",
        dial_prefix: "+966",
        activate_id: 53,
    },
    SeedCountry {
        code: "AE",
        name: "United Arab Emirates",
        dial_prefix: "+971",
        activate_id: 95,
    },
    // Africa
    SeedCountry {
        code: "KE",
        name: "Kenya",
        dial_prefix: "+254",
        activate_id: 8,
    },
    SeedCountry {
        code: "NG",
        name: "Nigeria",
        dial_prefix: "+234",
        activate_id: 19,
    },
    SeedCountry {
        code: "EG",
        name: "Egypt",
        dial_prefix: "+20",
        activate_id: 21,
    },
    SeedCountry {
        code: "ZA",
        name: "South Africa",
        dial_prefix: "+27",
        activate_id: 31,
    },
    SeedCountry {
        code: "MA",
        name: "Morocco",
        dial_prefix: "+212",
        activate_id: 37,
    },
    SeedCountry {
        code: "GH",
        name: "Ghana",
        dial_prefix: "+233",
        activate_id: 38,
    },
    // Oceania
    SeedCountry {
        code: "AU",
        name: "Australia",
        dial_prefix: "+61",
        activate_id: 175,
    },
    SeedCountry {
        code: "NZ",
        name: "New Zealand",
        dial_prefix: "+64",
        activate_id: 67,
    },
];

// Mobile operators a buyer can ask for by slug, for the larger markets.
pub const OPERATORS: &[SeedOperator] = &[
    SeedOperator {
        country_code: "US",
        code: "tmobile",
        name: "T-Mobile",
    },
    SeedOperator {
        country_code: "US",
        code: "att",
        name: "AT&T",
    },
    SeedOperator {
        country_code: "US",
        code: "verizon",
        name: "Verizon",
    },
    SeedOperator {
        country_code: "CA",
        code: "rogers",
        name: "Rogers",
    },
    SeedOperator {
        country_code: "CA",
        code: "bell",
        name: "Bell",
    },
    SeedOperator {
        country_code: "CA",
        code: "telus",
        name: "Telus",
    },
    SeedOperator {
        country_code: "GB",
        code: "ee",
        name: "EE",
    },
    SeedOperator {
        country_code: "GB",
        code: "vodafone",
        name: "Vodafone",
    },
    SeedOperator {
        country_code: "GB",
        code: "three",
        name: "Three",
    },
    SeedOperator {
        country_code: "GB",
        code: "o2",
        name: "O2",
    },
    SeedOperator {
        country_code: "DE",
        code: "telekom",
        name: "Telekom",
    },
    SeedOperator {
        country_code: "DE",
        code: "vodafone",
        name: "Vodafone",
    },
    SeedOperator {
        country_code: "DE",
        code: "o2",
        name: "O2",
    },
    SeedOperator {
        country_code: "FR",
        code: "orange",
        name: "Orange",
    },
    SeedOperator {
        country_code: "FR",
        code: "sfr",
        name: "SFR",
    },
    SeedOperator {
        country_code: "FR",
        code: "bouygues",
        name: "Bouygues Telecom",
    },
    SeedOperator {
        country_code: "FR",
        code: "free",
        name: "Free Mobile",
    },
    SeedOperator {
        country_code: "RU",
        code: "mts",
        name: "MTS",
    },
    SeedOperator {
        country_code: "RU",
        code: "beeline",
        name: "Beeline",
    },
    SeedOperator {
        country_code: "RU",
        code: "megafon",
        name: "MegaFon",
    },
    SeedOperator {
        country_code: "RU",
        code: "tele2",
        name: "Tele2",
    },
    SeedOperator {
        country_code: "UA",
        code: "kyivstar",
        name: "Kyivstar",
    },
    SeedOperator {
        country_code: "UA",
        code: "vodafone",
        name: "Vodafone Ukraine",
    },
    SeedOperator {
        country_code: "UA",
        code: "life",
        name: "lifecell",
    },
    SeedOperator {
        country_code: "KZ",
        code: "beeline",
        name: "Beeline",
    },
    SeedOperator {
        country_code: "KZ",
        code: "tele2",
        name: "Tele2",
    },
    SeedOperator {
        country_code: "KZ",
        code: "activ",
        name: "Activ",
    },
    SeedOperator {
        country_code: "KZ",
        code: "altel",
        name: "Altel",
    },
    SeedOperator {
        country_code: "IN",
        code: "airtel",
        name: "Airtel",
    },
    SeedOperator {
        country_code: "IN",
        code: "jio",
        name: "Jio",
    },
    SeedOperator {
        country_code: "IN",
        code: "vi",
        name: "Vi",
    },
    SeedOperator {
        country_code: "ID",
        code: "telkomsel",
        name: "Telkomsel",
    },
    SeedOperator {
        country_code: "ID",
        code: "indosat",
        name: "Indosat Ooredoo",
    },
    SeedOperator {
        country_code: "ID",
        code: "axis",
        name: "AXIS",
    },
    SeedOperator {
        country_code: "ID",
        code: "smartfren",
        name: "Smartfren",
    },
    SeedOperator {
        country_code: "PH",
        code: "globe",
        name: "Globe",
    },
    SeedOperator {
        country_code: "PH",
        code: "smart",
        name: "Smart",
    },
    SeedOperator {
        country_code: "PH",
        code: "dito",
        name: "DITO",
    },
    SeedOperator {
        country_code: "MY",
        code: "maxis",
        name: "Maxis",
    },
    SeedOperator {
        country_code: "MY",
        code: "celcom",
        name: "Celcom",
    },
    SeedOperator {
        country_code: "MY",
        code: "digi",
        name: "Digi",
    },
    SeedOperator {
        country_code: "MY",
        code: "umobile",
        name: "U Mobile",
    },
    SeedOperator {
        country_code: "TH",
        code: "ais",
        name: "AIS",
    },
    SeedOperator {
        country_code: "TH",
        code: "dtac",
        name: "dtac",
    },
    SeedOperator {
        country_code: "TH",
        code: "truemove",
        name: "TrueMove H",
    },
    SeedOperator {
        country_code: "VN",
        code: "viettel",
        name: "Viettel",
    },
    SeedOperator {
        country_code: "VN",
        code: "vinaphone",
        name: "VinaPhone",
    },
    SeedOperator {
        country_code: "VN",
        code: "mobifone",
        name: "MobiFone",
    },
    SeedOperator {
        country_code: "BR",
        code: "vivo",
        name: "Vivo",
    },
    SeedOperator {
        country_code: "BR",
        code: "claro",
        name: "Claro",
    },
    SeedOperator {
        country_code: "BR",
        code: "tim",
        name: "TIM",
    },
    SeedOperator {
        country_code: "MX",
        code: "telcel",
        name: "Telcel",
    },
    SeedOperator {
        country_code: "MX",
        code: "movistar",
        name: "Movistar",
    },
    SeedOperator {
        country_code: "MX",
        code: "att",
        name: "AT&T Mexico",
    },
    SeedOperator {
        country_code: "NG",
        code: "mtn",
        name: "MTN",
    },
    SeedOperator {
        country_code: "NG",
        code: "airtel",
        name: "Airtel",
    },
    SeedOperator {
        country_code: "NG",
        code: "glo",
        name: "Glo",
    },
    SeedOperator {
        country_code: "NG",
        code: "9mobile",
        name: "9mobile",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_lower_alnum(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }

    #[test]
    fn tables_are_large_enough() {
        assert!(SERVICES.len() >= 45, "only {} services", SERVICES.len());
        assert!(COUNTRIES.len() >= 35, "only {} countries", COUNTRIES.len());
    }

    #[test]
    fn service_codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for s in SERVICES {
            assert!(
                (1..=8).contains(&s.code.len()) && is_lower_alnum(s.code),
                "bad service code {:?}",
                s.code
            );
            assert!(seen.insert(s.code), "duplicate service code {:?}", s.code);
        }
    }

    #[test]
    fn any_other_service_is_present() {
        assert!(SERVICES.iter().any(|s| s.code == "ot"));
    }

    #[test]
    fn service_names_and_domains_are_well_formed() {
        for s in SERVICES {
            assert!(
                !s.name.is_empty() && s.name.trim() == s.name,
                "bad name for {:?}",
                s.code
            );
            if s.code == "ot" {
                continue;
            }
            let d = s.domain;
            assert!(
                d.contains('.')
                    && !d.starts_with('.')
                    && !d.ends_with('.')
                    && d.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'.'
                        || b == b'-'),
                "bad domain {:?} for {:?}",
                d,
                s.code
            );
        }
    }

    #[test]
    fn country_codes_are_unique_iso_alpha2() {
        let mut seen = HashSet::new();
        for c in COUNTRIES {
            assert!(
                c.code.len() == 2 && c.code.bytes().all(|b| b.is_ascii_uppercase()),
                "bad ISO code {:?}",
                c.code
            );
            assert!(!c.name.is_empty(), "empty name for {:?}", c.code);
            assert!(seen.insert(c.code), "duplicate ISO code {:?}", c.code);
        }
    }

    #[test]
    fn activate_ids_are_unique() {
        let mut seen = HashSet::new();
        for c in COUNTRIES {
            assert!(c.activate_id >= 0, "negative id for {:?}", c.code);
            assert!(
                seen.insert(c.activate_id),
                "duplicate activate id {} ({:?})",
                c.activate_id,
                c.code
            );
        }
    }

    #[test]
    fn dial_prefixes_are_well_formed() {
        for c in COUNTRIES {
            let digits = c
                .dial_prefix
                .strip_prefix('+')
                .unwrap_or_else(|| panic!("no plus sign in {:?}", c.dial_prefix));
            assert!(
                (1..=4).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !digits.starts_with('0'),
                "bad dial prefix {:?} for {:?}",
                c.dial_prefix,
                c.code
            );
        }
    }

    #[test]
    fn protocol_anchor_ids_map_to_the_right_countries() {
        let by_id = |id: i32| {
            COUNTRIES
                .iter()
                .find(|c| c.activate_id == id)
                .map(|c| c.code)
        };
        assert_eq!(by_id(187), Some("US"));
        assert_eq!(by_id(0), Some("RU"));
        assert_eq!(by_id(16), Some("GB"));
        assert_eq!(by_id(22), Some("IN"));
    }

    #[test]
    fn every_operator_country_exists() {
        let countries: HashSet<_> = COUNTRIES.iter().map(|c| c.code).collect();
        for o in OPERATORS {
            assert!(
                countries.contains(o.country_code),
                "operator {:?} in unknown country {:?}",
                o.code,
                o.country_code
            );
        }
    }

    #[test]
    fn operator_codes_are_unique_per_country_and_well_formed() {
        let mut seen = HashSet::new();
        for o in OPERATORS {
            assert!(
                !o.code.is_empty() && is_lower_alnum(o.code),
                "bad operator code {:?}",
                o.code
            );
            assert!(!o.name.is_empty(), "empty name for {:?}", o.code);
            assert!(
                seen.insert((o.country_code, o.code)),
                "duplicate operator {:?} in {:?}",
                o.code,
                o.country_code
            );
        }
    }

    #[test]
    fn operators_cover_enough_countries() {
        let countries: HashSet<_> = OPERATORS.iter().map(|o| o.country_code).collect();
        assert!(countries.len() >= 12, "only {} countries", countries.len());
        for c in &countries {
            let n = OPERATORS.iter().filter(|o| o.country_code == *c).count();
            assert!((2..=4).contains(&n), "{c} has {n} operators");
        }
    }
}
