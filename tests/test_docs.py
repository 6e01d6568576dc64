"""Every statement true today: what README.md and docs/*.md name exists.

A link check and a name check, not a prose review. In each document:

- every relative Markdown link or image points to an existing file, and a `#anchor` to a heading of
  that file (GitHub's slugs);
- every `make <target>` in a code span or code block is a target of the Makefile;
- every `kedro run --pipelines X[,Y]` names pipelines the project registers;
- every project path in code (`src/...`, `conf/...`, `tests/...`, `dvc.yaml`...) exists, generated
  outputs excepted (GENERATED below), and every bare file name in code (`hooks.py`) is a file of
  the project;
- every dotted key in code that starts with a top-level parameter key (`ingest.source`) exists in
  `conf/base/parameters*.yml`.

Files only, no imports of the project, no network: well under a second.
"""

import fnmatch
import os
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Generated outputs and the user's own files: named by the documents, absent from a fresh clone.
GENERATED = [
    "data/*",  # Kedro's data layers, written by the pipelines (DVC outputs)
    "web/models/*",  # the TF.js export
    "web/vendor/*",  # TF.js copied from npm by `npm run build`
    "web/node_modules/*",  # npm's install
    "benchmarks/results/*",  # what the benchmark scripts write
    "conf/local/*",  # the user's overrides (git-ignored)
    "mlflow.db",  # MLflow's tracking store
    "mlruns/*",  # MLflow's artifacts
    "mlruns",
    "kedro_params.yaml",  # the parameters as Kedro resolves them (the config stage)
    ".venv/*",  # the Python environment `make install` builds
    ".uv/*",  # the virtualenv holding uv
    ".dvc/cache/*",  # DVC's cache
    ".dvc/tmp/*",  # DVC's scratch space (its queued experiments' copies)
    ".dvc/config.local",  # the user's own DVC settings (git-ignored)
]
PATH_PREFIXES = ("src/", "conf/", "tests/", "benchmarks/", "web/", "notebooks/", "docs/", ".ci/")
PATH_PREFIXES += ("data/", "mlruns/", ".venv/", ".uv/", ".dvc/")
TOP_LEVEL_FILES = {"dvc.yaml", "dvc.lock", "Makefile", "pyproject.toml", "uv.lock", ".dvcignore"}
# A bare file name in code with one of these endings must be a file somewhere in the project.
SOURCE_SUFFIXES = (".py", ".yml", ".yaml", ".toml", ".lock", ".md", ".js", ".mjs", ".ipynb")
SOURCE_SUFFIXES += (".html", ".css", ".webmanifest")
# Names of libraries that look like file names.
NOT_FILES = {"TF.js", "Node.js"}
# Not searched for file names: environments, dependencies, outputs.
SKIPPED_DIRECTORIES = {".git", ".venv", ".uv", "node_modules", "vendor", "data", "mlruns"}
SKIPPED_DIRECTORIES |= {"__pycache__", ".dvc", ".pytest_cache", ".ruff_cache", "results"}

FENCE = re.compile(r"^ {0,3}(```|~~~)")
CODE_SPAN = re.compile(r"(`+)((?:(?!\n[ \t]*\n).)+?)\1", re.DOTALL)  # not over a blank line
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# `make` as a command: at the start of a line or span, or after `;`, `&&`, `|`, `$`.
MAKE = re.compile(r"(?:^|[;&|$])\s*make\s+((?:-\S+\s+|[A-Z_]+=\S*\s+)*)([a-z][a-z0-9-]*)", re.M)
KEDRO_PIPELINES = re.compile(r"\bkedro run\b[^\n]*?--pipelines[= ]+([\w,]+)")
DOTTED = re.compile(r"(?<![\w/.<>$-])([A-Za-z_][\w]*(?:\.(?:[\w]+|<[\w-]+>))+)(?![\w/<-])")
EXTENSION = re.compile(r"\.(?:json|py|keras|ya?ml|npz|parquet|png|md|h5|zip|js|txt)$")  # files


