"""Which "no cat or dog" detector: each approach measured on the same trained models and photos.

    python benchmarks/neither.py                          # every variant trained in data/06_models
    python benchmarks/neither.py --variants transfer --fit-pets 2000

For each trained variant (data/06_models/variants/<variant>.keras, as `dvc repro` leaves them) and
its preprocessed set, the detectors of `cat_dog_classifier.neither` are fitted on the model's own
features of training pets (and, for the logistic one, of the training "neither" photos), on the raw
features and on the features scaled to unit length (`unit_features`), calibrated so that each
`--pet-acceptance` share of validation pets is accepted, and measured on the test pets and the test
"neither" photos: AUROC, the share of "neither" photos rejected and of pets wrongly rejected at the
calibrated threshold, and on the shared samples (3 other photos, 7 pets) as a check from another
source. The "neither" photos are the pipeline's own (`{split}_neither_images` of the variant's
preprocessed set: ingest.neither_source, split 60/20/20).
Prints a table and writes benchmarks/results/neither.md.
"""

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cat_dog_classifier.images import ImageSpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "neither.md"
SPLITS = ("train", "validation", "test")


def decode_all(files: list[tuple[str, bytes]], spec: "ImageSpec") -> np.ndarray:
    """The photos preprocessed exactly as training's set was."""
    from cat_dog_classifier.images import preprocess_image  # noqa: PLC0415

    return np.stack([preprocess_image(data, spec) for _, data in files])


def sample_photos(folder: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((SHARED / "samples" / folder).glob("*"))]


def augmented(images: np.ndarray, copies: int, seed: int) -> np.ndarray:
    from cat_dog_classifier.augmentation import augment  # noqa: PLC0415

    params = {"rotation": 0.05, "zoom": 0.15, "contrast": 0.2}
    rng = np.random.default_rng(seed)
    return np.concatenate([images] + [augment(images, params, rng) for _ in range(copies)])


def evaluate_detector(scores: dict[str, np.ndarray], acceptance: float) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    from cat_dog_classifier.neither import calibrate  # noqa: PLC0415

    threshold, _ = calibrate(scores["validation_pets"], acceptance)
    test = np.r_[scores["test_pets"], scores["test_neither"]]
    truth = np.r_[np.zeros(len(scores["test_pets"])), np.ones(len(scores["test_neither"]))]
    return {
        "AUROC (test)": roc_auc_score(truth, test),
        "neither rejected (test)": float(np.mean(scores["test_neither"] > threshold)),
        "pets rejected (test)": float(np.mean(scores["test_pets"] > threshold)),
        "neither rejected (validation)": float(np.mean(scores["validation_neither"] > threshold)),
        "samples/other rejected": f"{int(np.sum(scores['samples_other'] > threshold))}/"
        f"{len(scores['samples_other'])}",
        "sample pets rejected": f"{int(np.sum(scores['samples_pets'] > threshold))}/"
        f"{len(scores['samples_pets'])}",
    }


