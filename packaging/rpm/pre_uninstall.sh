# %preun: $1 is 0 when the package is erased, 1 on an upgrade (then %postun
# of the old package restarts what runs).
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl --no-reload disable --now ebpf-collector.service >/dev/null 2>&1 || :
    fi
    # Also the plugin under Netdata and any run by hand: nothing runs from
    # removed files.
    /usr/libexec/ebpf-collector/package-helper stop || :
fi
