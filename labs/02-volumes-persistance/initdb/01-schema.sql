-- Script d'initialisation de la base (fourni complet, ne pas modifier).
--
-- L'image officielle postgres exécute les fichiers *.sql, *.sql.gz et *.sh
-- de /docker-entrypoint-initdb.d/ dans l'ordre alphabétique (d'où le
-- préfixe « 01- »), UNE SEULE FOIS : au premier démarrage, quand le
-- répertoire de données est vide. Si le volume contient déjà une base, ce
-- script est ignoré : pour le rejouer, il faut supprimer le volume
-- (docker compose down -v).
--
-- Il est exécuté par l'utilisateur POSTGRES_USER, connecté à la base
-- POSTGRES_DB : les tables sont donc créées dans cette base.

-- Les stations de mesure (une ligne par capteur).
CREATE TABLE stations (
    id    serial PRIMARY KEY,
    nom   text NOT NULL,
    ville text NOT NULL
);

-- Les mesures relevées par chaque station.
-- La clé étrangère empêche d'insérer une mesure pour une station inconnue.
CREATE TABLE mesures (
    station_id integer     NOT NULL REFERENCES stations (id),
    mesure_at  timestamptz NOT NULL DEFAULT now(),
    valeur     numeric     NOT NULL
);

-- Quelques données de départ pour vérifier que le script a bien tourné.
INSERT INTO stations (nom, ville) VALUES
    ('Bellecour', 'Lyon'),
    ('Capitole',  'Toulouse'),
    ('Vieux-Port', 'Marseille');

INSERT INTO mesures (station_id, mesure_at, valeur) VALUES
    (1, '2025-01-15 08:00:00+01', 3.5),
    (1, '2025-01-15 09:00:00+01', 4.1),
    (2, '2025-01-15 08:00:00+01', 7.2),
    (3, '2025-01-15 08:00:00+01', 11.8),
    (3, '2025-01-15 09:00:00+01', 12.3);
