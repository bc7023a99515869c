"""The units under a real systemd: socket activation, env files, reload, exit 78, hardening.

systemd_boot.sh boots systemd as PID 1 in private PID and mount namespaces over a
throwaway root (this machine's /usr, a copy of /etc). Inside, a driver service runs
deploy/install.sh as an operator would (no DESTDIR: sysusers, chown, daemon-reload),
starts two instances and records what happened in /results/facts; the tests below read
those facts. The gateway forwards one real request to the suite's mock upstream (same
network namespace), so the secret's path env file -> systemd -> gateway -> upstream is
checked end to end. Skipped, with the reason, where systemd cannot be booted this way
(not root, no unshare/pivot_root, no systemd).
"""

from __future__ import annotations

import shutil

import pytest

from harness.gateway import sanitized

from deploy_support import boot, boot_root, can_boot, require_tool

# Units run the gateway with systemd's clean environment, so a sanitizer build would run
# there without make test-sanitize's options and suppressions: skipped under it.
pytestmark = [
    pytest.mark.timeout_s(200),
    pytest.mark.skipif(sanitized(), reason="systemd units do not carry the sanitizer options"),
]

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/systemd
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
"""

DRIVER = r"""
exec 9>>/results/driver-trace.log
BASH_XTRACEFD=9
set -x
fact() { printf '%s=%s\n' "$1" "$2" >> /results/facts; }
fcgi() {  # fcgi SOCKET URI [env...]: the response's status line
    local sock=$1 uri=$2; shift 2
    env -i REQUEST_METHOD=GET REQUEST_URI="$uri" "$@" /usr/bin/cgi-fcgi -bind -connect "$sock" 2>&1 | head -1 | tr -d '\r'
}
as_user() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
prop() { systemctl show -p "$2" --value "$1"; }
S1=/run/fcgi-pass-through/t1.sock

PREFIX=/srv/fpt bash /src/deploy/install.sh --bin /srv/stage/fcgi-pass-through --instances "t1 t2" >> /results/install.log 2>&1
fact install_rc $?
cp /results/common.env /etc/fcgi-pass-through/common.env
cp /results/config.yaml /etc/fcgi-pass-through/config.yaml
printf 'CONFIG_FILE_PATH=/etc/fcgi-pass-through/t2.yaml\n' > /etc/fcgi-pass-through/t2.env
sed 's/COHERE_API_KEY/ITEST_UNSET_VARIABLE/' /results/config.yaml > /etc/fcgi-pass-through/t2.yaml
chmod 0640 /etc/fcgi-pass-through/t2.yaml; chgrp fcgi-pass-through /etc/fcgi-pass-through/t2.yaml
fact config_owner "$(stat -c '%U:%G:%a' /etc/fcgi-pass-through/config.yaml)"

systemctl start fcgi-pass-through@t1.socket fcgi-pass-through@t2.socket
fact socket_t1 "$(stat -c '%U:%G:%a' $S1)"
fact t1_active_before_first_request "$(prop fcgi-pass-through@t1.service ActiveState)"

# The first connection starts the service (socket activation); nginx's user may connect.
fact echo_as_www_data "$(as_user 33 env -i REQUEST_METHOD=GET REQUEST_URI=/echo HTTP_AUTHORIZATION="Bearer $(sed -n 's/^LITELLM_MASTER_KEY=//p' /results/common.env)" /usr/bin/cgi-fcgi -bind -connect $S1 2>&1 | head -1 | tr -d '\r')"
fact liveness_as_nobody "$(as_user 65534 env -i REQUEST_METHOD=GET REQUEST_URI=/health/liveness /usr/bin/cgi-fcgi -bind -connect $S1 2>&1 | head -1)"
pid=$(prop fcgi-pass-through@t1.service MainPID)
fact t1_user "$(ps -o user= -p "$pid")"
fact t1_env_names "$(tr '\0' '\n' < /proc/$pid/environ | cut -d= -f1 | sort | tr '\n' ' ')"
fact t1_no_new_privs "$(awk '/^NoNewPrivs/ {print $2}' /proc/$pid/status)"
fact t1_cap_eff "$(awk '/^CapEff/ {print $2}' /proc/$pid/status)"
fact t1_seccomp "$(awk '/^Seccomp:/ {print $2}' /proc/$pid/status)"
fact t1_fd0 "$(readlink /proc/$pid/fd/0 | cut -d: -f1)"

# Reload: a new route appears; a broken config is refused and the old one keeps serving.
cp /etc/fcgi-pass-through/config.yaml /tmp/good.yaml
sed 's#^    - path: /echo$#    - path: /echo-reloaded\n      target: http://127.0.0.1:9/never\n    - path: /echo#' /tmp/good.yaml > /etc/fcgi-pass-through/config.yaml
systemctl reload fcgi-pass-through@t1.service; fact reload_rc $?
sleep 0.5
fact reloaded_route "$(fcgi $S1 /echo-reloaded)"
echo "  pass_through_request_timeout: [broken" >> /etc/fcgi-pass-through/config.yaml
systemctl reload fcgi-pass-through@t1.service; fact bad_reload_rc $?
fact after_bad_reload_state "$(prop fcgi-pass-through@t1.service ActiveState)"
fact after_bad_reload_pid_same "$([ "$(prop fcgi-pass-through@t1.service MainPID)" = "$pid" ] && echo yes || echo no)"
fact after_bad_reload_readiness "$(fcgi $S1 /health/readiness)"
cp /tmp/good.yaml /etc/fcgi-pass-through/config.yaml

