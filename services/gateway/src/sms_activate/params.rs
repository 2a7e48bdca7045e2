//! The protocol's parameters, as its clients send them: in the query
//! string on GET and POST alike, and in an `application/x-www-form-urlencoded`
//! body on POST (the documentation promises "POST or GET"; one client posts
//! an empty `application/octet-stream` body with everything in the query).
//!
//! A name is read with its surrounding spaces trimmed (one client sends
//! `country ` and `time `), the first occurrence of a name wins (the
//! query's before the body's), an empty value counts as absent, and names
//! the gateway does not read (`ref`, `json`, `lang`, `freePrice`, ...) are
//! ignored.

use http::HeaderMap;

/// Every parameter of one request, in the order it came.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The parameters of `query` and, for a form, of `body`.
    pub fn read(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut pairs = parse(query.unwrap_or_default().as_bytes());
        if is_form(headers) {
            pairs.extend(parse(body));
        }
        Self(pairs)
    }

    /// The value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of the first of `names` the request carries (clients name
    /// some parameters differently: `rent_time` or `time`).
    pub fn any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| self.get(name))
    }

    /// `name` as a whole number: `None` when absent, `Some(Err)` when it is
    /// not one.
    pub fn integer(&self, name: &str) -> Option<Result<i64, ()>> {
        self.get(name).map(|v| v.parse::<i64>().map_err(|_| ()))
    }
}

fn parse(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text)
        .map(|(name, value)| (name.trim().to_owned(), value.into_owned()))
        .collect()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers
    }

    #[test]
    fn the_query_comes_first_then_a_form_body() {
        let params = Params::read(
            Some("action=getBalance&api_key=k1"),
            &form(),
            b"api_key=k2&service=wa",
        );
        assert_eq!(params.get("action"), Some("getBalance"));
        assert_eq!(params.get("api_key"), Some("k1"));
        assert_eq!(params.get("service"), Some("wa"));
    }

    #[test]
    fn a_body_that_is_not_a_form_is_not_read() {
        let params = Params::read(Some("action=getBalance"), &HeaderMap::new(), b"api_key=k2");
        assert_eq!(params.get("api_key"), None);
        let mut octets = HeaderMap::new();
        octets.insert(
            http::header::CONTENT_TYPE,
            "application/octet-stream".parse().unwrap(),
        );
        assert_eq!(
            Params::read(None, &octets, b"api_key=k").get("api_key"),
            None
        );
    }

    #[test]
    fn names_are_trimmed_and_empty_values_absent() {
        let params = Params::read(
            Some("country%20=187&time+=4&operator=&maxPrice=%200.50%20"),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(params.get("country"), Some("187"));
        assert_eq!(params.any(&["rent_time", "time"]), Some("4"));
        assert_eq!(params.get("operator"), None);
        assert_eq!(params.get("maxPrice"), Some("0.50"));
        assert_eq!(params.integer("country"), Some(Ok(187)));
        assert_eq!(params.integer("maxPrice"), Some(Err(())));
        assert_eq!(params.integer("id"), None);
    }
}
