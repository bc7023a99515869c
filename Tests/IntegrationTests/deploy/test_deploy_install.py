"""deploy/install.sh into a temporary DESTDIR: what lands where, with which modes, and re-runs."""

from __future__ import annotations

import filecmp
import stat
from pathlib import Path

from harness.gateway import REPO_ROOT
from harness.nginx import Nginx

from deploy_support import DEPLOY, UNITS, run_install, staged_root  # noqa: F401 (fixture)

EXPECTED = {
    # path under DESTDIR: mode
    "usr/local/bin/fcgi-pass-through": 0o755,
    **{
        f"usr/local/share/doc/fcgi-pass-through/{doc}": 0o644
        for doc in ("README.md", "INSTALL.md", "OPERATIONS.md", "BEHAVIOUR.md", "KEYS.md", "USAGE.md", "SECURITY.md")
    },
    "usr/local/share/doc/fcgi-pass-through/examples/nginx-site.conf": 0o644,
    **{f"etc/systemd/system/{unit}": 0o644 for unit in UNITS},
    "etc/sysusers.d/fcgi-pass-through.conf": 0o644,
    "etc/fcgi-pass-through": 0o750,
    "etc/fcgi-pass-through/config.yaml": 0o640,
    "etc/fcgi-pass-through/common.env": 0o600,
    "etc/nginx/snippets/fcgi-pass-through.conf": 0o644,
    "etc/nginx/conf.d/fcgi-pass-through-upstream.conf": 0o644,
}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_installs_every_file_with_its_mode(staged_root, gateway_binary):
    found = {str(p.relative_to(staged_root)) for p in staged_root.rglob("*") if p.is_file()}
    # verify_root (test_deploy_units) may have added systemd's own units under usr/lib.
    found = {p for p in found if not p.startswith("usr/lib/")}
    assert found == {p for p in EXPECTED if p != "etc/fcgi-pass-through"}
    assert {p: mode(staged_root / p) for p in EXPECTED} == EXPECTED
    assert filecmp.cmp(staged_root / "usr/local/bin/fcgi-pass-through", gateway_binary, shallow=False)
    assert (staged_root / "etc/nginx/snippets/fcgi-pass-through.conf").read_text() == (
        REPO_ROOT / "nginx/fcgi-pass-through.conf"
    ).read_text()
    # With the default prefix the installed units are the repository's, byte for byte.
    for unit in UNITS:
        assert (staged_root / "etc/systemd/system" / unit).read_text() == (DEPLOY / "systemd" / unit).read_text()


def test_upstream_block_lists_one_socket_per_instance(tmp_path, gateway_binary):
    result = run_install(tmp_path, gateway_binary, "--instances", "blue green red")
    assert result.returncode == 0, result.stderr
    upstream = (tmp_path / "etc/nginx/conf.d/fcgi-pass-through-upstream.conf").read_text()
    servers = [line.strip() for line in upstream.splitlines() if line.strip().startswith("server ")]
    assert servers == [f"server unix:/run/fcgi-pass-through/{name}.sock;" for name in ("blue", "green", "red")]
    assert "fcgi-pass-through@blue.socket fcgi-pass-through@blue.service" in result.stdout


def test_prefix_and_nginx_group_are_written_into_the_units(tmp_path, gateway_binary):
    result = run_install(tmp_path, gateway_binary, PREFIX="/opt/fpt", NGINX_GROUP="nginx")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "opt/fpt/bin/fcgi-pass-through").is_file()
    service = (tmp_path / "etc/systemd/system/fcgi-pass-through@.service").read_text()
    assert "/usr/local" not in service
    assert "ExecStart=/opt/fpt/bin/fcgi-pass-through --config" in service
    assert "file:///opt/fpt/share/doc/fcgi-pass-through/OPERATIONS.md" in service
    socket = (tmp_path / "etc/systemd/system/fcgi-pass-through@.socket").read_text()
    assert "\nSocketGroup=nginx\n" in socket and "www-data" not in socket.split("[Socket]")[1]


def test_rerun_keeps_the_operators_files_and_replaces_the_shipped_ones(tmp_path, gateway_binary):
    assert run_install(tmp_path, gateway_binary).returncode == 0
    config = tmp_path / "etc/fcgi-pass-through/config.yaml"
    env_file = tmp_path / "etc/fcgi-pass-through/common.env"
    unit = tmp_path / "etc/systemd/system/fcgi-pass-through@.service"
    config.write_text("# edited by the operator\n")
    unit.write_text("# stale\n")

    again = run_install(tmp_path, gateway_binary)
    assert again.returncode == 0, again.stderr
    assert config.read_text() == "# edited by the operator\n"
    assert (tmp_path / "etc/fcgi-pass-through/config.yaml.new").read_text() == (DEPLOY / "etc/config.yaml").read_text()
    assert mode(tmp_path / "etc/fcgi-pass-through/config.yaml.new") == 0o640
    assert "config.yaml.new" in again.stdout
    # Unchanged operator files get no .new copy; shipped files are replaced.
    assert not (tmp_path / "etc/fcgi-pass-through/common.env.new").exists()
    assert mode(env_file) == 0o600
    assert unit.read_text() == (DEPLOY / "systemd/fcgi-pass-through@.service").read_text()


def test_refuses_what_it_cannot_install(tmp_path, gateway_binary):
    bad_name = run_install(tmp_path / "a", gateway_binary, "--instances", "ok ../escape")
    assert bad_name.returncode == 64 and "../escape" in bad_name.stderr
    no_binary = run_install(tmp_path / "b", tmp_path / "missing-binary")
    assert no_binary.returncode == 1 and "--bin" in no_binary.stderr
    unknown = run_install(tmp_path / "c", gateway_binary, "--frobnicate")
    assert unknown.returncode == 64 and "--frobnicate" in unknown.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_installed_nginx_files_pass_nginx_t(staged_root, tmp_path):
    """The upstream block and the snippet, included as the install's next steps say."""
    upstream = staged_root / "etc/nginx/conf.d/fcgi-pass-through-upstream.conf"
    snippet = staged_root / "etc/nginx/snippets/fcgi-pass-through.conf"
    nginx = Nginx(tmp_path / "nginx", f"        include {snippet};", f"    include {upstream};\n")
    result = nginx.test_config()
    assert result.returncode == 0, result.stderr
