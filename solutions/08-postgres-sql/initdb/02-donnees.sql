-- Données de référence, chargées après le schéma (ordre alphabétique).
INSERT INTO stations (code, nom) VALUES
    ('PAR', 'Paris-Montsouris'),
    ('LYS', 'Lyon-Saint-Exupéry'),
    ('BRE', 'Brest-Guipavas');
