-- Une base séparée pour le stockage de Dagster (runs, événements, planifications) :
-- les tables de Dagster ne se mélangent pas aux données de l'entrepôt.
CREATE DATABASE dagster;
