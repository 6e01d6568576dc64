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

With `--pets-elsewhere` (a zip or folder of `cat/` and `dog/` photos from another source than
PetImages; by default ../shared/data/pets_imagenet.zip where it exists), those pets are measured
too, never fitted or calibrated on: the share rejected and the AUROC against the test "neither"
photos, each photo preprocessed as training would (`preprocess_image`) and as the page's camera
sees it (stretched to 640x480, through 4:2:0 YUV as Chromium's fake camera, then resized), and the
model's cat/dog accuracy on them.

With `--looks` (on by default; `--no-looks` leaves it out), the detectors that should not read how a
photo was taken are measured beside them (cat_dog_classifier.looks): the fitted pets also in every
other look (sharpened, re-compressed, softened, cropped, noisy, mixed), the "nearest pet" detector
(cosine distance of the unit features to the nearest fitted pet), and each of these with the
classifier's own confidence added (`+ confidence w`: the distance and minus |logit| of P(dog), each
scaled by its spread on validation pets, the second weighted by w). To choose among them without
the pets from elsewhere, every row also reports the validation pets in a mixed look of other draws
("pets in other looks rejected"), the stand-in a choice may be made on. The row "shipped: ..." is
the detector the pipeline builds into the model from the variant's `neither` parameters
(conf/base/parameters_train.yml), fitted as `make run` fits it.
Prints a table and writes benchmarks/results/neither.md.
"""

import argparse
import io
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cat_dog_classifier.images import ImageSpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "neither.md"
PETS_ELSEWHERE = SHARED / "data" / "pets_imagenet.zip"
CAMERA = (640, 480)  # the page asks for 640x480 frames
SPLITS = ("train", "validation", "test")


def decode_all(files: list[tuple[str, bytes]], spec: "ImageSpec") -> np.ndarray:
    """The photos preprocessed exactly as training's set was."""
    from cat_dog_classifier.images import preprocess_image  # noqa: PLC0415

    return np.stack([preprocess_image(data, spec) for _, data in files])


def sample_photos(folder: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((SHARED / "samples" / folder).glob("*"))]


def elsewhere_photos(source: Path) -> list[tuple[str, bytes, int]]:
    """(name, bytes, label: 0 cat, 1 dog) of every photo under a `cat/` or `dog/` folder of a zip
    or a folder."""
    if source.is_dir():
        files = [(str(p), p.read_bytes()) for p in sorted(source.rglob("*")) if p.is_file()]
    else:
        with zipfile.ZipFile(source) as archive:
            names = sorted(n for n in archive.namelist() if not n.endswith("/"))
            files = [(name, archive.read(name)) for name in names]
    photos = []
    for name, data in files:
        folders = Path(name).parts[:-1]
        if "cat" in folders or "dog" in folders:
            photos.append((name, data, int("dog" in folders)))
    if not photos:
        raise SystemExit(f"{source}: no photos under a cat/ or dog/ folder")
    return photos


def camera_view(data: bytes, spec: "ImageSpec") -> np.ndarray:
    """A photo as the page's camera path gives it to the model: stretched to the camera's
    640x480, through 4:2:0 YUV (BT.601, as Chromium's fake camera), then gray and resized as
    training does (the page's preprocessing is OpenCV's to the bit)."""
    import cv2  # noqa: PLC0415
    from PIL import Image, ImageOps  # noqa: PLC0415

    from cat_dog_classifier.images import resize  # noqa: PLC0415

    rgb = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    frame = cv2.resize(rgb, CAMERA, interpolation=cv2.INTER_AREA)
    frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)
    if spec.color_mode == "grayscale":
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., np.newaxis]
    return resize(frame, spec.height, spec.width, spec.interpolation)


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
        **(
            {
                "pets in other looks rejected": float(
                    np.mean(scores["validation_pets_in_looks"] > threshold)
                )
            }
            if "validation_pets_in_looks" in scores
            else {}
        ),
        "samples/other rejected": f"{int(np.sum(scores['samples_other'] > threshold))}/"
        f"{len(scores['samples_other'])}",
        "sample pets rejected": f"{int(np.sum(scores['samples_pets'] > threshold))}/"
        f"{len(scores['samples_pets'])}",
    } | elsewhere_results(scores, threshold)


