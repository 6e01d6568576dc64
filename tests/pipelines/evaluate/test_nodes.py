"""Evaluation nodes: metrics checked against counts done by hand, plots drawn from real photos,
predictions and registration with a real model and a real MLflow registry."""

from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient

from cat_dog_classifier.model_files import model_md5
from cat_dog_classifier.pipelines.evaluate.nodes import (
    compute_metrics,
    fingerprint_splits,
    plot_confusion_matrix,
    plot_misclassified,
    plot_neither_mistakes,
    plot_neither_scores,
    plot_roc_curve,
    plot_training_curves,
    predict,
    register_model,
)

# Per split, 3 cats and 3 dogs: one cat called dog (0.9), one dog called cat (0.2).
PROBABILITIES = [0.1, 0.4, 0.9, 0.8, 0.7, 0.2]
PREDICTIONS = pd.concat(
    [
        pd.DataFrame(
            {
                "split": split,
                "path": [f"PetImages/{k}/{n}.jpg" for k in ("Cat", "Dog") for n in range(3)],
                "label": [0, 0, 0, 1, 1, 1],
                "dog_probability": PROBABILITIES if split == "test" else [0.1] * 3 + [0.9] * 3,
            }
        )
        for split in ("validation", "test")
    ],
    ignore_index=True,
)
TEST = PREDICTIONS[PREDICTIONS["split"] == "test"]
HISTORY = [
    {"epoch": 1, "accuracy": 0.6, "loss": 0.7, "val_accuracy": 0.65, "val_loss": 0.66},
    {"epoch": 2, "accuracy": 0.7, "loss": 0.6, "val_accuracy": 0.7, "val_loss": 0.62},
]


