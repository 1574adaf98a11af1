//! Netdata Functions (plugins.d `FUNCTION`, Netdata 1.37+): the requests
//! Netdata writes on our stdin, and `network-connections`, the network
//! viewer's live connections as a table. The protocol, as Netdata 1.37.1
//! speaks it, is in DESIGN.md ("Functions").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipc::ConnectionRow;
use serde_json::{json, Map, Value};

/// The only Function we register.
pub const NETWORK_CONNECTIONS: &str = "network-connections";
/// Its default timeout (seconds), as registered: Netdata's own default.
pub const TIMEOUT: u32 = 10;
pub const HELP: &str = "Live TCP connections of the network viewer";
/// The least time a worker gets to answer, whatever the request's timeout.
pub const MIN_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Netdata's status codes we answer with (HTTP's).
pub const OK: u16 = 200;
pub const BAD_REQUEST: u16 = 400;
pub const NOT_FOUND: u16 = 404;
pub const UNAVAILABLE: u16 = 503;
pub const TIMED_OUT: u16 = 504;

/// One `FUNCTION <transaction> <timeout> "<function> [args]"` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub transaction: String,
    /// Seconds Netdata waits for the answer.
    pub timeout: u32,
    /// The Function's name and its arguments.
    pub words: Vec<String>,
}

/// What a line on stdin was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Function(Request),
    /// A `FUNCTION` line without the fields we need; answered when it has
    /// a transaction.
    Incomplete {
        transaction: Option<String>,
    },
    Empty,
    /// Any other keyword: logged and ignored.
    Unknown(String),
}

/// Splits as Netdata's `pluginsd_split_words` does for what it sends us:
/// blanks separate words, `"…"` and `'…'` quote them.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return words;
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            for c in chars.by_ref() {
                if c == first {
                    break;
                }
                word.push(c);
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        words.push(word);
    }
}

pub fn parse(line: &str) -> Line {
    let words = words(line);
    let Some(keyword) = words.first() else {
        return Line::Empty;
    };
    if keyword != "FUNCTION" {
        return Line::Unknown(keyword.clone());
    }
    // Netdata's are UUIDs; anything else could not be quoted back safely.
    let transaction = words
        .get(1)
        .filter(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .cloned();
    let timeout = words.get(2).and_then(|t| t.parse::<u32>().ok());
    let function = words
        .get(3)
        .map(|f| self::words(f))
        .filter(|f| !f.is_empty());
    match (transaction, timeout, function) {
        (Some(transaction), Some(timeout), Some(words)) => Line::Function(Request {
            transaction,
            // As Netdata: 0 means its default.
            timeout: if timeout == 0 { TIMEOUT } else { timeout },
            words,
        }),
        (transaction, _, _) => Line::Incomplete { transaction },
    }
}

/// An answer, written whole between `FUNCTION_RESULT_BEGIN` and
/// `FUNCTION_RESULT_END`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub transaction: String,
    pub status: u16,
    pub content_type: &'static str,
    /// Unix seconds until which Netdata may cache it (now: not at all).
    pub expires: u64,
    pub body: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl Reply {
    /// An error as Netdata's own errors look: `{"status":…,"error_message":…}`.
    pub fn error(transaction: &str, status: u16, message: &str) -> Reply {
        Reply {
            transaction: transaction.to_owned(),
            status,
            content_type: "application/json",
            expires: unix_now(),
            body: json!({ "status": status, "error_message": message }).to_string(),
        }
    }

    pub fn help(transaction: &str) -> Reply {
        Reply {
            transaction: transaction.to_owned(),
            status: OK,
            content_type: "text/plain",
            expires: unix_now() + 3600,
            body: format!(
                "ebpf-collector / {NETWORK_CONNECTIONS}\n\n\
                 The live TCP connections the network viewer tracks \
                 (`[ebpf programs] network connections = yes`): addresses, ports, \
                 state, the process that made or first used each, its apps group \
                 and cgroup, bytes and calls each way, retransmissions.\n\n\
                 Takes no filter; `help` shows this.\n"
            ),
        }
    }
}

/// What the supervisor knows of a connection's process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub group: String,
    pub cgroup: String,
}

/// The kernel's names of its TCP states (`include/net/tcp_states.h`).
fn state(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

fn direction(direction: u8) -> &'static str {
    match direction {
        ipc::DIRECTION_OUTBOUND => "outbound",
        ipc::DIRECTION_INBOUND => "inbound",
        _ => "unknown",
    }
}

