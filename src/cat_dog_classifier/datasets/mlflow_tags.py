"""Tags on the active MLflow run, saved like kedro-mlflow's metric datasets save metrics."""

from typing import Any

from kedro.io import AbstractDataset


class MlflowTagsDataset(AbstractDataset[dict[str, Any], dict[str, str]]):
    """Saves a mapping as tags of the active MLflow run (values as strings); loads them back.

    kedro-mlflow logs parameters, metrics and artifacts, not tags: this is the missing piece, so
    that nodes return tags as data and never call MLflow themselves.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata
        self._run_id: str | None = None

    def load(self) -> dict[str, str]:
        import mlflow  # noqa: PLC0415 - kept out of the import of every project dataset

        if self._run_id is None:
            raise ValueError("No tags were saved by this dataset in this session")
        return dict(mlflow.get_run(self._run_id).data.tags)

    def save(self, data: dict[str, Any]) -> None:
        import mlflow  # noqa: PLC0415

        run = mlflow.active_run()
        if run is None:  # tracking disabled for this pipeline: nothing to tag
            return
        mlflow.set_tags({key: str(value) for key, value in data.items()})
        self._run_id = run.info.run_id

    def _exists(self) -> bool:
        return self._run_id is not None

    def _describe(self) -> dict[str, Any]:
        return {}
