-- Dagster range ses tables dans la base de l'entrepôt (schéma public) : rien à créer.
SELECT 1;
