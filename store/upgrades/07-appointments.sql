-- v7: reserved for the appointments service's tables (filled in by its package).
SELECT 1;
