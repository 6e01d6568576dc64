"""benchmarks/ablations.py: which experiments `--only` runs, and where overrides go."""

from pathlib import Path

import yaml

from cat_dog_classifier.config import variants
from tests.benchmarks.conftest import load_benchmark


def test_only_chooses_the_experiments_whose_label_has_the_text():
    ablations = load_benchmark("ablations")
    experiments = ablations.STUDIES["cnn-augmentation-rate"][1]

    chosen = ablations.chosen_experiments(experiments, "5e-4")

    assert list(chosen) == ["cosine 5e-4, batch 32, 28 epochs, patience 4"]
    assert chosen[next(iter(chosen))] == {
        **ablations.FROM_SCRATCH,
        "variants.cnn_dropout_aug.training.learning_rate": 5e-4,
    }
    assert ablations.chosen_experiments(experiments, None) == experiments
    assert ablations.chosen_experiments(experiments, "1e-9") == {}


def test_overrides_that_shape_the_pipelines_go_into_the_scratch_copys_conf_base(
    project_root: Path, tmp_path: Path
):
    """`--params` cannot rewire a pipeline (built from conf/base alone): a study that trains
    cnn_dropout_aug from cnn_dropout's weights writes its starts_from into the scratch copy's
    conf/base."""
    ablations = load_benchmark("ablations")
    scratch = tmp_path / "project"
    (scratch / "conf/base").mkdir(parents=True)
    study = ablations.STUDIES["cnn-augmentation-start"][1]
    _, warm, default = study.values()

    others = ablations.write_pipeline_shape(scratch, warm)

    assert "variants.cnn_dropout_aug.starts_from" not in others
    assert others["variants.cnn_dropout_aug.training.epochs"] == 18
    written = yaml.safe_load((scratch / "conf/base/parameters_train.yml").read_text())
    block = written["variants"]["cnn_dropout_aug"]
    assert block["starts_from"] == "data/06_models/variants/cnn_dropout.keras"
    assert block["training"] == variants(project_root)["cnn_dropout_aug"]["training"]
    assert ablations.write_pipeline_shape(scratch, default) == {}
    written = yaml.safe_load((scratch / "conf/base/parameters_train.yml").read_text())
    assert written["variants"] == variants(project_root), "the project's own, as it was"
