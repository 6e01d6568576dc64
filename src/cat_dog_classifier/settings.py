"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from cat_dog_classifier.hooks import DvcConfigGuardHooks, VariantMlflowHook

# kedro-mlflow's hook, made to log one run per model variant (VariantMlflowHook, in place of the
# plugin's own, which would log every run twice), and the guard that keeps `dvc repro` off
# configuration that DVC cannot see.
# (Kedro compares the distribution's name as its metadata spells it: kedro_mlflow in its wheels.)
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")
HOOKS = (VariantMlflowHook(), DvcConfigGuardHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local (or --env) overrides one nested parameter, e.g. variants.cnn.training.epochs, and
    # keeps the rest of its block (Kedro's default would replace the whole top-level key).
    "merge_strategy": {"parameters": "soft"},
    # Lets mlflow.yml read its tracking URI from the environment (tests use a temporary store).
    "custom_resolvers": {"oc.env": oc.env},
}
