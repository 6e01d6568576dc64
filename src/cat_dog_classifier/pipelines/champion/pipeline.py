"""Champion pipeline: compare every variant (config.variants); choose, record, publish the best."""

from kedro.pipeline import Node, Pipeline

from cat_dog_classifier.config import variants

from .nodes import choose_champion, collect_evaluations, plot_model_comparison, publish_champion


def create_pipeline(**kwargs) -> Pipeline:
    names = list(variants())
    return Pipeline(
        [
            Node(
                func=collect_evaluations,
                inputs={name: f"{name}.evaluation" for name in names},
                outputs="candidates",
                name="collect_evaluations",
            ),
            Node(
                func=plot_model_comparison,
                inputs="candidates",
                outputs="model_comparison_plot",
                name="plot_model_comparison",
            ),
            Node(
                func=choose_champion,
                inputs={
                    "candidates": "candidates",
                    "settings": "params:champion",
                    "registered_model_name": "params:registered_model_name",
                    **{name: f"{name}.model@bytes" for name in names},
                },
                outputs=["champion_decision", "champion_model@bytes", "champion_tags"],
                name="choose_champion",
            ),
            Node(
                func=publish_champion,
                inputs=["champion_decision", "champion_model@bytes", "params:champion"],
                outputs=None,
                name="publish_champion",
            ),
        ]
    )
