"""Trees a scan must get through: it finishes, reports what it left out, and never crashes.

Permissions do not stop root, and the tests run as root: the unreadable cases fork
a child that becomes `nobody` and scans there, sending the result back as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from aishell_runner.scan import display, scan_tree
from aishell_runner.scan.content import MAX_BYTES
from tests.unit.test_scan_content import content_caches

NOBODY = 65534
AWS_KEY = "AKIAZ7Q3XK4M2PLW9RTB"


@pytest.fixture(autouse=True)
def no_gitleaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The content scanner under test is detect-secrets, even on a machine where gitleaks is installed."""
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if not os.path.exists(os.path.join(d, "gitleaks"))]
    monkeypatch.setenv("PATH", os.pathsep.join(path))


def write(path: Path, data: str | bytes = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def reasons(result: dict) -> dict[str, str]:
    return {skipped["path"]: skipped["reason"] for skipped in result["skipped"]}


def findings(result: dict) -> dict[str, tuple[str, str]]:
    return {finding["path"]: (finding["severity"], finding["rule"]) for finding in result["findings"]}


def scan_json(root: Path, **kwargs) -> dict:
    """scan_tree's JSON, which must survive json.dumps and be valid UTF-8 text."""
    kwargs.setdefault("cache_dir", root.parent / f"{root.name}-cache")
    result = scan_tree(root, **kwargs).to_json()
    text = json.dumps(result, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates: every path went through display()
    return json.loads(text)


# --------------------------------------------------------------------------------------- as another user


@pytest.fixture(scope="module")
def warm_detect_secrets(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Load detect-secrets and its plugins before forking: `nobody` cannot read this interpreter's library."""
    root = tmp_path_factory.mktemp("warm")
    write(root / "a.py", "password = 'not-a-real-one-123'\n")
    scan_tree(root, cache_dir=root / "cache")


@pytest.fixture
def world() -> Iterator[Path]:
    """A directory everyone may enter (pytest's tmp_path is 0700 and so closed to `nobody`)."""
    base = Path(tempfile.mkdtemp(prefix="aishell-scan-"))
    base.chmod(0o755)
    (base / "sealed").mkdir(mode=0o555)  # where the scan's cache cannot be written
    yield base
    for directory, _, _ in os.walk(base):
        os.chmod(directory, 0o755)  # let a non-root run remove what it locked
    shutil.rmtree(base)


def scan_as_nobody(root: Path, **kwargs) -> dict:
    """scan_tree(root) as the user nobody, in a child process (or right here when not root)."""
    # A cache nobody may write to: the scan must shrug that off too.
    kwargs.setdefault("cache_dir", root.parent / "sealed" / "cache")
    if os.geteuid() != 0:
        return json.loads(json.dumps(scan_tree(root, **kwargs).to_json()))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.environ.update(HOME="/nonexistent", XDG_CACHE_HOME="/nonexistent/cache")
            try:
                answer = {"result": scan_tree(root, **kwargs).to_json()}
            except BaseException:
                answer = {"error": traceback.format_exc()}
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                json.dump(answer, out)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as answer_file:
        text = answer_file.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and text, f"the scanning child died (status {status})"
    answer = json.loads(text)
    assert "error" not in answer, answer.get("error")
    return answer["result"]


@pytest.mark.usefixtures("warm_detect_secrets")
def test_unreadable_directory_is_reported_and_the_rest_scanned(world: Path) -> None:
    project = world / "project"
    write(project / "locked" / "id_rsa")
    write(project / "open" / ".env", "A=1\n")
    write(project / "open" / "aws.py", f'key = "{AWS_KEY}"\n')
    (project / "locked").chmod(0o000)
    result = scan_as_nobody(project)
    assert reasons(result) == {"locked": "unreadable directory (Permission denied)"}
    assert findings(result) == {"open/.env": ("medium", "dotenv"), "open/aws.py": ("high", "aws-access-key")}
    assert result["files"] == 2 and result["content_scanner"] == "detect-secrets"


@pytest.mark.usefixtures("warm_detect_secrets")
def test_directory_listed_but_not_searchable(world: Path) -> None:
    # r without x: the names can be listed, the files can be neither opened nor stat()ed.
    project = world / "project"
    write(project / "listonly" / "id_rsa")
    write(project / "listonly" / "notes.txt")
    write(project / "README.md", "# hi\n")
    (project / "listonly").chmod(0o744)
    result = scan_as_nobody(project)
    assert findings(result) == {"listonly/id_rsa": ("high", "ssh-private-key")}  # a name needs no reading
    assert reasons(result) == {"listonly/id_rsa": "unreadable (Permission denied)",
                               "listonly/notes.txt": "unreadable (Permission denied)"}
    assert result["files"] == 3


@pytest.mark.usefixtures("warm_detect_secrets")
def test_unreadable_files_are_reported_and_still_judged_by_name(world: Path) -> None:
    project = world / "project"
    for name in ("secret.txt", "server.pem", "sa.json", "plain.txt"):
        write(project / name, "-----BEGIN CERTIFICATE-----\n").chmod(0o000)
    write(project / "ok.py", f'key = "{AWS_KEY}"\n').chmod(0o644)
    result = scan_as_nobody(project)
    assert reasons(result) == {name: "unreadable (Permission denied)"
                               for name in ("secret.txt", "server.pem", "sa.json", "plain.txt")}
    assert findings(result) == {
        "secret.txt": ("medium", "secrets-file"),
        "server.pem": ("medium", "key-file"),  # cannot tell a certificate from a key: still a key file
        "ok.py": ("high", "aws-access-key"),
    }
    assert result["files"] == 5


@pytest.mark.usefixtures("warm_detect_secrets")
def test_unwritable_cache_does_not_stop_the_scan(world: Path) -> None:
    project = world / "project"
    write(project / "aws.py", f'key = "{AWS_KEY}"\n')
    first = scan_as_nobody(project)
    second = scan_as_nobody(project)
    assert findings(first) == findings(second) == {"aws.py": ("high", "aws-access-key")}
    assert list((world / "sealed").iterdir()) == []


@pytest.mark.usefixtures("warm_detect_secrets")
def test_single_file_in_a_directory_that_cannot_be_listed(world: Path) -> None:
    # x without r: the file can be opened by its name but the directory cannot be listed.
    project = world / "project"
    write(project / "id_rsa")
    project.chmod(0o711)
    result = scan_as_nobody(project / "id_rsa")  # used to end in a PermissionError traceback
    assert result["root"] == str(project)
    assert result["files"] == 0  # not described as a file it did scan (nor reported yet: see scan_tree)


# ----------------------------------------------------------------------------------------------- symlinks


def test_symlink_loops_are_reported_not_followed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "sub" / ".env")
    (project / "a").symlink_to("b")
    (project / "b").symlink_to("a")
    (project / "sub" / "self").symlink_to(".")
    (project / "here").symlink_to(".", target_is_directory=True)
    (project / "up").symlink_to("sub/..")
    result = scan_json(project, content=False)
    assert reasons(result) == {"a": "symlink loop (not followed)", "b": "symlink loop (not followed)"}
    assert findings(result) == {"sub/.env": ("medium", "dotenv")}  # once, though `here` and `up` lead back to it
    assert result["files"] == 1


def test_symlink_out_of_the_project_is_reported_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "id_rsa")
    write(outside / "deep" / "credentials.json", "{}")
    project = tmp_path / "project"
    write(project / "README.md")
    (project / "keys").symlink_to(outside, target_is_directory=True)
    (project / "my_key").symlink_to(outside / "id_rsa")
    (project / "sibling").symlink_to("../project-other")  # a name that only starts like the root
    write(tmp_path / "project-other" / "id_ed25519")
    result = scan_json(project)
    assert set(reasons(result)) == {"keys", "my_key", "sibling"}
    for path, reason in reasons(result).items():
        assert "outside" in reason and "not followed" in reason, path
    assert str(outside / "id_rsa") in reasons(result)["my_key"]
    assert findings(result) == {}
    assert result["files"] == 1


def test_symlink_inside_the_project_is_left_to_its_target(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "config" / ".env")
    (project / "alias").symlink_to("config/.env")
    (project / "cfg").symlink_to("config", target_is_directory=True)
    result = scan_json(project, content=False)
    assert result["skipped"] == []
    assert findings(result) == {"config/.env": ("medium", "dotenv")}
    assert result["files"] == 1


def test_broken_symlink(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "README.md")
    (project / "dangling").symlink_to("nowhere/at/all")
    (project / "id_rsa").symlink_to("missing_key")
    result = scan_json(project)
    assert reasons(result) == {"dangling": "broken symlink", "id_rsa": "broken symlink"}
    assert findings(result) == {} and result["files"] == 1


def test_symlinked_root_is_scanned(tmp_path: Path) -> None:
    write(tmp_path / "real" / "inner" / ".env")
    (tmp_path / "link").symlink_to("real", target_is_directory=True)
    result = scan_json(tmp_path / "link", content=False)
    assert findings(result) == {"inner/.env": ("medium", "dotenv")} and result["skipped"] == []


# ------------------------------------------------------------------------------------------- odd contents


def test_file_larger_than_2_mib_is_judged_by_name_only(tmp_path: Path) -> None:
    project = tmp_path / "project"
    big = write(project / "secrets.bin", f'key = "{AWS_KEY}"\n')
    with big.open("r+b") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: quick to make
    edge = write(project / "edge.dat", b"")
    with edge.open("r+b") as handle:
        handle.truncate(MAX_BYTES)  # exactly 2 MiB: still read (and binary, all NUL)
    result = scan_json(project)
    assert reasons(result) == {"secrets.bin": "larger than 2 MiB (content not scanned)"}
    assert "2 MiB" in reasons(result)["secrets.bin"]
    assert findings(result) == {"secrets.bin": ("medium", "secrets-file")}
    assert result["files"] == 2 and result["binary_files"] == 1


def test_binary_files_are_counted_not_scanned(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "image.bin", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" + f"{AWS_KEY}\n".encode() * 3)
    write(project / "lib.so", bytes(range(256)) * 64)
    write(project / "text.py", f'key = "{AWS_KEY}"\n')
    result = scan_json(project)
    assert result["binary_files"] == 2
    assert findings(result) == {"text.py": ("high", "aws-access-key")}
    warm = scan_json(project)  # the cache remembers binaries: still counted
    assert warm["binary_files"] == 2 and findings(warm) == findings(result)


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "latin1.txt", "café crème\npassword = 'h\xe9h\xe9'\n".encode("latin-1"))
    write(project / "half.txt", b"ok line\n\xc3\x28 broken\n")
    result = scan_json(project)
    assert result["files"] == 2 and result["skipped"] == []


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / os.fsdecode(b"keys\xff") / "id_rsa")
    write(project / os.fsdecode(b"secrets.\xff"))
    write(project / os.fsdecode(b"id_rsa\xfe"), f'key = "{AWS_KEY}"\n')
    (project / os.fsdecode(b"link\xfd")).symlink_to("/")
    for attempt in ("cold", "warm"):  # the warm scan reads the cache, which holds those names too
        result = scan_json(project)
        assert findings(result) == {
            "keys\\xff/id_rsa": ("high", "ssh-private-key"),
            "secrets.\\xff": ("medium", "secrets-file"),
            "id_rsa\\xfe": ("high", "aws-access-key"),  # no name rule: `id_rsa` plus a byte is another name
        }, attempt
        assert set(reasons(result)) == {"link\\xfd"}, attempt
    assert display(os.fsdecode(b"keys\xff/id_rsa")) == "keys\\xff/id_rsa"
    assert display("plain/é") == "plain/é"


