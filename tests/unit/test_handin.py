"""`make handin LAB=NN`: the student's archive holds the lab in `make collect`'s layout, leaves
secrets and build output out, is checked before it is written; `make release LAB=NN` releases one
lab. No Docker needed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from autograder.classroom import course, handin
from autograder.registry import all_labs
from cases import LABS, ROOT, SOLUTIONS

LAB_IDS = [lab.id for lab in all_labs()]
LAB01 = "01-images-conteneurs"


def _course(tmp_path: Path, labs=(LAB01,), source=LABS) -> Path:
    """A course root holding ``labs`` (copied from ``source``, with the lab's notebook)."""
    root = tmp_path / "cours"
    (root / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for lab in labs:
        shutil.copytree(source / lab, root / "labs" / lab, symlinks=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        shutil.copy(LABS / lab / handin.NOTEBOOK, root / "labs" / lab / handin.NOTEBOOK)
    return root


def _members(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _run(root: Path, *args: str) -> int:
    return handin.main([*args, "--root", str(root)])


# ---------------------------------------------------------------------------------------------
# Every lab, starter and solution: handed in, then collected as it was
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [LABS, SOLUTIONS], ids=["starter", "solution"])
@pytest.mark.parametrize("lab", LAB_IDS)
def test_every_lab_hands_in_and_collect_lands_it_in_submitted(tmp_path, lab, source, capsys):
    root = _course(tmp_path, (lab,), source)
    assert _run(root, lab[:2], "--etudiant", "ana.dupont") == 0
    archive = root / f"rendu-{lab}.zip"
    assert archive.stat().st_mode & 0o044 == 0o044 & ~_umask()  # readable as any file the student writes
    members = _members(archive)
    prefix = f"ana.dupont/{lab}/"
    assert all(name.startswith(prefix) for name in members)
    folder = root / "labs" / lab
    expected = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    # Only secrets leave (lab 06's starter .env, the canary its .dockerignore must keep out).
    left = {rel for rel in expected if handin.excluded(rel)}
    assert left <= {".env"}, left
    assert {n[len(prefix):] for n in members} == expected - left | {handin.STAMP}
    out = capsys.readouterr().out
    assert f"rendu-{lab}.zip" in out and "ana.dupont" in out and all(f"laissé de côté : {r}" in out for r in left)

    assert course.collect(root, archive) == {lab: ["ana.dupont"]}
    got = root / "submitted" / "ana.dupont" / lab
    for rel in expected - left:
        assert (got / rel).read_bytes() == (folder / rel).read_bytes(), rel
    assert (got / handin.STAMP).read_text() == members[prefix + handin.STAMP].decode()
    assert not (got / ".env").exists()


@pytest.mark.parametrize("name", ["1", "01", LAB01, "images-conteneurs", f"labs/{LAB01}/"])
def test_the_lab_is_named_by_number_folder_or_slug(tmp_path, name):
    root = _course(tmp_path)
    assert _run(root, name, "--etudiant", "ana") == 0
    assert (root / f"rendu-{LAB01}.zip").is_file()


# ---------------------------------------------------------------------------------------------
# What stays out
# ---------------------------------------------------------------------------------------------
KEPT = ["Dockerfile", "app.py", ".env.example", "prod.env.sample", "secrets/db_password.txt.example",
        "id_rsa.pub", "data/keep.csv", "dbt_project/models/a.sql", ".gitignore", "sub/.gitignore"]
LEFT_OUT = [".env", "prod.env", ".env.local", "secrets/db_password.txt", "certs/server.key", "tls.pem",
            "id_rsa", ".pgpass", ".netrc", "__pycache__/app.cpython-313.pyc", "app.pyc",
            ".ipynb_checkpoints/enonce-checkpoint.ipynb", "node_modules/x/index.js", "target/app.jar",
            "dbt_project/target/manifest.json", "dbt_project/logs/dbt.log", "run.log", ".git/config",
            ".venv/bin/python", "rendu-01-images-conteneurs.zip", "data/big.csv", "sub/cache.tmp",
            "local-notes.txt"]


def _messy_lab(folder: Path) -> None:
    for rel in KEPT + LEFT_OUT:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(f"contenu de {rel}\n")
    (folder / ".gitignore").write_text("# ne jamais commiter\ndata/*\n!data/keep.csv\nlocal-notes.txt\n")
    (folder / "sub" / ".gitignore").write_text("*.tmp\n")


def test_secrets_build_output_and_gitignored_files_stay_out(tmp_path, capsys):
    root = _course(tmp_path)
    folder = root / "labs" / LAB01
    _messy_lab(folder)
    with open(folder / "huge.bin", "wb") as f:  # sparse: over the cap without writing it
        f.truncate(handin.MAX_FILE_MB * 1024 * 1024 + 1)
    (folder / "lien-dehors").symlink_to("/etc/hostname")
    (folder / "lien-dedans.py").symlink_to("app.py")
    (folder / "config.txt").symlink_to(".env")
    (folder / "dossier-lie").symlink_to(folder / "dbt_project", target_is_directory=True)
    (folder / "lien-casse").symlink_to("absent")
    assert _run(root, "01", "--etudiant", "ana") == 0
    names = {n.partition(f"ana/{LAB01}/")[2] for n in _members(root / f"rendu-{LAB01}.zip")}
    for rel in KEPT + ["lien-dedans.py", handin.NOTEBOOK, handin.STAMP]:
        assert rel in names, rel
    for rel in LEFT_OUT + ["huge.bin", "lien-dehors", "config.txt", "lien-casse"]:
        assert rel not in names, rel
    assert not any(n.startswith("dossier-lie/") for n in names)
    # A link inside the folder is stored as the file it names (collect drops links).
    assert _members(root / f"rendu-{LAB01}.zip")[f"ana/{LAB01}/lien-dedans.py"] == (folder / "app.py").read_bytes()
    out = capsys.readouterr().out
    for rel, why in [(".env", "secret"), ("local-notes.txt", ".gitignore"), ("huge.bin", "trop gros"),
                     ("lien-dehors", "sort du dossier"), ("config.txt", "lien vers un fichier exclu"),
                     ("node_modules/", "dossier produit"), ("dossier-lie/", "lien symbolique vers un dossier")]:
        assert any(line.startswith(f"  laissé de côté : {rel} — ") and why in line for line in out.splitlines()), rel


@pytest.mark.parametrize("rel", LEFT_OUT[:-3])
def test_the_fixed_rules_name_each_excluded_path_and_spare_the_templates(rel):
    assert handin.excluded(rel)
    assert all(handin.excluded(k) is None for k in KEPT)


# ---------------------------------------------------------------------------------------------
# The archive is checked before it is written
# ---------------------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, str], link: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


GOOD_NB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize("members, link, expected", [
    ({"ana/01-x/enonce.ipynb": GOOD_NB, "ana/01-x/Dockerfile": "FROM x"}, "", []),
    ({"ana/01-x/enonce.ipynb": GOOD_NB, "ben/01-x/Dockerfile": "x"}, "", ["hors de ana/01-x/"]),
    ({"ana/01-x/enonce.ipynb": GOOD_NB, "ana/01-x/../../evil": "x"}, "", ["hors de"]),
    ({"ana/01-x/enonce.ipynb": GOOD_NB, "ana/01-x/.env": "PASSWORD=x"}, "", [".env : secret"]),
    ({"ana/01-x/enonce.ipynb": GOOD_NB}, "ana/01-x/lien", ["lien symbolique"]),
    ({"ana/01-x/Dockerfile": "FROM x"}, "", ["le carnet enonce.ipynb manque"]),
    ({"ana/01-x/enonce.ipynb": "{pas du json"}, "", ["illisible"]),
])
def test_check_archive_catches_each_defect_and_passes_a_good_archive(tmp_path, members, link, expected):
    problems = handin.check_archive(_zip(tmp_path / "a.zip", members, link), "ana", "01-x")
    assert len(problems) == len(expected) and all(e in p for e, p in zip(expected, problems)), problems


def test_check_archive_caps_size_and_refuses_an_id_collect_would_not_read(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "a.zip", {"a b/01-x/enonce.ipynb": GOOD_NB, "a b/01-x/data.csv": "x" * 2048})
    assert any("identifiant" in p for p in handin.check_archive(archive, "a b", "01-x"))
    monkeypatch.setattr(handin, "MAX_TOTAL_MB", 0.001)
    assert any("Mo permis" in p for p in handin.check_archive(archive, "a b", "01-x"))


def test_a_refused_archive_leaves_the_previous_one_and_no_temporary_file(tmp_path, monkeypatch, capsys):
    root = _course(tmp_path)
    assert _run(root, "01", "--etudiant", "ana") == 0
    before = (root / f"rendu-{LAB01}.zip").read_bytes()
    monkeypatch.setattr(handin, "MAX_TOTAL_MB", 0.001)
    assert _run(root, "01", "--etudiant", "ana") == 1
    assert "archive refusée" in capsys.readouterr().err
    assert (root / f"rendu-{LAB01}.zip").read_bytes() == before
    assert sorted(p.name for p in root.iterdir() if p.suffix == ".zip") == [f"rendu-{LAB01}.zip"]


# ---------------------------------------------------------------------------------------------
# Misuse, the student id, the notebook
# ---------------------------------------------------------------------------------------------
def test_misuse_exits_2_with_a_french_message_and_writes_nothing(tmp_path, capsys):
    root = _course(tmp_path)
    assert _run(root, "77", "--etudiant", "ana") == 2
    assert "TP « 77 » introuvable" in capsys.readouterr().err
    for bad in ["ana dupont", "../ana", "-x", "ana/ben", ".ana", "é"]:
        assert _run(root, "01", f"--etudiant={bad}") == 2
        assert "identifiant étudiant" in capsys.readouterr().err
    assert not list(root.glob("*.zip"))


def test_a_missing_notebook_is_refused(tmp_path, capsys):
    root = _course(tmp_path)
    (root / "labs" / LAB01 / handin.NOTEBOOK).unlink()
    assert _run(root, "01", "--etudiant", "ana") == 1
    assert "enonce.ipynb introuvable" in capsys.readouterr().err and not list(root.glob("*.zip"))


def _git_env(tmp_path, monkeypatch, email: str) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.delenv("ETUDIANT", raising=False)
    if email:
        subprocess.run(["git", "config", "--global", "user.email", email], check=True, timeout=30)


def test_the_id_defaults_to_git_email_then_login_and_a_generic_login_is_refused(tmp_path, monkeypatch, capsys):
    root = _course(tmp_path)
    _git_env(tmp_path, monkeypatch, "ana.dupont+cours@ecole.fr")
    assert handin.guess_student(root) == ("ana.dupont_cours", "git config user.email")
    assert _run(root, "01") == 0
    assert "tiré de git config user.email" in capsys.readouterr().out
    assert all(n.startswith(f"ana.dupont_cours/{LAB01}/") for n in _members(root / f"rendu-{LAB01}.zip"))

    _git_env(tmp_path, monkeypatch, "")
    (tmp_path / "home" / ".gitconfig").unlink()
    monkeypatch.setattr(handin.getpass, "getuser", lambda: "bdurand")
    assert handin.guess_student(root) == ("bdurand", "nom de connexion")
    monkeypatch.setattr(handin.getpass, "getuser", lambda: "jovyan")
    assert _run(root, "01") == 2
    assert "ETUDIANT=prenom.nom" in capsys.readouterr().err


def _answer_all(notebook: Path) -> None:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id", "").endswith("-reponse"):
            cell["source"] = 'reponse = "docker ps -a"'
    notebook.write_text(json.dumps(nb), encoding="utf-8")


def test_unanswered_questions_and_deleted_grading_cells_are_warned_not_refused(tmp_path, capsys):
    root = _course(tmp_path)
    notebook = root / "labs" / LAB01 / handin.NOTEBOOK
    assert _run(root, "01", "--etudiant", "ana") == 0
    assert "[ATTENTION] aucune réponse aux questions de cours" in capsys.readouterr().out
    _answer_all(notebook)
    assert _run(root, "01", "--etudiant", "ana") == 0
    assert "[ATTENTION]" not in capsys.readouterr().out
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "01-build"]
    notebook.write_text(json.dumps(nb), encoding="utf-8")
    assert _run(root, "01", "--etudiant", "ana") == 0
    assert "1 cellule de notation supprimée du carnet (01-build)" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# make handin, make release LAB=NN
# ---------------------------------------------------------------------------------------------
def _make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_make_handin_without_lab_explains_usage_and_help_lists_it():
    proc = _make("handin")
    assert proc.returncode == 2 and "make handin LAB=01 ETUDIANT=prenom.nom" in proc.stdout + proc.stderr
    assert "make handin" in _make("help").stdout


def test_make_release_passes_the_lab_to_the_release_step():
    dry = _make("-n", "release", "LAB=01").stdout
    assert "autograder.classroom.course release 01" in dry
    assert _make("-n", "release").stdout.rstrip().endswith("autograder.classroom.course release")


def test_release_one_lab_by_number_and_refuse_an_unknown_one(tmp_path, capsys, monkeypatch):
    # nbgrader runs in a child process: it must import this checkout's autograder.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    other = LAB_IDS[-1]  # any lab but 01, from the registry
    root = _course(tmp_path, (LAB01, other))
    assert course.release(root, ["1"]) == [LAB01]
    assert sorted(p.name for p in (root / "release").iterdir()) == [LAB01]
    assert (root / "release" / LAB01 / "enonce.ipynb").is_file()
    with pytest.raises(SystemExit) as exc:
        course.release(root, [other[:2], "99"])
    assert exc.value.code == 2 and "TP « 99 » introuvable" in capsys.readouterr().err
    assert sorted(p.name for p in (root / "release").iterdir()) == [LAB01]  # nothing released


# ---------------------------------------------------------------------------------------------
# The notebooks say how to hand in
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.id)
def test_each_notebook_says_how_to_hand_in_before_its_generated_sections(lab):
    from autograder.classroom.nbgrade import _is_generated, with_section

    nb = json.loads((LABS / lab.id / handin.NOTEBOOK).read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in nb["cells"]]
    [i] = [n for n, s in enumerate(sources) if s.startswith("## Rendre le TP")]
    assert nb["cells"][i]["cell_type"] == "markdown" and not _is_generated(nb["cells"][i])
    assert f"make handin LAB={lab.id[:2]}" in sources[i] and f"rendu-{lab.id}.zip" in sources[i]
    assert all(_is_generated(c) for c in nb["cells"][i + 1:])
    # Regenerating the grading cells (make nbgrader-cells) leaves the section where it is.
    assert with_section(nb, lab)["cells"][:i + 1] == nb["cells"][:i + 1]


def test_an_id_handin_accepts_is_one_nbgrader_zip_collect_reads():
    """Instructors may also use nbgrader's own zip_collect on the hand-ins: same student ids."""
    import re

    from traitlets.config.loader import PyFileConfigLoader

    regexp = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config().FileNameCollectorPlugin.named_regexp
    for student in ["ana.dupont", "a_dupont-2", "ana@ecole.fr", "B1"]:
        assert handin.STUDENT_ID.match(student)
        m = re.match(regexp, f"export/{student}/{LAB01}/Dockerfile")
        assert m and m.group("student_id") == student and m.group("file_id") == "Dockerfile"
