-- TODO : une ligne par produit : produit, quantite_totale, montant_total.
select 1 as a_completer
