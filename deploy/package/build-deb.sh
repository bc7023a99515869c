#!/usr/bin/env bash
# Builds the Debian package fcgi-pass-through_<version>_<arch>.deb: a release binary with
# the Swift standard library and Foundation linked in (it runs on a host without Swift),
# the systemd units and sysusers file, /etc/fcgi-pass-through starting points
# (conffiles), the nginx snippet, upstream block and an example site, the docs and the
# fcgi-pass-through(8) manual page.
#
#   deploy/package/build-deb.sh               # static release build (.build-package), then the package
#   deploy/package/build-deb.sh --bin PATH    # package a binary built already (static Swift stdlib)
#   deploy/package/build-deb.sh --out DIR     # where the .deb goes (default: dist/)
#
# The .deb's path goes to standard output, the rest to standard error. The version is
# the one the binary's --version prints. Files are laid out by deploy/install.sh
# (PREFIX=/usr, binary in /usr/sbin, units in /lib/systemd/system); Depends is computed
# from the binary by dpkg-shlibdeps.
#
# Variables: DEBFULLNAME, DEBEMAIL (the Maintainer field; default: git's user.name and
# user.email), SOURCE_DATE_EPOCH (timestamps; default: the last commit's time).
set -euo pipefail
umask 022

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/dist
bin=

log() { echo "build-deb: $*" >&2; }
die() {
    echo "build-deb: $*" >&2
    exit 1
}

while (($#)); do
    case "$1" in
        --bin) bin=${2:?--bin needs a path}; shift 2 ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        -h | --help) sed -n '2,/^[^#]/{s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

for tool in dpkg-deb dpkg-shlibdeps readelf strip gzip python3; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian packages dpkg-dev, binutils, python3)"
done

if [ -z "$bin" ]; then
    # Its own scratch path: other flags in .build would rebuild the normal release each time.
    log "swift build -c release --static-swift-stdlib (in .build-package)"
    (cd "$root" && swift build -c release --static-swift-stdlib --disable-local-rpath \
        --scratch-path "$root/.build-package" >&2)
    bin=$root/.build-package/release/fcgi-pass-through
fi
[ -x "$bin" ] || die "no executable at $bin"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# debian/<package>/: the layout dpkg-shlibdeps expects.
pkg=$tmp/debian/fcgi-pass-through
binary=$tmp/fcgi-pass-through
install -m 0755 "$bin" "$binary"
# As dh_strip does for executables: symbols, debug info and the compilers' comments go.
strip --remove-section=.comment --remove-section=.note "$binary"

# Nothing of the Swift toolchain may be needed at run time: no Swift runtime library,
# no run path, nothing that resolves into the toolchain's directory.
dynamic=$(readelf -d "$binary")
needed=$(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dynamic")
if swift_libs=$(grep -E '^lib_?(swift|Foundation|dispatch|BlocksRuntime|icu)' <<<"$needed"); then
    die "$bin needs Swift's libraries ($(tr '\n' ' ' <<<"$swift_libs")): build it with --static-swift-stdlib"
fi
if grep -qE '\((RPATH|RUNPATH)\)' <<<"$dynamic"; then
    die "$bin has a run path: build it with --disable-local-rpath"
fi
if command -v swift >/dev/null; then
    toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
    if env -u LD_LIBRARY_PATH ldd "$binary" | grep -F -e "$toolchain" -e "not found" >&2; then
        die "$bin resolves libraries from the toolchain ($toolchain) or misses some"
    fi
fi

version=$(env -i "$binary" --version | awk '{ print $NF }')
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "unexpected version '$version' from $bin --version"
arch=$(dpkg --print-architecture)
deb=fcgi-pass-through_${version}_${arch}.deb

# The files, where install.sh puts them with Debian's prefixes. The nginx upstream block
# names the single-instance socket (gateway.sock, of fcgi-pass-through.socket).
DESTDIR=$pkg PREFIX=/usr BINDIR=/usr/sbin UNITDIR=/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d \
    bash "$root/deploy/install.sh" --bin "$binary" --instances gateway >/dev/null
# The state directory (the spend ledger) is the postinst's to create: dpkg then neither
# removes it nor warns about it on removal, and postrm deletes it on purge.
rmdir "$pkg/var/lib/fcgi-pass-through" "$pkg/var/lib" "$pkg/var"

doc=$pkg/usr/share/doc/fcgi-pass-through
install -d "$pkg/usr/share/man/man8"
python3 "$here/manpage.py" "$binary" "$root/docs/BEHAVIOUR.md" | gzip -9n >"$pkg/usr/share/man/man8/fcgi-pass-through.8.gz"
install -m 0644 "$here/copyright" "$doc/copyright"
install -D -m 0644 "$here/lintian-overrides" "$pkg/usr/share/lintian/overrides/fcgi-pass-through"

maintainer="${DEBFULLNAME:-$(git -C "$root" config user.name || true)} <${DEBEMAIL:-$(git -C "$root" config user.email || true)}>"
[[ $maintainer =~ ^[^\ ].*\ \<.+@.+\>$ ]] || die "set DEBFULLNAME and DEBEMAIL (the package's Maintainer)"
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "fcgi-pass-through ($version) ${codename:-stable}; urgency=medium"
    echo
    echo "  * Release $version (commit $commit)."
    echo
    echo " -- $maintainer  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"

log "computing Depends with dpkg-shlibdeps"
printf 'Source: fcgi-pass-through\n\nPackage: fcgi-pass-through\nArchitecture: any\n' >"$tmp/debian/control"
depends=$(cd "$tmp" && dpkg-shlibdeps -O -e"${pkg#"$tmp"/}/usr/sbin/fcgi-pass-through" 2>"$tmp/shlibdeps.log" |
    sed -n 's/^shlibs:Depends=//p') || { cat "$tmp/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"

# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, plus one per
# directory or link.
installed_size=$(find "$pkg" -mindepth 1 -printf '%y %s\n' | awk '
    $1 == "f" { total += int(($2 + 1023) / 1024); next } { total += 1 } END { print total }')

install -d "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<EOF
Package: fcgi-pass-through
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Recommends: nginx
Section: httpd
Priority: optional
Description: pass-through gateway for AI and other HTTP APIs, behind nginx
 fcgi-pass-through implements LiteLLM Proxy's pass-through endpoints as a
 FastCGI application: clients call nginx with the gateway's key; the gateway
 checks it, injects the provider's secret headers, forwards the request byte
 for byte with libcurl and streams the answer back.
 .
 The package ships systemd socket and service units (systemd holds the
 socket, so restarts and upgrades drop no connection), the nginx snippet and
 upstream block, and starting points for /etc/fcgi-pass-through. The spend
 ledger lives in /var/lib/fcgi-pass-through.
EOF
# Everything under /etc is the operator's to edit: conffiles, as dh_installdeb marks them.
(cd "$pkg" && find etc -type f | sort | sed 's|^|/|') >"$pkg/DEBIAN/conffiles"
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$pkg/DEBIAN/md5sums"
for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$pkg/DEBIAN/$script"
done
chmod 0755 "$pkg"
find "$pkg" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
log "dpkg-deb --build (xz)"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out/$deb" >&2
log "binary (stripped): $(stat -c %s "$binary") bytes; $deb: $(stat -c %s "$out/$deb") bytes"
log "Depends: $depends"
echo "$(cd "$out" && pwd)/$deb"
