"""The Debian package on a running systemd, as an operator installs, upgrades and removes it.

systemd_boot.sh boots systemd as PID 1 over a throwaway root: a copy of this machine's
/etc and dpkg database, its /usr under a writable overlay (so dpkg can install), and an
empty /opt, so the Swift toolchain is absent: a Debian 12 host without Swift. Inside, a
driver service does what docs/INSTALL.md says: `dpkg -i` the package, put routes and
secrets into /etc/fcgi-pass-through, `systemctl enable --now fcgi-pass-through.socket`,
enable the example nginx site (which includes the snippet) in Debian's nginx, and send
the seed request; then it upgrades the package while requests keep coming, removes it
and purges it, recording what it saw in /results/facts for the tests below. The gateway
forwards to the suite's mock upstream (same network namespace). Needs PACKAGE_DEB
(`make test-package`) and root; skipped, with the reason, where systemd cannot be
booted this way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.mock_upstream import RERANK_RESPONSE
from harness.ports import free_port
from test_seed import SEED_BODY

from deploy_support import boot, boot_root, can_boot
from package_support import needs_package, package_deb, package_version, unpacked, upgrade_deb  # noqa: F401

pytestmark = [needs_package, pytest.mark.timeout_s(300)]

# The trace is not a *.log: it holds the key the requests send, and the logs go into
# assertion messages.
DRIVER = r"""
exec 9>>/results/driver-trace.txt
BASH_XTRACEFD=9
set -x
fact() { printf '%s=%s\n' "$1" "$2" >> /results/facts; }
prop() { systemctl show -p "$2" --value "$1"; }
exists() { [ -e "$1" ] && echo present || echo gone; }
seed() {  # the seed request through nginx; prints the status code
    curl -s -o "${1:-/dev/null}" -w '%{http_code}' --max-time 30 -X POST "http://127.0.0.1:$PORT/v1/rerank" \
        -H "Authorization: Bearer $MASTER_KEY" -H 'content-type: application/json' --data-binary @/results/seed.json
}
PORT=$(cat /results/port)
MASTER_KEY=$(sed -n 's/^LITELLM_MASTER_KEY=//p' /results/common.env)
S=/run/fcgi-pass-through/gateway.sock
ETC=/etc/fcgi-pass-through

# A host without Swift.
fact opt_entries "$(ls -A /opt | wc -l)"
fact swift_on_path "$(command -v swift || echo none)"
# A container image's policy-rc.d (exit 101: no service may start or stop, which
# deb-systemd-invoke honours) is not on a host; gone from the overlay, not from /usr.
rm -f /usr/sbin/policy-rc.d

# Install: the account, owners, nothing enabled or started yet.
dpkg -i /results/v1.deb >> /results/dpkg.log 2>&1; fact install_rc $?
fact installed "$(dpkg-query -W -f='${Status} ${Version}' fcgi-pass-through)"
fact account "$(getent passwd fcgi-pass-through | cut -d: -f1,6,7)"
fact config_owner "$(stat -c '%U:%G:%a' $ETC/config.yaml)"
fact env_owner "$(stat -c '%U:%G:%a' $ETC/common.env)"
fact state_owner "$(stat -c '%U:%G:%a' /var/lib/fcgi-pass-through)"
fact ldd_suspects "$(ldd /usr/sbin/fcgi-pass-through | grep -c -i -e /opt/ -e swift -e 'not found')"
fact version "$(/usr/sbin/fcgi-pass-through --version)"
fact socket_enabled_after_install "$(systemctl is-enabled fcgi-pass-through.socket)"
fact service_after_install "$(prop fcgi-pass-through.service ActiveState)"

# The operator: routes and secrets, the socket, the nginx site with the snippet.
cp /results/config.yaml $ETC/config.yaml
cp /results/common.env $ETC/common.env
fact config_test "$(set -a; . $ETC/common.env; /usr/sbin/fcgi-pass-through -t -c $ETC/config.yaml 2>&1)"
systemctl enable --now fcgi-pass-through.socket >> /results/systemctl.log 2>&1; fact enable_rc $?
fact socket_file "$(stat -c '%U:%G:%a' $S)"
rm -f /etc/nginx/sites-enabled/default
sed -e "s/^    listen 80;/    listen 127.0.0.1:$PORT;/" -e '/listen \[::\]:80;/d' \
    /usr/share/doc/fcgi-pass-through/examples/nginx-site.conf > /etc/nginx/sites-available/fcgi-pass-through