# A config that cannot load: exit 78, and no restarts.
fcgi /run/fcgi-pass-through/t2.sock /health/readiness > /dev/null
sleep 4
fact t2_state "$(prop fcgi-pass-through@t2.service ActiveState)"
fact t2_exit "$(prop fcgi-pass-through@t2.service ExecMainStatus)"
fact t2_restarts "$(prop fcgi-pass-through@t2.service NRestarts)"

# Stop drains and exits 0; restarting the service keeps the socket.
systemctl stop fcgi-pass-through@t1.service; fact stop_rc $?
fact stop_result "$(prop fcgi-pass-through@t1.service Result)"
fact stop_exit "$(prop fcgi-pass-through@t1.service ExecMainStatus)"
fact after_stop_reactivated "$(fcgi $S1 /health/readiness)"
systemctl restart fcgi-pass-through@t1.service
sleep 1
fact after_service_restart "$(fcgi $S1 /health/readiness)"
systemctl restart fcgi-pass-through@t1.socket
fact after_socket_restart "$(fcgi $S1 /health/readiness)"

journalctl --no-pager -o cat -u fcgi-pass-through@t1.service > /results/journal-t1.log 2>&1
journalctl --no-pager -o cat -u fcgi-pass-through@t2.service > /results/journal-t2.log 2>&1
fact done yes
"""


@pytest.fixture(scope="module")
def facts(gateway_binary, mock, canaries, tmp_path_factory) -> dict[str, str]:
    reason = can_boot()
    if reason:
        pytest.skip(f"cannot boot systemd here: {reason}")
    require_tool("systemd-analyze", "systemd")
    require_tool("cgi-fcgi", "libfcgi-bin")
    root, results = boot_root(tmp_path_factory.mktemp("systemd-boot"))
    stage = root / "srv" / "stage"
    stage.mkdir(parents=True)
    shutil.copy2(gateway_binary, stage / "fcgi-pass-through")
    (results / "config.yaml").write_text(CONFIG.replace("{upstream}", mock.url))
    (results / "common.env").write_text(
        f"LITELLM_MASTER_KEY={canaries.master_key}\nCOHERE_API_KEY={canaries.upstream_key}\n"
    )
    found = boot(root, results, DRIVER)
    # Recorded now: the suite forgets the mock's records before each test.
    found["_upstream_auth"] = [r.header("Authorization") for r in mock.requests if r.path == "/echo/systemd"]
    assert found.get("done") == "yes", f"driver did not finish: {found}"
    return found


def test_install_sh_installs_for_real(facts):
    assert facts["install_rc"] == "0", facts["_log"]
    assert facts["config_owner"] == "root:fcgi-pass-through:640"


def test_socket_belongs_to_systemd_and_nginx_group(facts):
    assert facts["socket_t1"] == "fcgi-pass-through:www-data:660"
    assert facts["t1_active_before_first_request"] == "inactive"  # started by the first connection
    assert facts["t1_fd0"] == "socket"


def test_secrets_travel_from_env_file_to_upstream(facts, mock, canaries):
    assert facts["echo_as_www_data"] == "Status: 200 OK", facts["_log"]
    assert facts["_upstream_auth"] == [f"bearer {canaries.upstream_key}"]
    names = set(facts["t1_env_names"].split())
    assert {"LITELLM_MASTER_KEY", "COHERE_API_KEY", "CONFIG_FILE_PATH"} <= names
    journal = facts["_log"]
    assert canaries.master_key not in journal and canaries.upstream_key not in journal


def test_only_the_socket_group_may_connect(facts):
    assert "Could not connect" in facts["liveness_as_nobody"]


def test_runs_unprivileged_and_confined(facts):
    assert facts["t1_user"] == "fcgi-pass-through"
    assert facts["t1_no_new_privs"] == "1"
    assert int(facts["t1_cap_eff"], 16) == 0
    assert facts["t1_seccomp"] == "2"  # SystemCallFilter= is in force and the gateway still serves


def test_reload_applies_a_good_config_and_refuses_a_bad_one(facts):
    assert facts["reload_rc"] == "0", facts["_log"]
    assert facts["reloaded_route"] != "Status: 404 Not Found" and facts["reloaded_route"].startswith("Status: "), facts
    assert facts["bad_reload_rc"] != "0"
    assert facts["after_bad_reload_state"] == "active"
    assert facts["after_bad_reload_pid_same"] == "yes"
    assert facts["after_bad_reload_readiness"] == "Status: 200 OK"


def test_bad_config_exits_78_and_is_not_restarted(facts):
    assert facts["t2_state"] == "failed"
    assert facts["t2_exit"] == "78"
    assert facts["t2_restarts"] == "0"


def test_stop_drains_and_exits_0_and_the_socket_reactivates(facts):
    assert facts["stop_rc"] == "0" and facts["stop_result"] == "success" and facts["stop_exit"] == "0"


def test_restarted_service_serves_on_the_same_socket(facts):
    assert facts["after_stop_reactivated"] == "Status: 200 OK"
    assert facts["after_service_restart"] == "Status: 200 OK"


def test_restarting_the_socket_unit_recovers_the_instance(facts):
    assert facts["after_socket_restart"] == "Status: 200 OK", facts["_log"]
