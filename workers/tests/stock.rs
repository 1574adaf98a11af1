//! Netdata 1.37.1's stock configuration files (conf/tests/fixtures/stock)
//! load without a single warning with the threads' own keys, and the
//! threads' own keys there take the stock values.

use std::path::Path;

use conf::{ConfigDirs, OwnKind, OwnValue, ThreadName};
use workers::registry;

#[test]
fn stock_files_load_without_diagnostics_with_the_threads_own_keys() {
    let stock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/tests/fixtures/stock");
    let dirs = ConfigDirs::new(vec![stock]);
    let (config, diagnostics) = conf::load(&dirs, 1, registry::own_keys);
    let shown: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(shown.is_empty(), "{shown:#?}");
    // The stock files enable every switch (sync.conf, shm.conf [syscalls]).
    for thread in registry::all() {
        for key in thread.keys {
            if matches!(key.kind, OwnKind::Switch { .. }) {
                assert_eq!(
                    config.thread(thread.name).own(key),
                    OwnValue::Bool(true),
                    "{} [{}] {}",
                    thread.name,
                    key.section,
                    key.key
                );
            }
        }
    }
    let sync = registry::find(ThreadName::Sync).unwrap();
    assert_eq!(sync.keys.len(), 6);
    // network.conf's own sections reach the socket thread.
    let socket = config.thread(ThreadName::Socket);
    assert_eq!(
        socket.own(&conf::network::SERVICE_NAMES),
        OwnValue::PortNames([(19999, "Netdata".to_owned())].into())
    );
    assert_eq!(
        socket.own(&conf::network::MAXIMUM_DIMENSIONS),
        OwnValue::Number(50)
    );
}
