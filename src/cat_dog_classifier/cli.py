"""Project CLI: Kedro's own `kedro run`, whose `--params` also takes lists and mappings.

Kedro 1.7 splits `--params` on every comma (kedro-org/kedro#2552), so
`--params "export.variants=[cnn,transfer]"` would fail. Here a comma inside [...] or {...} stays in
its value; every value is then parsed by OmegaConf as YAML, exactly as Kedro does.
Kedro loads this module's `cli` group and lets its commands replace the built-in ones.
"""

import copy
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
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
