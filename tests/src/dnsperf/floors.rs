//! The floors every server is measured against, run by the bench on the same rig as the
//! servers: what a responder of each kind must at least do per answer, with nothing else.
//!
//! - `floor-xdp`: the XDP reflector (`switchyard_reflect`) sends each query back as its own
//!   reply at fixed offsets: MACs, addresses and ports swapped, QR set, the UDP checksum
//!   adjusted. No parsing, no lookup, no answer records, a reply no longer than the query.
//! - `floor-table-xdp`: the reflector plus one read of an answer-table slot head
//!   (`switchyard_table_floor`), in a table of Switchyard's size for the run, the slot picked by
//!   the question name's first 8 bytes: about what a lookup adds at the least as the queries
//!   spread over the names, without parsing the question. A low estimate: a name's A and AAAA
//!   queries read one slot, where Switchyard's sets for them lie apart. Held to the reflector,
//!   like Switchyard's XDP rows.
//! - `floor-echo`: one userspace thread does the same with recvmmsg/sendmmsg
//!   (`switchyard-bench-echo-floor`).
//!
//! A real answer costs more than its floor by what the floor skips: parsing the name, the map
//! or table lookup, writing the answer records (the reply grows from about 40 to 100 bytes) and
//! for userspace building the message.

use super::report::{GunRow, Row};

pub const XDP: &str = "floor-xdp";
pub const XDP_TABLE: &str = "floor-table-xdp";
pub const ECHO: &str = "floor-echo";
pub const NAMES: [&str; 3] = [XDP, XDP_TABLE, ECHO];

/// The floor a server is held to: the reflector for answers sent from XDP (signed ones too), the
/// echo otherwise.
pub fn of(server: &str) -> &'static str {
    if [XDP, XDP_TABLE, "switchyard-xdp", super::signed::SWITCHYARD].contains(&server) { XDP } else { ECHO }
}

/// Sets each row's server-core CPU per answer as a multiple of its floor's in the same run.
pub fn annotate(rows: &mut [Row]) {
    let floor =
        |name: &str| rows.iter().find(|r| r.name == name && r.failed.is_none()).and_then(|r| r.cpu_us_per_query);
    let floors: Vec<Option<f64>> = rows.iter().map(|r| floor(of(&r.name))).collect();
    for (row, floor) in rows.iter_mut().zip(floors) {
        row.x_floor = ratio(row.cpu_us_per_query, floor);
        row.floor = Some(of(&row.name).to_string());
    }
}

/// As `annotate`, for the kxdpgun rows.
pub fn annotate_gun(rows: &mut [GunRow]) {
    let floor =
        |name: &str| rows.iter().find(|r| r.name == name && r.failed.is_none()).map(|r| r.server_core_us_per_query);
    let floors: Vec<Option<f64>> = rows.iter().map(|r| floor(of(&r.name))).collect();
    for (row, floor) in rows.iter_mut().zip(floors) {
        row.x_floor = ratio(Some(row.server_core_us_per_query), floor);
        row.floor = Some(of(&row.name).to_string());
    }
}

fn ratio(value: Option<f64>, floor: Option<f64>) -> Option<f64> {
    match (value, floor) {
        (Some(v), Some(f)) if f > 0.0 => Some(v / f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, cpu: f64) -> Row {
        Row { name: name.into(), cpu_us_per_query: Some(cpu), ..Row::default() }
    }

    #[test]
    fn each_server_is_held_to_the_floor_of_its_kind() {
        let mut rows = vec![
            row(XDP, 1.0),
            row(ECHO, 4.0),
            row("switchyard-xdp", 1.5),
            row("knot", 6.0),
            row("switchyard-xdp-signed", 2.0),
            row("knot-signed", 8.0),
            row(XDP_TABLE, 1.25),
        ];
        annotate(&mut rows);
        let ratios: Vec<Option<f64>> = rows.iter().map(|r| r.x_floor).collect();
        assert_eq!(ratios, [Some(1.0), Some(1.0), Some(1.5), Some(1.5), Some(2.0), Some(2.0), Some(1.25)]);
        assert_eq!(rows[3].floor.as_deref(), Some(ECHO));
        assert_eq!(rows[6].floor.as_deref(), Some(XDP), "the table floor is held to the reflector");
    }

    #[test]
    fn no_ratio_without_a_measured_floor() {
        let mut rows = vec![Row::failed(XDP, "", "no program".into()), row("switchyard-xdp", 1.5)];
        annotate(&mut rows);
        assert_eq!(rows[1].x_floor, None);
    }
}
