-- Quantités et chiffre d'affaires par produit.
select
    produit,
    sum(quantite)   as quantite_totale,
    sum(montant)    as montant_total
from {{ ref('stg_ventes') }}
group by produit
