-- TODO : nettoyer les ventes brutes.
--  - seulement les ventes payées (statut = 'payee') ;
--  - vente_id (l'id brut), jour (la date de vendu_le), produit (sans espaces autour, en minuscules),
--    quantite, prix_unitaire, montant = quantite * prix_unitaire.
select *
from {{ source('brut', 'ventes') }}
