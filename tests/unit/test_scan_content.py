"""Secrets inside files: detect-secrets (real, with its per-file cache) and gitleaks (a fake one on PATH)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from aishell_runner.errors import AishellError
from aishell_runner.scan import ScanResult, content, scan_tree

AWS_KEY = "AKIAZ7Q3XK4M2PLW9RTB"
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
PASSWORD = "Xk29fLq83mZp"
ENTROPY = "q8Zr4XbN2vKt7LmP0sYw3HcJ9dFe6GuAiTo5Rn1B"
SECRETS = (AWS_KEY, PEM_BODY, PASSWORD, ENTROPY)

FILES = {
    "src/aws.py": f'import boto3\n\n\nAWS_ACCESS_KEY_ID = "{AWS_KEY}"\n',
    "deploy/key.txt": f"the deploy key:\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
    "settings.py": f'DEBUG = True\ndb_password = "{PASSWORD}"\n',
    "data.py": f'import os\n\nblob = "{ENTROPY}"\n',
    "README.md": "# nothing to see\n",
}
# path -> (severity, rule, line)
EXPECTED = {
    "src/aws.py": ("high", "aws-access-key", 4),
    "deploy/key.txt": ("high", "private-key", 2),
    "settings.py": ("medium", "secret-keyword", 2),
    "data.py": ("medium", "base64-high-entropy-string", 3),
}


@pytest.fixture(autouse=True)
def no_gitleaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """detect-secrets unless a test puts its own gitleaks on PATH, even where a real one is installed."""
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if not os.path.exists(os.path.join(d, "gitleaks"))]
    monkeypatch.setenv("PATH", os.pathsep.join(path))


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_tree(root, FILES)
    return root


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def content_findings(result: ScanResult) -> dict[str, tuple[str, str, int | None]]:
    found = [f for f in result.findings if f.source != "name"]
    table = {f.path: (f.severity, f.rule, f.line) for f in found}
    assert len(table) == len(found), "one content finding per file expected in these trees"
    return table


def content_caches(cache_dir: Path) -> list[Path]:
    """The content scan's cache files (beside them, the walk's: *.tree.json)."""
    return [path for path in cache_dir.iterdir() if not path.name.endswith(".tree.json")]


def cache_text(cache_dir: Path) -> str:
    (cache_file,) = content_caches(cache_dir)
    return cache_file.read_text()


class ScannerCalls:
    """Stands in for detect-secrets' entry point: records which files it is asked to read, then reads them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, allowed: bool = True):
        self.paths: list[str] = []
        self.allowed = allowed
        self.real = content._scan_files
        monkeypatch.setattr(content, "_scan_files", self)

    def __call__(self, items: list[tuple[str, str]]):
        self.paths += [os.path.basename(path) for _, path in items]
        if not self.allowed:
            raise AssertionError(f"detect-secrets was asked to read {items}")
        return self.real(items)


# ------------------------------------------------------------------------------------------ detect-secrets


def test_findings_severity_line_and_preview(project: Path, cache_dir: Path) -> None:
    result = scan_tree(project, cache_dir=cache_dir)
    assert result.content_scanner == "detect-secrets"
    assert content_findings(result) == EXPECTED
    for finding in result.findings:
        assert finding.source == "detect-secrets"
        assert finding.preview and len(finding.preview) <= 4
        assert finding.secret_hash and len(finding.secret_hash) >= 32
    previews = {f.path: f.preview for f in result.findings}
    assert previews["src/aws.py"] == AWS_KEY[:4] and previews["settings.py"] == PASSWORD[:4]
    assert result.files == len(FILES) and result.skipped == [] and result.binary_files == 0


def test_secrets_never_leave_the_file(project: Path, cache_dir: Path) -> None:
    result = scan_tree(project, cache_dir=cache_dir)
    report = json.dumps(result.to_json())
    cached = cache_text(cache_dir)
    assert len(result.findings) == len(EXPECTED)
    for secret in SECRETS:
        for part in (secret, secret[4:], secret[-8:]):  # nor any telling piece of it
            assert part not in report, part
            assert part not in cached, part
    for finding in result.findings:
        assert set(finding.to_json()) == {"path", "severity", "rule", "line", "tracked", "ignored", "source",
                                          "preview", "fingerprint"}


