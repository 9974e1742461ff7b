"""Le pipeline de ventes : les modèles dbt deviennent des assets Dagster.

Chargé par le serveur gRPC du service `code` :
    dagster api grpc -h 0.0.0.0 -p 4000 -f definitions.py
"""

from dagster import Definitions

# TODO :
#  - DbtProject(project_dir=…) : le projet dbt copié dans l'image (son manifest.json est produit
#    pendant la construction de l'image par `dbt parse`) ;
#  - @dbt_assets(manifest=…) : une fonction qui lance `dbt build` avec DbtCliResource ;
#  - un job qui matérialise tous les assets, et une planification quotidienne.

defs = Definitions()
