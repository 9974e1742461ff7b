select
    jour,
    count(vente_id)                                   as nb_ventes,
    round(sum(montant::double precision)::numeric, 2) as montant_total
from {{ ref('stg_ventes') }}
group by 1
order by 1