def split_markdown(text: str) -> tuple[list[str], list[str], list[str]]:
    """The prose lines (code blocks blanked out), the same with code spans blanked out too, and the
    code: every block and every span (a span may run over a line break, as in Markdown)."""
    prose, code, block, fence = [], [], [], None
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is None and opening:
            fence, block = opening.group(1), []
        elif fence is not None and line.strip().startswith(fence):
            code.append("\n".join(block))
            fence = None
        elif fence is not None:
            block.append(line)
        prose.append(line if fence is None and not opening else "")
    joined = "\n".join(prose)
    code += [" ".join(match.group(2).split()) for match in CODE_SPAN.finditer(joined)]
    blanked = CODE_SPAN.sub(lambda match: re.sub(r"[^\n]", " ", match.group(0)), joined)
    return prose, blanked.split("\n"), code


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered, lowercase, punctuation removed, spaces
    to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_of(text: str) -> frozenset[str]:
    """The anchors of a document's headings; a repeated heading gets -1, -2..."""
    prose, _, _ = split_markdown(text)
    seen: dict[str, int] = {}
    result = set()
    for line in prose:
        if match := HEADING.match(line):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return frozenset(result)


@cache
def anchors(path: Path) -> frozenset[str]:
    return anchors_of(path.read_text(encoding="utf-8"))


@cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return frozenset(re.findall(r"^([a-z][a-z0-9-]*)\s*:(?!=)", text, re.MULTILINE))


@cache
def registered_pipelines() -> frozenset[str]:
    """What `register_pipelines` returns without importing it (the train pipeline imports
    TensorFlow): Kedro's `find_pipelines` registers each package under `pipelines/` that defines
    `create_pipeline` (in its `pipeline.py`, or its `__init__.py`), and `__default__`."""
    folder = ROOT / "src/cat_dog_classifier/pipelines"
    names = {"__default__"}
    for package in folder.iterdir():
        files = [package / "pipeline.py", package / "__init__.py"]
        if any(f.is_file() and "def create_pipeline" in f.read_text() for f in files):
            names.add(package.name)
    return frozenset(names)


@cache
def parameters() -> dict:
    merged: dict = {}
    for path in sorted((ROOT / "conf/base").glob("parameters*.yml")):
        merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


@cache
def project_file_names() -> frozenset[str]:
    names = set()
    for _, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [d for d in subdirectories if d not in SKIPPED_DIRECTORIES]
        names.update(files)
    return frozenset(names)


def has_key(tree: object, keys: list[str]) -> bool:
    if not keys:
        return True
    if not isinstance(tree, dict):
        return False
    first, rest = keys[0], keys[1:]
    if first.startswith("<"):  # a placeholder such as <variant>: any key that has the rest
        return any(has_key(child, rest) for child in tree.values())
    return first in tree and has_key(tree[first], rest)


def generated(relative: str) -> bool:
    relative = relative.rstrip("/")
    return any(
        fnmatch.fnmatch(relative, pattern) or relative == pattern.removesuffix("/*")
        for pattern in GENERATED
    )


def path_exists(relative: str) -> bool:
    if "<" in relative:  # conf/base/catalog_<pipeline>.yml: at least one file of that form
        return any(ROOT.glob(re.sub(r"<[^>]+>", "*", relative).rstrip("/")))
    return (ROOT / relative).exists()


def check_link(document: Path, own_anchors: frozenset[str], target: str) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not checked (no network)
        return None
    location, _, anchor = target.partition("#")
    if not location:  # a heading of this document
        return None if anchor in own_anchors else f"link to a missing heading: {target}"
    linked = (document.parent / location).resolve()
    if not linked.exists():
        return f"link to a missing file: {target}"
    if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
        return f"link to a missing heading: {target}"
    return None


