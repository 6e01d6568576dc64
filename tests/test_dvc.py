"""DVC's view equals Kedro's: dvc.yaml against what each stage's nodes read and write, and
`dvc repro` on small real projects (bytecode on, as on a user's machine), remotes and checkouts."""

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from kedro.io.catalog_config_resolver import CatalogConfigResolver
from mlflow import MlflowClient

from cat_dog_classifier.config import base_config
from cat_dog_classifier.pipelines.export.nodes import LINEAGE
from tests.conftest import (
    PROJECT_ROOT,
    SMALL_VARIANTS,
    SmallProject,
    clone_project,
    copy_project,
    dvc,
    git_commit_all,
    make_small,
    run_command,
)

SOURCE = PROJECT_ROOT / "src"
PACKAGE = "cat_dog_classifier"
STAGE_COMMAND = re.compile(r"^kedro run --pipelines (\S+)(?: --namespaces (\S+))?$")
# The code that builds every Kedro run, whichever nodes it runs.
FRAMEWORK = {
    f"src/{PACKAGE}/{name}" for name in ("settings.py", "pipeline_registry.py", "config.py")
}
# Stages that talk to the MLflow registry (they use registry.py) also depend on these: which store,
# and the tags every run gets.
MLFLOW_IDENTITY = {f"src/{PACKAGE}/hooks.py", f"src/{PACKAGE}/lineage.py", "conf/base/mlflow.yml"}
# Its nodes read the photos through the link the manifest names (ingest reads it as a dataset).
READS_PHOTOS = {"preprocess": ["data/01_raw/image_source", "data/01_raw/neither_source"]}
NAME = "cat_dog_classifier"


# --- dvc.yaml against the Kedro pipelines ------------------------------------------------------


@dataclass
class KedroView:
    """What one stage's `kedro run` reads and writes, worked out from its pipeline and catalog."""

    code: set[str] = field(default_factory=set)
    data_in: set[str] = field(default_factory=set)
    data_out: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)