def test_findings_are_sorted_and_name_findings_kept(project: Path, cache_dir: Path) -> None:
    (project / ".env").write_text("A=1\n")
    result = scan_tree(project, cache_dir=cache_dir)
    assert [(f.path, f.severity) for f in result.findings] == [
        ("deploy/key.txt", "high"), ("src/aws.py", "high"),
        (".env", "medium"), ("data.py", "medium"), ("settings.py", "medium"),
    ]


def test_no_content_scan(project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = ScannerCalls(monkeypatch, allowed=False)
    result = scan_tree(project, content=False, cache_dir=cache_dir)
    assert result.findings == [] and result.content_scanner is None and calls.paths == []
    assert content_caches(cache_dir) == []  # the walk's alone


def test_warm_scan_reads_no_file_and_writes_no_cache(project: Path, cache_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch, settled) -> None:
    cold = scan_tree(project, cache_dir=cache_dir)
    (cache_file,) = content_caches(cache_dir)
    before = (cache_file.read_bytes(), cache_file.stat().st_mtime_ns)
    calls = ScannerCalls(monkeypatch, allowed=False)
    warm = scan_tree(project, cache_dir=cache_dir)
    assert warm.findings == cold.findings and content_findings(warm) == EXPECTED
    assert calls.paths == []
    assert (cache_file.read_bytes(), cache_file.stat().st_mtime_ns) == before


def test_changed_file_is_rescanned_alone(project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_tree(project, cache_dir=cache_dir)
    calls = ScannerCalls(monkeypatch)
    (project / "src" / "aws.py").write_text(f'# moved down\n\n\n\n\nKEY = "{AWS_KEY}"\n')
    (project / "README.md").write_text(f"# now with a secret\n\nUpload with {AWS_KEY} and nothing else.\n")
    result = scan_tree(project, cache_dir=cache_dir)
    assert sorted(calls.paths) == ["README.md", "aws.py"]
    assert content_findings(result) == {**EXPECTED, "src/aws.py": ("high", "aws-access-key", 6),
                                        "README.md": ("high", "aws-access-key", 3)}


def test_a_secret_written_with_its_files_size_and_mtime_put_back_is_found(project: Path, cache_dir: Path,
                                                                         settled) -> None:
    """What a sandboxed agent could do to hide a key from the next launch's scan: the ctime gives it away."""
    scan_tree(project, cache_dir=cache_dir)
    target = project / "data.py"
    before, line = target.stat(), f'K = "{AWS_KEY}"\n'
    target.write_text(line + "#" * (before.st_size - len(line) - 1) + "\n")  # the same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    assert target.stat().st_size == before.st_size and target.stat().st_mtime_ns == before.st_mtime_ns
    assert content_findings(scan_tree(project, cache_dir=cache_dir))["data.py"][:2] == ("high", "aws-access-key")


def test_a_file_changed_in_the_moment_it_was_scanned_is_read_again(project: Path, cache_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    scan_tree(project, cache_dir=cache_dir)  # every file a moment old: its key may not tell a change made now
    read: list[str] = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: read.append(str(path)) or real_open(path, *a, **k))
    scan_tree(project, cache_dir=cache_dir)
    assert str(project / "README.md") in read


def test_fixed_file_loses_its_finding(project: Path, cache_dir: Path) -> None:
    scan_tree(project, cache_dir=cache_dir)
    (project / "settings.py").write_text('DEBUG = True\ndb_password = os.environ["DB_PASSWORD"]\n')
    assert "settings.py" not in content_findings(scan_tree(project, cache_dir=cache_dir))


def test_touched_or_copied_file_is_not_rescanned(project: Path, cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch, settled) -> None:
    scan_tree(project, cache_dir=cache_dir)
    aws = project / "src" / "aws.py"
    stat = aws.stat()
    os.utime(aws, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    (project / "copy.py").write_text(aws.read_text())
    (project / "empty_copy.md").write_text(FILES["README.md"])  # a clean file's copy: known clean
    calls = ScannerCalls(monkeypatch, allowed=False)
    result = scan_tree(project, cache_dir=cache_dir)
    assert calls.paths == []
    assert content_findings(result) == {**EXPECTED, "copy.py": EXPECTED["src/aws.py"]}
    # and the new size and time are remembered, with the same digest: the next scan does not even read it
    entries = json.loads(cache_text(cache_dir))["files"]
    new = aws.stat()
    assert entries["src/aws.py"].startswith(f"{new.st_size}:{new.st_mtime_ns}:{new.st_ctime_ns}:")
    assert entries["src/aws.py"].rpartition(":")[2] == entries["copy.py"].rpartition(":")[2]


def test_cache_forgets_deleted_files(project: Path, cache_dir: Path) -> None:
    scan_tree(project, cache_dir=cache_dir)
    assert "src/aws.py" in json.loads(cache_text(cache_dir))["files"]
    (project / "src" / "aws.py").unlink()
    result = scan_tree(project, cache_dir=cache_dir)
    assert "src/aws.py" not in content_findings(result)
    saved = json.loads(cache_text(cache_dir))
    assert "src/aws.py" not in saved["files"]
    assert len(saved["results"]) == len(EXPECTED) - 1


def test_cache_is_per_root(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "one", {"a.py": FILES["src/aws.py"]})
    write_tree(tmp_path / "two", {"a.py": FILES["README.md"]})
    assert content_findings(scan_tree(tmp_path / "one", cache_dir=cache_dir)) == {"a.py": ("high", "aws-access-key", 4)}
    assert content_findings(scan_tree(tmp_path / "two", cache_dir=cache_dir)) == {}
    assert len(content_caches(cache_dir)) == 2
    calls = ScannerCalls(monkeypatch, allowed=False)
    assert content_findings(scan_tree(tmp_path / "one", cache_dir=cache_dir)) == {"a.py": ("high", "aws-access-key", 4)}
    assert calls.paths == []


def test_fingerprint_survives_line_moves_and_allows_the_finding(project: Path, cache_dir: Path) -> None:
    before = next(f for f in scan_tree(project, cache_dir=cache_dir).findings if f.path == "src/aws.py")
    (project / "src" / "aws.py").write_text(f"\n\n\n\n\n\n\nKEY = '{AWS_KEY}'\n")
    after = next(f for f in scan_tree(project, cache_dir=cache_dir).findings if f.path == "src/aws.py")
    assert (before.line, after.line) == (4, 8)
    assert after.fingerprint == before.fingerprint
    allowed = scan_tree(project, cache_dir=cache_dir, allow=[before.fingerprint])
    assert "src/aws.py" not in content_findings(allowed) and allowed.allowlisted == 1


def test_allowlist_glob_applies_to_content_findings(project: Path, cache_dir: Path) -> None:
    result = scan_tree(project, cache_dir=cache_dir, allow=["deploy/", "*.py"])
    assert result.findings == [] and result.allowlisted == len(EXPECTED)


def test_progress_is_reported(project: Path, cache_dir: Path) -> None:
    seen: list[tuple[int, int]] = []
    scan_tree(project, cache_dir=cache_dir, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(FILES), len(FILES))
    assert seen == sorted(seen) and {total for _, total in seen} == {len(FILES)}
    seen.clear()
    scan_tree(project, cache_dir=cache_dir, progress=lambda done, total: seen.append((done, total)))
    assert seen == []  # nothing left to read


def test_a_logs_progress_is_a_line_every_few_seconds_and_the_last(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from aishell_runner.scan.policy import ScanRoot, review
    from aishell_runner.settings import load_settings
    from aishell_runner.ui import UI

    project = tmp_path / "many"
    project.mkdir()
    for number in range(250):  # read in chunks of 100: progress at 100, 200 and 250
        # Each its own content (the same content is read once), and a medium finding: a warning, not a refusal.
        (project / f"data-{number}.py").write_text(f"{FILES['data.py']}number = {number}\n")
    review([ScanRoot(project, project)], load_settings(project), project=project, harness="shell", accept=False,
           ui=UI())  # stderr is not a terminal here: a log
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Scanning file contents for secrets"
    assert [line for line in lines if line.endswith(" files")] == ["  - 100/250 files", "  - 250/250 files"]


def test_many_files_are_scanned_in_worker_processes(project: Path, cache_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    serial = scan_tree(project, cache_dir=tmp_path / "serial-cache")
    monkeypatch.setattr(content, "PARALLEL_FROM", 2)
    seen: list[tuple[int, int]] = []
    parallel = scan_tree(project, cache_dir=cache_dir, progress=lambda done, total: seen.append((done, total)))
    assert parallel.findings == serial.findings
    assert seen[-1] == (len(FILES), len(FILES))


def test_same_content_in_many_files_is_read_once(tmp_path: Path, cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "p", {f"copy{n}.py": FILES["src/aws.py"] for n in range(5)})
    calls = ScannerCalls(monkeypatch)
    result = scan_tree(tmp_path / "p", cache_dir=cache_dir)
    assert len(calls.paths) == 1
    assert content_findings(result) == {f"copy{n}.py": ("high", "aws-access-key", 4) for n in range(5)}


def test_default_cache_dir_follows_xdg(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    scan_tree(project)
    (cache_file,) = content_caches(tmp_path / "xdg" / "aishell" / "scan")
    assert cache_file.suffix == ".json" and AWS_KEY not in cache_file.read_text()


# ------------------------------------------------------------------------------------------------- gitleaks

FAKE_GITLEAKS = """\
#!{python}
# A stand-in for gitleaks: records its arguments, then does what ./mode says.
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
json.dump(args, open(os.path.join(here, "argv.json"), "w"))
mode = open(os.path.join(here, "mode")).read().strip()
if mode == "fail":
    sys.stderr.write("fatal: config file is broken\\n")
    sys.exit(2)
report = args[args.index("--report-path") + 1]
source = args[args.index("--source") + 1]
if mode == "garbage":
    open(report, "w").write("this is not json")
elif mode == "empty":
    open(report, "w").write("")
elif mode == "no-report":
    pass
else:
    leaks = json.load(open(os.path.join(here, "leaks.json")))
    for leak in leaks:
        if "File" in leak:
            leak["File"] = leak["File"].replace("{{source}}", source)
    json.dump(leaks, open(report, "w"))
"""


def leak(rule: str, file: str, line: int) -> dict[str, object]:
    return {"RuleID": rule, "Description": rule, "File": file, "StartLine": line, "EndLine": line,
            "Secret": "REDACTED", "Match": "REDACTED", "Fingerprint": f"{file}:{rule}:{line}"}


class FakeGitleaks:
    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch):
        self.dir = directory
        directory.mkdir()
        script = directory / "gitleaks"
        script.write_text(FAKE_GITLEAKS.format(python=sys.executable))
        script.chmod(0o755)
        self.mode("ok")
        self.leaks([])
        monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
        ScannerCalls(monkeypatch, allowed=False)  # detect-secrets must stay out of it

    def mode(self, mode: str) -> None:
        (self.dir / "mode").write_text(mode)

    def leaks(self, leaks: list[dict[str, object]]) -> None:
        (self.dir / "leaks.json").write_text(json.dumps(leaks))

    @property
    def argv(self) -> list[str]:
        return json.loads((self.dir / "argv.json").read_text())


@pytest.fixture
def gitleaks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGitleaks:
    return FakeGitleaks(tmp_path / "bin", monkeypatch)


def test_gitleaks_findings(project: Path, cache_dir: Path, gitleaks: FakeGitleaks) -> None:
    (project / ".env").write_text("A=1\n")
    write_tree(project, {"node_modules/pkg/index.js": "x\n"})
    gitleaks.leaks([
        leak("aws-access-token", "{source}/src/aws.py", 4),  # gitleaks gives paths under --source
        leak("generic-api-key", "settings.py", 2),  # and a relative one is read as relative to it
        leak("private-key", "{source}/node_modules/pkg/index.js", 1),  # not in the scanned files: dropped
    ])
    result = scan_tree(project, cache_dir=cache_dir)
    assert result.content_scanner == "gitleaks"
    assert content_findings(result) == {"src/aws.py": ("high", "aws-access-token", 4),
                                        "settings.py": ("medium", "generic-api-key", 2)}
    assert {f.path: f.source for f in result.findings} == {"src/aws.py": "gitleaks", "settings.py": "gitleaks",
                                                            ".env": "name"}
    assert all(f.preview is None for f in result.findings)
    assert "REDACTED" not in json.dumps(result.to_json())
    argv = gitleaks.argv
    assert argv[argv.index("--source") + 1] == str(project)
    assert {"--redact", "--no-git"} <= set(argv)
    assert content_caches(cache_dir) == []  # gitleaks needs no cache


def test_gitleaks_fingerprint_allowlist(project: Path, cache_dir: Path, gitleaks: FakeGitleaks) -> None:
    gitleaks.leaks([leak("aws-access-token", "{source}/src/aws.py", 4), leak("jwt", "{source}/data.py", 3)])
    first = scan_tree(project, cache_dir=cache_dir)
    jwt = next(f for f in first.findings if f.rule == "jwt")
    result = scan_tree(project, cache_dir=cache_dir, allow=[jwt.fingerprint])
    assert content_findings(result) == {"src/aws.py": ("high", "aws-access-token", 4)} and result.allowlisted == 1


def test_gitleaks_on_a_single_file_reports_only_that_file(project: Path, cache_dir: Path,
                                                          gitleaks: FakeGitleaks) -> None:
    gitleaks.leaks([leak("aws-access-token", "{source}/aws.py", 4), leak("generic-api-key", "{source}/x.py", 1)])
    result = scan_tree(project / "src" / "aws.py", cache_dir=cache_dir)
    assert content_findings(result) == {"aws.py": ("high", "aws-access-token", 4)}


def test_gitleaks_empty_report(project: Path, cache_dir: Path, gitleaks: FakeGitleaks) -> None:
    gitleaks.mode("empty")
    result = scan_tree(project, cache_dir=cache_dir)
    assert result.findings == [] and result.content_scanner == "gitleaks"


@pytest.mark.parametrize(("mode", "message"), [
    ("fail", "fatal: config file is broken"),
    ("no-report", "gitleaks failed"),
    ("garbage", "unreadable report"),
])
def test_gitleaks_failure_is_an_aishell_error(project: Path, cache_dir: Path, gitleaks: FakeGitleaks,
                                             mode: str, message: str) -> None:
    gitleaks.mode(mode)
    with pytest.raises(AishellError) as caught:
        scan_tree(project, cache_dir=cache_dir)
    assert caught.value.message.startswith("gitleaks failed")
    assert message in caught.value.message
    assert caught.value.hint and "PATH" in caught.value.hint


def test_gitleaks_report_missing_fields(project: Path, cache_dir: Path, gitleaks: FakeGitleaks) -> None:
    gitleaks.leaks([{"RuleID": "x"}])  # no File: a gitleaks whose report format we do not know
    with pytest.raises(AishellError, match="gitleaks failed: unreadable report"):
        scan_tree(project, cache_dir=cache_dir)


def test_fake_gitleaks_is_what_runs(gitleaks: FakeGitleaks) -> None:
    # The fixture must really put its gitleaks first on PATH, or the tests above prove nothing.
    import shutil

    assert shutil.which("gitleaks") == str(gitleaks.dir / "gitleaks")
    assert textwrap.dedent(FAKE_GITLEAKS).startswith("#!")
