-- Exécuté par l'image postgres au PREMIER démarrage seulement (volume de données
-- vide), dans l'ordre alphabétique des fichiers : 01-… avant 02-….
CREATE TABLE stations (
    code TEXT PRIMARY KEY,
    nom  TEXT NOT NULL
);

-- La clé primaire (station, jour) rend le chargeur idempotent : une mesure déjà
-- présente n'est pas insérée une seconde fois (ON CONFLICT DO NOTHING).
CREATE TABLE mesures (
    station     TEXT NOT NULL REFERENCES stations (code),
    jour        DATE NOT NULL,
    temperature NUMERIC(4, 1) NOT NULL,
    PRIMARY KEY (station, jour)
);
