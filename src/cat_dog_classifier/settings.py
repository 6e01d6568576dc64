"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from cat_dog_classifier.hooks import DvcConfigGuardHooks, VariantRunHooks

# kedro-mlflow registers its own hooks (one MLflow run per `kedro run`); these add a child run per
# model variant with lineage tags, and keep `dvc repro` off configuration that DVC cannot see.
HOOKS = (VariantRunHooks(), DvcConfigGuardHooks())

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
