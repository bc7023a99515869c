#!/bin/bash
# Boots systemd as PID 1 in private PID and mount namespaces over a throwaway root, for
# test_deploy_systemd.py. Nothing of the host changes: the root is a temp directory
# (a copy of /etc, read-only binds of /usr and /opt, its own /run and /tmp), and
# systemd starts only itest.target, which the test put there.
#
#   systemd_boot.sh [--writable-usr] [--without-opt] ROOT RESULTS SRC
#
# ROOT/etc must exist. RESULTS is bind-mounted at /results, SRC (the repository,
# read-only) at /src. Exits when systemd does (itest-driver.service ends with
# `systemctl exit`); killing it kills systemd too.
#
# --writable-usr: /usr is an overlay on this machine's, its changes kept in
# ROOT/.overlay (dpkg can install into it). --without-opt: /opt stays empty, so
# nothing installed there (the Swift toolchain) exists inside.
set -euo pipefail
usr=ro
opt=bind
while [[ ${1:-} == --* ]]; do
    case "$1" in
        --writable-usr) usr=overlay ;;
        --without-opt) opt=none ;;
        *) echo "systemd_boot.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done
root=$1
results=$2
src=$3
mkdir -p "$root"/{usr,opt,proc,sys,dev,run,tmp,var,root,results,src,.oldroot}
[ "$usr" = ro ] || mkdir -p "$root"/.overlay/{upper,work}
for l in bin lib lib64 sbin; do [ -L "$root/$l" ] || ln -s "usr/$l" "$root/$l"; done

# --kill-child: if this process is killed, so is systemd and with it the namespace.
# shellcheck disable=SC2016 # the script in single quotes is expanded by the inner bash
exec unshare --pid --fork --kill-child --mount --propagation private bash -c '
set -e
root=$1 results=$2 src=$3 usr=$4 opt=$5
mount --bind "$root" "$root"                 # pivot_root needs a mount point
if [ "$usr" = overlay ]; then
    mount -t overlay overlay -o "lowerdir=/usr,upperdir=$root/.overlay/upper,workdir=$root/.overlay/work" "$root/usr"
else
    mount --bind /usr "$root/usr"; mount -o remount,bind,ro "$root/usr"
fi
if [ "$opt" = bind ] && [ -d /opt ]; then mount --bind /opt "$root/opt"; mount -o remount,bind,ro "$root/opt"; fi
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
mount --bind "$results" "$root/results"
mount --bind "$src" "$root/src"; mount -o remount,bind,ro "$root/src"
cd "$root"
pivot_root . .oldroot
exec /usr/bin/env -i container=fcgi-itest TERM=dumb /bin/bash -c \
    "umount -l /.oldroot && exec /lib/systemd/systemd --system --unit=itest.target --log-target=console --show-status=no"
' boot "$root" "$results" "$src" "$usr" "$opt"
