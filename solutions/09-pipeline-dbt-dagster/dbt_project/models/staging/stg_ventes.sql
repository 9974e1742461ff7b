-- Nettoyage des ventes brutes : les ventes payées seulement, produits normalisés, montant calculé.
select
    id                          as vente_id,
    cast(vendu_le as date)      as jour,
    lower(trim(produit))        as produit,
    quantite,
    prix_unitaire,
    quantite * prix_unitaire    as montant
from {{ source('brut', 'ventes') }}
where statut = 'payee'