def module_file(module: str) -> Path | None:
    """The source file or package folder of a project module (None outside the project)."""
    if not module.startswith(PACKAGE + "."):
        return None
    path = SOURCE.joinpath(*module.split("."))
    if path.is_dir():
        return path
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def imported_project_code(path: Path) -> set[Path]:
    """Project modules (files, or package folders) imported anywhere in these files, even inside
    functions, transitively. A pipeline's folder and the `datasets` package count whole."""
    seen: set[Path] = set()
    pending = [path]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        files = sorted(current.rglob("*.py")) if current.is_dir() else [current]
        for file in files:
            for node in ast.walk(ast.parse(file.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for name in names:
                    target = module_file(name)
                    if target is not None:
                        pending.append(target)
    return seen


def relative(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def dataset_path(config: dict) -> str | None:
    """The local file or folder a dataset's configuration names, if any."""
    for key in ("filepath", "path"):
        if key in config:
            return config[key]
    return dataset_path(config["dataset"]) if isinstance(config.get("dataset"), dict) else None


def catalog_files() -> dict[str, set[str]]:
    """Each conf/base catalog file and the dataset names or patterns it defines."""
    return {
        relative(file): set(yaml.safe_load(file.read_text()) or {})
        for file in sorted((PROJECT_ROOT / "conf/base").glob("catalog*.yml"))
    }


def kedro_view(command: str) -> KedroView:
    """What `command` (a stage's `kedro run --pipelines X [--namespaces Y]`) reads and writes."""
    match = STAGE_COMMAND.match(command)
    assert match, f"unexpected stage command {command!r}"
    pipeline = pipelines[match.group(1)]
    if match.group(2):
        pipeline = pipeline.only_nodes_with_namespaces([match.group(2)])
    view = KedroView(code=set(FRAMEWORK))
    functions = [getattr(node.func, "func", node.func) for node in pipeline.nodes]
    folders = {Path(function.__code__.co_filename).parent for function in functions}
    view.code |= {relative(path) for folder in folders for path in imported_project_code(folder)}
    # The project's datasets are one dependency, their folder, however many of them code imports.
    datasets = f"src/{PACKAGE}/datasets"
    view.code = {datasets if covers(datasets, path) else path for path in view.code}
    if f"src/{PACKAGE}/registry.py" in view.code:
        view.code |= MLFLOW_IDENTITY

    resolver = CatalogConfigResolver(base_config("catalog", PROJECT_ROOT))
    definitions = catalog_files()
    used = {name for name in pipeline.all_inputs() | pipeline.all_outputs()}
    for name in used:
        if name.startswith("params:"):
            view.params.add(name.removeprefix("params:"))
            continue
        if name == "parameters":  # every parameter: resolved from all of conf/
            view.data_in.add("conf")
            continue
        config = resolver.resolve_pattern(name) or resolver.config.get(name, {})
        key = resolver.match_dataset_pattern(name) or name
        view.code |= {file for file, names in definitions.items() if key in names}
        inner = config.get("dataset", {})
        types = [config.get("type", ""), inner if isinstance(inner, str) else inner.get("type", "")]
        if any(kind.startswith(f"{PACKAGE}.datasets") for kind in types):
            view.code.add(f"src/{PACKAGE}/datasets")
        path = dataset_path(config)
        if path is None:  # in memory, or logged to MLflow only
            continue
        if name in pipeline.inputs():
            view.data_in.add(path)
        if name in pipeline.all_outputs():
            view.data_out.add(path)
    return view


def covers(declared: str, path: str) -> bool:
    return path == declared or path.startswith(declared.rstrip("/") + "/")


@pytest.fixture(scope="module")
def dvc_stages() -> list:
    bootstrap_project(PROJECT_ROOT)
    with Repo(str(PROJECT_ROOT)) as repo:
        return list(repo.index.stages)


def test_every_stage_depends_on_exactly_what_its_kedro_run_reads(dvc_stages):
    for stage in dvc_stages:
        view = kedro_view(stage.cmd)
        name = stage.addressing.split("@")[0]
        declared = {dep.def_path for dep in stage.deps if not hasattr(dep, "params")}
        # Code: exactly the modules and folders the nodes import, no more (a folder of `src/` that
        # is not a pipeline's or `datasets` would pass a coverage check while hiding extras).
        code = {path for path in declared if path.startswith("src/")}
        expected_code = {path for path in view.code if path.startswith("src/")}
        if name == "config":
            expected_code.add(f"src/{PACKAGE}/hooks.py")  # its guard checks the catalog
        assert code == expected_code, f"{stage.addressing}: code dependencies"

        # Configuration and data: every file read is covered by a dependency, and every
        # dependency covers something read.
        expected = {path for path in view.code if not path.startswith("src/")} | view.data_in
        if name in READS_PHOTOS:
            expected |= set(READS_PHOTOS[name])
        others = declared - code
        for path in expected:
            assert any(covers(dep, path) for dep in others), f"{stage.addressing} reads {path}"
        for dep in others:
            assert any(covers(dep, path) for path in expected), f"{stage.addressing}: {dep}"

        outs = {out.def_path for out in stage.outs}
        for path in view.data_out:
            assert any(covers(out, path) for out in outs), f"{stage.addressing} writes {path}"
        for out in outs:
            assert any(covers(out, path) for path in view.data_out), f"{stage.addressing}: {out}"

        [params] = [dep for dep in stage.deps if hasattr(dep, "params")] or [None]
        keys = set(params.params) if params else set()
        if params:
            assert params.def_path == "kedro_params.yaml"
        for used in view.params:
            assert any(used == k or used.startswith(k + ".") for k in keys), (
                f"{stage.addressing} reads parameter {used}"
            )
        for key in keys:
            assert any(used == key or used.startswith(key + ".") for used in view.params), (
                f"{stage.addressing} tracks parameter {key}, which none of its nodes reads"
            )


def test_the_variant_list_is_read_from_one_place(dvc_stages):
    variants = list(base_config("parameters", PROJECT_ROOT)["variants"])
    for kind in ("train", "evaluate"):
        stages = [s.addressing for s in dvc_stages if s.addressing.startswith(f"{kind}@")]
        assert stages == [f"{kind}@{variant}" for variant in variants]
        namespaces = {node.namespace for node in pipelines[kind].nodes}
        assert namespaces == set(variants)
    champion_inputs = pipelines["champion"].inputs()
    assert {f"{variant}.evaluation" for variant in variants} <= champion_inputs
    assert {f"{variant}.model@bytes" for variant in variants} <= pipelines["export"].inputs()
    report_inputs = pipelines["report"].inputs()
    assert {f"{variant}.training_history" for variant in variants} <= report_inputs
    assert {f"{variant}.metrics" for variant in variants} <= report_inputs


# --- dvc repro on small real projects ----------------------------------------------------------


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def small_stages(*kinds: str) -> list[str]:
    return [f"{kind}@{variant}" for kind in kinds for variant in SMALL_VARIANTS]


def lock_md5(project: Path, path: str) -> str:
    """The MD5 dvc.lock records for an output."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise KeyError(path)


def tree_digest(folder: Path) -> dict[str, str]:
    """Each file's SHA-256 but the export's lineage.json, which DVC does not track (.dvcignore)."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() != LINEAGE
    }


def assert_web_models_match_dvc_lock(project: Path) -> None:
    """web/models is what dvc.lock records, and it serves the champion dvc.lock records."""
    assert "Data and pipelines are up to date" in dvc(project, "status")
    manifest = json.loads((project / "web/models/manifest.json").read_text())
    champion_md5 = lock_md5(project, "data/06_models/champion.keras")
    assert manifest["models"][0]["model_md5"] == champion_md5
    assert manifest["models"][0]["aliases"] == ["champion"]
    decision = json.loads((project / "data/08_reporting/champion.json").read_text())
    assert decision["champion"]["model_md5"] == champion_md5


@pytest.fixture
def project(reproduced_project: SmallProject, tmp_path: Path) -> Path:
    return clone_project(reproduced_project, tmp_path / "project").path


@pytest.mark.slow
def test_reproduced_project_is_up_to_date_with_bytecode_written(project: Path):
    assert list((project / "src").rglob("*.pyc")), "the stages ran with bytecode writing on"
    assert "Data and pipelines are up to date" in dvc(project, "status")
    assert ran_stages(dvc(project, "repro")) == []

    # A checkout rewrites every source file (new modification times); the next import rewrites
    # the bytecode. Neither is a change DVC should see.
    later = time.time() + 60
    for path in [*(project / "src").rglob("*"), *(project / "conf").rglob("*")]:
        if path.is_file():
            os.utime(path, (later, later))
    imports = "import cat_dog_classifier.pipelines.train.nodes, cat_dog_classifier.hooks"
    # PYTHONPATH: the copy's own modules (the environment's editable install is the project's)
    imported = run_command(["python", "-c", imports], project, PYTHONPATH="src")
    assert imported.returncode == 0, imported.stderr
    assert list((project / "src/cat_dog_classifier/pipelines/train/__pycache__").glob("*.pyc"))
    assert "Data and pipelines are up to date" in dvc(project, "status")
    assert ran_stages(dvc(project, "repro")) == []


@pytest.mark.slow
def test_a_local_override_reruns_exactly_the_stages_that_read_it(project: Path):
    (project / "conf/local/credentials.yml").write_text(
        "some_service:\n  token: not-dvc's-business\n"
    )
    assert "Data and pipelines are up to date" in dvc(project, "status")

    (project / "conf/local/parameters.yml").write_text(
        "variants:\n  cnn:\n    training:\n      epochs: 2\n"
    )
    assert "config" in dvc(project, "status")
    model = lock_md5(project, "data/06_models/variants/cnn.keras")
    output = dvc(project, "repro")

    # The history changes, so evaluation and the study's report rerun; the model file is the same
    # bytes when the best epoch of the first run was among the first two (on the small source, it
    # is the first), and then neither champion nor export reruns: their inputs are what they were.
    retrained = lock_md5(project, "data/06_models/variants/cnn.keras") != model
    after = {"champion", "export"} if retrained else set()
    ran = ran_stages(output)
    assert ran[:3] == ["config", "train@cnn", "evaluate@cnn"]
    assert sorted(ran[3:]) == sorted({"report", *after})
    history = json.loads((project / "data/08_reporting/training_history/cnn.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    recorded = lock["stages"]["train@cnn"]["params"]["kedro_params.yaml"]["variants.cnn"]
    assert recorded["training"]["epochs"] == 2
    assert recorded["model"]["filters"] == [32, 64, 128]  # the rest of the block is kept
    assert "Data and pipelines are up to date" in dvc(project, "status")


@pytest.mark.slow
def test_a_local_catalog_override_is_refused_naming_the_entry(project: Path):
    (project / "conf/local/catalog.yml").write_text(
        "image_manifest:\n  type: pandas.CSVDataset\n  filepath: data/02_intermediate/m.csv\n"
    )
    output = " ".join(dvc(project, "repro", check=False).split())  # Rich wraps long messages
    assert "the catalog entry 'image_manifest' differs from conf/base" in output
    assert ran_stages(output) == ["config"]


@pytest.mark.slow
def test_changing_the_quality_gate_reruns_champion_and_export_only(project: Path):
    gate = project / "conf/base/parameters_champion.yml"
    gate.write_text(gate.read_text().replace("min_test_accuracy: 0.0", "min_test_accuracy: 0.01"))

    output = dvc(project, "repro")

    assert ran_stages(output) == ["config", "champion", "export"]
    decision = json.loads((project / "data/08_reporting/champion.json").read_text())
    assert decision["min_test_accuracy"] == 0.01
    assert "passes the gate (>= 0.01)" in decision["reason"]
    assert_web_models_match_dvc_lock(project)


def champion_version(project: Path):
    return MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_model_version_by_alias(
        NAME, "champion"
    )


@pytest.mark.slow
def test_an_alias_moved_by_hand_changes_nothing_dvc_records_and_publish_moves_it_back(
    project: Path,
):
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    champion = champion_version(project)
    other = next(
        v
        for v in client.search_model_versions(f"name = '{NAME}'")
        if v.tags["model_md5"] != champion.tags["model_md5"]
    )
    client.set_registered_model_alias(NAME, "champion", other.version)

    assert_web_models_match_dvc_lock(project)
    assert ran_stages(dvc(project, "repro")) == []

    published = run_command(["kedro", "run", "--pipelines", "publish"], project)
    assert published.returncode == 0, published.stderr
    assert champion_version(project).tags["model_md5"] == lock_md5(
        project, "data/06_models/champion.keras"
    )


@pytest.mark.slow
def test_a_lost_registry_is_rebuilt_from_the_files_dvc_tracks(project: Path):
    (project / "mlflow.db").unlink()
    shutil.rmtree(project / "mlruns")
    assert_web_models_match_dvc_lock(project)

    # The champion stage registers every candidate again from its DVC-tracked file.
    output = dvc(project, "repro", "--single-item", "--force", "champion")
    assert ran_stages(output) == ["champion"]
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    versions = client.search_model_versions(f"name = '{NAME}'")
    assert {v.tags["variant"] for v in versions} == set(SMALL_VARIANTS)
    assert champion_version(project).tags["model_md5"] == lock_md5(
        project, "data/06_models/champion.keras"
    )
    # Registering the same files again is a no-op.
    dvc(project, "repro", "--single-item", "--force", "champion")
    assert len(client.search_model_versions(f"name = '{NAME}'")) == len(SMALL_VARIANTS)


@pytest.mark.slow
def test_checking_out_an_earlier_dvc_lock_restores_its_web_models(project: Path):
    before = tree_digest(project / "web/models")
    export = project / "conf/base/parameters_export.yml"
    export.write_text(export.read_text().replace("variants: all", "variants: []"))
    assert ran_stages(dvc(project, "repro")) == ["config", "export"]
    assert tree_digest(project / "web/models") != before  # the champion alone now
    git_commit_all(project, "ship the champion alone")

    lineage = (project / "web/models" / LINEAGE).read_bytes()
    subprocess.run(["git", "checkout", "-q", "HEAD~1"], cwd=project, check=True)
    dvc(project, "checkout")

    assert tree_digest(project / "web/models") == before
    # DVC leaves alone the file it ignores: the registry's view of the models exported last,
    # by MD5, which the page finds the champion in still.
    assert (project / "web/models" / LINEAGE).read_bytes() == lineage
    assert_web_models_match_dvc_lock(project)


@pytest.mark.slow
def test_push_then_pull_into_a_fresh_clone_reproduces_web_models(project: Path, tmp_path: Path):
    dvc(project, "remote", "add", "--default", "shared", str(tmp_path / "dvc-remote"))
    git_commit_all(project, "a DVC remote")
    dvc(project, "push")

    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(project), str(fresh)], check=True)
    assert not (fresh / "web/models").exists()
    dvc(fresh, "pull")

    assert tree_digest(fresh / "web/models") == tree_digest(project / "web/models")
    assert (fresh / "data/06_models/champion.keras").read_bytes() == (
        project / "data/06_models/champion.keras"
    ).read_bytes()
    # The link to the photos is this machine's own, never pushed: the fresh clone makes it anew.
    # The preprocessed sets are not cached (dvc.yaml) but rebuilt, byte for byte: nothing after
    # them reruns.
    assert not (fresh / "data/05_model_input/rgb192.npz").exists()
    assert ran_stages(dvc(fresh, "repro")) == ["fetch", "preprocess"]
    assert "Data and pipelines are up to date" in dvc(fresh, "status")


# --- identical reruns --------------------------------------------------------------------------


def lock_outputs(project: Path) -> dict[str, str]:
    """Every output's hash as dvc.lock records it, by path (a readable diff when two differ)."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]}


@pytest.mark.slow
def test_a_fresh_copy_reproduces_dvc_lock_byte_for_byte(  # noqa: PLR0917 (fixtures)
    reproduced_project: SmallProject,
    project_root: Path,
    tmp_path: Path,
    small_source_zip: Path,
    small_neither_zip: Path,
    mobilenet_weights: Path,
):
    """The Quickstart's promise: the same code and data, reproduced elsewhere (another folder,
    another commit, an empty MLflow store), write the dvc.lock that was committed."""
    other = copy_project(project_root, tmp_path / "other")
    make_small(other, small_source_zip, mobilenet_weights, small_neither_zip)
    git_commit_all(other)

    dvc(other, "repro", "--force")

    assert lock_outputs(other) == lock_outputs(reproduced_project.path)
    assert (other / "dvc.lock").read_bytes() == (reproduced_project.path / "dvc.lock").read_bytes()


@pytest.mark.slow
def test_a_forced_rerun_against_the_same_mlflow_store_rewrites_nothing(project: Path):
    """Run again where the registry already holds every model and the champion alias: new run
    ids, the same registry versions, and still the same bytes."""
    outputs, lock = lock_outputs(project), (project / "dvc.lock").read_bytes()
    lineage = json.loads((project / "web/models" / LINEAGE).read_text())

    dvc(project, "repro", "--force")

    assert lock_outputs(project) == outputs
    assert (project / "dvc.lock").read_bytes() == lock
    # The registry's view beside it: the same versions (registering the same bytes is a no-op).
    assert json.loads((project / "web/models" / LINEAGE).read_text()) == lineage
    champion = champion_version(project)
    assert lineage[champion.tags["model_md5"]]["version"] == str(champion.version)
    assert "Data and pipelines are up to date" in dvc(project, "status")
