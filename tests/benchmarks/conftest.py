"""The benchmark scripts are not a package: each test module loads its script by path."""

import importlib.util
from types import ModuleType

from tests.conftest import PROJECT_ROOT


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module, without running its main()."""
    spec = importlib.util.spec_from_file_location(
        f"{name}_benchmark", PROJECT_ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
