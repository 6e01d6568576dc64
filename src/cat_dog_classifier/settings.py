"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from cat_dog_classifier.hooks import VariantRunHooks

# kedro-mlflow registers its own hooks (one MLflow run per `kedro run`);
# this one adds a child run per model variant.
HOOKS = (VariantRunHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Lets mlflow.yml read its tracking URI from the environment (tests use a temporary store).
    "custom_resolvers": {"oc.env": oc.env},
}