/// The table's columns, in the order of each row's values: id, title,
/// visible, Netdata's type, units.
const COLUMNS: [(&str, &str, bool, &str, Option<&str>); 17] = [
    ("Id", "Row", false, "integer", None),
    ("LocalAddress", "Local Address", true, "string", None),
    ("LocalPort", "Local Port", true, "integer", None),
    ("RemoteAddress", "Remote Address", true, "string", None),
    ("RemotePort", "Remote Port", true, "integer", None),
    ("Protocol", "Protocol", true, "string", None),
    ("State", "State", true, "string", None),
    ("Pid", "Process ID", true, "integer", None),
    ("Process", "Process Name", true, "string", None),
    ("AppsGroup", "Apps Group", true, "string", None),
    ("Cgroup", "Cgroup", false, "string", None),
    (
        "SentBytes",
        "Bytes Sent",
        true,
        "bar-with-integer",
        Some("bytes"),
    ),
    (
        "ReceivedBytes",
        "Bytes Received",
        true,
        "bar-with-integer",
        Some("bytes"),
    ),
    (
        "Sends",
        "Send Calls",
        false,
        "bar-with-integer",
        Some("calls"),
    ),
    (
        "Receives",
        "Receive Calls",
        false,
        "bar-with-integer",
        Some("calls"),
    ),
    (
        "Retransmits",
        "Retransmissions",
        true,
        "bar-with-integer",
        Some("segments"),
    ),
    ("Direction", "Direction", true, "string", None),
];

