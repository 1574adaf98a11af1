# %post: $1 is 1 on a first installation, 2 on an upgrade.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    # Presets decide whether a new service starts enabled (Fedora: no).
    [ "$1" -eq 1 ] && systemctl --no-reload preset ebpf-collector.service >/dev/null 2>&1 || :
fi
/usr/libexec/ebpf-collector/package-helper plugin-permissions || :