ln -s ../sites-available/fcgi-pass-through /etc/nginx/sites-enabled/fcgi-pass-through
nginx -t >> /results/nginx.log 2>&1; fact nginx_t $?
systemctl start nginx >> /results/systemctl.log 2>&1; fact nginx_start $?
fact seed "$(seed /results/seed-response.json)"
pid1=$(prop fcgi-pass-through.service MainPID)
fact exe "$(readlink /proc/$pid1/exe)"
fact maps_suspects "$(grep -c -i -e /opt/ -e swift /proc/$pid1/maps)"
inode1=$(stat -c %i $S)
since1=$(prop fcgi-pass-through.socket ActiveEnterTimestampMonotonic)
echo "# edited by the operator" >> $ETC/config.yaml

# Upgrade while requests keep coming.
( while [ ! -e /tmp/stop-load ]; do seed >> /results/load.txt; echo >> /results/load.txt; done ) &
loader=$!
sleep 1
dpkg -i /results/v2.deb >> /results/dpkg.log 2>&1; fact upgrade_rc $?
sleep 1
touch /tmp/stop-load; wait $loader
fact load "$(sort /results/load.txt | uniq -c | awk '{ print $2 "x" $1 }' | tr '\n' ' ')"
fact upgraded "$(dpkg-query -W -f='${Status} ${Version}' fcgi-pass-through)"
pid2=$(prop fcgi-pass-through.service MainPID)
fact service_restarted "$([ "$pid2" != 0 ] && [ "$pid2" != "$pid1" ] && echo yes || echo "no ($pid1 -> $pid2)")"
fact service_after_upgrade "$(prop fcgi-pass-through.service ActiveState)"
fact socket_inode_kept "$([ "$(stat -c %i $S)" = "$inode1" ] && echo yes || echo no)"
fact socket_never_restarted "$([ "$(prop fcgi-pass-through.socket ActiveEnterTimestampMonotonic)" = "$since1" ] && echo yes || echo no)"
fact config_after_upgrade "$(tail -n 1 $ETC/config.yaml)"
fact etc_after_upgrade "$(ls $ETC | tr '\n' ' ')"
fact seed_after_upgrade "$(seed)"
fact usage_by_route "$(/usr/sbin/fcgi-pass-through usage --db /var/lib/fcgi-pass-through/usage.db --by route 2>&1 | tr '\n' '|')"

# Removal stops it and keeps config and ledger.
dpkg -r fcgi-pass-through >> /results/dpkg.log 2>&1; fact remove_rc $?
fact removed "$(dpkg-query -W -f='${Status}' fcgi-pass-through)"
fact socket_after_remove "$(prop fcgi-pass-through.socket ActiveState)"
fact service_after_remove "$(prop fcgi-pass-through.service ActiveState)"
fact socket_file_after_remove "$(exists $S)"
fact binary_after_remove "$(exists /usr/sbin/fcgi-pass-through)"
fact config_after_remove "$(tail -n 1 $ETC/config.yaml)"
fact env_after_remove "$(exists $ETC/common.env)"
fact ledger_after_remove "$(ls /var/lib/fcgi-pass-through | tr '\n' ' ')"

# Purge deletes them, and the link `systemctl enable` made; the account stays.
dpkg -P fcgi-pass-through >> /results/dpkg.log 2>&1; fact purge_rc $?
fact purged "$(dpkg-query -W -f='${Status}' fcgi-pass-through 2>&1 | head -n 1)"
fact etc_after_purge "$(exists $ETC)"
fact ledger_after_purge "$(exists /var/lib/fcgi-pass-through)"
fact snippet_after_purge "$(exists /etc/nginx/snippets/fcgi-pass-through.conf)"
fact wants_after_purge "$(exists /etc/systemd/system/sockets.target.wants/fcgi-pass-through.socket)"
fact account_after_purge "$(getent passwd fcgi-pass-through | cut -d: -f1)"

