//! A request's arguments as the original server's `reqparse` read them: from a form-encoded body
//! (what every brender client sent, lists as repeated keys) or from a JSON object, with the
//! original's messages for a value of the wrong type.

use printfarm_sdk::{Error, Request};
use serde_json::Value;

/// The arguments of one request, in the order the client sent them.
#[derive(Debug, Default, Clone)]
pub struct Args {
    pairs: Vec<(String, String)>,
}

impl Args {
    /// Reads a form-encoded or JSON body; an empty body has no arguments. A JSON body that is
    /// not an object is a 400.
    pub fn of(req: &Request) -> Result<Args, Error> {
        let mut pairs: Vec<(String, String)> = req
            .form_fields()
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect();
        if pairs.is_empty() && !req.body().is_empty() {
            let body: Value = req.json_any_content_type()?;
            let Value::Object(map) = body else {
                return Err(Error::bad_request(
                    "the body must be a JSON object or a form",
                ));
            };
            for (name, value) in map {
                match value {
                    Value::Array(items) => {
                        pairs.extend(items.into_iter().map(|v| (name.clone(), text(v))))
                    }
                    Value::Null => {}
                    other => pairs.push((name, text(other))),
                }
            }
        }
        Ok(Args { pairs })
    }

    /// Arguments from pairs (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Args {
        Args {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The last value of `name` (as reqparse keeps it), if sent.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` was sent at all.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// `name` as an integer; a 400 with the original's message when it is not one.
    pub fn int(&self, name: &str) -> Result<Option<i64>, Error> {
        self.str(name).map(int).transpose()
    }

    /// `name` as a boolean: `True`/`true`/`1`/`yes`/`on` or `False`/`false`/`0`/`no`/`off`/''
    /// (the original took any non-empty string, `'False'` included, as true: a defect).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.str(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" | "on" => Ok(Some(true)),
                "false" | "0" | "no" | "off" | "" => Ok(Some(false)),
                _ => Err(Error::bad_request(format!(
                    "`{name}` must be True or False, not '{v}'"
                ))),
            },
        }
    }

    /// Every value of `name`: repeated keys, each of which may itself be a comma list
    /// (`id='1,2,3'`, as the dashboard sent it).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// `text` as an integer (a path id, a list item, an argument); a 400 with the message the
/// original's `int()` gave when it is not one.
pub fn int(text: &str) -> Result<i64, Error> {
    text.trim().parse().map_err(|_| {
        Error::bad_request(format!("invalid literal for int() with base 10: '{text}'"))
    })
}

/// The IP of a client address (`ip:port` or `[v6]:port`).
pub fn ip_of(remote: &str) -> &str {
    match remote.rsplit_once(':') {
        Some((ip, _)) => ip.trim_matches(['[', ']']),
        None => remote,
    }
}

fn text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_booleans_and_lists_read_as_the_clients_sent_them() {
        let args = Args::from_pairs(&[
            ("frame_start", "3"),
            ("bad", "abc"),
            ("is_active", "False"),
            ("id", "1,2"),
            ("id", "3"),
        ]);
        assert_eq!(args.int("frame_start").unwrap(), Some(3));
        assert_eq!(
            args.int("bad").unwrap_err().message,
            "invalid literal for int() with base 10: 'abc'"
        );
        assert_eq!(args.int("missing").unwrap(), None);
        assert_eq!(args.bool("is_active").unwrap(), Some(false));
        assert_eq!(args.list("id"), ["1", "2", "3"]);
    }
}
