"""Project CLI: Kedro's own `kedro run`, whose `--params` also takes lists and mappings, and
`kedro train-worker`, a worker's part of multi-worker training.

Kedro 1.7 splits `--params` on every comma (kedro-org/kedro#2552), so
`--params "export.variants=[cnn,transfer]"` would fail. Here a comma inside [...] or {...} stays in
its value; every value is then parsed by OmegaConf as YAML, exactly as Kedro does.
Kedro loads this module's `cli` group and lets its commands replace the built-in ones.
"""

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import numpy as np
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import settings
from kedro.framework.startup import ProjectMetadata
from omegaconf import OmegaConf

LISTS_HELP = " Lists and mappings work too: key=[2,1],other.key={a: 1}."


def split_params(ctx: click.Context, param: click.Parameter, value: Any) -> dict[str, Any]:
    """`key=value,...` as a nested dict; dotted keys nest, values are YAML."""
    if isinstance(value, dict):  # `params:` of a --config file, already parsed
        return value
    dot_list = []
    for item in split_outside_brackets(value):
        key, equals, rest = item.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value.", ctx, param)
        dot_list.append(f"{key.strip()}={rest}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(dot_list))


def split_outside_brackets(text: str) -> list[str]:
    """`text` cut at the commas that are not inside [...] or {...}; blank items dropped."""
    items, start, depth = [], 0, 0
    for index, char in enumerate(text):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            items.append(text[start:index])
            start = index + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _with_lists(option: click.Parameter) -> click.Parameter:
    if option.name != "params":
        return option
    option = copy.copy(option)
    option.callback = split_params
    option.help = (option.help or "") + LISTS_HELP
    return option


@click.group(name="cat_dog_classifier")
def cli() -> None:
    """Commands of this project."""


run = copy.copy(kedro_run)
run.params = [_with_lists(option) for option in kedro_run.params]
cli.add_command(run, "run")


@cli.command("train-worker")
@click.option("--variant", required=True, help="The variant the chief trains (its namespace).")
@click.option("--env", "-e", default=None, help="Kedro run environment, the chief's (local).")
@click.option(
    "--params",
    default="",
    callback=split_params,
    help="Parameter overrides, the chief's: key=value,other.key=value." + LISTS_HELP,
)
@click.option(
    "--dump",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write this worker's final weights, history and training info to this .npz file "
    "(to compare them with the chief's model); without it the worker writes nothing.",
)
@click.pass_obj
def train_worker(
    metadata: ProjectMetadata, variant: str, env: str | None, params: dict, dump: Path | None
) -> None:
    """Train VARIANT on a worker of a multi-worker cluster other than its chief, writing nothing.

    Run it on each other machine (TF_CONFIG names the cluster and this machine's place in it)
    while the chief runs `dvc repro train@VARIANT` or `kedro run --pipelines train --namespaces
    VARIANT`, with the same parameters (`training.strategy: multi_worker`) and preprocessed set.
    It reads them through the Kedro catalog as the chief does and trains alongside it, on its
    shard of the photos; the chief alone writes the model, its history and the MLflow run.
    """
    if not os.environ.get("TF_CONFIG"):
        raise click.UsageError(
            "TF_CONFIG is not set: it names the cluster's workers and this one's index "
            "(docs/training.md, Several devices or machines)"
        )
    project = metadata.project_path
    config = _config_loader(project, env, params)
    block = worker_parameters(config, variant)
    from cat_dog_classifier.training import check_role, fit_variant  # noqa: PLC0415 - TensorFlow

    check_role("multi_worker", worker=True)  # at once: the chief would wait for the cluster first
    model_input, initial_model = worker_inputs(project, config, variant)
    model, history, info = fit_variant(
        model_input, block["model"], block["training"], initial_model, worker=True
    )
    click.echo(
        f"Worker {info['worker']} of {info['workers']} trained {variant} on "
        f"{info['train_photos']} photos an epoch, {len(history)} epochs; the chief writes the "
        "model, its history and the MLflow run"
    )
    if dump is not None:
        weights = {f"weight_{i:03d}": array for i, array in enumerate(model.get_weights())}
        np.savez(dump, history=json.dumps(history), info=json.dumps(info), **weights)
        click.echo(f"Its weights, history and training info: {dump}")


def _config_loader(project: Path, env: str | None, params: dict[str, Any]) -> Any:
    """Kedro's configuration of run environment `env` with `params` overrides, as `kedro run`'s."""
    return settings.CONFIG_LOADER_CLASS(
        conf_source=str(project / settings.CONF_SOURCE),
        env=env,
        runtime_params=params,
        **settings.CONFIG_LOADER_ARGS,
    )


def worker_parameters(config: Any, variant: str) -> dict[str, Any]:
    """`variant`'s parameter block in Kedro's configuration `config`, as the chief's `kedro run`
    reads it; its training.strategy must be multi_worker."""
    variants = config["parameters"]["variants"]
    if variant not in variants:
        raise click.BadParameter(
            f"{variant!r} is none of {sorted(variants)}", param_hint="--variant"
        )
    block = variants[variant]
    if block["training"]["strategy"] != "multi_worker":
        raise click.UsageError(
            f"variants.{variant}.training.strategy is {block['training']['strategy']!r} here: "
            "set it to multi_worker, as on the chief (conf/local or --params)"
        )
    return block


def worker_inputs(
    project: Path, config: Any, variant: str
) -> tuple[Mapping[str, np.ndarray], bytes | None]:
    """What the chief's train node reads for `variant` besides its parameters, through the Kedro
    catalog of configuration `config`: its model input, and the bytes of the model it starts from
    (None when trained from scratch). No Kedro session: no hook runs, no MLflow run starts."""
    from cat_dog_classifier.config import base_config  # noqa: PLC0415 - the pipelines' own view
    from cat_dog_classifier.pipelines.train.pipeline import initial_model  # noqa: PLC0415

    catalog = settings.DATA_CATALOG_CLASS.from_config(config["catalog"])
    variants = config["parameters"]["variants"]
    block = variants[variant]
    source = initial_model(variant, block, base_config("catalog", project), variants)
    model_input = catalog.load(f"{block['model_input']}.model_input")
    return model_input, catalog.load(source) if source else None
