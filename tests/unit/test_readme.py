"""The README documents every warehouse column, and its quick start is what CI runs."""

from statmuse_pipelines.core.schemas import TABLES
from tests.conftest import REPO


def test_every_warehouse_column_is_documented():
    readme = (REPO / "README.md").read_text()
    feature_doc = (REPO / "docs" / "FEATURES.md").read_text()
    for table in TABLES.values():
        section = readme.split(f"### `{table.name}`", 1)[1].split("\n### ", 1)[0]
        for column in table.columns:
            documented = f"`{column.name}`" in section
            if table.name == "player_features":  # the 255 features have their own reference
                documented = documented or f"| `{column.name}` |" in feature_doc
            if table.name == "prediction_outcomes":  # the columns of predictions, plus these
                predictions = readme.split("### `predictions`", 1)[1].split("\n### ", 1)[0]
                documented = documented or f"`{column.name}`" in predictions
            assert documented, f"{table.name}.{column.name} missing from README"


def test_every_view_column_is_documented():
    from statmuse_pipelines.core.schemas import VIEWS

    readme = (REPO / "README.md").read_text()
    for view in VIEWS.values():
        section = readme.split(f"### `{view.name}`", 1)[1].split("\n### ", 1)[0]
        for name, _ in view.columns:
            assert f"| `{name}` |" in section, f"view {view.name}.{name} missing from README"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    install, test = [line for line in quick.strip().splitlines() if line.strip()]
    assert "statmuse demo" in install and 'pip install -e ".[dev]"' in install
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test.strip() in [line.strip() for line in ci]


def test_the_cli_instance_and_the_repository_instance_agree():
    import yaml

    from statmuse_pipelines.instance import INSTANCE_YAML

    root = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert yaml.safe_load(INSTANCE_YAML) == root
    assert root["concurrency"]["pools"]["default_limit"] == 1


def test_the_feature_reference_is_current():
    from statmuse_pipelines.core.features import features_markdown

    assert (REPO / "docs" / "FEATURES.md").read_text() == features_markdown(), (
        "regenerate docs/FEATURES.md: python -c 'from statmuse_pipelines.core.features import "
        'features_markdown; print(features_markdown(), end="")\' > docs/FEATURES.md'
    )