/// The Function's table, in the JSON layout of apps.plugin's `processes`
/// in Netdata 1.37 (`status`, `type: table`, `data` rows, `columns` by
/// id with their `index`).
pub fn table(
    transaction: &str,
    rows: &[ConnectionRow],
    owner: impl Fn(u32) -> Owner,
    update_every: u32,
) -> Reply {
    let mut data = Vec::with_capacity(rows.len());
    let mut max = [0u64; COLUMNS.len()];
    for (id, row) in rows.iter().enumerate() {
        let owner = if row.tgid == 0 {
            Owner::default()
        } else {
            owner(row.tgid)
        };
        let counters = [
            row.sent_bytes,
            row.received_bytes,
            row.sends,
            row.receives,
            row.retransmits,
        ];
        for (max, value) in max[11..16].iter_mut().zip(counters) {
            *max = (*max).max(value);
        }
        data.push(json!([
            id,
            ipc::address(row.family, &row.local).to_string(),
            row.local_port,
            ipc::address(row.family, &row.remote).to_string(),
            row.remote_port,
            if row.family == libc::AF_INET as u8 {
                "tcp"
            } else {
                "tcp6"
            },
            state(row.state),
            row.tgid,
            owner.name,
            owner.group,
            owner.cgroup,
            row.sent_bytes,
            row.received_bytes,
            row.sends,
            row.receives,
            row.retransmits,
            direction(row.direction),
        ]));
    }
    let mut columns = Map::new();
    for (index, (id, name, visible, kind, units)) in COLUMNS.into_iter().enumerate() {
        let mut column = json!({
            "index": index,
            "unique_key": index == 0,
            "name": name,
            "visible": visible,
            "type": kind,
            "sort": if units.is_some() { "descending" } else { "ascending" },
            "sortable": true,
            "sticky": index == 1,
            "summary": if units.is_some() { "sum" } else { "count_unique" },
        });
        if let Some(units) = units {
            column["units"] = Value::from(units);
            column["max"] = Value::from(max[index]);
        }
        columns.insert(id.to_owned(), column);
    }
    let expires = unix_now() + u64::from(update_every);
    Reply {
        transaction: transaction.to_owned(),
        status: OK,
        content_type: "application/json",
        expires,
        body: json!({
            "status": OK,
            "type": "table",
            "update_every": update_every,
            "data": data,
            "columns": columns,
            "expires": expires,
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn parses_netdata_requests() {
        let line = "FUNCTION 0a1b2c3d-0000-1111-2222-333344445555 10 \"network-connections\"\n";
        assert_eq!(
            parse(line),
            Line::Function(Request {
                transaction: "0a1b2c3d-0000-1111-2222-333344445555".into(),
                timeout: 10,
                words: vec!["network-connections".into()],
            })
        );
        assert_eq!(
            parse("FUNCTION t1 0 'network-connections help'"),
            Line::Function(Request {
                transaction: "t1".into(),
                timeout: TIMEOUT,
                words: vec!["network-connections".into(), "help".into()],
            })
        );
    }

    #[test]
    fn garbage_is_told_apart() {
        assert_eq!(parse(""), Line::Empty);
        assert_eq!(parse("  \t\n"), Line::Empty);
        assert_eq!(parse("HELLO there"), Line::Unknown("HELLO".into()));
        assert_eq!(parse("function t 1 x"), Line::Unknown("function".into()));
        assert_eq!(parse("FUNCTION"), Line::Incomplete { transaction: None });
        assert_eq!(
            parse("FUNCTION 'a\"b' 10 network-connections"),
            Line::Incomplete { transaction: None }
        );
        assert_eq!(
            parse("FUNCTION t1 ten \"network-connections\""),
            Line::Incomplete {
                transaction: Some("t1".into())
            }
        );
        assert_eq!(
            parse("FUNCTION t1 10 \"\""),
            Line::Incomplete {
                transaction: Some("t1".into())
            }
        );
        // An unterminated quote ends the word at the end of the line.
        assert_eq!(
            parse("FUNCTION t1 5 \"network-connections"),
            Line::Function(Request {
                transaction: "t1".into(),
                timeout: 5,
                words: vec!["network-connections".into()],
            })
        );
    }

    #[test]
    fn errors_look_like_netdata_errors() {
        let reply = Reply::error("t1", NOT_FOUND, "no \"such\" function");
        assert_eq!(reply.status, NOT_FOUND);
        assert_eq!(reply.content_type, "application/json");
        assert_eq!(
            reply.body,
            r#"{"error_message":"no \"such\" function","status":404}"#
        );
    }

    fn row() -> ConnectionRow {
        let mut row = ConnectionRow {
            local_port: 40000,
            remote_port: 80,
            family: libc::AF_INET as u8,
            state: 1,
            direction: ipc::DIRECTION_OUTBOUND,
            tgid: 1234,
            sent_bytes: 100,
            received_bytes: 2000,
            sends: 1,
            receives: 3,
            retransmits: 0,
            ..Default::default()
        };
        row.local[..4].copy_from_slice(&[10, 0, 0, 1]);
        row.remote[..4].copy_from_slice(&[10, 0, 0, 2]);
        row
    }

    #[test]
    fn the_table_has_a_row_per_connection_in_column_order() {
        let mut inbound = row();
        inbound.family = libc::AF_INET6 as u8;
        inbound.local = Ipv6Addr::LOCALHOST.octets();
        inbound.remote = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets();
        inbound.direction = ipc::DIRECTION_INBOUND;
        inbound.state = 8;
        inbound.tgid = 0;
        inbound.sent_bytes = 7;
        let owner = |tgid| Owner {
            name: format!("p{tgid}"),
            group: "grp".into(),
            cgroup: "/system.slice/x.service".into(),
        };
        let reply = table("t9", &[row(), inbound], owner, 2);
        assert_eq!((reply.status, reply.content_type), (OK, "application/json"));
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["status"], 200);
        assert_eq!(body["type"], "table");
        assert_eq!(body["update_every"], 2);
        assert_eq!(body["expires"], reply.expires);
        assert_eq!(
            body["data"],
            json!([
                [
                    0,
                    "10.0.0.1",
                    40000,
                    "10.0.0.2",
                    80,
                    "tcp",
                    "ESTABLISHED",
                    1234,
                    "p1234",
                    "grp",
                    "/system.slice/x.service",
                    100,
                    2000,
                    1,
                    3,
                    0,
                    "outbound"
                ],
                [
                    1,
                    "::1",
                    40000,
                    "192.0.2.7",
                    80,
                    "tcp6",
                    "CLOSE_WAIT",
                    0,
                    "",
                    "",
                    "",
                    7,
                    2000,
                    1,
                    3,
                    0,
                    "inbound"
                ]
            ])
        );
        let columns = body["columns"].as_object().unwrap();
        assert_eq!(columns.len(), COLUMNS.len());
        for (index, (id, ..)) in COLUMNS.iter().enumerate() {
            assert_eq!(columns[*id]["index"], index, "{id}");
        }
        assert_eq!(columns["SentBytes"]["max"], 100);
        assert_eq!(columns["Id"]["unique_key"], true);
    }
}
