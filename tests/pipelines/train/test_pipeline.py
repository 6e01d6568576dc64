"""The train template, wired as Kedro runs it: one variant's nodes on real photos, its model saved
as the real `.keras` file and read back as bytes, its tags on a real MLflow run."""

from pathlib import Path

import mlflow
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_datasets.tensorflow import TensorFlowModelDataset

from cat_dog_classifier.config import variants
from cat_dog_classifier.datasets import BinaryFileDataset, MlflowTagsDataset
from cat_dog_classifier.model_files import model_md5
from cat_dog_classifier.pipelines.train import create_pipeline


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
            "cnn.model@keras": TensorFlowModelDataset(filepath=str(model_file)),
            "cnn.model@bytes": BinaryFileDataset(filepath=str(model_file)),
            "cnn.training_tags": MlflowTagsDataset(),
            "cnn.training_history": JSONDataset(filepath=str(tmp_path / "history.json")),
        }
    )
    pipeline = create_pipeline().only_nodes_with_namespaces(["cnn"])
    with mlflow.start_run() as run:
        outputs = SequentialRunner().run(pipeline, catalog)
    tags = mlflow.get_run(run.info.run_id).data.tags

    assert [row["epoch"] for row in catalog.load("cnn.training_history")] == [1]
    assert set(outputs["cnn.epoch_metrics_mlflow"].load()) >= {"loss", "val_accuracy"}
    assert tags["trained_model_md5"] == model_md5(model_file.read_bytes())
    assert tags["precision"] in {"float32", "mixed_bfloat16"}