journalctl --no-pager -o cat -u fcgi-pass-through.service > /results/journal.log 2>&1
fact done yes
"""


@pytest.fixture(scope="module")
def facts(package_deb, upgrade_deb, unpacked, mock, canaries, tmp_path_factory) -> dict[str, str]:
    reason = can_boot()
    if reason:
        pytest.skip(f"cannot boot systemd here: {reason}")
    if not Path("/usr/sbin/nginx").exists() or not Path("/lib/systemd/system/nginx.service").exists():
        pytest.skip("Debian's nginx (package nginx) is not installed: the site is served by its nginx.service")
    root, results = boot_root(tmp_path_factory.mktemp("package-boot"))
    # This machine's dpkg database, so that Depends are checked against what is installed.
    shutil.copytree("/var/lib/dpkg", root / "var/lib/dpkg", symlinks=True)
    for directory in ("var/log/nginx", "var/lib/nginx", "var/cache"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    shutil.copy(package_deb, results / "v1.deb")
    shutil.copy(upgrade_deb, results / "v2.deb")
    shipped = (unpacked / "etc/fcgi-pass-through/config.yaml").read_text()
    (results / "config.yaml").write_text(shipped.replace("https://api.cohere.com", mock.url))
    (results / "common.env").write_text(
        f"LITELLM_MASTER_KEY={canaries.master_key}\nCOHERE_API_KEY={canaries.upstream_key}\n"
    )
    (results / "seed.json").write_bytes(SEED_BODY)
    (results / "port").write_text(str(free_port()))
    found = boot(root, results, DRIVER, "--writable-usr", "--without-opt", timeout=240)
    # Recorded now: the suite forgets the mock's records before each test.
    found["_upstream_auth"] = {r.header("Authorization") for r in mock.requests if r.path == "/v1/rerank"}
    found["_seed_response"] = (results / "seed-response.json").read_bytes() if (results / "seed-response.json").exists() else b""
    assert found.get("done") == "yes", f"driver did not finish: {found}"
    return found


def test_installs_on_a_host_without_swift(facts, package_version):
    assert facts["opt_entries"] == "0" and facts["swift_on_path"] == "none"
    assert facts["install_rc"] == "0", facts["_log"]
    assert facts["installed"] == f"install ok installed {package_version}"
    assert facts["version"] == f"fcgi-pass-through {package_version}"
    assert facts["ldd_suspects"] == "0"
    assert facts["account"] == "fcgi-pass-through:/nonexistent:/usr/sbin/nologin"
    assert facts["config_owner"] == "root:fcgi-pass-through:640"
    assert facts["env_owner"] == "root:root:600"
    assert facts["state_owner"] == "fcgi-pass-through:fcgi-pass-through:750"


def test_installing_enables_and_starts_nothing(facts):
    assert facts["socket_enabled_after_install"] == "disabled"
    assert facts["service_after_install"] == "inactive"


def test_socket_and_nginx_site_serve_the_seed_request(facts, canaries):
    assert facts["config_test"].endswith("configuration ok (1 endpoints)"), facts["config_test"]
    assert facts["enable_rc"] == "0" and facts["socket_file"] == "fcgi-pass-through:www-data:660", facts["_log"]
    assert facts["nginx_t"] == "0" and facts["nginx_start"] == "0", facts["_log"]
    assert facts["seed"] == "200", facts["_log"]
    assert facts["_seed_response"] == RERANK_RESPONSE
    assert facts["_upstream_auth"] == {f"bearer {canaries.upstream_key}"}
    assert facts["exe"] == "/usr/sbin/fcgi-pass-through"
    assert facts["maps_suspects"] == "0"


def test_upgrade_restarts_the_service_and_keeps_the_socket(facts, package_version):
    assert facts["upgrade_rc"] == "0", facts["_log"]
    assert facts["upgraded"] == f"install ok installed {package_version}+upgrade1"
    assert facts["service_restarted"] == "yes" and facts["service_after_upgrade"] == "active"
    assert facts["socket_inode_kept"] == "yes" and facts["socket_never_restarted"] == "yes"
    # Every request sent while the package was replaced and the service restarted got its answer.
    statuses = dict(item.split("x") for item in facts["load"].split())
    assert set(statuses) == {"200"} and int(statuses["200"]) > 0, facts["load"]
    assert facts["seed_after_upgrade"] == "200"
    assert facts["config_after_upgrade"] == "# edited by the operator"
    assert facts["etc_after_upgrade"].split() == ["common.env", "config.yaml"]
    assert "/v1/rerank" in facts["usage_by_route"], facts["usage_by_route"]


def test_removal_stops_it_and_keeps_config_and_ledger(facts):
    assert facts["remove_rc"] == "0", facts["_log"]
    assert facts["removed"] == "deinstall ok config-files"
    assert facts["socket_after_remove"] == "inactive" and facts["service_after_remove"] == "inactive"
    assert facts["socket_file_after_remove"] == "gone" and facts["binary_after_remove"] == "gone"
    assert facts["config_after_remove"] == "# edited by the operator"
    assert facts["env_after_remove"] == "present"
    assert "usage.db" in facts["ledger_after_remove"].split()


def test_purge_deletes_config_ledger_and_enable_links(facts):
    assert facts["purge_rc"] == "0", facts["_log"]
    assert "no packages found" in facts["purged"] or facts["purged"].startswith("unknown ok not-installed")
    assert facts["etc_after_purge"] == "gone" and facts["ledger_after_purge"] == "gone"
    assert facts["snippet_after_purge"] == "gone"
    assert facts["wants_after_purge"] == "gone"
    assert facts["account_after_purge"] == "fcgi-pass-through"
