"""``genaudit release-check`` through the real ``pre-commit`` tool in a temporary git repository:
it fails with a clear table on the memorizing reference model and passes on a normal one; and
every gate once through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _memorized_training_index(repo: Path) -> None:
    """The 64 training images the memorizing DDPM was trained on, indexed into train.gaidx."""
    from genaudit.datasets import load_fashion_mnist
    from genaudit.io import write_png
    from genaudit.memorization import build_index
    from genaudit.models import model_info

    images, _ = load_fashion_mnist("train")
    folder = repo / "training"
    folder.mkdir()
    for i in model_info("ddpm-fmnist-memorize").meta["train_indices"]:
        write_png(str(folder / f"train_{i:05d}.png"), images[i])
    index, _ = build_index([str(folder)], jobs=1)
    index.save(str(repo / "train.gaidx"))


def _pyproject(repo: Path, generator: str) -> None:
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "my-model"\nversion = "1.0"\n\n'
        "[tool.genaudit.release]\n"
        f'generator = "{generator}"\nn = 12\nseed = 3\nindex = "train.gaidx"\nmax_memorization_rate = 0.3\n')


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("release")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _memorized_training_index(repo)
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    # the shipped hook, run from the environment genaudit is installed in (language: system) rather
    # than a fresh virtualenv pre-commit would build by downloading genaudit and torch
    local = {**hook, "language": "system"}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]}))
    return repo


def _pre_commit(repo: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PRE_COMMIT_HOME": str(tmp),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=900)


def test_shipped_hook_definition() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "genaudit-release-check" and hook["entry"] == "genaudit release-check"
    assert hook["pass_filenames"] is False and hook["always_run"] is True and hook["language"] == "python"


def test_pre_commit_fails_on_the_memorizing_model(repo: Path, tmp_path: Path) -> None:
    _pyproject(repo, "ddpm-fmnist-memorize")
    r = _pre_commit(repo, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "genaudit release-check" in out and "Failed" in out
    row = next(line for line in out.splitlines() if line.startswith("memorization rate"))
    assert "FAIL" in row and "≤ 0.3" in row
    assert "release-check FAILED (0/1 gates)" in out


def test_pre_commit_passes_on_a_normal_model(repo: Path, tmp_path: Path) -> None:
    _pyproject(repo, "gan-fmnist")
    r = _pre_commit(repo, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Passed" in r.stdout


def test_every_gate_through_the_cli(tmp_path: Path, run_cli: object) -> None:
    from genaudit.provenance.certs import create_dev_chain, write_dev_chain
    from genaudit.watermark import generate_key, save_key
    from tests.conftest import run_cli_once

    paths = write_dev_chain(str(tmp_path / "keys"), create_dev_chain("release test"))
    save_key(generate_key(), str(tmp_path / "model.key"))
    _memorized_training_index(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.genaudit.release]\n"
        'generator = "gan-fmnist"\nn = 40\nseed = 1\nindex = "train.gaidx"\nmax_memorization_rate = 0.1\n'
        'watermark_key_file = "model.key"\nmin_watermark_tpr = 0.95\n'
        'max_bias_disparity = 0.3\nmin_detector_auc = 0.8\n'
        f'signer_cert = "{paths["chain"]}"\nsigner_key = "{paths["key"]}"\ntrust_anchors = "{paths["root"]}"\n'
        "require_c2pa = true\n")
    r = run_cli_once("release-check", "--json", "-q", cwd=tmp_path, timeout=900)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    gates = {g["name"]: g for g in doc["gates"]}
    assert set(gates) == {"memorization rate", "watermark TPR", "bias disparity (TV)", "detector AUC", "C2PA valid"}
    assert gates["memorization rate"]["measured"] == 0 and gates["memorization rate"]["passed"]
    assert gates["watermark TPR"]["measured"] == 1.0 and gates["C2PA valid"]["measured"] == 1.0
    assert 0 <= gates["bias disparity (TV)"]["measured"] <= 1 and gates["bias disparity (TV)"]["ci95"]
    assert gates["detector AUC"]["measured"] > 0.5
    assert r.returncode == (0 if all(g["passed"] for g in doc["gates"]) else 1)


@pytest.mark.parametrize(("table", "message"), [
    ('generator = "gan-fmnist"\nmax_memorization_rate = 0.1\n', "max_memorization_rate needs an index"),
    ('generator = "gan-fmnist"\n', "sets no gate"),
    ('generator = "gan-fmnist"\nmax_memorisation_rate = 0.1\n', "did you mean 'max_memorization_rate'"),
    ('generator = "gan-fmnist"\nsamples = "x"\nrequire_c2pa = true\n', "exactly one of generator"),
    ('generator = "gan-fmnist"\nmin_detector_auc = "high"\n', "min_detector_auc must be float"),
])
def test_configuration_errors_exit_2(tmp_path: Path, table: str, message: str) -> None:
    from tests.conftest import run_cli_once

    (tmp_path / "pyproject.toml").write_text("[tool.genaudit.release]\n" + table)
    r = run_cli_once("release-check", cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert shutil.which("git")


def test_samples_folder_replaces_the_configured_generator(tmp_path: Path) -> None:
    """``--samples DIR`` judges that folder even when the table names a generator: unsigned files
    fail the C2PA gate (exit 1), and nothing is sampled."""
    from genaudit.datasets import load_fashion_mnist
    from genaudit.io import write_png
    from tests.conftest import run_cli_once

    images, _ = load_fashion_mnist("test")
    (tmp_path / "release").mkdir()
    for i in range(3):
        write_png(str(tmp_path / "release" / f"s{i}.png"), images[i])
    (tmp_path / "pyproject.toml").write_text('[tool.genaudit.release]\ngenerator = "gan-fmnist"\nrequire_c2pa = true\n'
                                             'signer_cert = "c.pem"\nsigner_key = "k.pem"\n')
    r = run_cli_once("release-check", "--samples", "release", "--json", "-q", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"].endswith("release") and doc["n"] == 3
    assert doc["gates"][0]["name"] == "C2PA valid" and doc["gates"][0]["measured"] == 0.0
