-- Chiffre d'affaires par jour.
select
    jour,
    count(*)        as nb_ventes,
    sum(montant)    as montant_total
from {{ ref('stg_ventes') }}
group by jour
