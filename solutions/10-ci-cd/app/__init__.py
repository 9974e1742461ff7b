"""Application du TP 10 : statistiques sur des relevés de température."""
