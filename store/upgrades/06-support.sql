-- v06: reserved for the support service's tables (filled in by its package).
SELECT 1;