def variant_features(
    model_file: Path, data: dict, spec: "ImageSpec", *, fit_pets: int, copies: int, seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The model's features of every group of photos measured, and the fitted pets' labels."""
    import keras  # noqa: PLC0415

    from cat_dog_classifier.neither import predict_features  # noqa: PLC0415

    model = keras.saving.load_model(model_file)
    batch = 64
    rng = np.random.default_rng(seed)
    fit_index = np.sort(rng.permutation(len(data["train_labels"]))[:fit_pets])
    pets = {
        "train": (data["train_images"][fit_index], data["train_labels"][fit_index]),
        "validation": (data["validation_images"], data["validation_labels"]),
        "test": (data["test_images"], data["test_labels"]),
    }
    features = {
        f"{split}_pets": predict_features(model, images, batch)
        for split, (images, _) in pets.items()
    }
    neither_images = {split: np.asarray(data[f"{split}_neither_images"]) for split in SPLITS}
    features |= {
        f"{split}_neither": predict_features(model, images, batch)
        for split, images in neither_images.items()
    }
    features["samples_other"] = predict_features(
        model, decode_all(sample_photos("other"), spec), batch
    )
    features["samples_pets"] = predict_features(
        model, decode_all(sample_photos("cat") + sample_photos("dog"), spec), batch
    )
    features["train_neither_augmented"] = predict_features(
        model, augmented(neither_images["train"], copies, seed), batch
    )
    return features, pets["train"][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+")
    parser.add_argument("--fit-pets", type=int, default=5000, help="training pets fitted on")
    parser.add_argument(
        "--pet-acceptance",
        type=float,
        nargs="+",
        default=[0.98, 0.99],
        help="shares of validation pets the threshold accepts (one row each)",
    )
    parser.add_argument("--augmented-copies", type=int, default=4)
    arguments = parser.parse_args()
    os.chdir(PROJECT_ROOT)

    from cat_dog_classifier.config import base_config  # noqa: PLC0415
    from cat_dog_classifier.datasets import NpzDataset  # noqa: PLC0415
    from cat_dog_classifier.neither import (  # noqa: PLC0415
        fit_logistic,
        mahalanobis_distance,
        mahalanobis_statistics,
        unit_length,
    )
    from cat_dog_classifier.pipelines.preprocess.nodes import image_spec  # noqa: PLC0415

    parameters = base_config("parameters", PROJECT_ROOT)
    seed = parameters["preprocess"]["split"]["seed"]
    rows = []
    others: dict[str, int] = {}
    for variant in arguments.variants or list(parameters["variants"]):
        model_file = PROJECT_ROOT / "data" / "06_models" / "variants" / f"{variant}.keras"
        if not model_file.is_file():
            print(f"{variant}: no trained model at {model_file}, skipped")
            continue
        block = parameters["variants"][variant]
        spec = image_spec(  # as preprocessing made the variant's set
            parameters[block["model_input"]]["image"], parameters["preprocess"]["jpeg_dct_scaling"]
        )
        data = NpzDataset(f"data/05_model_input/{block['model_input']}.npz").load()
        others = {split: len(data[f"{split}_neither_images"]) for split in SPLITS}
        if not others["test"]:
            print(f"{variant}: no photos of other things in its set (ingest.neither_source)")
            continue
        features, train_labels = variant_features(
            model_file,
            data,
            spec,
            fit_pets=arguments.fit_pets,
            copies=arguments.augmented_copies,
            seed=seed,
        )
        measured = (
            "validation_pets",
            "test_pets",
            "validation_neither",
            "test_neither",
            "samples_other",
            "samples_pets",
        )

        for unit in (False, True):
            form = {key: unit_length(value) if unit else value for key, value in features.items()}
            suffix = ", unit length" if unit else ""
            statistics = mahalanobis_statistics(form["train_pets"], train_labels)
            detectors = {
                "mahalanobis": lambda f, s=statistics: mahalanobis_distance(f, s),
                "relative_mahalanobis": lambda f, s=statistics: mahalanobis_distance(f, s, True),
            }
            for label, others_key in (
                ("logistic", "train_neither"),
                ("logistic, augmented", "train_neither_augmented"),
            ):
                weights, bias = fit_logistic(form["train_pets"], form[others_key], 1.0, seed)
                detectors[label] = lambda f, w=weights, b=bias: f.astype("float64") @ w + b
            for name, score in detectors.items():
                scores = {key: score(form[key]) for key in measured}
                for acceptance in arguments.pet_acceptance:
                    result = evaluate_detector(scores, acceptance)
                    rows.append(
                        {
                            "variant": variant,
                            "detector": name + suffix,
                            "pets accepted (validation)": f"{acceptance:.1%}",
                            **result,
                        }
                    )
                    print(rows[-1], flush=True)

    table = pd.DataFrame(rows)
    for column in ("AUROC (test)",):
        table[column] = table[column].map(lambda v: f"{v:.4f}")
    for column in (
        "neither rejected (test)",
        "pets rejected (test)",
        "neither rejected (validation)",
    ):
        table[column] = table[column].map(lambda v: f"{v:.1%}")
    report = (
        '# Which "no cat or dog" detector\n\n`python benchmarks/neither.py '
        f"--fit-pets {arguments.fit_pets} --pet-acceptance "
        f"{' '.join(map(str, arguments.pet_acceptance))}`: "
        f"fitted on {arguments.fit_pets} training pets (and {others.get('train')} training "
        f'"neither" photos, x{arguments.augmented_copies + 1} augmented for the last), the '
        "threshold set to accept the given share of validation pets; measured on "
        f'the test pets and {others.get("test")} test "neither" photos. Goal: >= 95% of '
        '"neither" rejected, <= 2% of pets.\n\n' + table.to_markdown(index=False) + "\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
