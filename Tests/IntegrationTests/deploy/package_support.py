"""Helpers and fixtures for the Debian package tests (test_package_*.py).

The package under test is PACKAGE_DEB (`make test-package` builds it and sets it);
without it these tests are skipped, so `make test` does not build a package. What runs
the packaged binary hides the Swift toolchain's directory first (a private mount
namespace with an empty directory bound over it), so a library it still needed from
there would be missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = "fcgi-pass-through"

needs_package = pytest.mark.skipif(
    not os.environ.get("PACKAGE_DEB"), reason="PACKAGE_DEB not set: `make test-package` builds the .deb and runs these"
)


def run(*args: str | Path, check: bool = True, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def control_fields(deb: Path) -> dict[str, str]:
    """The control file's fields (continuation lines joined)."""
    fields: dict[str, str] = {}
    name = None
    for line in run("dpkg-deb", "--field", deb).stdout.splitlines():
        if line.startswith((" ", "\t")) and name:
            fields[name] += "\n" + line.strip()
        else:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def contents(deb: Path) -> dict[str, tuple[str, str]]:
    """path (without ./, directories ending in /) -> (permissions as ls shows them, owner/group)."""
    found = {}
    for line in run("dpkg-deb", "--contents", deb).stdout.splitlines():
        permissions, owner, _size, _date, _time, path = line.split(None, 5)
        path = path.split(" -> ")[0].removeprefix("./")
        if path:
            found[path] = (permissions, owner)
    return found


def depends_names(depends: str) -> set[str]:
    """Package names in a Depends field (versions and alternatives' other names dropped)."""
    return {re.split(r"[\s(:]", item.strip())[0] for item in depends.split(",") if item.strip()}


def toolchain_dir() -> Path | None:
    """The Swift toolchain's directory (<toolchain>/usr: bin, lib/swift, ...), if Swift is installed."""
    swift = shutil.which("swift")
    return Path(os.path.realpath(swift)).parent.parent if swift else None


def hidden_toolchain_prefix(empty_dir: Path) -> list[str]:
    """A command prefix that runs the rest with the toolchain's directory empty.

    Needs root (a mount namespace); skips the test otherwise. Without a toolchain on this
    machine there is nothing to hide and the prefix is empty.
    """
    toolchain = toolchain_dir()
    if toolchain is None:
        return []
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip(f"hiding the Swift toolchain ({toolchain}) needs root and unshare (util-linux)")
    empty_dir.mkdir(parents=True, exist_ok=True)
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "hide-toolchain",
            str(empty_dir), str(toolchain)]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment without LD_LIBRARY_PATH or anything else of this process's."""
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **(extra or {})}


def env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of an EnvironmentFile=, as systemd reads the simple ones."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


# --- dpkg with another root ---------------------------------------------------------


def fresh_root(path: Path) -> Path:
    """An empty root holding only dpkg's database: nothing installed."""
    admin = path / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers"):
        (admin / sub).mkdir(parents=True)
    (admin / "status").touch()
    (admin / "available").touch()
    return path


def dpkg(root: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    """dpkg on `root`. The maintainer scripts run here rather than chrooted (the root has no
    shell), with DPKG_ROOT set, which they honour; the libraries the package depends on are
    this machine's, not the root's, so dependencies are not checked."""
    if os.geteuid() != 0:
        pytest.skip("dpkg --root sets owners and runs maintainer scripts: needs root")
    env = clean_env({"DEBIAN_FRONTEND": "noninteractive"})
    return run("dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends", *args, check=check, env=env)


def status(root: Path) -> str:
    """The package's Status in `root`'s dpkg database ('' when dpkg does not know it)."""
    result = run("dpkg-query", f"--root={root}", "-W", "-f=${Status} ${Version}", PACKAGE, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def id_in(root: Path, database: str, name: str) -> int | None:
    """The numeric id of `name` in root's /etc/passwd or /etc/group."""
    path = root / "etc" / database
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    return None


def repack(deb: Path, version: str, out: Path) -> Path:
    """The same package with another version: what an upgrade installs. Uncompressed:
    it only lives for the test."""
    tree = out / "tree"
    run("dpkg-deb", "--raw-extract", deb, tree)
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M))
    target = out / f"{PACKAGE}_{version}.deb"
    run("dpkg-deb", "--root-owner-group", "-Znone", "--build", tree, target)
    shutil.rmtree(tree)
    return target


# --- fixtures (import them into a test module to use them) ------------------------------


@pytest.fixture(scope="session")
def package_deb() -> Path:
    deb = Path(os.environ["PACKAGE_DEB"])
    if not deb.is_file():
        pytest.fail(f"PACKAGE_DEB={deb} is not a file")
    return deb


@pytest.fixture(scope="session")
def package_version(package_deb) -> str:
    return control_fields(package_deb)["Version"]


@pytest.fixture(scope="session")
def upgrade_deb(package_deb, package_version, tmp_path_factory) -> Path:
    """The package again with a higher version ('+' sorts after the end of a version)."""
    return repack(package_deb, f"{package_version}+upgrade1", tmp_path_factory.mktemp("upgrade-deb"))


@pytest.fixture(scope="session")
def unpacked(package_deb, tmp_path_factory) -> Path:
    """The package's files, as dpkg-deb extracts them."""
    tree = tmp_path_factory.mktemp("unpacked")
    run("dpkg-deb", "--extract", package_deb, tree)
    return tree
