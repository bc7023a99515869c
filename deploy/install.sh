#!/usr/bin/env bash
# Installs the gateway as a systemd service: binary, unit files, account, config and
# secrets files, and the nginx snippet plus an upstream block for the instances.
#
#   swift build -c release
#   sudo deploy/install.sh                                # instances gateway-1 gateway-2
#   sudo deploy/install.sh --instances "a b c"            # other instance names
#   DESTDIR=/tmp/stage deploy/install.sh --bin PATH       # into a staging root (packaging, tests)
#
# Variables: DESTDIR (staging root, default none), PREFIX (/usr/local), BINDIR ($PREFIX/bin),
# SYSCONFDIR (/etc), UNITDIR ($SYSCONFDIR/systemd/system), SYSUSERSDIR
# ($SYSCONFDIR/sysusers.d), NGINX_GROUP (www-data: the group nginx's workers run as,
# given the socket). The Debian package is staged with this script too
# (deploy/package/build-deb.sh).
#
# The binary, the unit files and the docs are replaced on every run. Files an operator
# edits (config.yaml, common.env, the nginx files) are never overwritten: when the
# shipped version differs, it is put beside the existing one as NAME.new.
#
# Without DESTDIR it also creates the fcgi-pass-through account (systemd-sysusers),
# gives its group read access to the config, and runs `systemctl daemon-reload`. It
# enables and starts nothing: the next steps are printed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/bin}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$SYSCONFDIR/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-$SYSCONFDIR/sysusers.d}
NGINX_GROUP=${NGINX_GROUP:-www-data}
SERVICE_USER=fcgi-pass-through
bin="$root/.build/release/fcgi-pass-through"
instances="gateway-1 gateway-2"

usage() {
    sed -n '2,/^[^#]/{s/^# \{0,1\}//p}' "$0"
    exit "${1:-0}"
}

while (($#)); do
    case "$1" in
        --bin) bin=${2:?--bin needs a path}; shift 2 ;;
        --bin=*) bin=${1#--bin=}; shift ;;
        --instances) instances=${2?--instances needs names}; shift 2 ;;
        --instances=*) instances=${1#--instances=}; shift ;;
        -h | --help) usage 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done

[ -x "$bin" ] || { echo "install.sh: no gateway binary at $bin: run 'swift build -c release' or pass --bin PATH" >&2; exit 1; }
for name in $instances; do
    # The name becomes part of a socket path and of unit names.
    [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "install.sh: instance name '$name' may only use letters, digits, '.', '_' and '-'" >&2; exit 64; }
done
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: installing into / needs root (or set DESTDIR to stage into a directory)" >&2
    exit 1
fi

bindir=$BINDIR
docdir=$PREFIX/share/doc/fcgi-pass-through
confdir=$SYSCONFDIR/fcgi-pass-through
new_files=()

# install_file MODE SOURCE DEST: always replaces DEST.
install_file() {
    install -D -m "$1" "$2" "$DESTDIR$3"
    echo "installed $3"
}

# install_config MODE SOURCE DEST: keeps an existing DEST; a differing shipped copy goes to DEST.new.
install_config() {
    local mode=$1 source=$2 dest=$DESTDIR$3
    if [ ! -e "$dest" ]; then
        install -D -m "$mode" "$source" "$dest"
        echo "installed $3"
    elif ! cmp -s "$source" "$dest"; then
        install -D -m "$mode" "$source" "$dest.new"
        new_files+=("$3.new")
        echo "kept $3 (yours); the shipped version is $3.new"
    fi
}

# Unit files name the binary and docs under /usr/local and the nginx group www-data.
render_unit() {
    sed -e "s|/usr/local/bin/fcgi-pass-through|$bindir/fcgi-pass-through|g" \
        -e "s|/usr/local/share/doc/fcgi-pass-through|$docdir|g" \
        -e "s|^SocketGroup=www-data$|SocketGroup=$NGINX_GROUP|" "$1"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

install_file 0755 "$bin" "$bindir/fcgi-pass-through"
install_file 0644 "$root/README.md" "$docdir/README.md"
for doc in INSTALL.md OPERATIONS.md BEHAVIOUR.md KEYS.md USAGE.md SECURITY.md; do
    install_file 0644 "$root/docs/$doc" "$docdir/$doc"
done
install_file 0644 "$root/nginx/example-site.conf" "$docdir/examples/nginx-site.conf"

for unit in fcgi-pass-through@.socket fcgi-pass-through@.service fcgi-pass-through.socket fcgi-pass-through.service; do
    render_unit "$here/systemd/$unit" >"$tmp/$unit"
    install_file 0644 "$tmp/$unit" "$UNITDIR/$unit"
done
install_file 0644 "$here/systemd/fcgi-pass-through.sysusers" "$SYSUSERSDIR/fcgi-pass-through.conf"

# The config directory: readable by the gateway's group; the env files by root only.
install -d -m 0750 "$DESTDIR$confdir"
# The spend ledger's directory (systemd's StateDirectory= makes it too; spawn-fcgi and
# supervisord start the gateway in it).
install -d -m 0750 "$DESTDIR/var/lib/fcgi-pass-through"
install_config 0640 "$here/etc/config.yaml" "$confdir/config.yaml"
install_config 0600 "$here/etc/common.env" "$confdir/common.env"

install_config 0644 "$root/nginx/fcgi-pass-through.conf" "$SYSCONFDIR/nginx/snippets/fcgi-pass-through.conf"
{
    sed -n '/^#/p' "$here/nginx/upstream.conf"
    echo "upstream fcgi_pass_through {"
    for name in $instances; do echo "    server unix:/run/fcgi-pass-through/$name.sock;"; done
    echo "}"
} >"$tmp/upstream.conf"
install_config 0644 "$tmp/upstream.conf" "$SYSCONFDIR/nginx/conf.d/fcgi-pass-through-upstream.conf"

if [ -z "$DESTDIR" ]; then
    systemd-sysusers "$SYSUSERSDIR/fcgi-pass-through.conf"
    chown "root:$SERVICE_USER" "$confdir" "$confdir/config.yaml"
    chown "$SERVICE_USER:$SERVICE_USER" /var/lib/fcgi-pass-through
    chown root:root "$confdir/common.env"
    getent group "$NGINX_GROUP" >/dev/null ||
        echo "warning: group $NGINX_GROUP does not exist; set NGINX_GROUP to the group nginx's workers run as" >&2
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
    fi
fi

units=""
for name in $instances; do units+=" fcgi-pass-through@$name.socket fcgi-pass-through@$name.service"; done
cat <<EOF

Next steps:
  1. Put the secrets in $confdir/common.env (root, mode 0600) and the routes in
     $confdir/config.yaml (secrets as os.environ/NAME references).
  2. systemctl enable --now$units
  3. In your nginx server {} block: include $SYSCONFDIR/nginx/snippets/fcgi-pass-through.conf;
     (the upstream block is in $SYSCONFDIR/nginx/conf.d/fcgi-pass-through-upstream.conf)
     then: nginx -t && systemctl reload nginx
  Operations guide: $docdir/OPERATIONS.md
EOF
if ((${#new_files[@]})); then
    echo "  Review and merge: ${new_files[*]}"
fi
