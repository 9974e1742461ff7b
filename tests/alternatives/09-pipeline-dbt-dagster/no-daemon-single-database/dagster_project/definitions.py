from pathlib import Path

from dagster import Definitions
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

projet = DbtProject(project_dir=Path(__file__).parent / "dbt_project")


@dbt_assets(manifest=projet.manifest_path)
def modeles(context, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


defs = Definitions(assets=[modeles], resources={"dbt": DbtCliResource(project_dir=projet)})