def test_metrics_match_hand_counts_per_split():
    report, mlflow_metrics = compute_metrics(PREDICTIONS, threshold=0.5)
    test = report["test"]
    # TP = 2 dogs, TN = 2 cats, FP = 1, FN = 1
    assert test["confusion_matrix"] == [[2, 1], [1, 2]]
    assert test["accuracy"] == pytest.approx(4 / 6)
    assert test["precision"] == pytest.approx(2 / 3)
    assert test["recall"] == pytest.approx(2 / 3)
    assert test["f1"] == pytest.approx(2 / 3)
    # dog/cat pairs with the dog ranked higher: 0.8 and 0.7 beat two cats each, 0.2 beats one
    assert test["roc_auc"] == pytest.approx(5 / 9)
    p, y = TEST["dog_probability"].to_numpy(), TEST["label"].to_numpy()
    assert test["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert test["images"] == 6
    assert report["validation"]["accuracy"] == 1.0
    assert report["validation"]["confusion_matrix"] == [[3, 0], [0, 3]]
    names = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
    assert set(mlflow_metrics) == {f"{s}_{n}" for s in ("validation", "test") for n in names}
    assert mlflow_metrics["test_accuracy"] == [{"value": test["accuracy"], "step": 0}]


def test_threshold_moves_the_decision():
    report, _ = compute_metrics(PREDICTIONS, threshold=0.95)
    assert report["test"]["confusion_matrix"] == [[3, 0], [3, 0]]
    assert report["test"]["precision"] == 0.0  # no dog predicted: defined as 0, no warning


def test_plots_are_figures_with_the_expected_content(gray_photos):
    report, _ = compute_metrics(PREDICTIONS, threshold=0.5)
    curves = plot_training_curves(HISTORY)
    assert [ax.get_ylabel() for ax in curves.axes] == ["accuracy", "loss"]
    assert all(len(ax.lines) == 2 for ax in curves.axes)  # train and validation
    confusion = plot_confusion_matrix(report)
    assert isinstance(confusion, Figure)
    assert [t.get_text() for t in confusion.axes[0].texts] == ["2", "1", "1", "2"]  # the test split
    roc = plot_roc_curve(PREDICTIONS)
    assert "AUC = 0.56" in roc.axes[0].get_legend().get_texts()[0].get_text()

    gallery = plot_misclassified(PREDICTIONS, {"test_images": gray_photos}, 0.5, gallery_size=4)
    titles = [ax.get_title() for ax in gallery.axes if ax.get_title()]
    assert titles == ["cat, P(dog)=0.90", "dog, P(dog)=0.20"]  # the two errors, worst first
    shown = [ax.images[0].get_array() for ax in gallery.axes if ax.images]
    np.testing.assert_array_equal(shown[0], gray_photos[2].squeeze())


def test_gallery_says_when_nothing_is_misclassified(gray_photos):
    perfect = PREDICTIONS.assign(dog_probability=PREDICTIONS["label"] * 0.8 + 0.1)
    gallery = plot_misclassified(perfect, {"test_images": gray_photos}, 0.5, gallery_size=4)
    assert gallery.axes[0].texts[0].get_text() == "no misclassified test photo"


def test_the_split_fingerprint_changes_exactly_with_what_is_measured():
    splits = pd.DataFrame(
        {
            "path": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
            "sha256": ["1" * 64, "2" * 64, "3" * 64, "4" * 64],
            "label": ["cat", "dog", "cat", "dog"],
            "split": ["train", "validation", "test", ""],
        }
    )
    fingerprint = fingerprint_splits(splits)
    assert fingerprint == fingerprint_splits(splits.iloc[::-1])  # row order does not matter
    retrained_on_more = splits.assign(split=["train", "validation", "test", "train"])
    assert fingerprint_splits(retrained_on_more) == fingerprint
    swapped = splits.assign(split=["validation", "train", "test", ""])
    assert fingerprint_splits(swapped) != fingerprint
    relabelled = splits.assign(label=["cat", "cat", "cat", "dog"])
    assert fingerprint_splits(relabelled) != fingerprint


@pytest.fixture
def small_model(gray_photos: np.ndarray, tmp_path: Path) -> tuple[keras.Model, bytes]:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(gray_photos.shape[1:], name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "model.keras")
    return model, (tmp_path / "model.keras").read_bytes()


def test_predictions_cover_validation_then_test_in_set_order(small_model, gray_photos):
    model, _ = small_model
    model_input = {
        f"{split}_{kind}": value
        for split in ("validation", "test")
        for kind, value in (
            ("images", gray_photos),
            ("labels", np.array([0, 0, 0, 1, 1, 1], dtype=np.uint8)),
            ("paths", np.array([f"{split}/{n}.jpg" for n in range(6)])),
        )
    }
    predictions = predict(model, model_input, batch_size=4)
    assert predictions["split"].tolist() == ["validation"] * 6 + ["test"] * 6
    assert predictions["path"].tolist()[6:] == [f"test/{n}.jpg" for n in range(6)]
    expected = model.predict(gray_photos.astype("float32"), verbose=0).ravel()
    np.testing.assert_allclose(predictions["dog_probability"].to_numpy()[6:], expected, rtol=1e-6)


def test_registering_tags_the_version_with_its_runs_and_records_content_only(
    mlflow_store, small_model, gray_photos
):
    model, file = small_model
    report, _ = compute_metrics(PREDICTIONS, threshold=0.5)
    with mlflow.start_run(
        tags={
            "variant": "cnn",
            "trained_model_md5": model_md5(file),
            "git_commit": "c" * 40,
            "git_dirty": "false",
            "data_md5": "d" * 32,
        }
    ) as training:
        pass
    arguments = {
        "metrics": report,
        "split_sha256": "f" * 64,
        "architecture": "cnn",
        "image": {"height": 64, "width": 64, "color_mode": "grayscale", "interpolation": "area"},
        "registered_model_name": "cat_dog_classifier",
        "variant": "cnn",
    }
    with mlflow.start_run() as evaluation:
        record, tags = register_model(model, file, {"test_images": gray_photos}, **arguments)

    assert tags == {"registered_version": "1", "registered_run_id": evaluation.info.run_id}
    assert record["model_md5"] == model_md5(file)
    assert record["data_md5"] == "d" * 32
    # What DVC tracks holds nothing another run or store would hand out otherwise.
    assert not set(record) & {"version", "registered_run_id", "training_run_id", "git_commit"}
    assert record["input"] == {
        "height": 64,
        "width": 64,
        "channels": 1,
        "color_mode": "grayscale",
        "interpolation": "area",
    }
    assert "confusion_matrix" not in record["test"]
    version = MlflowClient().get_model_version("cat_dog_classifier", "1")
    assert version.tags["validation_accuracy"] == "1.0"
    assert version.tags["training_run_id"] == training.info.run_id
    assert version.tags["git_commit"] == "c" * 40

    with mlflow.start_run():  # evaluating the same file again registers nothing new
        again, again_tags = register_model(model, file, {"test_images": gray_photos}, **arguments)
    assert again == record
    assert again_tags["registered_version"] == "1"
    assert len(MlflowClient().search_model_versions("name = 'cat_dog_classifier'")) == 1


# With the third answer: in the test split, 6 pets (one rejected, 0.7) and 4 other things (one
# taken for a pet, 0.2); no other thing in the validation split.
WITH_NEITHER = pd.concat(
    [
        PREDICTIONS.assign(neither_score=[0.1] * 6 + [0.1, 0.2, 0.3, 0.7, 0.1, 0.4]),
        pd.DataFrame(
            {
                "split": "test",
                "path": [f"neither/{n}.jpg" for n in range(4)],
                "label": 2,
                "dog_probability": [0.5, 0.9, 0.1, 0.6],
                "neither_score": [0.9, 0.8, 0.2, 0.95],
            }
        ),
    ],
    ignore_index=True,
)


def test_the_third_answer_is_measured_on_pets_and_other_things():
    report, mlflow_metrics = compute_metrics(WITH_NEITHER, threshold=0.5)
    test = report["test"]
    assert test["accuracy"] == pytest.approx(4 / 6)  # cat/dog metrics on the pets alone
    assert test["neither_rejected"] == pytest.approx(3 / 4)
    assert test["pets_rejected"] == pytest.approx(1 / 6)
    assert test["neither_images"] == 4
    # AUROC: the share of (other thing, pet) pairs where the other thing scores higher
    pairs = [(o, p) for o in (0.9, 0.8, 0.2, 0.95) for p in (0.1, 0.2, 0.3, 0.7, 0.1, 0.4)]
    expected = sum(1.0 if o > p else 0.5 if o == p else 0.0 for o, p in pairs) / len(pairs)
    assert test["neither_roc_auc"] == pytest.approx(expected)
    assert "test_neither_rejected" in mlflow_metrics and "test_neither_images" not in mlflow_metrics
    assert "neither_rejected" not in report["validation"]  # no photo of other things there


def test_the_third_answers_plots(gray_photos):
    histogram = plot_neither_scores(WITH_NEITHER)
    assert [t.get_text() for t in histogram.axes[0].get_legend().get_texts()] == [
        "cats and dogs",
        "neither",
        "threshold",
    ]
    others = np.stack([gray_photos[0]] * 4)
    gallery = plot_neither_mistakes(
        WITH_NEITHER, {"test_images": gray_photos, "test_neither_images": others}, 4
    )
    titles = [ax.get_title() for ax in gallery.axes if ax.get_title()]
    assert titles == ["dog, score 0.70", "other, score 0.20"]
    nothing = plot_neither_scores(TEST)
    assert nothing.axes[0].texts[0].get_text() == "no third answer for this variant"
