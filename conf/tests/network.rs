//! network.conf's selectors through the loader: every malformed item is
//! one diagnostic naming file, line, key and item, and only that item is
//! lost; the typed lists survive the trip to a worker.

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::{dirs, load, selectors, show, TempDir};
use conf::{Config, NetworkSelectors, ThreadName};

/// A services database of our own, so that tests do not depend on the
/// machine's `/etc/services`.
const SERVICES: &str = "ssh 22/tcp\n\
                        domain 53/udp\n\
                        domain 53/tcp\n\
                        http 80/tcp www\n\
                        syslog 514/udp\n";

/// What loading a network.conf with `[network connections]` `key = value`
/// at line 3 gave.
struct Loaded {
    file: PathBuf,
    /// Every diagnostic, as the log shows it.
    said: Vec<String>,
    selectors: NetworkSelectors,
}

impl Loaded {
    fn error(&self, line: usize, message: &str) -> String {
        format!("error: {}:{line}: {message}", self.file.display())
    }

    fn warning(&self, line: usize, message: &str) -> String {
        format!("warning: {}:{line}: {message}", self.file.display())
    }

    fn ports(&self) -> Vec<(u16, u16)> {
        let p = &self.selectors.ports;
        p.include.iter().map(|r| (r.first, r.last)).collect()
    }

    fn excluded_ports(&self) -> Vec<(u16, u16)> {
        let p = &self.selectors.ports;
        p.exclude.iter().map(|r| (r.first, r.last)).collect()
    }

    fn ips(&self) -> Vec<&str> {
        let i = &self.selectors.ips;
        i.include.iter().map(|r| r.text.as_str()).collect()
    }
}

fn network(key: &str, value: &str) -> Loaded {
    network_with(key, value, |_| ())
}

fn network_with(key: &str, value: &str, adjust: impl FnOnce(&mut conf::ConfigDirs)) -> Loaded {
    let d = TempDir::new();
    let file = d.write(
        "ebpf.d/network.conf",
        format!("# selectors\n[network connections]\n{key} = {value}\nresolve hostnames = yes\n"),
    );
    let mut found = dirs(&[d.path()]);
    found.services = d.write("services", SERVICES);
    adjust(&mut found);
    let (config, diags) = load(&found, 1);
    Loaded {
        file,
        said: diags.iter().map(ToString::to_string).collect(),
        selectors: selectors(&config),
    }
}

#[test]
fn every_form_of_ports() {
    let l = network(
        "ports",
        "23 8000-8080 9000:9100 ssh www syslog !domain !1-21 !443:444",
    );
    assert!(l.said.is_empty(), "{:?}", l.said);
    assert_eq!(
        l.ports(),
        [
            (23, 23),
            (8000, 8080),
            (9000, 9100),
            (22, 22),
            (80, 80),
            (514, 514)
        ]
    );
    assert_eq!(l.excluded_ports(), [(53, 53), (1, 21), (443, 444)]);
    let l = network("ports", "22 *");
    assert_eq!(l.ports(), [(1, 65535)]);
}

#[test]
fn every_form_of_ips() {
    let l = network(
        "ips",
        "10.1.2.3 2001:db8::1 192.168.0.0/16 fd00::/8 10.2.0.0-10.2.0.255 ::1-::9 !8.8.8.8 !*",
    );
    assert!(l.said.is_empty(), "{:?}", l.said);
    assert_eq!(
        l.ips(),
        [
            "10.1.2.3",
            "2001:db8::1",
            "192.168.0.0/16",
            "fd00::/8",
            "10.2.0.0-10.2.0.255",
            "::1-::9"
        ]
    );
    let excluded: Vec<&str> = l
        .selectors
        .ips
        .exclude
        .iter()
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!(excluded, ["*", "*"], "`*` is both families");
}

#[test]
fn every_form_of_hostnames() {
    let l = network("hostnames", "*.example.com db* !*.internal.example.com");
    assert!(l.said.is_empty(), "{:?}", l.said);
    let h = &l.selectors.hostnames;
    assert_eq!(h.include, ["*.example.com", "db*"]);
    assert_eq!(h.exclude, ["*.internal.example.com"]);
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    assert!(l.selectors.allows(80, ip, Some("www.example.com")));
    assert!(l.selectors.allows(80, ip, Some("db1")));
    assert!(!l.selectors.allows(80, ip, Some("a.internal.example.com")));
    assert!(!l.selectors.allows(80, ip, Some("example.org")));
}

// One test per malformed form: the exact message, with file and line, and
// the rest of the list kept.

#[test]
fn a_port_beyond_65535() {
    let l = network("ports", "22 70000 80");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ports`: `70000`: a port is 1 to 65535; item ignored"
        )]
    );
    assert_eq!(l.ports(), [(22, 22), (80, 80)]);
}

#[test]
fn port_zero() {
    let l = network("ports", "0-80 443");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ports`: `0-80`: a port is 1 to 65535; item ignored"
        )]
    );
    assert_eq!(l.ports(), [(443, 443)]);
}

