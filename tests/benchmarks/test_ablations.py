"""benchmarks/ablations.py: which experiments `--only` runs."""

from tests.benchmarks.conftest import load_benchmark


def test_only_chooses_the_experiments_whose_label_has_the_text():
    ablations = load_benchmark("ablations")
    experiments = ablations.STUDIES["cnn-augmentation-rate"][1]

    chosen = ablations.chosen_experiments(experiments, "5e-4")

    assert list(chosen) == ["cosine 5e-4, batch 32, 28 epochs, patience 4"]
    assert chosen[next(iter(chosen))] == {"variants.cnn_dropout_aug.training.learning_rate": 5e-4}
    assert ablations.chosen_experiments(experiments, None) == experiments
    assert ablations.chosen_experiments(experiments, "1e-9") == {}
