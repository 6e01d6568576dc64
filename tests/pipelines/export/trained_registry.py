"""A real MLflow registry of small models trained on real photos, shaped like training's output.

Training registers every variant under one name with the tags of data contract 4 and moves the
`champion` alias; the export tests need exactly that without running the whole training pipeline,
so this module trains two small real models on a few hundred photos from the shared zip and
registers them the same way:

- `cnn`: the project's baseline CNN on 100x100 grayscale (a few epochs: real but weak);
- `transfer`: the project's MobileNetV2 model, backbone frozen, head fitted on 160x160 RGB, which
  classifies the shared sample photos correctly after a short fit; it is the `champion`.

The registry is built once per test session and shared by tests/pipelines/export and tests/web.
"""

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import mlflow
import numpy as np
from kedro.config import OmegaConfigLoader
from mlflow import MlflowClient

from cat_dog_classifier.models import build_model

PROJECT_ROOT = Path(__file__).resolve().parents[3]

REGISTERED_MODEL_NAME = "cat_dog_classifier"
TRAIN_PER_CLASS = 150
TEST_PER_CLASS = 40


@dataclass(frozen=True)
class TrainedRegistry:
    tracking_uri: str
    versions: dict[str, str]  # variant -> registry version
    champion_variant: str = "transfer"


def preprocess_photo(bgr: np.ndarray, height: int, width: int, color_mode: str) -> np.ndarray:
    """Contract 2's preprocessing: colour conversion, then stretch the whole image (INTER_AREA)."""
    if color_mode == "grayscale":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    else:
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    return pixels.reshape(height, width, -1)


def _zip_photos(zip_path: Path, label: str, start: int, count: int) -> Iterator[np.ndarray]:
    """Decode `count` photos of one class from the shared zip, skipping the few unreadable ones."""
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(
            (n for n in archive.namelist() if n.startswith(f"PetImages/{label}/")),
            key=lambda n: int(Path(n).stem),
        )
        produced = 0
        for name in names[start:]:
            bgr = cv2.imdecode(np.frombuffer(archive.read(name), np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            yield bgr
            produced += 1
            if produced == count:
                return


def _dataset(zip_path: Path, start: int, count: int, size: int, color_mode: str):
    images, labels = [], []
    for label_index, label in enumerate(("Cat", "Dog")):
        for bgr in _zip_photos(zip_path, label, start, count):
            images.append(preprocess_photo(bgr, size, size, color_mode))
            labels.append(label_index)
    return np.stack(images).astype("float32"), np.array(labels, dtype="float32")


def project_models(mobilenet_weights: Path) -> tuple[keras.Model, keras.Model]:
    """The project's own `cnn` and `transfer` (models.py, conf/base parameters), backbone frozen."""
    parameters = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base")["parameters"]
    cnn = build_model((100, 100, 1), parameters["cnn"]["model"])
    transfer_params = {**parameters["transfer"]["model"], "weights": str(mobilenet_weights)}
    transfer = build_model((160, 160, 3), transfer_params)
    transfer.get_layer("backbone").trainable = False
    return cnn, transfer


def _register(
    client: MlflowClient,
    model: keras.Model,
    variant: str,
    color_mode: str,
    test_set: tuple[np.ndarray, np.ndarray],
) -> str:
    images, labels = test_set
    probabilities = model.predict(images, verbose=0).ravel()
    predictions = (probabilities >= 0.5).astype("float32")
    true_positives = float(((predictions == 1) & (labels == 1)).sum())
    metrics = {
        "test_accuracy": float((predictions == labels).mean()),
        "test_precision": true_positives / max(float(predictions.sum()), 1.0),
        "test_recall": true_positives / float(labels.sum()),
    }
    with mlflow.start_run(run_name=variant) as run:
        mlflow.log_metrics(metrics)
        info = mlflow.keras.log_model(
            model, name="model", registered_model_name=REGISTERED_MODEL_NAME
        )
    version = str(info.registered_model_version)
    height, width, _ = model.input_shape[1:]
    tags = {
        "variant": variant,
        "color_mode": color_mode,
        "image_height": height,
        "image_width": width,
        "test_accuracy": metrics["test_accuracy"],
    }
    for key, value in tags.items():
        client.set_model_version_tag(REGISTERED_MODEL_NAME, version, key, str(value))
    assert run.info.run_id == client.get_model_version(REGISTERED_MODEL_NAME, version).run_id
    return version


def train_and_register(root: Path, zip_path: Path, mobilenet_weights: Path) -> TrainedRegistry:
    """Train both models and register them in a SQLite MLflow store under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    previous_uri = mlflow.get_tracking_uri()
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment(
            "export-tests", artifact_location=(root / "mlartifacts").as_uri()
        )
    )
    client = MlflowClient(tracking_uri)
    keras.utils.set_random_seed(0)
    versions = {}

    cnn, transfer = project_models(mobilenet_weights)
    cnn.compile(optimizer="adam", loss="binary_crossentropy")
    cnn.fit(*_dataset(zip_path, 0, TRAIN_PER_CLASS, 100, "grayscale"), epochs=4, verbose=0)
    test_gray = _dataset(zip_path, TRAIN_PER_CLASS, TEST_PER_CLASS, 100, "grayscale")
    versions["cnn"] = _register(client, cnn, "cnn", "grayscale", test_gray)

    transfer.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    transfer.fit(
        *_dataset(zip_path, 0, TRAIN_PER_CLASS, 160, "rgb"), epochs=3, batch_size=32, verbose=0
    )
    test_rgb = _dataset(zip_path, TRAIN_PER_CLASS, TEST_PER_CLASS, 160, "rgb")
    versions["transfer"] = _register(client, transfer, "transfer", "rgb", test_rgb)
    client.set_registered_model_alias(REGISTERED_MODEL_NAME, "champion", versions["transfer"])
    mlflow.set_tracking_uri(previous_uri)
    return TrainedRegistry(tracking_uri=tracking_uri, versions=versions)


if __name__ == "__main__":
    # A development registry: `python -m tests.pipelines.export.trained_registry /tmp/registry`.
    import sys

    shared = PROJECT_ROOT.parent / "shared"
    registry = train_and_register(
        Path(sys.argv[1]).resolve(),
        shared / "data" / "kagglecatsanddogs_180px.zip",
        shared / "models" / "mobilenet_v2_1.0_imagenet_no_top.weights.h5",
    )
    print(registry)