#[test]
fn a_port_that_is_not_a_number() {
    let l = network("ports", "22 80-9x");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ports`: `80-9x`: `9x` is not a port number; item ignored"
        )]
    );
    assert_eq!(l.ports(), [(22, 22)]);
}

#[test]
fn an_exclusion_on_the_second_half_of_a_port_range() {
    let l = network("ports", "22 1-!10");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ports`: `1-!10`: `!` on the second half of a range \
             (it goes before the first); item ignored"
        )]
    );
    assert_eq!(l.ports(), [(22, 22)]);
    assert!(l.excluded_ports().is_empty());
}

#[test]
fn a_port_range_without_its_end() {
    let l = network("ports", "22 1024:");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ports`: `1024:`: nothing after `:`; item ignored"
        )]
    );
    assert_eq!(l.ports(), [(22, 22)]);
}

#[test]
fn a_reversed_port_range() {
    let l = network("ports", "22 !1024-1");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ports`: `!1024-1`: the range ends before it starts; item ignored"
        )]
    );
    assert!(l.excluded_ports().is_empty());
}

#[test]
fn a_port_item_of_no_known_form() {
    let l = network("ports", "22 *80 -5");
    assert_eq!(
        l.said,
        [
            l.error(
                3,
                "[network connections] `ports`: `*80`: not a port, a range of ports, `*` or a \
                 service name; item ignored"
            ),
            l.error(
                3,
                "[network connections] `ports`: `-5`: not a port, a range of ports, `*` or a \
                 service name; item ignored"
            ),
        ]
    );
    assert_eq!(l.ports(), [(22, 22)]);
}

#[test]
fn an_unknown_service_name() {
    let l = network("ports", "ssh gopher");
    let services = l.file.parent().unwrap().parent().unwrap().join("services");
    assert_eq!(
        l.said,
        [l.error(
            3,
            &format!(
                "[network connections] `ports`: `gopher`: {} names no service `gopher` for tcp \
                 or udp; item ignored",
                services.display()
            )
        )]
    );
    assert_eq!(l.ports(), [(22, 22)]);
}