def check_path(token: str) -> str | None:
    """A project path (`src/...`, `dvc.yaml`) must exist; a bare source file name (`hooks.py`)
    must be a file of the project."""
    token = token.strip("\"'()[],;:")
    token = token.rsplit("=", 1)[-1].strip("\"'()[],;:")  # PYTHONPATH=src, --file=conf/...
    if token.startswith(PATH_PREFIXES) or token in TOP_LEVEL_FILES:
        if not generated(token) and not path_exists(token):
            return f"no such project path: {token}"
    elif (
        re.fullmatch(r"[\w.-]+", token)
        and token.endswith(SOURCE_SUFFIXES)
        and token not in NOT_FILES
        and not generated(token)
        and token not in project_file_names()
    ):
        return f"no project file of that name: {token}"
    return None


def check_code(code: str) -> list[str]:
    problems = [
        f"not a Makefile target: make {target}"
        for _, target in MAKE.findall(code)
        if target not in make_targets()
    ]
    problems += [
        f"not a registered pipeline: --pipelines {names}"
        for names in KEDRO_PIPELINES.findall(code)
        if not set(filter(None, names.split(","))) <= registered_pipelines()
    ]
    problems += list(filter(None, map(check_path, code.split())))
    problems += [
        f"not a parameter: {key}"
        for key in DOTTED.findall(code)
        if key.split(".")[0] in parameters()
        and not EXTENSION.search(key)
        and not has_key(parameters(), key.split("."))
    ]
    return problems


def check_document(document: Path, text: str) -> list[str]:
    """Every problem found in one Markdown document, each naming its line or code."""
    _, without_code, code = split_markdown(text)
    own_anchors = anchors_of(text)
    problems = []
    for number, line in enumerate(without_code, 1):
        for target in LINK.findall(line):
            if problem := check_link(document, own_anchors, target):
                problems.append(f"line {number}: {problem}")
    for piece in code:
        problems.extend(check_code(piece))
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_what_the_documents_name_exists(document: Path):
    problems = check_document(document, document.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


def test_every_docs_page_is_linked_from_the_index():
    index = (ROOT / "docs/index.md").read_text(encoding="utf-8")
    pages = {path.name for path in DOCUMENTS if path.parent.name == "docs"} - {"index.md"}
    linked = {Path(target.partition("#")[0]).name for target in LINK.findall(index)}
    assert pages <= linked, f"docs pages missing from docs/index.md: {sorted(pages - linked)}"


def test_the_checker_reports_each_kind_of_mistake():
    bad = "\n".join(
        [
            "# A page",
            "See [the manual](no_such_page.md), [the README](../README.md#no-such-heading) and",
            "![a picture](images/missing.png); [here](#a-page) is fine, [not here](#nowhere).",
            "Run `make deploy`, `kedro run --pipelines train,nonexistent` and read",
            "`src/cat_dog_classifier/missing.py`, `missing_module.py` and `ingest.no_such_key`;",
            "`variants.cnn.training.epochs` exists, `variants.<variant>.training.nope` does not.",
            "```bash",
            "make PYTHON=python3.11 nonexistent-target",
            "```",
        ]
    )
    problems = "\n".join(check_document(ROOT / "docs/bad.md", bad))
    for expected in [
        "line 2: link to a missing file: no_such_page.md",
        "line 2: link to a missing heading: ../README.md#no-such-heading",
        "line 3: link to a missing file: images/missing.png",
        "line 3: link to a missing heading: #nowhere",
        "not a Makefile target: make deploy",
        "not a Makefile target: make nonexistent-target",
        "not a registered pipeline: --pipelines train,nonexistent",
        "no such project path: src/cat_dog_classifier/missing.py",
        "no project file of that name: missing_module.py",
        "not a parameter: ingest.no_such_key",
        "not a parameter: variants.<variant>.training.nope",
    ]:
        assert expected in problems, f"{expected!r} not reported in:\n{problems}"
    assert "#a-page" not in problems, problems
    assert "variants.cnn.training.epochs" not in problems, problems


def test_slugs_follow_github():
    assert slug("Where the photos come from") == "where-the-photos-come-from"
    assert slug("In the browser: `make benchmark-web`") == "in-the-browser-make-benchmark-web"
    assert slug('The third answer: "No cat or dog"') == "the-third-answer-no-cat-or-dog"
    assert slug("DVC, MLflow & the registry") == "dvc-mlflow--the-registry"
