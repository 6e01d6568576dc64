"""The train template, wired as Kedro runs it: one variant's nodes on real photos, its model saved
as the real `.keras` file and read back as bytes, its tags on a real MLflow run."""

from pathlib import Path

import mlflow
import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from cat_dog_classifier.config import base_config, variants
from cat_dog_classifier.datasets import BinaryFileDataset, KerasModelDataset, MlflowTagsDataset
from cat_dog_classifier.model_files import model_md5
from cat_dog_classifier.models import build_model
from cat_dog_classifier.pipelines.train import create_pipeline
from cat_dog_classifier.pipelines.train.pipeline import create_variant_pipeline, initial_model

# an option, not the study's default: cnn_dropout_aug from cnn_dropout's trained weights
WARM_START = "data/06_models/variants/cnn_dropout.keras"


@pytest.mark.slow
def test_one_variant_trains_saves_its_file_and_tags_its_run(
    project_root: Path, gray_set: dict, tmp_path: Path, mlflow_store: str
):
    cnn = variants(project_root)["cnn"]
    model_file = tmp_path / "cnn.keras"
    catalog = DataCatalog(
        {
            "gray100.model_input": MemoryDataset(gray_set, copy_mode="assign"),
            "params:variants.cnn.model": MemoryDataset(cnn["model"]),
            "params:variants.cnn.training": MemoryDataset({**cnn["training"], "epochs": 1}),
            "params:variants.cnn.neither": MemoryDataset(cnn["neither"]),
            "cnn.model@keras": KerasModelDataset(filepath=str(model_file)),
            "cnn.model@bytes": BinaryFileDataset(filepath=str(model_file)),
            "cnn.training_tags": MlflowTagsDataset(),
            "cnn.training_history": JSONDataset(filepath=str(tmp_path / "history.json")),
        }
    )
    pipeline = create_pipeline().only_nodes_with_namespaces(["cnn"])
    with mlflow.start_run() as run:
        outputs = SequentialRunner().run(pipeline, catalog)
    tags = mlflow.get_run(run.info.run_id).data.tags

    [row] = catalog.load("cnn.training_history")
    assert row["epoch"] == 1 and "images_per_second" not in row  # MLflow's only, below
    assert set(outputs["cnn.epoch_metrics_mlflow"].load()) >= {
        "loss",
        "val_accuracy",
        "images_per_second",
    }
    assert tags["trained_model_md5"] == model_md5(model_file.read_bytes())
    assert tags["precision"] in {"float32", "mixed_bfloat16"}


@pytest.mark.slow
def test_a_warm_started_variant_starts_from_the_model_file_its_starts_from_names(
    project_root: Path, gray_set: dict, tmp_path: Path, mlflow_store: str
):
    """The file reaches the train node as bytes (loaded once training's strategy exists); at a
    learning rate of zero the model saved is the one it started from."""
    blocks = variants(project_root)
    source = build_model(gray_set["train_images"].shape[1:], blocks["cnn_dropout"]["model"])
    source_file = tmp_path / "cnn_dropout.keras"
    KerasModelDataset(filepath=str(source_file)).save(source)
    aug = {**blocks["cnn_dropout_aug"], "starts_from": WARM_START}
    model_file = tmp_path / "cnn_dropout_aug.keras"
    training = {**aug["training"], "epochs": 1, "learning_rate": 0.0}
    catalog = DataCatalog(
        {
            "gray100.model_input": MemoryDataset(gray_set, copy_mode="assign"),
            "cnn_dropout.model@bytes": BinaryFileDataset(filepath=str(source_file)),
            "params:variants.cnn_dropout_aug.model": MemoryDataset(aug["model"]),
            "params:variants.cnn_dropout_aug.training": MemoryDataset(training),
            "params:variants.cnn_dropout_aug.neither": MemoryDataset(aug["neither"]),
            "cnn_dropout_aug.model@keras": KerasModelDataset(filepath=str(model_file)),
            "cnn_dropout_aug.model@bytes": BinaryFileDataset(filepath=str(model_file)),
            "cnn_dropout_aug.training_tags": MlflowTagsDataset(),
            "cnn_dropout_aug.training_history": JSONDataset(filepath=str(tmp_path / "h.json")),
        }
    )
    pipeline = create_variant_pipeline(
        "cnn_dropout_aug", aug, base_config("catalog", project_root), blocks
    )
    with mlflow.start_run() as run:
        SequentialRunner().run(pipeline, catalog)
    trained = KerasModelDataset(filepath=str(model_file)).load()
    for started, saved in zip(source.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(started, saved)
    # the run names its starting model as the run that trained it does (trained_model_md5)
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["initial_model_md5"] == model_md5(source_file.read_bytes())


def test_a_variant_reads_the_trained_model_its_starts_from_names(project_root: Path):
    catalog = base_config("catalog", project_root)
    pipeline = create_pipeline()
    names = variants(project_root)
    for name, block in names.items():
        inputs = pipeline.only_nodes_with_namespaces([name]).inputs()
        models = {
            dataset for dataset in inputs if dataset.endswith((".model@keras", ".model@bytes"))
        }
        source = initial_model(name, block, catalog, names)
        assert models == ({source} if source else set())
        if block["starts_from"].endswith(".npz"):
            assert source is None, f"{name} is trained from scratch"
    aug = {**variants(project_root)["cnn_dropout_aug"], "starts_from": WARM_START}
    # the file's bytes: training loads it once its distribution strategy exists (which must come
    # before anything runs TensorFlow, loading a model included)
    assert initial_model("cnn_dropout_aug", aug, catalog, names) == "cnn_dropout.model@bytes"


@pytest.mark.parametrize(
    "starts_from",
    [
        "data/06_models/variants/cnn_dropout_aug.keras",  # itself
        "data/06_models/variants/unknown.keras",
        "data/05_model_input/rgb192.npz",  # another model input
        "cnn_dropout",
    ],
)
def test_starts_from_naming_no_other_variant_nor_its_input_is_refused(
    project_root: Path, starts_from: str
):
    block = {**variants(project_root)["cnn_dropout_aug"], "starts_from": starts_from}
    with pytest.raises(ValueError, match=r"variants\.cnn_dropout_aug\.starts_from"):
        initial_model(
            "cnn_dropout_aug", block, base_config("catalog", project_root), variants(project_root)
        )
