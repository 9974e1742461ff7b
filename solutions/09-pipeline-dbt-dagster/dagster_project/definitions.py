"""Le pipeline de ventes : les modèles dbt deviennent des assets Dagster.

Chargé par le serveur gRPC du service `code` :
    dagster api grpc -h 0.0.0.0 -p 4000 -f definitions.py
"""

from pathlib import Path

from dagster import (AssetExecutionContext, AssetSelection, Definitions, ScheduleDefinition, define_asset_job,
                     in_process_executor)
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

# Le projet dbt est copié dans l'image ; son manifest.json est produit à la construction (`dbt parse`).
projet_dbt = DbtProject(project_dir=Path(__file__).parent / "dbt_project")


@dbt_assets(manifest=projet_dbt.manifest_path)
def modeles_dbt(context: AssetExecutionContext, dbt: DbtCliResource):
    """Chaque modèle dbt est un asset ; `dbt build` les construit et lance leurs tests."""
    yield from dbt.cli(["build"], context=context).stream()


pipeline_ventes = define_asset_job("pipeline_ventes", selection=AssetSelection.all())

defs = Definitions(
    assets=[modeles_dbt],
    jobs=[pipeline_ventes],
    schedules=[ScheduleDefinition(job=pipeline_ventes, cron_schedule="0 6 * * *")],
    resources={"dbt": DbtCliResource(project_dir=projet_dbt)},
    # Un seul step (dbt build) : l'exécuter dans le processus du run évite d'en démarrer un second
    # (l'exécuteur par défaut, multiprocess, lance un processus Python par step).
    executor=in_process_executor,
)
