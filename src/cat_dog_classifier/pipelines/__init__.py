"""One sub-package per Kedro pipeline."""
