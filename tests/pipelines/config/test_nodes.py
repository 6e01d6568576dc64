"""The config node: Kedro's parameters as DVC reads them."""

from cat_dog_classifier.pipelines.config.nodes import resolve_parameters


def test_parameters_are_kept_but_the_anchor_only_keys():
    parameters = {
        "_training": {"epochs": 8},
        "variants": {"cnn": {"training": {"epochs": 5}}},
        "registered_model_name": "cat_dog_classifier",
    }
    resolved = resolve_parameters(parameters)
    assert resolved["variants"] == parameters["variants"]
    assert resolved["registered_model_name"] == "cat_dog_classifier"
    assert "_training" not in resolved
    assert "Edit conf/" in resolved["_generated"]