def elsewhere_results(scores: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    """Pets from elsewhere: the share rejected (as photos, and through the camera), and the AUROC
    of photos against the test's other things."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    if "elsewhere_pets" not in scores:
        return {}
    others = scores["test_neither"]
    both = np.r_[scores["elsewhere_pets"], others]
    truth = np.r_[np.zeros(len(scores["elsewhere_pets"])), np.ones(len(others))]
    return {
        "pets elsewhere rejected": float(np.mean(scores["elsewhere_pets"] > threshold)),
        "via camera": float(np.mean(scores["elsewhere_camera"] > threshold)),
        "AUROC (elsewhere)": roc_auc_score(truth, both),
    }


def variant_features(
    model_file: Path,
    data: dict,
    spec: "ImageSpec",
    *,
    fit_pets: int,
    copies: int,
    seed: int,
    elsewhere: list[tuple[str, bytes, int]],
    looks: bool = False,
    shipped: dict | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, float], dict, dict | None]:
    """The model's features of every group of photos measured, the fitted pets' labels, its
    cat/dog accuracy on the pets from elsewhere (as photos, and through the camera), and its
    classifier's last layer (`logit_weights`, `logit_bias`: what turns features into the logit of
    P(dog)). With `looks`, also the fitted pets in each look (`train_pets_in_<look>`) and the
    validation pets in a mixed look (`validation_pets_in_looks`). With `shipped` (the variant's
    `neither` parameters), also the detector `make run` builds into the model, fitted as the
    pipeline fits it."""
    import keras  # noqa: PLC0415

    from cat_dog_classifier.looks import LOOKS, in_look  # noqa: PLC0415
    from cat_dog_classifier.neither import (  # noqa: PLC0415
        classifier_layer,
        fit_detector,
        predict_features,
    )

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
    if looks:
        for index, look in enumerate(LOOKS):
            in_other_look = in_look(pets["train"][0], look, seed + index)
            features[f"train_pets_in_{look}"] = predict_features(model, in_other_look, batch)
        other_draws = in_look(pets["validation"][0], "mixed", seed + len(LOOKS))
        features["validation_pets_in_looks"] = predict_features(model, other_draws, batch)
    kernel, bias = classifier_layer(model).get_weights()
    classifier = {"logit_weights": kernel[:, 0].astype("float64"), "logit_bias": float(bias[0])}
    detector = fit_detector(model, data, shipped) if shipped else None
    accuracy = {}
    if elsewhere:
        labels = np.array([label for _, _, label in elsewhere])
        views = {
            "elsewhere_pets": decode_all([(name, data) for name, data, _ in elsewhere], spec),
            "elsewhere_camera": np.stack([camera_view(data, spec) for _, data, _ in elsewhere]),
        }
        for key, images in views.items():
            features[key] = predict_features(model, images, batch)
            dog = model.predict(images.astype("float32"), batch_size=batch, verbose=0)
            dog = dog["dog_probability"] if isinstance(dog, dict) else dog
            accuracy[key] = float(np.mean((np.ravel(dog) >= 0.5) == labels))
    return features, pets["train"][1], accuracy, classifier, detector


def with_confidence(
    distance: dict[str, np.ndarray], negative_confidence: dict[str, np.ndarray], weight: float
) -> dict[str, np.ndarray]:
    """The distance plus `weight` times minus the classifier's confidence, each first scaled by its
    median and spread on the validation pets, so that the weight means the same for every model."""

    def scaled(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        reference = scores["validation_pets"]
        centre, spread = np.median(reference), np.std(reference) or 1.0
        return {key: (value - centre) / spread for key, value in scores.items()}

    distance, negative_confidence = scaled(distance), scaled(negative_confidence)
    return {key: distance[key] + weight * negative_confidence[key] for key in distance}


def look_detectors(
    form: dict[str, np.ndarray],
    raw: dict[str, np.ndarray],
    train_labels: np.ndarray,
    measured: list[str],
    classifier: dict,
) -> dict[str, dict[str, np.ndarray]]:
    """The scores of every group measured by the detectors that see the pets in other looks
    (unit-length features `form`, raw features `raw`; `classifier`: its last layer, for the
    confidence). The nearest-pet distance and the confidence are the shipped detector's own
    (`nearest_pet_parts`), on banks the pipeline does not build."""
    from cat_dog_classifier.looks import LOOKS  # noqa: PLC0415
    from cat_dog_classifier.neither import (  # noqa: PLC0415
        mahalanobis_distance,
        mahalanobis_statistics,
        nearest_pet_parts,
    )

    in_looks = np.concatenate([form["train_pets"]] + [form[f"train_pets_in_{k}"] for k in LOOKS])
    labels_in_looks = np.tile(train_labels, len(LOOKS) + 1)
    statistics = mahalanobis_statistics(in_looks, labels_in_looks)

    def nearest_pet(bank: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        parts = classifier | {"bank": bank, "confidence_cap": 12.0}
        return {key: nearest_pet_parts(raw[key], parts) for key in measured}

    as_they_are, in_all_looks = nearest_pet(form["train_pets"]), nearest_pet(in_looks)
    negative_confidence = {key: confidence for key, (_, confidence) in in_all_looks.items()}
    detectors = {
        "nearest pet": {key: distance for key, (distance, _) in as_they_are.items()},
        "nearest pet, in looks": {key: distance for key, (distance, _) in in_all_looks.items()},
        "mahalanobis, in looks": {k: mahalanobis_distance(form[k], statistics) for k in measured},
    }
    for name in ("mahalanobis, in looks", "nearest pet, in looks"):
        for weight in (0.5, 1.0):
            detectors[f"{name} + confidence {weight}"] = with_confidence(
                detectors[name], negative_confidence, weight
            )
    return detectors


def shipped_name(settings: dict) -> str:
    """The table's name for the detector the pipeline builds, from its parameters."""
    name = f"shipped: {settings['detector']}, {settings['fit_pets']} pets"
    if settings["detector"] == "nearest_pet":
        looks = settings.get("looks") or []
        name += f" as they are or in {len(looks)} looks" if looks else ""
        weight = settings.get("confidence_weight") or 0
        name += f" + confidence {weight}" if weight else ""
    return name


