//! `expect_status`: the HTTP statuses a check accepts, written as one status (`200`), a range
//! (`"200-399"`) or a list of either (`[200, 204, "300-399"]`).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Statuses an HTTP check accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectStatus {
    /// Inclusive ranges; a single status is a range of one.
    ranges: Vec<(u16, u16)>,
}

impl ExpectStatus {
    /// Exactly one status.
    pub fn one(status: u16) -> ExpectStatus {
        ExpectStatus { ranges: vec![(status, status)] }
    }

    pub fn accepts(&self, status: u16) -> bool {
        self.ranges.iter().any(|&(low, high)| (low..=high).contains(&status))
    }

    /// The first status outside 100..=599, or a range written high to low, as a sentence.
    pub fn problem(&self) -> Option<String> {
        self.ranges.iter().find_map(|&(low, high)| {
            if low > high {
                Some(format!("the range {low}-{high} runs backwards"))
            } else if !(100..=599).contains(&low) || !(100..=599).contains(&high) {
                Some(format!(
                    "{} is not an HTTP status (100 to 599)",
                    if (100..=599).contains(&low) { high } else { low }
                ))
            } else {
                None
            }
        })
    }
}

impl Default for ExpectStatus {
    fn default() -> Self {
        ExpectStatus::one(200)
    }
}

impl fmt::Display for ExpectStatus {
    /// "200", "200-399" or "200, 204, 300-399".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .ranges
            .iter()
            .map(|&(low, high)| if low == high { low.to_string() } else { format!("{low}-{high}") })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

impl Serialize for ExpectStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ExpectStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StatusVisitor { in_list: false })
    }
}

const EXPECTED: &str = "a status (200), a range (\"200-399\") or a list of them ([200, \"300-399\"])";

struct StatusVisitor {
    in_list: bool,
}

impl<'de> Visitor<'de> for StatusVisitor {
    type Value = ExpectStatus;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<ExpectStatus, E> {
        let status = u16::try_from(value).map_err(|_| E::custom(format!("{value} is not an HTTP status")))?;
        Ok(ExpectStatus::one(status))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ExpectStatus, E> {
        self.visit_i64(i64::try_from(value).unwrap_or(i64::MAX))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<ExpectStatus, E> {
        let range = |text: &str| text.trim().parse::<u16>().ok();
        let parsed = match value.split_once('-') {
            Some((low, high)) => range(low).zip(range(high)),
            None => range(value).map(|status| (status, status)),
        };
        match parsed {
            Some(range) => Ok(ExpectStatus { ranges: vec![range] }),
            None => Err(E::custom(format!("{value:?} is not a status or a range such as \"200-399\""))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExpectStatus, A::Error> {
        if self.in_list {
            return Err(de::Error::custom("a list inside a list: write [200, \"300-399\"]"));
        }
        let mut ranges = Vec::new();
        while let Some(item) = seq.next_element_seed(ListItem)? {
            ranges.extend(item.ranges);
        }
        if ranges.is_empty() {
            return Err(de::Error::custom("an empty list accepts no status"));
        }
        Ok(ExpectStatus { ranges })
    }
}

/// One element of a list: a status or a range.
struct ListItem;

impl<'de> de::DeserializeSeed<'de> for ListItem {
    type Value = ExpectStatus;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ExpectStatus, D::Error> {
        deserializer.deserialize_any(StatusVisitor { in_list: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        expect_status: ExpectStatus,
    }

    fn parse(value: &str) -> Result<ExpectStatus, String> {
        toml::from_str::<Holder>(&format!("expect_status = {value}"))
            .map(|h| h.expect_status)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_status_a_range_and_a_list() {
        let one = parse("204").unwrap();
        assert!(one.accepts(204) && !one.accepts(200));
        let range = parse("\"200-399\"").unwrap();
        assert!(range.accepts(200) && range.accepts(399) && !range.accepts(400));
        let list = parse("[200, \"301-302\", 418]").unwrap();
        assert!(list.accepts(418) && list.accepts(302) && !list.accepts(303));
        assert_eq!(list.to_string(), "200, 301-302, 418");
        assert_eq!(list.problem(), None);
    }

    #[test]
    fn nonsense_is_refused_with_what_to_write() {
        assert!(parse("\"2xx\"").unwrap_err().contains("not a status or a range"));
        assert!(parse("[]").unwrap_err().contains("accepts no status"));
        assert!(parse("true").unwrap_err().contains("a status (200), a range"));
        assert_eq!(parse("\"399-200\"").unwrap().problem().unwrap(), "the range 399-200 runs backwards");
        assert_eq!(parse("[200, 999]").unwrap().problem().unwrap(), "999 is not an HTTP status (100 to 599)");
    }
}
