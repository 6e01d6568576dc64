"""Cat-vs-dog classifiers: Kedro pipelines from raw photos to a TF.js camera demo."""

__version__ = "0.1.0"
