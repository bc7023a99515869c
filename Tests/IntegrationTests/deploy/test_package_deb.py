"""The Debian package (deploy/package/build-deb.sh): what is in it, and dpkg with it.

First the .deb itself: its version is the binary's, Depends names exactly the packages
that hold the libraries the binary needs (nothing of Swift), the files and modes, the
conffiles, the units' paths, the maintainer scripts and the manual page. Then dpkg
installs it into an empty root (`dpkg --root`, maintainer scripts honouring
DPKG_ROOT): the account and owners postinst sets, the installed binary run with the
Swift toolchain's directory hidden (ldd, --version, -t) and serving the seed request
behind a real nginx with the installed snippet, systemd-analyze on the installed
units, and an upgrade, a removal and a purge. Everything needs PACKAGE_DEB
(`make test-package`); the dpkg part needs root.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import LEAKS
from harness import http_client
from harness.gateway import REPO_ROOT, GatewayProcess, base_env
from harness.mock_upstream import RERANK_RESPONSE
from harness.nginx import Nginx
from test_seed import SEED_BODY, curl_headers

from deploy_support import DEPLOY, UNITS, require_tool
from package_support import (  # noqa: F401 (fixtures)
    PACKAGE,
    clean_env,
    contents,
    control_fields,
    depends_names,
    dpkg,
    env_file,
    fresh_root,
    hidden_toolchain_prefix,
    id_in,
    needs_package,
    package_deb,
    package_version,
    run,
    status,
    toolchain_dir,
    unpacked,
    upgrade_deb,
)

pytestmark = [needs_package, pytest.mark.timeout_s(60)]

DOCS = ("README.md", "INSTALL.md", "OPERATIONS.md", "BEHAVIOUR.md", "KEYS.md", "USAGE.md", "SECURITY.md")
FILES = {
    # path: permissions, everything owned by root/root
    "etc/fcgi-pass-through/": "drwxr-x---",
    "etc/fcgi-pass-through/common.env": "-rw-------",
    "etc/fcgi-pass-through/config.yaml": "-rw-r-----",
    "etc/nginx/conf.d/fcgi-pass-through-upstream.conf": "-rw-r--r--",
    "etc/nginx/snippets/fcgi-pass-through.conf": "-rw-r--r--",
    **{f"lib/systemd/system/{unit}": "-rw-r--r--" for unit in UNITS},
    "usr/lib/sysusers.d/fcgi-pass-through.conf": "-rw-r--r--",
    "usr/sbin/fcgi-pass-through": "-rwxr-xr-x",
    **{f"usr/share/doc/fcgi-pass-through/{doc}": "-rw-r--r--" for doc in DOCS},
    "usr/share/doc/fcgi-pass-through/copyright": "-rw-r--r--",
    "usr/share/doc/fcgi-pass-through/changelog.gz": "-rw-r--r--",
    "usr/share/doc/fcgi-pass-through/examples/nginx-site.conf": "-rw-r--r--",
    "usr/share/lintian/overrides/fcgi-pass-through": "-rw-r--r--",
    "usr/share/man/man8/fcgi-pass-through.8.gz": "-rw-r--r--",
}
CONFFILES = {
    "/etc/fcgi-pass-through/common.env",
    "/etc/fcgi-pass-through/config.yaml",
    "/etc/nginx/conf.d/fcgi-pass-through-upstream.conf",
    "/etc/nginx/snippets/fcgi-pass-through.conf",
}
SWIFT_LIBRARY = re.compile(r"^lib_?(swift|Foundation|dispatch|BlocksRuntime|icu)", re.I)
INSTANCE = "itest-1"


def binary_of(tree: Path) -> Path:
    return tree / "usr" / "sbin" / PACKAGE


def needed(binary: Path) -> list[str]:
    return re.findall(r"\(NEEDED\).*\[(.+)\]", run("readelf", "-d", binary).stdout)


def owning_package(soname: str) -> str:
    """The Debian package holding the library the dynamic linker finds for `soname`."""
    result = run("dpkg", "-S", soname, check=False)
    owners = {line.split(":")[0] for line in result.stdout.splitlines() if line.rsplit("/", 1)[-1] == soname}
    assert len(owners) == 1, f"{soname}: no single owning package in dpkg -S:\n{result.stdout}{result.stderr}"
    return owners.pop()


# --- the .deb ------------------------------------------------------------------------


def test_version_name_and_fields_come_from_the_binary(package_deb, unpacked):
    fields = control_fields(package_deb)
    printed = run(binary_of(unpacked), "--version", env=clean_env()).stdout.split()
    assert printed == [PACKAGE, fields["Version"]]
    arch = run("dpkg", "--print-architecture").stdout.strip()
    assert fields["Package"] == PACKAGE and fields["Architecture"] == arch
    assert package_deb.name == f"{PACKAGE}_{fields['Version']}_{arch}.deb"
    assert fields["Recommends"] == "nginx"
    assert fields["Maintainer"] and fields["Description"]
    changelog = gzip.decompress((unpacked / "usr/share/doc/fcgi-pass-through/changelog.gz").read_bytes()).decode()
    assert changelog.startswith(f"{PACKAGE} ({fields['Version']}) ")


def test_depends_names_exactly_the_packages_of_the_needed_libraries(package_deb, unpacked):
    sonames = needed(binary_of(unpacked))
    assert sonames and not [s for s in sonames if SWIFT_LIBRARY.match(s)], sonames
    expected = {owning_package(soname) for soname in sonames}
    depends = control_fields(package_deb)["Depends"]
    assert depends_names(depends) == expected, depends
    assert {"libfcgi0ldbl", "libyaml-0-2", "libcurl4"} <= expected
    assert "swift" not in depends.lower()


def test_binary_is_stripped_and_has_no_run_path(unpacked):
    binary = binary_of(unpacked)
    sections = run("readelf", "-S", "-W", binary).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections
    assert not re.search(r"\((RPATH|RUNPATH)\)", run("readelf", "-d", binary).stdout)


def test_files_modes_and_owners(package_deb):
    found = contents(package_deb)
    files = {path: mode for path, (mode, _owner) in found.items() if not mode.startswith("d")}
    assert files == {path: mode for path, mode in FILES.items() if not path.endswith("/")}
    assert found["etc/fcgi-pass-through/"][0] == FILES["etc/fcgi-pass-through/"]
    assert {owner for _mode, owner in found.values()} == {"root/root"}
    # The ledger's directory is postinst's (kept on removal, deleted on purge), not dpkg's.
    assert not [path for path in found if path.startswith("var/")]


def test_conffiles_are_every_file_under_etc(package_deb, tmp_path):
    run("dpkg-deb", "--control", package_deb, tmp_path / "control")
    conffiles = set((tmp_path / "control" / "conffiles").read_text().split())
    assert conffiles == CONFFILES
    assert conffiles == {f"/{path}" for path in contents(package_deb) if path.startswith("etc/") and not path.endswith("/")}


def test_units_and_nginx_files_name_the_packaged_paths(unpacked):
    units = unpacked / "lib/systemd/system"
    for unit in UNITS:
        text = (units / unit).read_text()
        assert "/usr/local" not in text, unit
        # The repository's unit, with the package's binary and doc paths.
        expected = (DEPLOY / "systemd" / unit).read_text().replace(
            "/usr/local/bin/fcgi-pass-through", "/usr/sbin/fcgi-pass-through"
        ).replace("/usr/local/share/doc/", "/usr/share/doc/")
        assert text == expected, unit
    service = (units / "fcgi-pass-through.service").read_text()
    assert "\nExecStart=/usr/sbin/fcgi-pass-through --config " in service
    assert "Documentation=file:///usr/share/doc/fcgi-pass-through/OPERATIONS.md" in service
    assert (unpacked / "usr/share/doc/fcgi-pass-through/OPERATIONS.md").is_file()
    # The upstream block names the single-instance socket.
    socket = (units / "fcgi-pass-through.socket").read_text()
    assert "\nListenStream=/run/fcgi-pass-through/gateway.sock\n" in socket
    upstream = (unpacked / "etc/nginx/conf.d/fcgi-pass-through-upstream.conf").read_text()
    assert re.findall(r"^\s*server .*$", upstream, re.M) == ["    server unix:/run/fcgi-pass-through/gateway.sock;"]
    assert (unpacked / "etc/nginx/snippets/fcgi-pass-through.conf").read_text() == (
        REPO_ROOT / "nginx/fcgi-pass-through.conf"
    ).read_text()
    site = (unpacked / "usr/share/doc/fcgi-pass-through/examples/nginx-site.conf").read_text()
    assert "include /etc/nginx/snippets/fcgi-pass-through.conf;" in site


def test_maintainer_scripts_are_posix_shell(package_deb, tmp_path):
    control = tmp_path / "control"
    run("dpkg-deb", "--control", package_deb, control)
    for script in ("postinst", "prerm", "postrm"):
        path = control / script
        assert path.read_text().startswith("#!/bin/sh\n"), script
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, script
        run("sh", "-n", path)
    # Only the services restart on an upgrade; the sockets are never touched then.
    postinst = (control / "postinst").read_text()
    assert "try-restart" in postinst and ".socket" not in postinst.split("restart_running()")[1].split("}")[0]


def test_manual_page_lists_every_option_and_config_key(unpacked, tmp_path):
    groff = require_tool("groff", "groff-base")
    page = tmp_path / "fcgi-pass-through.8"
    page.write_bytes(gzip.decompress((unpacked / "usr/share/man/man8/fcgi-pass-through.8.gz").read_bytes()))
    rendered = run(groff, "-man", "-Tutf8", "-ww", "-P-cbou", page, env=clean_env())
    assert not rendered.stderr.strip(), rendered.stderr
    text = rendered.stdout.replace("\u2212", "-").replace("\u2010", "-")
    binary = binary_of(unpacked)
    help_text = run(binary, "--help", env=clean_env()).stdout
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_text))
    assert options and not [o for o in options if o not in text], sorted(o for o in options if o not in text)
    behaviour = (REPO_ROOT / "docs/BEHAVIOUR.md").read_text()
    tables = behaviour.split("### 1.2 ")[1].split("### 1.4 ")[0]
    keys = set(re.findall(r"^\| `([a-z_]+)` \|", tables, re.M))
    assert len(keys) > 20 and not [k for k in keys if k not in text], sorted(k for k in keys if k not in text)
    version = run(binary, "--version", env=clean_env()).stdout.split()[-1]
    assert text.lstrip().startswith("FCGI-PASS-THROUGH(8)") and f"fcgi-pass-through {version}" in text


# --- dpkg --root: an empty root ----------------------------------------------------------


@pytest.fixture(scope="module")
def installed_root(package_deb, tmp_path_factory) -> Path:
    root = fresh_root(tmp_path_factory.mktemp("fresh-root"))
    dpkg(root, "--install", package_deb)
    return root


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_install_into_an_empty_root_creates_the_account_and_owners(installed_root, package_version, unpacked):
    assert status(installed_root) == f"install ok installed {package_version}"
    uid, gid = id_in(installed_root, "passwd", PACKAGE), id_in(installed_root, "group", PACKAGE)
    assert uid is not None and gid is not None, (installed_root / "etc/passwd").read_text()
    account = next(line for line in (installed_root / "etc/passwd").read_text().splitlines() if line.startswith(PACKAGE))
    assert account.split(":")[5:] == ["/nonexistent", "/usr/sbin/nologin"]
    etc = installed_root / "etc/fcgi-pass-through"
    assert owner_and_mode(etc) == (0, gid, 0o750)
    assert owner_and_mode(etc / "config.yaml") == (0, gid, 0o640)
    assert owner_and_mode(etc / "common.env") == (0, 0, 0o600)
    assert owner_and_mode(installed_root / "var/lib/fcgi-pass-through") == (uid, gid, 0o750)
    assert binary_of(installed_root).read_bytes() == binary_of(unpacked).read_bytes()


def test_installed_binary_runs_without_the_swift_toolchain(installed_root, package_version, tmp_path):
    hide = hidden_toolchain_prefix(tmp_path / "empty")
    toolchain = toolchain_dir()
    binary = binary_of(installed_root)
    if toolchain is not None:
        assert run(*hide, "ls", "-A", toolchain, env=clean_env()).stdout == "", "the toolchain was not hidden"
    libraries = run(*hide, "ldd", binary, env=clean_env()).stdout
    assert "not found" not in libraries and "swift" not in libraries.lower(), libraries
    assert toolchain is None or str(toolchain) not in libraries, libraries
    assert run(*hide, binary, "--version", env=clean_env()).stdout.strip() == f"{PACKAGE} {package_version}"

    # -t on the installed config with the installed env file's values, as systemd would run it.
    config = installed_root / "etc/fcgi-pass-through/config.yaml"
    secrets = env_file(installed_root / "etc/fcgi-pass-through/common.env")
    assert {"LITELLM_MASTER_KEY", "COHERE_API_KEY"} <= set(secrets)
    ok = run(*hide, binary, "-t", "-c", config, env=clean_env(secrets), check=False)
    assert ok.returncode == 0 and "configuration ok" in ok.stdout + ok.stderr, ok.stdout + ok.stderr
    missing = run(*hide, binary, "-t", "-c", config, env=clean_env(), check=False)
    assert missing.returncode == 78 and "LITELLM_MASTER_KEY" in missing.stderr, missing.stderr


def test_systemd_analyze_verify_accepts_the_installed_units(installed_root):
    systemd_analyze = require_tool("systemd-analyze", "systemd")
    host_units = Path("/usr/lib/systemd/system")
    if not (host_units / "sysinit.target").exists():
        pytest.skip(f"{host_units} has no sysinit.target: systemd's own units are not installed")
    # The units the package's depend on (sysinit.target, ...), beside the package's own in /lib.
    target = installed_root / "usr/lib/systemd/system"
    if not target.exists():
        shutil.copytree(host_units, target, symlinks=True)
    units = [f"fcgi-pass-through@{INSTANCE}.socket", f"fcgi-pass-through@{INSTANCE}.service",
             "fcgi-pass-through.socket", "fcgi-pass-through.service"]
    result = run(systemd_analyze, "verify", "--man=no", "--generators=no", f"--root={installed_root}", *units,
                 check=False)
    # verify exits 0 on unknown keys and unparsable values ("..., ignoring"): any output fails.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


@pytest.mark.timeout_s(60)
def test_installed_gateway_serves_the_seed_behind_nginx_with_the_installed_snippet(
    installed_root, mock, canaries, tmp_path
):
    hide = hidden_toolchain_prefix(tmp_path / "empty")
    toolchain = toolchain_dir()
    # The gateway as the harness starts it, through a wrapper that hides the toolchain first.
    wrapper = tmp_path / "packaged-gateway"
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(f"'{a}'" for a in [*hide, str(binary_of(installed_root))]) + ' "$@"\n')
    wrapper.chmod(0o755)
    # The installed config, its upstream the mock instead of Cohere.
    config = tmp_path / "config.yaml"
    installed = (installed_root / "etc/fcgi-pass-through/config.yaml").read_text()
    assert "https://api.cohere.com/v1/rerank" in installed
    config.write_text(installed.replace("https://api.cohere.com", mock.url))
    env = base_env(tmp_path, {"LITELLM_MASTER_KEY": canaries.master_key, "COHERE_API_KEY": canaries.upstream_key})
    env.pop("LD_LIBRARY_PATH", None)
    gateway = GatewayProcess(wrapper, tmp_path, "packaged", config, env)
    LEAKS.watch(gateway.log_path)
    nginx = Nginx.for_gateway(tmp_path / "nginx", [gateway.socket_path], installed_root / "etc/nginx/snippets/fcgi-pass-through.conf")
    try:
        gateway.start().wait_ready()
        maps = Path(f"/proc/{gateway.proc.pid}/maps").read_text()
        assert os.readlink(f"/proc/{gateway.proc.pid}/exe") == str(binary_of(installed_root))
        assert "libswift" not in maps and (toolchain is None or str(toolchain) not in maps)
        nginx.start()
        response = http_client.request(nginx.port, "POST", "/v1/rerank", curl_headers(canaries.master_key), SEED_BODY)
        assert response.status == 200, f"{response}\n{gateway.log_text()}"
        assert response.body == RERANK_RESPONSE
        upstream = mock.only_request()
        assert upstream.target == "/v1/rerank" and upstream.body == SEED_BODY
        assert upstream.header_values("Authorization") == [f"bearer {canaries.upstream_key}"]
    finally:
        nginx.stop()
        assert gateway.stop() == 0, gateway.log_text()


@pytest.mark.timeout_s(180)
def test_upgrade_keeps_edits_removal_keeps_config_and_ledger_purge_deletes_them(
    package_deb, upgrade_deb, package_version, tmp_path
):
    root = fresh_root(tmp_path / "root")
    dpkg(root, "--install", package_deb)
    etc = root / "etc/fcgi-pass-through"
    ledger = root / "var/lib/fcgi-pass-through/usage.db"
    (etc / "config.yaml").write_text((etc / "config.yaml").read_text() + "# edited by the operator\n")
    ledger.write_bytes(b"the spend ledger")
    # What `systemctl enable` leaves in /etc, and a link of another package's.
    wants = root / "etc/systemd/system/sockets.target.wants"
    wants.mkdir(parents=True)
    (wants / "fcgi-pass-through.socket").symlink_to("/lib/systemd/system/fcgi-pass-through.socket")
    (wants / "fcgi-pass-through@gateway-1.socket").symlink_to("/lib/systemd/system/fcgi-pass-through@.socket")
    (wants / "other.socket").symlink_to("/lib/systemd/system/other.socket")
    gid = id_in(root, "group", PACKAGE)

    dpkg(root, "--install", upgrade_deb)
    assert status(root) == f"install ok installed {package_version}+upgrade1"
    assert (etc / "config.yaml").read_text().endswith("# edited by the operator\n")
    assert sorted(p.name for p in etc.iterdir()) == ["common.env", "config.yaml"]  # no .dpkg-new, .dpkg-dist
    assert owner_and_mode(etc / "config.yaml") == (0, gid, 0o640)
    assert ledger.read_bytes() == b"the spend ledger"

    dpkg(root, "--remove", PACKAGE)
    assert status(root).startswith("deinstall ok config-files")
    assert not binary_of(root).exists() and not (root / "lib/systemd/system/fcgi-pass-through.service").exists()
    assert (etc / "config.yaml").read_text().endswith("# edited by the operator\n")
    assert (etc / "common.env").exists() and ledger.read_bytes() == b"the spend ledger"
    assert (root / "etc/nginx/snippets/fcgi-pass-through.conf").exists()

    dpkg(root, "--purge", PACKAGE)
    assert status(root) == ""
    assert not etc.exists() and not ledger.parent.exists()
    assert not (root / "etc/nginx/snippets/fcgi-pass-through.conf").exists()
    assert not (root / "etc/nginx/conf.d/fcgi-pass-through-upstream.conf").exists()
    assert sorted(p.name for p in wants.iterdir()) == ["other.socket"]
    assert id_in(root, "passwd", PACKAGE) is not None  # Debian keeps system accounts