def report_text(
    rows: list[dict], arguments: argparse.Namespace, others: dict, accuracies: dict, elsewhere: int
) -> str:
    """The table, and what it was measured on."""
    table = pd.DataFrame(rows)
    for column in ("AUROC (test)", "AUROC (elsewhere)"):
        if column in table:
            table[column] = table[column].map(lambda v: f"{v:.4f}")
    for column in (
        "neither rejected (test)",
        "pets rejected (test)",
        "neither rejected (validation)",
        "pets in other looks rejected",
        "pets elsewhere rejected",
        "via camera",
    ):
        if column in table:
            table[column] = table[column].map(lambda v: f"{v:.1%}")
    elsewhere_note = ""
    if elsewhere:
        scores = "; ".join(
            f"{variant} {a['elsewhere_pets']:.1%} as photos,"
            f" {a['elsewhere_camera']:.1%} through the camera"
            for variant, a in accuracies.items()
        )
        elsewhere_note = (
            f"Pets from elsewhere: {elsewhere} photos of `{arguments.pets_elsewhere.name}`,"
            " measured only (never fitted or calibrated on), as photos and through the camera"
            f" path (640x480, 4:2:0 YUV). Cat/dog accuracy on them: {scores}.\n\n"
        )
    return (
        '# Which "no cat or dog" detector\n\n`python benchmarks/neither.py '
        f"--fit-pets {arguments.fit_pets} --pet-acceptance "
        f"{' '.join(map(str, arguments.pet_acceptance))}"
        f"{'' if arguments.looks else ' --no-looks'}`: "
        f"fitted on {arguments.fit_pets} training pets (and {others.get('train')} training "
        f'"neither" photos, x{arguments.augmented_copies + 1} augmented for the last), the '
        "threshold set to accept the given share of validation pets; measured on "
        f'the test pets and {others.get("test")} test "neither" photos. Goal: >= 95% of '
        '"neither" rejected, <= 2% of pets.\n\n'
        + elsewhere_note
        + table.to_markdown(index=False)
        + "\n"
    )


def parse_arguments() -> argparse.Namespace:
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
    parser.add_argument(
        "--looks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the detectors fitted on pets in other looks, and the nearest-pet detector",
    )
    parser.add_argument(
        "--pets-elsewhere",
        type=Path,
        default=PETS_ELSEWHERE if PETS_ELSEWHERE.exists() else None,
        help="zip or folder of cat/ and dog/ photos from another source, measured only",
    )
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    elsewhere = elsewhere_photos(arguments.pets_elsewhere) if arguments.pets_elsewhere else []
    os.chdir(PROJECT_ROOT)

    from cat_dog_classifier.config import base_config  # noqa: PLC0415
    from cat_dog_classifier.datasets import NpzDataset  # noqa: PLC0415
    from cat_dog_classifier.neither import (  # noqa: PLC0415
        detector_score,
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
    accuracies: dict[str, dict[str, float]] = {}
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
        shipped = block.get("neither")
        features, train_labels, accuracy, classifier, detector = variant_features(
            model_file,
            data,
            spec,
            fit_pets=arguments.fit_pets,
            copies=arguments.augmented_copies,
            seed=seed,
            elsewhere=elsewhere,
            looks=arguments.looks,
            shipped=shipped,
        )
        if accuracy:
            accuracies[variant] = accuracy
        measured = [
            "validation_pets",
            "test_pets",
            "validation_neither",
            "test_neither",
            "samples_other",
            "samples_pets",
        ] + (["elsewhere_pets", "elsewhere_camera"] if elsewhere else [])
        measured += ["validation_pets_in_looks"] if arguments.looks else []

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
            scored = {
                name: {key: score(form[key]) for key in measured}
                for name, score in detectors.items()
            }
            if unit and arguments.looks:
                scored |= look_detectors(form, features, train_labels, measured, classifier)
            if unit and detector is not None:
                scored[shipped_name(shipped)] = {
                    key: detector_score(features[key], detector) for key in measured
                }
            for name, scores in scored.items():
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

    report = report_text(rows, arguments, others, accuracies, len(elsewhere))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
