-- TODO : une ligne par jour : jour, nb_ventes (nombre de ventes), montant_total (somme des montants).
select 1 as a_completer
