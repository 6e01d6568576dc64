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


def test_the_file_is_the_same_whichever_order_kedro_merged_the_files_in():
    # OmegaConfigLoader merges parameters_*.yml in directory-listing order, which differs by clone.
    parameters = {"variants": {"cnn": {"b": 1, "a": 2}}, "evaluate": {"threshold": 0.5}, "_x": 1}
    reordered = dict(reversed(parameters.items()))
    assert list(resolve_parameters(parameters).items()) == list(
        resolve_parameters(reordered).items()
    )
    # nested blocks keep the order their file gives them
    assert list(resolve_parameters(parameters)["variants"]["cnn"]) == ["b", "a"]