def test_fifo_is_not_read(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "README.md")
    os.mkfifo(project / "pipe")
    os.mkfifo(project / ".env")  # opening it would block forever
    result = scan_json(project)
    assert reasons(result) == {"pipe": "not a regular file", ".env": "not a regular file"}
    assert findings(result) == {} and result["files"] == 1


def test_fifo_as_the_root(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    result = scan_json(tmp_path / "pipe")
    assert result["files"] == 0 and result["findings"] == []
    assert list(reasons(result)) == ["."]


def test_missing_root(tmp_path: Path) -> None:
    result = scan_json(tmp_path / "gone")
    assert result["files"] == 0 and result["findings"] == []
    assert reasons(result) == {".": "unreadable directory (No such file or directory)"}


def test_empty_project(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = scan_json(tmp_path / "empty")
    assert result["files"] == 0 and result["findings"] == [] and result["skipped"] == []
    assert result["content_scanner"] == "detect-secrets"


def test_not_a_git_repository(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / ".env")
    write(project / "aws.py", f'key = "{AWS_KEY}"\n')
    inside = subprocess.run(["git", "-C", str(project), "rev-parse", "--is-inside-work-tree"], capture_output=True)
    assert inside.returncode != 0, "the temporary directory must not be inside a git work tree"
    result = scan_json(project)
    assert len(result["findings"]) == 2
    assert all(f["tracked"] is None and f["ignored"] is None for f in result["findings"])


def git(*args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false",
                    *args], check=True, capture_output=True)


@pytest.mark.parametrize("damage", ["a corrupt index", "a shallow clone"])
def test_a_repository_git_cannot_read_well_gets_the_same_findings(tmp_path: Path, damage: str) -> None:
    """Git only says whether a finding's file is tracked: what git cannot read costs that, never a finding."""
    origin = tmp_path / "origin"
    write(origin / ".env")
    write(origin / "src" / "aws.py", f'key = "{AWS_KEY}"\n')
    write(origin / "README.md", "nothing here\n")
    git("-C", str(origin), "init", "-q")
    git("-C", str(origin), "add", "-A")
    git("-C", str(origin), "commit", "-q", "-m", "one")
    write(origin / "README.md", "changed\n")
    git("-C", str(origin), "commit", "-q", "-am", "two")
    expected = findings(scan_json(origin, cache_dir=tmp_path / "origin-cache", watch=False))
    assert expected == {".env": ("medium", "dotenv"), "src/aws.py": ("high", "aws-access-key")}
    if damage == "a corrupt index":
        project = origin
        (project / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02garbage")
        assert subprocess.run(["git", "-C", str(project), "ls-files"], capture_output=True).returncode != 0
    else:
        project = tmp_path / "shallow"
        git("clone", "-q", "--depth", "1", f"file://{origin}", str(project))
        shallow = subprocess.run(["git", "-C", str(project), "rev-parse", "--is-shallow-repository"],
                                 capture_output=True, text=True)
        assert shallow.stdout.strip() == "true"
    for _ in ("cold", "warm, from the caches"):
        result = scan_json(project, cache_dir=tmp_path / "cache")
        assert findings(result) == expected
        # What git can tell is still told: a shallow clone's index is whole; a corrupt one says nothing.
        assert {f["tracked"] for f in result["findings"]} == ({None} if damage == "a corrupt index" else {True})


def test_corrupt_cache_is_ignored_and_replaced(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "aws.py", f'key = "{AWS_KEY}"\n')
    cache_dir = tmp_path / "cache"
    scan_json(project, cache_dir=cache_dir)
    (cache_file,) = content_caches(cache_dir)
    damaged = [b"\x00not json", b"", b"[]", b'{"version": 1}', b'{"version": 1, "files": 3, "results": {}}',
               b'{"version": 1, "files": {"aws.py": 7}, "results": {}}',
               b'{"version": 1, "files": {}, "results": {"d": [["too", "short"]]}}',
               b'{"version": 1, "files": {}, "results": {"d": 5}}']
    stat = (project / "aws.py").stat()
    key = f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"  # the file's entry, cut before its digest
    damaged.append(json.dumps({"version": 1, "files": {"aws.py": key}, "results": {}}).encode())
    for garbage in damaged:
        cache_file.write_bytes(garbage)
        assert findings(scan_json(project, cache_dir=cache_dir)) == {"aws.py": ("high", "aws-access-key")}
        assert json.loads(cache_file.read_bytes())["version"] == 1
