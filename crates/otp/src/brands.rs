//! Brands numhub recognises in a sender or a message, with their service
//! codes as numhub's catalog knows them (the SMS-Activate protocol's).

/// A brand and the names it goes by, in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brand {
    /// The service code, e.g. "wa".
    pub code: &'static str,
    /// The brand's name for people, e.g. "WhatsApp".
    pub name: &'static str,
    pub aliases: &'static [&'static str],
}

pub const BRANDS: &[Brand] = &[
    Brand {
        code: "wa",
        name: "WhatsApp",
        aliases: &["whatsapp"],
    },
    Brand {
        code: "tg",
        name: "Telegram",
        aliases: &["telegram"],
    },
    Brand {
        code: "fb",
        name: "Facebook",
        aliases: &["facebook", "meta", "fb"],
    },
    Brand {
        code: "go",
        name: "Google",
        aliases: &["youtube", "google", "gmail"],
    },
    Brand {
        code: "tw",
        name: "X",
        aliases: &["twitter", "x"],
    },
    Brand {
        code: "ig",
        name: "Instagram",
        aliases: &["instagram", "threads"],
    },
    Brand {
        code: "lf",
        name: "TikTok",
        aliases: &["douyin", "tiktok", "抖音"],
    },
    Brand {
        code: "fu",
        name: "Snapchat",
        aliases: &["snapchat"],
    },
    Brand {
        code: "tn",
        name: "LinkedIn",
        aliases: &["linkedin"],
    },
    Brand {
        code: "bnl",
        name: "Reddit",
        aliases: &["reddit"],
    },
    Brand {
        code: "vk",
        name: "VK",
        aliases: &["vkontakte", "вконтакте", "vk"],
    },
    Brand {
        code: "ok",
        name: "Odnoklassniki",
        aliases: &["odnoklassniki", "одноклассники", "ok.ru"],
    },
    Brand {
        code: "kf",
        name: "Weibo",
        aliases: &["weibo", "微博"],
    },
    Brand {
        code: "vi",
        name: "Viber",
        aliases: &["viber"],
    },
    Brand {
        code: "wb",
        name: "WeChat",
        aliases: &["wechat", "weixin", "微信"],
    },
    Brand {
        code: "me",
        name: "LINE",
        aliases: &["line", "ライン"],
    },
    Brand {
        code: "kt",
        name: "KakaoTalk",
        aliases: &["kakaotalk", "kakao", "카카오톡", "카카오"],
    },
    Brand {
        code: "bw",
        name: "Signal",
        aliases: &["signal"],
    },
    Brand {
        code: "mj",
        name: "Zalo",
        aliases: &["zalo"],
    },
    Brand {
        code: "qq",
        name: "Tencent QQ",
        aliases: &["tencent qq", "tencent", "腾讯"],
    },
    Brand {
        code: "im",
        name: "imo",
        aliases: &["imo"],
    },
    Brand {
        code: "rc",
        name: "Skype",
        aliases: &["skype"],
    },
    Brand {
        code: "ds",
        name: "Discord",
        aliases: &["discord"],
    },
    Brand {
        code: "yl",
        name: "Yalla",
        aliases: &["yalla"],
    },
    Brand {
        code: "mm",
        name: "Microsoft",
        aliases: &["microsoft", "hotmail", "outlook", "skype"],
    },
    Brand {
        code: "wx",
        name: "Apple",
        aliases: &["apple id", "icloud", "apple"],
    },
    Brand {
        code: "mb",
        name: "Yahoo",
        aliases: &["yahoo"],
    },
    Brand {
        code: "ya",
        name: "Yandex",
        aliases: &["yandex", "яндекс"],
    },
    Brand {
        code: "ma",
        name: "Mail.ru",
        aliases: &["почта mail.ru", "mail.ru", "mailru", "mail"],
    },
    Brand {
        code: "dp",
        name: "Proton Mail",
        aliases: &["proton mail", "protonmail", "proton"],
    },
    Brand {
        code: "nv",
        name: "Naver",
        aliases: &["naver", "네이버"],
    },
    Brand {
        code: "li",
        name: "Baidu",
        aliases: &["baidu", "百度"],
    },
    Brand {
        code: "dr",
        name: "OpenAI",
        aliases: &["chatgpt", "openai"],
    },
    Brand {
        code: "tl",
        name: "Truecaller",
        aliases: &["truecaller"],
    },
    Brand {
        code: "oi",
        name: "Tinder",
        aliases: &["tinder"],
    },
    Brand {
        code: "mo",
        name: "Bumble",
        aliases: &["bumble"],
    },
    Brand {
        code: "vz",
        name: "Hinge",
        aliases: &["hinge"],
    },
    Brand {
        code: "qv",
        name: "Badoo",
        aliases: &["badoo"],
    },
    Brand {
        code: "am",
        name: "Amazon",
        aliases: &["amazon"],
    },
    Brand {
        code: "dh",
        name: "eBay",
        aliases: &["ebay"],
    },
    Brand {
        code: "hw",
        name: "Alibaba",
        aliases: &["alibaba", "alipay", "1688", "支付宝"],
    },
    Brand {
        code: "hx",
        name: "AliExpress",
        aliases: &["aliexpress"],
    },
    Brand {
        code: "qd",
        name: "Taobao",
        aliases: &["taobao", "淘宝"],
    },
    Brand {
        code: "za",
        name: "JD.com",
        aliases: &["jd.com", "jd", "京东"],
    },
    Brand {
        code: "ep",
        name: "Temu",
        aliases: &["temu"],
    },
    Brand {
        code: "aez",
        name: "Shein",
        aliases: &["shein"],
    },
    Brand {
        code: "ka",
        name: "Shopee",
        aliases: &["shopee"],
    },
    Brand {
        code: "dl",
        name: "Lazada",
        aliases: &["lazada"],
    },
    Brand {
        code: "xd",
        name: "Tokopedia",
        aliases: &["tokopedia"],
    },
    Brand {
        code: "xt",
        name: "Flipkart",
        aliases: &["flipkart"],
    },
    Brand {
        code: "sn",
        name: "OLX",
        aliases: &["olx"],
    },
    Brand {
        code: "kc",
        name: "Vinted",
        aliases: &["vinted"],
    },
    Brand {
        code: "wc",
        name: "Craigslist",
        aliases: &["craigslist"],
    },
    Brand {
        code: "cn",
        name: "Fiverr",
        aliases: &["fiverr"],
    },
    Brand {
        code: "uk",
        name: "Airbnb",
        aliases: &["airbnb"],
    },
    Brand {
        code: "nf",
        name: "Netflix",
        aliases: &["netflix"],
    },
    Brand {
        code: "alj",
        name: "Spotify",
        aliases: &["spotify"],
    },
    Brand {
        code: "hb",
        name: "Twitch",
        aliases: &["twitch"],
    },
    Brand {
        code: "mt",
        name: "Steam",
        aliases: &["steampowered", "steam"],
    },
    Brand {
        code: "bz",
        name: "Blizzard",
        aliases: &["blizzard"],
    },
    Brand {
        code: "aiw",
        name: "Roblox",
        aliases: &["roblox"],
    },
    Brand {
        code: "ts",
        name: "PayPal",
        aliases: &["paypal"],
    },
    Brand {
        code: "ij",
        name: "Revolut",
        aliases: &["revolut"],
    },
    Brand {
        code: "bo",
        name: "Wise",
        aliases: &["wise"],
    },
    Brand {
        code: "yy",
        name: "Venmo",
        aliases: &["venmo"],
    },
    Brand {
        code: "ge",
        name: "Paytm",
        aliases: &["paytm"],
    },
    Brand {
        code: "aon",
        name: "Binance",
        aliases: &["binance"],
    },
    Brand {
        code: "aor",
        name: "OKX",
        aliases: &["okx"],
    },
    Brand {
        code: "abn",
        name: "Bybit",
        aliases: &["bybit"],
    },
    Brand {
        code: "re",
        name: "Coinbase",
        aliases: &["coinbase"],
    },
    Brand {
        code: "ub",
        name: "Uber",
        aliases: &["uber"],
    },
    Brand {
        code: "tu",
        name: "Lyft",
        aliases: &["lyft"],
    },
    Brand {
        code: "tx",
        name: "Bolt",
        aliases: &["bolt"],
    },
    Brand {
        code: "jg",
        name: "Grab",
        aliases: &["grab"],
    },
    Brand {
        code: "ni",
        name: "Gojek",
        aliases: &["gojek"],
    },
    Brand {
        code: "ls",
        name: "Careem",
        aliases: &["careem"],
    },
    Brand {
        code: "ac",
        name: "DoorDash",
        aliases: &["doordash"],
    },
    Brand {
        code: "zk",
        name: "Deliveroo",
        aliases: &["deliveroo"],
    },
    Brand {
        code: "rr",
        name: "Wolt",
        aliases: &["wolt"],
    },
    Brand {
        code: "jx",
        name: "Swiggy",
        aliases: &["swiggy"],
    },
];
