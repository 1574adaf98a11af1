# %postun: $1 is 0 when the package is erased, 1 on an upgrade.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    [ "$1" -ge 1 ] && systemctl try-restart ebpf-collector.service >/dev/null 2>&1 || :
fi
# An upgrade: Netdata starts the plugin again from the new binary.
if [ "$1" -ge 1 ]; then
    /usr/libexec/ebpf-collector/package-helper stop-stale || :
fi
# Erased: the directories our files were in, those that are empty now (the
# package cannot own directories: cargo-generate-rpm 0.21.1 fails on them).
# Netdata's stay when Netdata has files there, ours when *.rpmsave are left.
if [ "$1" -eq 0 ]; then
    for dir in /etc/ebpf-collector/ebpf.d /etc/ebpf-collector /usr/libexec/ebpf-collector \
        /usr/share/doc/ebpf-collector /usr/share/licenses/ebpf-collector \
        /usr/libexec/netdata/plugins.d /usr/libexec/netdata; do
        rmdir "$dir" 2>/dev/null || :
    done
fi