#[test]
fn a_service_name_without_a_services_file() {
    let l = network_with("ports", "22 ssh", |d| {
        d.services = Path::new("/nonexistent/services").into()
    });
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ports`: `ssh`: service `ssh` cannot be looked up: \
             /nonexistent/services: cannot read: No such file or directory (os error 2); \
             item ignored"
        )]
    );
    assert_eq!(l.ports(), [(22, 22)]);
}

#[test]
fn a_bare_exclamation_mark() {
    for key in ["ports", "ips", "hostnames"] {
        let l = network(key, "!");
        assert_eq!(
            l.said,
            [l.error(
                3,
                &format!("[network connections] `{key}`: `!`: nothing after `!`; item ignored")
            )]
        );
    }
}

#[test]
fn a_port_inside_an_earlier_range_is_a_warning() {
    let l = network("ports", "1-1024 80");
    assert_eq!(
        l.said,
        [l.warning(
            3,
            "[network connections] `ports`: `80`: inside `1-1024` given before; item ignored"
        )]
    );
    assert_eq!(l.ports(), [(1, 1024)]);
}

#[test]
fn not_an_ipv4_address() {
    let l = network("ips", "10.0.0.1 10.0.0.256");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `10.0.0.256`: `10.0.0.256` is not an IPv4 address; \
             item ignored"
        )]
    );
    assert_eq!(l.ips(), ["10.0.0.1"]);
}

#[test]
fn not_an_ipv6_address() {
    let l = network("ips", "10.0.0.1 !fe80::1%eth0");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `!fe80::1%eth0`: `fe80::1%eth0` is not an IPv6 \
             address; item ignored"
        )]
    );
    assert!(l.selectors.ips.exclude.is_empty());
}

#[test]
fn ipv4_and_ipv6_in_one_range() {
    let l = network("ips", "10.0.0.1 10.0.0.1-::1");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `10.0.0.1-::1`: IPv4 and IPv6 mixed in one item; \
             item ignored"
        )]
    );
    assert_eq!(l.ips(), ["10.0.0.1"]);
}

#[test]
fn an_ipv4_prefix_beyond_32() {
    let l = network("ips", "10.0.0.0/33 10.0.0.1");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `10.0.0.0/33`: an IPv4 prefix length is 0 to 32; \
             item ignored"
        )]
    );
    assert_eq!(l.ips(), ["10.0.0.1"]);
}

#[test]
fn an_ipv6_prefix_beyond_128() {
    let l = network("ips", "fd00::/129 10.0.0.1");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `fd00::/129`: an IPv6 prefix length is 0 to 128; \
             item ignored"
        )]
    );
    assert_eq!(l.ips(), ["10.0.0.1"]);
}

#[test]
fn an_exclusion_on_the_second_half_of_an_ip_range() {
    let l = network("ips", "10.0.0.1 10.0.0.0/!8");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `10.0.0.0/!8`: `!` on the second half of a range \
             (it goes before the first); item ignored"
        )]
    );
    assert_eq!(l.ips(), ["10.0.0.1"]);
}

#[test]
fn an_ip_range_without_its_end() {
    let l = network("ips", "10.0.0.1 ::1-");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `::1-`: nothing after `-`; item ignored"
        )]
    );
    assert_eq!(l.ips(), ["10.0.0.1"]);
}

#[test]
fn a_reversed_ip_range() {
    let l = network("ips", "10.0.0.9-10.0.0.1 ::1");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `ips`: `10.0.0.9-10.0.0.1`: the range ends before it starts; \
             item ignored"
        )]
    );
    assert_eq!(l.ips(), ["::1"]);
}

/// As the original's own `!127.0.0.1/8`: cleared without a word.
#[test]
fn host_bits_are_cleared_silently() {
    let l = network("ips", "10.1.2.3/8");
    assert_eq!(l.said, Vec::<String>::new());
    let r = &l.selectors.ips.include[0];
    assert_eq!(
        (r.first.to_string(), r.last.to_string()),
        ("10.0.0.0".into(), "10.255.255.255".into())
    );
}

#[test]
fn an_ip_inside_an_earlier_range_is_a_warning() {
    let l = network("ips", "10.0.0.0/8 10.1.0.0/16");
    assert_eq!(
        l.said,
        [l.warning(
            3,
            "[network connections] `ips`: `10.1.0.0/16`: inside `10.0.0.0/8` given before; \
             item ignored"
        )]
    );
    assert_eq!(l.ips(), ["10.0.0.0/8"]);
}

#[test]
fn a_negative_maximum_is_an_error_and_50() {
    let l = network("maximum dimensions", "-10");
    assert_eq!(
        l.said,
        [l.error(
            3,
            "[network connections] `maximum dimensions` = `-10`: not a non-negative integer; \
             using the default 50"
        )]
    );
    assert_eq!(l.selectors.per_direction, 25);
    let l = network("maximum dimensions", "0");
    assert!(l.said.is_empty(), "{:?}", l.said);
    assert_eq!(l.selectors.per_direction, 1);
}

#[test]
fn lists_in_ebpf_d_conf_are_reported_there_and_win() {
    let d = TempDir::new();
    d.write(
        "ebpf.d/network.conf",
        "[network connections]\nports = 22 0\nips = 10.0.0.0/8\n",
    );
    let main = d.write(
        "ebpf.d.conf",
        "[global]\nupdate every = 2\n[network connections]\nports = 443 x-1\n",
    );
    let network = d.path().join("ebpf.d/network.conf");
    let mut found = dirs(&[d.path()]);
    found.services = d.write("services", SERVICES);
    let (c, diags) = load(&found, 1);
    let said: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            format!(
                "error: {}:4: [network connections] `ports`: `x-1`: {} names no service `x-1` \
                 for tcp or udp; item ignored",
                main.display(),
                found.services.display()
            ),
            format!(
                "error: {}:2: [network connections] `ports`: `0`: a port is 1 to 65535; item \
                 ignored",
                network.display()
            ),
        ],
        "{}",
        show(&diags)
    );
    let s = selectors(&c);
    let ports: Vec<u16> = s.ports.include.iter().map(|r| r.first).collect();
    assert_eq!(ports, [443]);
    assert_eq!(s.ips.include[0].text, "10.0.0.0/8");
}

#[test]
fn typed_selectors_cross_to_the_worker_as_ron() {
    let d = TempDir::new();
    d.write(
        "ebpf.d/network.conf",
        "[network connections]\nports = 22 1000-2000 !3000:3001\n\
         ips = 10.0.0.0/8 !10.1.0.0-10.1.0.9 fd00::/8 !::1\nhostnames = *.example.com !db*\n\
         resolve hostnames = yes\n",
    );
    let (config, diags) = load(&dirs(&[d.path()]), 1);
    assert!(diags.is_empty(), "{}", show(&diags));
    let view = config.for_thread(ThreadName::Socket);
    let text = ron::to_string(&view).unwrap();
    let back: Config = ron::from_str(&text).unwrap();
    assert_eq!(back, view);
    assert_eq!(selectors(&back), selectors(&config));
    // A changed list is a changed view: a reload restarts the worker.
    d.write("ebpf.d/network.conf", "[network connections]\nports = 22\n");
    let (changed, _) = load(&dirs(&[d.path()]), 1);
    assert_ne!(changed.for_thread(ThreadName::Socket), view);
}
