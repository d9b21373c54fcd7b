//! Connections counted per client, for the listeners that bound how many one client may hold
//! (DNS over TCP, the metrics endpoint): a client is an IPv4 address or an IPv6 /64.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// How many connections each client holds, up to `limit` each.
pub struct ClientPlaces {
    limit: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place among its client's, given back when it is dropped.
pub struct ClientPlace {
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    key: IpAddr,
}

impl ClientPlaces {
    pub fn new(limit: usize) -> ClientPlaces {
        ClientPlaces { limit, held: Arc::default() }
    }

    /// A place for one more connection from `address`, unless its client holds `limit`.
    pub fn take(&self, address: IpAddr) -> Option<ClientPlace> {
        let key = client_key(address);
        let mut held = self.held.lock().expect("client places");
        let count = held.entry(key).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientPlace { held: self.held.clone(), key })
    }

    /// Clients holding a connection now.
    #[cfg(test)]
    pub fn clients(&self) -> usize {
        self.held.lock().expect("client places").len()
    }
}

impl Drop for ClientPlace {
    fn drop(&mut self) {
        let mut held = self.held.lock().expect("client places");
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// What a client's connections are counted under: its IPv4 address, or its IPv6 /64 (a host
/// commonly holds a whole /64).
pub fn client_key(address: IpAddr) -> IpAddr {
    // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is that IPv4 address.
    match address.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}
