//! A database's incarnation: a random id stored in it. A restored, copied or
//! recreated database shows up as an incarnation the peers have not seen (or
//! one they have seen elsewhere), so they resynchronise instead of trusting
//! positions that no longer mean what they did.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Incarnation(pub [u8; 16]);

impl Incarnation {
    pub fn random() -> Incarnation {
        Incarnation(rand::random())
    }

    pub fn parse(text: &str) -> Option<Incarnation> {
        let bytes = hex::decode(text).ok()?;
        Some(Incarnation(bytes.try_into().ok()?))
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_ids_differ() {
        let a = Incarnation::random();
        assert_eq!(Incarnation::parse(&a.to_string()), Some(a));
        assert_ne!(a, Incarnation::random());
        assert_eq!(Incarnation::parse("abc"), None);
    }
}
