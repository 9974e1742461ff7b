-- Données brutes du pipeline (fourni) : une table de ventes telle qu'une caisse l'exporte.
-- Exécuté par l'image postgres au premier démarrage (volume vide), dans la base POSTGRES_DB.
CREATE SCHEMA brut;

CREATE TABLE brut.ventes (
    id            SERIAL PRIMARY KEY,
    vendu_le      TIMESTAMP     NOT NULL,
    produit       TEXT          NOT NULL,
    quantite      INTEGER       NOT NULL,
    prix_unitaire NUMERIC(8, 2) NOT NULL,
    statut        TEXT          NOT NULL   -- 'payee' ou 'annulee'
    -- produit : saisi à la main en caisse, casse et espaces variables ('Cafe ', 'CAFE', 'cafe')
);

INSERT INTO brut.ventes (vendu_le, produit, quantite, prix_unitaire, statut) VALUES
    ('2026-03-02 08:25', ' Cafe ', 2, 3.20, 'payee'),
    ('2026-03-02 10:22', 'CROISSANT', 1, 1.40, 'payee'),
    ('2026-03-02 15:12', 'sandwich', 1, 6.50, 'annulee'),
    ('2026-03-02 11:58', 'CROISSANT', 1, 1.40, 'payee'),
    ('2026-03-02 11:23', 'sandwich', 4, 6.50, 'payee'),
    ('2026-03-02 15:39', 'croissant', 1, 1.40, 'payee'),
    ('2026-03-03 15:12', 'CROISSANT', 2, 1.40, 'payee'),
    ('2026-03-03 13:44', 'croissant', 4, 1.40, 'annulee'),
    ('2026-03-03 14:07', 'CAFE', 3, 3.20, 'payee'),
    ('2026-03-03 15:50', 'cafe', 4, 3.20, 'payee'),
    ('2026-03-03 17:25', 'CAFE', 3, 3.20, 'payee'),
    ('2026-03-03 11:16', 'SANDWICH', 1, 6.50, 'payee'),
    ('2026-03-04 12:56', 'croissant', 2, 1.40, 'payee'),
    ('2026-03-04 14:29', 'cafe', 3, 3.20, 'payee'),
    ('2026-03-04 14:19', 'CROISSANT', 3, 1.40, 'payee'),
    ('2026-03-04 10:55', ' Cafe ', 2, 3.20, 'payee'),
    ('2026-03-04 15:53', 'croissant', 2, 1.40, 'payee'),
    ('2026-03-04 08:57', 'the', 1, 2.80, 'payee'),
    ('2026-03-05 14:50', 'the', 2, 2.80, 'payee'),
    ('2026-03-05 13:22', 'sandwich', 4, 6.50, 'payee'),
    ('2026-03-05 15:49', 'jus d''orange', 2, 3.90, 'annulee'),
    ('2026-03-05 17:34', 'CROISSANT', 4, 1.40, 'payee'),
    ('2026-03-05 14:48', 'sandwich', 2, 6.50, 'payee'),
    ('2026-03-05 16:25', ' Sandwich ', 1, 6.50, 'annulee'),
    ('2026-03-06 10:36', 'CAFE', 4, 3.20, 'payee'),
    ('2026-03-06 09:05', 'SANDWICH', 4, 6.50, 'payee'),
    ('2026-03-06 12:17', ' Sandwich ', 1, 6.50, 'payee'),
    ('2026-03-06 17:09', 'cafe', 3, 3.20, 'payee'),
    ('2026-03-06 13:00', 'CAFE', 4, 3.20, 'payee'),
    ('2026-03-06 12:29', 'cafe', 2, 3.20, 'payee');
